//! `relais check`: load, lower and compile flows, report every finding.

use super::render::{render, Format};
use super::{paths_or_default, Outcome};
use crate::compile;
use crate::load::{load, LoadOptions, Loaded};
use relais_dsl::Severity;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `relais check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories (searched for *.yaml, *.yml, *.flow); default `flows/`.
    paths: Vec<PathBuf>,
    /// Environment whose properties apply (`env/<NAME>.yaml` next to the flows).
    #[arg(long)]
    env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    deny_warnings: bool,
    /// The project root: no file outside it is read. Default: each directory given (a file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Loads and checks flows exactly as `relais run` will before starting them, with the directories given as
/// the project root.
pub fn check_paths(paths: &[PathBuf], env: Option<String>) -> Loaded {
    check_paths_in(paths, env, None)
}

/// [`check_paths`] with an explicit project root (`--root DIR`): no file outside `root` is read.
pub fn check_paths_in(paths: &[PathBuf], env: Option<String>, root: Option<&Path>) -> Loaded {
    check_paths_with(paths, env, root, crate::components::registry())
}

/// [`check_paths_in`] against another registry than the built-in one (an embedder's or a test's own
/// components added with [`crate::registry::Registry::with`]).
pub fn check_paths_with(
    paths: &[PathBuf],
    env: Option<String>,
    root: Option<&Path>,
    registry: &crate::registry::Registry,
) -> Loaded {
    let options = LoadOptions { env, substitute: true, root: root.map(Path::to_path_buf), overlay: None };
    check_with_options(paths, &options, registry)
}

/// The check pipeline on explicit load options: `relais lsp` gives an overlay of the editor's unsaved
/// buffers, so what it reports is what `relais check` would report once they are saved.
pub fn check_with_options(paths: &[PathBuf], options: &LoadOptions, registry: &crate::registry::Registry) -> Loaded {
    let mut loaded = load(paths, options);
    compile::check(&mut loaded, registry);
    crate::testing::load_suites(paths, &mut loaded);
    crate::testing::check_suites(&mut loaded, registry);
    // After the suites: a mock's `raise` is one more way a handler's type can be raised.
    compile::error_types::check(&mut loaded);
    loaded.diags.sort();
    loaded
}

/// [`check_paths_in`] as `relais run` needs it before starting anything: what `check` only warns about
/// because CI may lack it (an unset `${secret:NAME}`) is an error here, since every call of the step would
/// fail without it; and the TLS files outside the project root, which `check` does not read, are checked.
pub fn check_paths_for_run(paths: &[PathBuf], env: Option<String>, root: Option<&Path>) -> Loaded {
    let mut loaded = check_paths_in(paths, env, root);
    compile::secrets::required(&mut loaded.diags);
    compile::tls_files::check(&mut loaded, compile::tls_files::Reach::Outside);
    loaded.diags.sort();
    loaded
}

/// Runs `relais check`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let paths = paths_or_default(&args.paths);
    let loaded = check_paths_in(&paths, args.env.clone(), args.root.as_deref());
    let diags: Vec<_> = loaded.diags.iter().cloned().collect();
    if render(args.format, &loaded.sources, &diags, out).is_err() {
        return Outcome::Failure;
    }
    let errors = loaded.diags.count(Severity::Error);
    let warnings = loaded.diags.count(Severity::Warning);
    if args.format == Format::Human {
        let files = loaded.files_read;
        let summary = match (errors, warnings) {
            (0, 0) => format!("relais check: {files} file(s), {} flow(s), no problems", loaded.set.flows().count()),
            _ => format!("relais check: {errors} error(s), {warnings} warning(s) in {files} file(s)"),
        };
        let _ = writeln!(std::io::stderr(), "{summary}");
    }
    if loaded.io_failed {
        Outcome::Failure
    } else if errors > 0 || (args.deny_warnings && warnings > 0) {
        Outcome::Findings
    } else {
        Outcome::Success
    }
}
