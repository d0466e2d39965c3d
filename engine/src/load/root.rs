//! The project root: the directories `check`, `run` and `test` may read from.
//!
//! `relais check` runs on untrusted pull requests, so a flow must not be able to make it read (and echo in a
//! diagnostic) a file outside the project: an absolute path, a `../` path or a symlink leading out. Every
//! path is resolved to its real location (symlinks followed) and admitted only when it stays inside a root.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The canonical directories files may be read from.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    dirs: Vec<PathBuf>,
    /// Texts that replace files of the same real path (an editor's unsaved buffers, `relais lsp`).
    overlay: Option<Arc<Overlay>>,
}

/// Texts standing in for files: `relais lsp` checks what the editor shows, not what was last saved. Keys are
/// real absolute paths (as [`Roots::admit`] resolves them), so every read of the check pipeline finds them.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    texts: HashMap<PathBuf, String>,
}

impl Overlay {
    /// An empty overlay.
    pub fn new() -> Self {
        Overlay::default()
    }

    /// Makes `text` the content of `path` (which need not exist on disk).
    pub fn insert(&mut self, path: &Path, text: String) {
        let key = resolve(path).unwrap_or_else(|| path.to_path_buf());
        self.texts.insert(key, text);
    }

    /// The text standing in for the real path `real`, if any.
    pub fn get(&self, real: &Path) -> Option<&str> {
        self.texts.get(real).map(String::as_str)
    }
}

/// Why a path was not admitted: it resolves outside every root.
#[derive(Debug, Clone)]
pub struct Outside {
    /// The root (or first root) the path should have stayed in, for the message.
    pub root: PathBuf,
}

impl Roots {
    /// The roots for a command: `explicit` (`--root DIR`) when given, else each directory named on the
    /// command line and the directory holding each file named. Paths that do not exist give no root (they
    /// are reported as unreadable elsewhere).
    pub fn of(paths: &[PathBuf], explicit: Option<&Path>) -> Roots {
        let dirs = match explicit {
            Some(root) => root.canonicalize().into_iter().collect(),
            None => paths
                .iter()
                .filter_map(|p| {
                    let real = p.canonicalize().ok()?;
                    if real.is_dir() {
                        Some(real)
                    } else {
                        real.parent().map(Path::to_path_buf)
                    }
                })
                .collect(),
        };
        Roots { dirs, overlay: None }
    }

    /// These roots with `overlay`'s texts read in place of the files they stand for.
    pub fn with_overlay(mut self, overlay: Option<Arc<Overlay>>) -> Roots {
        self.overlay = overlay;
        self
    }

    /// The overlay text for the real path `real`, if one stands in for it.
    pub fn overlaid(&self, real: &Path) -> Option<&str> {
        self.overlay.as_deref()?.get(real)
    }

    /// The whole filesystem, for the files a deployment names outside its project (TLS certificates under
    /// `/etc`): only `relais run` reads through it (`compile::tls_files`), never `relais check`, which may
    /// run on an untrusted pull request. Kernel pseudo-filesystems stay refused by `read_in`.
    pub fn filesystem() -> Roots {
        Roots { dirs: vec![PathBuf::from("/")], overlay: None }
    }

    /// The real location of `path` when it is inside a root; the root it left otherwise. A path that does
    /// not exist is judged by its deepest existing ancestor and the rest of its components, so that
    /// `/etc/missing` is outside (not "not found") and a missing file inside the project is not found later.
    pub fn admit(&self, path: &Path) -> Result<PathBuf, Outside> {
        let real = resolve(path);
        match real {
            Some(real) if self.dirs.iter().any(|d| real.starts_with(d)) => Ok(real),
            _ => Err(Outside { root: self.dirs.first().cloned().unwrap_or_default() }),
        }
    }
}

/// The real absolute location of a path: canonical when it exists, else the canonical deepest existing
/// ancestor joined with the remaining components (`..` applied lexically to those).
fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = path.canonicalize() {
        return Some(real);
    }
    let absolute = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().ok()?.join(path) };
    let mut rest: Vec<Component<'_>> = Vec::new();
    let mut base = absolute.as_path();
    let real_base = loop {
        if let Ok(real) = base.canonicalize() {
            break real;
        }
        let parent = base.parent()?;
        if let Some(last) = base.components().next_back() {
            rest.push(last);
        }
        base = parent;
    };
    let mut out = real_base;
    for c in rest.iter().rev() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_outside_the_root_is_outside_and_one_inside_is_admitted() {
        let here = std::env::current_dir().unwrap_or_default();
        let roots = Roots::of(std::slice::from_ref(&here), None);
        assert!(roots.admit(Path::new("/etc/relais-missing-file")).is_err());
        assert!(roots.admit(Path::new("no-such-dir/x.rhai")).is_ok());
        assert!(roots.admit(Path::new("no-such-dir/../../x.rhai")).is_err());
    }
}
