//! Shared helpers for relais's end-to-end tests: fixture discovery and diagnostic rendering for snapshots.

use relais_engine::cli::check::check_paths;
use relais_engine::cli::render::render_human;
use relais_engine::load::Loaded;
use std::path::{Path, PathBuf};

/// Runs the `relais` CLI in-process on `args` (without the program name); the outcome and what it wrote.
pub fn relais(args: &[&str]) -> (relais_engine::cli::Outcome, String) {
    let mut out = Vec::new();
    let mut argv = vec!["relais"];
    argv.extend_from_slice(args);
    let outcome = relais_engine::cli::run(argv, &mut out);
    (outcome, String::from_utf8_lossy(&out).into_owned())
}

/// The fixtures directory (tests run with the crate directory as working directory).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Each entry directly under `dir`, recursively through plain grouping folders: a fixture is a flow file,
/// or a directory whose name ends in `.dir` (a multi-file case checked as one unit).
pub fn fixture_units(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.extension().is_some_and(|x| x == "dir") {
                    out.push(p);
                } else {
                    stack.push(p);
                }
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml" | "flow")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A path relative to the tests crate, with `/` separators, for stable snapshot text.
pub fn display(path: &Path) -> String {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(&base).unwrap_or(path).display().to_string().replace('\\', "/")
}

/// Checks a fixture unit exactly as `relais check` does: without an environment, or, for a `*.dir` unit
/// holding a file `ENV`, with `--env` set to that file's first line (a property missing from one profile).
/// Paths are given relative to the crate directory, which cargo makes the working directory of tests.
pub fn check_unit(unit: &Path) -> Loaded {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let relative = unit.strip_prefix(&base).map(Path::to_path_buf).unwrap_or_else(|_| unit.to_path_buf());
    let env = std::fs::read_to_string(unit.join("ENV")).ok().and_then(|t| t.lines().next().map(str::to_string));
    check_paths(&[relative], env)
}

/// The snapshot text of a checked unit: every source file, then every diagnostic rendered without colour
/// at width 80.
pub fn snapshot_text(loaded: &Loaded) -> String {
    let mut out = String::new();
    for (_, file) in loaded.sources.files() {
        out.push_str(&format!("--- {}\n", file.path));
        out.push_str(&file.text);
        if !file.text.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("--- diagnostics\n");
    for d in loaded.diags.iter() {
        out.push_str(&render_human(&loaded.sources, d, false, 80));
    }
    out
}
