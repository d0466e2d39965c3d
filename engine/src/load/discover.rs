//! Finding flow files under the paths given on the command line.

use super::Syntax;
use std::path::{Path, PathBuf};

/// Directory names never searched: environment property files, state, VCS and build output.
const SKIPPED_DIRS: &[&str] = &["env", "target", "node_modules", "schemas", "data", "mappings", "lookups"];

/// True for flow-test files (`*.test.yaml`, `*.test.flow`), which `relais test` loads, not `check`/`run`.
pub fn is_test_file(path: &Path) -> bool {
    path.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.ends_with(".test"))
}

/// The flow files a path names: the file itself, or every `*.yaml`, `*.yml`, `*.flow` below a directory
/// (sorted, so diagnostics come out in a stable order). Hidden entries and [`SKIPPED_DIRS`] are skipped.
/// Symlinked directories are not descended into (an entry's own type is read, not its target's), so a
/// symlink cannot lead discovery out of the project or round a cycle; a symlinked *file* is listed, and
/// reading it through [`super::read_in`] refuses it when it leads out of the project root.
pub fn discover(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if std::fs::metadata(path)?.is_file() {
        return Ok(if is_test_file(path) { Vec::new() } else { vec![path.to_path_buf()] });
    }
    walk(path, &|p| Syntax::of(p).is_some() && !is_test_file(p))
}

/// The flow-test files (`*.test.yaml`, `*.test.flow`) a path names, found the same way as flow files.
pub fn discover_tests(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if std::fs::metadata(path)?.is_file() {
        return Ok(if is_test_file(path) { vec![path.to_path_buf()] } else { Vec::new() });
    }
    walk(path, &|p| Syntax::of(p).is_some() && is_test_file(p))
}

fn walk(path: &Path, keep: &dyn Fn(&Path) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let p = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_ref()) {
                    stack.push(p);
                }
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
