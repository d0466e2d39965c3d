//! `--format json`: one document, stable schema (documented in the README):
//! `{ "version": 1, "diagnostics": [ { file, line, column, end: { line, column }, severity, code, message,
//! labels: [ { file, line, column, end, message } ], help } ], "summary": { errors, warnings } }`.

use super::Location;
use relais_dsl::{Diagnostic, Severity, SourceMap};
use serde_json::json;
use std::io::Write;

fn position(sources: &SourceMap, span: relais_dsl::Span) -> serde_json::Value {
    let at = Location::of(sources, span);
    json!({
        "file": at.file,
        "line": at.line,
        "column": at.column,
        "end": { "line": at.end_line, "column": at.end_column },
    })
}

/// The JSON value for a list of diagnostics.
pub fn to_json(sources: &SourceMap, diags: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let mut v = position(sources, d.primary.span);
            v["severity"] = json!(d.severity);
            v["code"] = json!(d.code);
            v["message"] = json!(d.message);
            let mut labels = vec![{
                let mut l = position(sources, d.primary.span);
                l["message"] = json!(d.primary.message);
                l
            }];
            labels.extend(d.labels.iter().map(|label| {
                let mut l = position(sources, label.span);
                l["message"] = json!(label.message);
                l
            }));
            v["labels"] = json!(labels);
            v["help"] = json!(d.help);
            v
        })
        .collect();
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    json!({
        "version": 1,
        "diagnostics": items,
        "summary": { "errors": errors, "warnings": diags.len() - errors },
    })
}

/// Writes the JSON document and a newline.
pub fn render(sources: &SourceMap, diags: &[Diagnostic], out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_json(sources, diags))?;
    writeln!(out)
}
