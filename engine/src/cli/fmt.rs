//! `relais fmt`: canonical printing of flow files, and conversion between YAML and `.flow`.
//!
//! Formatting goes through the IR (parse -> lower -> raise -> print), so the meaning printed is the IR's; from
//! YAML to YAML the source's anchors, flow collections, blank lines and scalar spellings are kept where they
//! say the same thing (`dsl::print::layout`), so a hand-written file passes `fmt --check` with its choices. Comments are not part of the IR: they are collected from the source with the node
//! each belongs to (`dsl::print::comments`) and written back next to that node, in either syntax.
//!
//! A conversion (`--to`) writes a new file and never replaces an existing one unless `--force` is given; with
//! `--out DIR` the converted files go under DIR (keeping their place relative to the path given), so the
//! copy does not sit beside the original and define every flow twice.

use super::render::render_human;
use super::{paths_or_default, Outcome};
use crate::load::{discover, discover_tests, is_test_file, parse_text, read_in, Roots, Syntax, MAX_FLOW_FILE};
use relais_dsl::print::comments::{Comments, Style};
use relais_dsl::print::{flow, layout::Layout, raise::raise_module, yaml};
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
    /// With `--to`: write the converted files under this directory (same layout as below the paths given)
    /// instead of beside their inputs.
    #[arg(long, value_name = "DIR", requires = "to")]
    out: Option<PathBuf>,
    /// Print to standard output instead of writing files.
    #[arg(long)]
    stdout: bool,
    /// With `--to`: replace converted files that already exist.
    #[arg(long)]
    force: bool,
    /// The project root: no file outside it is read or written. Default: each directory given.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Canonical text of a flow file in a syntax, its comments kept, or the diagnostics that prevent formatting
/// it.
pub fn format_text(path: &str, text: &str, from: Syntax, to: Syntax) -> Result<String, (SourceMap, Diagnostics)> {
    let mut sources = SourceMap::new();
    let file = sources.add(path, text);
    let mut diags = Diagnostics::new();
    let doc = parse_text(text, from, file, &mut diags);
    let module = doc.as_ref().map(|d| relais_dsl::lower::lower_module(d, file, &mut diags));
    match (module, doc) {
        (Some(module), Some(source)) if !diags.has_errors() => {
            let style = match from {
                Syntax::Yaml => Style::Yaml,
                Syntax::Flow => Style::Flow,
            };
            let comments = Comments::collect(text, style, &source);
            let layout = Layout::collect(text, &source);
            let mut doc = raise_module(&module);
            layout.restore_durations(&mut doc);
            Ok(match (from, to) {
                (Syntax::Yaml, Syntax::Yaml) => yaml::print_kept(&doc, &comments, &layout),
                (_, Syntax::Yaml) => yaml::print_with(&doc, &comments),
                (_, Syntax::Flow) => flow::print_with(&doc, &comments),
            })
        }
        _ => Err((sources, diags)),
    }
}

/// Canonical YAML of a flow-test file (`*.test.yaml`, or a `.test.flow` converted to YAML), its comments
/// kept, or the diagnostics that prevent formatting it. A test file has no IR to raise: its checked document
/// tree is printed as it is, keys in the order written. `None` when asked for `.flow`, which has no printer
/// for test files.
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
        (Some(doc), Some(_)) if !diags.has_errors() => Ok((to == Syntax::Yaml).then(|| {
            let style = match from {
                Syntax::Yaml => Style::Yaml,
                Syntax::Flow => Style::Flow,
            };
            let comments = Comments::collect(text, style, &doc);
            match from {
                Syntax::Yaml => yaml::print_kept(&doc, &comments, &Layout::collect(text, &doc)),
                Syntax::Flow => yaml::print_with(&doc, &comments),
            }
        })),
        _ => Err((sources, diags)),
    }
}

/// Where a file's formatted text goes: the file itself, or for a conversion the same name with the target's
/// extension, beside it or at the same place under `out` (relative to the path given that found it).
fn output_path(path: &Path, given: &Path, to: Option<Target>, out: Option<&Path>) -> PathBuf {
    let renamed = match to {
        Some(Target::Yaml) => path.with_extension("yaml"),
        Some(Target::Flow) => path.with_extension("flow"),
        None => return path.to_path_buf(),
    };
    let Some(out) = out else { return renamed };
    let base = if given.is_dir() { given } else { given.parent().unwrap_or(Path::new("")) };
    let relative = renamed.strip_prefix(base).unwrap_or(&renamed);
    out.join(relative)
}

/// Runs `relais fmt`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    let paths = paths_or_default(&args.paths);
    let roots = Roots::of(&paths, args.root.as_deref());
    for path in paths {
        match discover(&path).and_then(|mut found| {
            found.extend(discover_tests(&path)?);
            Ok(found)
        }) {
            Ok(found) => files.extend(found.into_iter().map(|f| (f, path.clone()))),
            Err(e) => {
                eprintln!("relais fmt: cannot read `{}`: {e}", path.display());
                return Outcome::Failure;
            }
        }
    }
    let mut outcome = Outcome::Success;
    for (path, given) in files {
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
        let target = output_path(&path, &given, args.to, args.out.as_deref());
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
        if target != path && target.exists() && !args.force {
            eprintln!(
                "relais fmt: not writing {}: it exists and differs from the conversion of {} (use --force to \
                 replace it, or --out DIR to write the conversion elsewhere)",
                target.display(),
                path.display()
            );
            outcome = Outcome::Failure;
            continue;
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("relais fmt: cannot create `{}`: {e}", parent.display());
                outcome = Outcome::Failure;
                continue;
            }
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
