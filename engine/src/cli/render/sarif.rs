//! `--format sarif`: SARIF 2.1.0 with one rule per diagnostic code used.

use super::Location;
use relais_dsl::{codes, Diagnostic, Severity, SourceMap};
use serde_json::json;
use std::io::Write;

fn region(at: &Location) -> serde_json::Value {
    json!({ "startLine": at.line, "startColumn": at.column, "endLine": at.end_line, "endColumn": at.end_column })
}

fn physical(at: &Location) -> serde_json::Value {
    json!({ "physicalLocation": { "artifactLocation": { "uri": at.file.replace('\\', "/") }, "region": region(at) } })
}

/// The SARIF log for a list of diagnostics.
pub fn to_sarif(sources: &SourceMap, diags: &[Diagnostic]) -> serde_json::Value {
    let mut used: Vec<&'static str> = diags.iter().map(|d| d.code.0).collect();
    used.sort_unstable();
    used.dedup();
    let rules: Vec<serde_json::Value> = used
        .iter()
        .filter_map(|c| codes::lookup(c))
        .map(|doc| {
            json!({
                "id": doc.code.0,
                "shortDescription": { "text": doc.title },
                "fullDescription": { "text": doc.explanation },
                "help": { "text": format!("Run `relais explain {}`.", doc.code.0) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let at = Location::of(sources, d.primary.span);
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                text.push_str(&format!(" ({help})"));
            }
            let related: Vec<serde_json::Value> = d
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut loc = physical(&Location::of(sources, l.span));
                    loc["id"] = json!(i);
                    loc["message"] = json!({ "text": l.message });
                    loc
                })
                .collect();
            json!({
                "ruleId": d.code.0,
                "ruleIndex": used.iter().position(|c| *c == d.code.0),
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": { "text": text },
                "locations": [physical(&at)],
                "relatedLocations": related,
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "relais",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/relais",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// Writes the SARIF log.
pub fn render(sources: &SourceMap, diags: &[Diagnostic], out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_sarif(sources, diags))?;
    writeln!(out)
}
