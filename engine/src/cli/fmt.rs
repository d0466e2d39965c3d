//! `relais fmt`: canonical printing of flow files, and conversion between YAML and `.flow`.
//!
//! Formatting goes through the IR (parse -> lower -> raise -> print), so the output is canonical whatever
//! the input's layout. Comments are not part of the IR: a file with comments is left untouched (and named)
//! unless `--force` is given, so formatting never silently deletes an author's notes.

use super::render::render_human;
use super::{paths_or_default, Outcome};
use crate::load::{discover, discover_tests, is_test_file, parse_text, read_in, Roots, Syntax, MAX_FLOW_FILE};
use relais_dsl::print::{flow, raise::raise_module, yaml};
use relais_dsl::{Diagnostics, SourceMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Target syntax of a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// YAML.
    Yaml,
    /// `.flow`.
    Flow,
}

/// Arguments of `relais fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories; default `flows/`.
    paths: Vec<PathBuf>,
    /// Only report files that are not formatted (exit 1 if any).
    #[arg(long)]
    check: bool,
    /// Convert to this syntax: writes `NAME.yaml` / `NAME.flow` next to each input (the input is kept).
    #[arg(long, value_enum)]
    to: Option<Target>,
    /// Print to standard output instead of writing files.
    #[arg(long)]
    stdout: bool,
    /// Rewrite files even when they hold comments (which formatting drops).
    #[arg(long)]
    force: bool,
    /// The project root: no file outside it is read or written. Default: each directory given.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Canonical text of a flow file in a syntax, or the diagnostics that prevent formatting it.
pub fn format_text(path: &str, text: &str, from: Syntax, to: Syntax) -> Result<String, (SourceMap, Diagnostics)> {
    let mut sources = SourceMap::new();
    let file = sources.add(path, text);
    let mut diags = Diagnostics::new();
    let doc = parse_text(text, from, file, &mut diags);
    let module = doc.map(|d| relais_dsl::lower::lower_module(&d, file, &mut diags));
    match module {
        Some(module) if !diags.has_errors() => {
            let doc = raise_module(&module);
            Ok(match to {
                Syntax::Yaml => yaml::print(&doc),
                Syntax::Flow => flow::print(&doc),
            })
        }
        _ => Err((sources, diags)),
    }
}

/// Canonical YAML of a flow-test file (`*.test.yaml`, or a `.test.flow` converted to YAML), or the
/// diagnostics that prevent formatting it. A test file has no IR to raise: its checked document tree is
/// printed as it is, keys in the order written. `None` when asked for `.flow`, which has no printer for
/// test files.
pub fn format_test_text(
    path: &str,
    text: &str,
    from: Syntax,
    to: Syntax,
) -> Result<Option<String>, (SourceMap, Diagnostics)> {
    let mut sources = SourceMap::new();
    let file = sources.add(path, text);
    let mut diags = Diagnostics::new();
    let doc = match from {
        Syntax::Flow => relais_dsl::syntax::flow::parse_tests(text, file, &mut diags),
        Syntax::Yaml => parse_text(text, from, file, &mut diags),
    };
    let suite = doc.as_ref().and_then(|d| relais_dsl::lower::lower_test_suite(d, file, &mut diags));
    match (doc, suite) {
        (Some(doc), Some(_)) if !diags.has_errors() => Ok((to == Syntax::Yaml).then(|| yaml::print(&doc))),
        _ => Err((sources, diags)),
    }
}

/// Whether the text probably holds comments (`#` in YAML, `//` or `/*` in `.flow`, outside strings).
pub fn has_comments(text: &str, syntax: Syntax) -> bool {
    text.lines().any(|line| {
        let mut in_string: Option<char> = None;
        let mut prev = ' ';
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            match in_string {
                Some(q) if c == q && prev != '\\' => in_string = None,
                Some(_) => {}
                None if c == '"' || (c == '\'' && syntax == Syntax::Yaml) => in_string = Some(c),
                None => {
                    let starts_comment = match syntax {
                        Syntax::Yaml => c == '#' && prev.is_whitespace() && chars.get(i + 1) != Some(&'['),
                        Syntax::Flow => c == '/' && matches!(chars.get(i + 1), Some('/' | '*')),
                    };
                    if starts_comment {
                        return true;
                    }
                }
            }
            prev = c;
        }
        false
    })
}

fn output_path(path: &Path, to: Option<Target>) -> PathBuf {
    match to {
        Some(Target::Yaml) => path.with_extension("yaml"),
        Some(Target::Flow) => path.with_extension("flow"),
        None => path.to_path_buf(),
    }
}

/// Runs `relais fmt`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let mut files = Vec::new();
    let paths = paths_or_default(&args.paths);
    let roots = Roots::of(&paths, args.root.as_deref());
    for path in paths {
        match discover(&path).and_then(|mut found| {
            found.extend(discover_tests(&path)?);
            Ok(found)
        }) {
            Ok(found) => files.extend(found),
            Err(e) => {
                eprintln!("relais fmt: cannot read `{}`: {e}", path.display());
                return Outcome::Failure;
            }
        }
    }
    let mut outcome = Outcome::Success;
    for path in files {
        let Some(from) = Syntax::of(&path) else { continue };
        let to = match args.to {
            Some(Target::Yaml) => Syntax::Yaml,
            Some(Target::Flow) => Syntax::Flow,
            None => from,
        };
        let text = match read_in(&roots, &path, MAX_FLOW_FILE) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("relais fmt: cannot read `{}`: {e}", path.display());
                outcome = Outcome::Failure;
                continue;
            }
        };
        let formatted = if is_test_file(&path) {
            match format_test_text(&path.display().to_string(), &text, from, to) {
                Ok(Some(f)) => Ok(f),
                Ok(None) => {
                    eprintln!("relais fmt: left {} as it is: test files are printed as YAML only", path.display());
                    continue;
                }
                Err(e) => Err(e),
            }
        } else {
            format_text(&path.display().to_string(), &text, from, to)
        };
        let formatted = match formatted {
            Ok(f) => f,
            Err((sources, diags)) => {
                for d in diags.iter() {
                    eprint!("{}", render_human(&sources, d, false, 100));
                }
                if outcome == Outcome::Success {
                    outcome = Outcome::Findings;
                }
                continue;
            }
        };
        if args.stdout {
            let _ = out.write_all(formatted.as_bytes());
            continue;
        }
        let target = output_path(&path, args.to);
        let current = if target == path { Some(text.clone()) } else { std::fs::read_to_string(&target).ok() };
        if current.as_deref() == Some(formatted.as_str()) {
            continue;
        }
        if args.check {
            let _ = writeln!(out, "would reformat {}", target.display());
            if outcome == Outcome::Success {
                outcome = Outcome::Findings;
            }
            continue;
        }
        if target == path && has_comments(&text, from) && !args.force {
            eprintln!(
                "relais fmt: skipped {}: it has comments, which formatting would drop (use --force)",
                path.display()
            );
            continue;
        }
        if let Err(e) = std::fs::write(&target, formatted) {
            eprintln!("relais fmt: cannot write `{}`: {e}", target.display());
            outcome = Outcome::Failure;
        } else {
            let _ = writeln!(out, "formatted {}", target.display());
        }
    }
    outcome
}
