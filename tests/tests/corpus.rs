//! The measured corpus: flows broken the way people break them (`fixtures/corpus/`), each declaring what
//! `relais check` must say about it. The test runs the real check pipeline on every case, prints a table
//! (caught, located at the right token, fix named) and fails on any expectation not met, so that a
//! regression in a diagnostic's code, position or help is caught by name.
//!
//! A case is a flow file (`.yaml`, `.flow`) or a directory `NAME.dir` checked as one unit (with `--env`
//! set from a file `ENV`, as for the fixtures). Its expectations are lines of the form
//!
//! ```text
//! expect CODE [FILE:]LINE:COL "SUBSTRING"
//! ```
//!
//! at the top of a flow file after `#` or `//`, or in a file `EXPECT` of a directory (where `FILE`, the
//! file's name inside the directory, is required). `LINE:COL` (1-based, columns in characters) is where the
//! wrong token starts: the diagnostic's primary span must start there. `SUBSTRING` must appear in the
//! diagnostic's message, labels or help: the words that name the fix. A case may also say
//! `noise CODE` for a diagnostic it accepts besides its expectations; any other error fails the case, so
//! that one mistake reported as a cascade of unrelated errors counts against it.

use relais_dsl::diagnostic::Severity;
use relais_dsl::Diagnostic;
use relais_engine::load::Loaded;
use relais_tests::{check_unit, display, fixture_units, fixtures};
use std::path::Path;

/// One declared expectation of a case.
#[derive(Debug)]
struct Expectation {
    code: String,
    /// The file's name inside a `.dir` case; `None` for a single-file case.
    file: Option<String>,
    line: usize,
    column: usize,
    fix: String,
}

/// What a case declares: its expectations and the codes it accepts besides them.
#[derive(Debug, Default)]
struct Declared {
    expectations: Vec<Expectation>,
    noise: Vec<String>,
}

fn parse_declarations(text: &str, in_dir: bool) -> Result<Declared, String> {
    let mut declared = Declared::default();
    for line in text.lines() {
        let line = line.trim_start();
        let line = line.strip_prefix("//").or_else(|| line.strip_prefix('#')).unwrap_or(line).trim();
        if let Some(code) = line.strip_prefix("noise ") {
            declared.noise.push(code.trim().to_string());
            continue;
        }
        let Some(rest) = line.strip_prefix("expect ") else { continue };
        let (code, rest) = rest.split_once(' ').ok_or_else(|| format!("no location in `{line}`"))?;
        let (location, fix) = rest.trim().split_once(' ').ok_or_else(|| format!("no fix in `{line}`"))?;
        let fix = fix.trim();
        let fix = fix
            .strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .ok_or_else(|| format!("unquoted fix in `{line}`"))?;
        let parts: Vec<&str> = location.split(':').collect();
        let (file, line_text, column_text) = match parts.as_slice() {
            [file, l, c] if in_dir => (Some(file.to_string()), *l, *c),
            [l, c] if !in_dir => (None, *l, *c),
            _ => return Err(format!("bad location `{location}` (a .dir case names the file: FILE:LINE:COL)")),
        };
        let number = |t: &str| t.parse::<usize>().map_err(|_| format!("bad number `{t}` in `{line}`"));
        declared.expectations.push(Expectation {
            code: code.to_string(),
            file,
            line: number(line_text)?,
            column: number(column_text)?,
            fix: fix.to_string(),
        });
    }
    if declared.expectations.is_empty() {
        return Err("declares no `expect` line".to_string());
    }
    Ok(declared)
}

fn declarations_of(unit: &Path) -> Result<Declared, String> {
    let in_dir = unit.is_dir();
    let file = if in_dir { unit.join("EXPECT") } else { unit.to_path_buf() };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    // Only the leading comment block of a flow file declares; an `EXPECT` file is read whole.
    let text: String = if in_dir {
        text
    } else {
        text.lines()
            .take_while(|l| l.trim_start().starts_with('#') || l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    parse_declarations(&text, in_dir)
}

/// The words of a diagnostic a reader sees: message, labels and help.
fn text_of(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    text.push('\n');
    text.push_str(&d.primary.message);
    for label in &d.labels {
        text.push('\n');
        text.push_str(&label.message);
    }
    if let Some(help) = &d.help {
        text.push('\n');
        text.push_str(help);
    }
    text
}

/// Where a diagnostic's primary span starts: the file's path, line and column (1-based).
fn start_of(loaded: &Loaded, d: &Diagnostic) -> (String, usize, usize) {
    let file = loaded.sources.file(d.primary.span.file);
    let at = file.line_col(d.primary.span.start as usize);
    (file.path.clone(), at.line, at.column)
}

/// How one expectation fared.
#[derive(Default, Clone, Copy)]
struct Outcome {
    caught: bool,
    located: bool,
    fixed: bool,
}

fn judge(loaded: &Loaded, e: &Expectation) -> (Outcome, String) {
    let same_code: Vec<&Diagnostic> = loaded.diags.iter().filter(|d| d.code.0 == e.code).collect();
    let at_token = |d: &&&Diagnostic| {
        let (path, line, column) = start_of(loaded, d);
        let in_file = e.file.as_ref().is_none_or(|f| path.ends_with(&format!("/{f}")));
        in_file && line == e.line && column == e.column
    };
    let located: Vec<&&Diagnostic> = same_code.iter().filter(at_token).collect();
    let outcome = Outcome {
        caught: !same_code.is_empty(),
        located: !located.is_empty(),
        fixed: located.iter().any(|d| text_of(d).contains(&e.fix)),
    };
    let found = same_code
        .iter()
        .map(|d| {
            let (path, line, column) = start_of(loaded, d);
            format!("{path}:{line}:{column}: {}", text_of(d).replace('\n', " | "))
        })
        .collect::<Vec<_>>()
        .join("\n        ");
    (outcome, found)
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        100.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

#[test]
fn every_corpus_case_is_caught_at_the_wrong_token_with_its_fix_named() {
    let units = fixture_units(&fixtures().join("corpus"));
    assert!(units.len() >= 60, "the corpus holds {} cases; it should hold at least 60", units.len());
    let (mut yaml, mut flow, mut dirs) = (0, 0, 0);
    let (mut total, mut caught, mut located, mut fixed) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut table = String::from("case                                                         caught located fix\n");
    for unit in &units {
        let name = display(unit).trim_start_matches("fixtures/corpus/").to_string();
        match unit.extension().and_then(|x| x.to_str()) {
            Some("dir") => dirs += 1,
            Some("flow") => flow += 1,
            _ => yaml += 1,
        }
        let declared = match declarations_of(unit) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let loaded = check_unit(unit);
        let mut row = Outcome { caught: true, located: true, fixed: true };
        for e in &declared.expectations {
            let (outcome, found) = judge(&loaded, e);
            total += 1;
            caught += usize::from(outcome.caught);
            located += usize::from(outcome.located);
            fixed += usize::from(outcome.fixed);
            row.caught &= outcome.caught;
            row.located &= outcome.located;
            row.fixed &= outcome.fixed;
            if !(outcome.caught && outcome.located && outcome.fixed) {
                let place = e.file.as_ref().map(|f| format!("{f}:")).unwrap_or_default();
                failures.push(format!(
                    "{name}: expected {} at {place}{}:{} naming \"{}\"; found:\n        {}",
                    e.code,
                    e.line,
                    e.column,
                    e.fix,
                    if found.is_empty() { "nothing with that code".to_string() } else { found }
                ));
            }
        }
        let expected: Vec<&str> = declared.expectations.iter().map(|e| e.code.as_str()).collect();
        for d in loaded.diags.iter().filter(|d| d.severity == Severity::Error) {
            let code = d.code.0;
            if !expected.contains(&code) && !declared.noise.iter().any(|n| n == code) {
                let (path, line, column) = start_of(&loaded, d);
                failures.push(format!("{name}: unexpected {code} at {path}:{line}:{column}: {}", d.message));
            }
        }
        let mark = |b: bool| if b { "yes" } else { "NO" };
        table.push_str(&format!("{name:<60} {:<6} {:<7} {}\n", mark(row.caught), mark(row.located), mark(row.fixed)));
    }
    table.push_str(&format!(
        "\n{} cases ({yaml} YAML, {flow} .flow, {dirs} multi-file), {total} expected diagnostics\n\
         caught {caught}/{total} ({:.1} %), at the right token {located}/{total} ({:.1} %), fix named \
         {fixed}/{total} ({:.1} %)\n",
        units.len(),
        percent(caught, total),
        percent(located, total),
        percent(fixed, total)
    ));
    println!("{table}");
    assert!(yaml >= 20 && flow >= 20, "the corpus needs both syntaxes: {yaml} YAML and {flow} .flow cases");
    assert!(failures.is_empty(), "{} corpus expectations not met:\n{}", failures.len(), failures.join("\n"));
}
