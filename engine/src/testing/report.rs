//! Reports of a test run: the closing line, JUnit XML for CI systems, and step coverage.

use super::RunSummary;
use serde_json::json;
use std::fmt::Write;

/// `N passed, N failed` (and `, N skipped` when a filter left cases out): the line CI tools read.
pub fn closing_line(summary: &RunSummary) -> String {
    let passed = summary.outcomes.iter().filter(|o| o.passed()).count();
    let failed = summary.outcomes.len() - passed;
    let mut line = format!("{passed} passed, {failed} failed");
    if summary.skipped > 0 {
        let _ = write!(line, ", {} skipped", summary.skipped);
    }
    line
}

fn escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: one `testsuite` per test file, one `testcase` per case (classname: the flow), failures with
/// their locations.
pub fn junit(summary: &RunSummary) -> String {
    let mut files: Vec<&str> = summary.outcomes.iter().map(|o| o.file.as_str()).collect();
    files.dedup();
    let total_time: f64 = summary.outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    let failures = summary.outcomes.iter().filter(|o| !o.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"relais\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total_time:.3}\">",
        summary.outcomes.len()
    );
    for file in files {
        let cases: Vec<_> = summary.outcomes.iter().filter(|o| o.file == file).collect();
        let failed = cases.iter().filter(|o| !o.passed()).count();
        let time: f64 = cases.iter().map(|o| o.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
            escape(file),
            cases.len()
        );
        for case in cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&case.name),
                escape(&case.flow),
                case.duration.as_secs_f64()
            );
            if case.passed() {
                out.push_str("/>\n");
            } else {
                let text: Vec<String> = case.failures.iter().map(|(at, why)| format!("{at}: {why}")).collect();
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"assertion\">{}</failure>\n    </testcase>",
                    escape(&case.failures[0].1),
                    escape(&text.join("\n"))
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Covered and total steps per flow, and overall.
pub fn coverage(summary: &RunSummary) -> (Vec<(String, usize, usize)>, usize, usize) {
    let rows: Vec<(String, usize, usize)> = summary
        .totals
        .iter()
        .map(|(flow, total)| (flow.clone(), summary.covered.get(flow).map_or(0, |c| c.len().min(*total)), *total))
        .collect();
    let covered = rows.iter().map(|r| r.1).sum();
    let total = rows.iter().map(|r| r.2).sum();
    (rows, covered, total)
}

fn percent(covered: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    }
}

/// The steps no case ran, by flow: each step's label and `file:line:column`.
pub fn never_run(summary: &RunSummary) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for (flow, sites) in &summary.sites {
        let covered = summary.covered.get(flow);
        let missed: Vec<(String, String)> = sites
            .iter()
            .enumerate()
            .filter(|(index, _)| covered.is_none_or(|c| !c.contains(index)))
            .map(|(_, site)| site.clone())
            .collect();
        if !missed.is_empty() {
            out.push((flow.clone(), missed));
        }
    }
    out
}

/// The steps no case ran, one line each (`  location  flow: step`), under a heading; empty when every step ran.
pub fn never_run_list(summary: &RunSummary) -> String {
    let missed = never_run(summary);
    if missed.is_empty() {
        return String::new();
    }
    let mut out = String::from("steps never run:\n");
    for (flow, steps) in missed {
        for (label, location) in steps {
            let _ = writeln!(out, "  {location}  {flow}: {label}");
        }
    }
    out
}

/// Coverage as a table.
pub fn coverage_table(summary: &RunSummary) -> String {
    let (rows, covered, total) = coverage(summary);
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(5);
    let mut out = format!("{:width$}  steps  covered\n", "flow");
    for (flow, c, t) in &rows {
        let _ = writeln!(out, "{flow:width$}  {c:>2}/{t:<2}  {:>6.1} %", percent(*c, *t));
    }
    let _ = writeln!(out, "{:width$}  {covered:>2}/{total:<2}  {:>6.1} %", "total", percent(covered, total));
    out
}

/// Coverage as JSON: `{ flows: [ { flow, covered, steps, percent, never_run: [ { step, location } ] } ],
/// covered, steps, percent }`.
pub fn coverage_json(summary: &RunSummary) -> serde_json::Value {
    let (rows, covered, total) = coverage(summary);
    let missed = never_run(summary);
    let never = |flow: &str| -> Vec<serde_json::Value> {
        missed
            .iter()
            .filter(|(f, _)| f == flow)
            .flat_map(|(_, steps)| steps.iter().map(|(label, location)| json!({ "step": label, "location": location })))
            .collect()
    };
    json!({
        "flows": rows.iter().map(|(f, c, t)| json!({ "flow": f, "covered": c, "steps": t, "percent": percent(*c, *t), "never_run": never(f) })).collect::<Vec<_>>(),
        "covered": covered,
        "steps": total,
        "percent": percent(covered, total),
    })
}

/// Total coverage in percent.
pub fn total_percent(summary: &RunSummary) -> f64 {
    let (_, covered, total) = coverage(summary);
    percent(covered, total)
}
