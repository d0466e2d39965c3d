//! Noticing that the flows changed on disk when the operating system cannot send file events (the usual
//! way is `cli/watch.rs`): a fingerprint (path, size, modification time, and a hash of the content for files
//! under 1 MiB, since an edit that keeps the size can land within the file system's timestamp granularity)
//! of every file under the run's paths, compared every `--watch-interval`. It costs a few hundred `stat`
//! calls per interval and behaves the same on every file system, which is what a fallback needs.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Files larger in number than this are not watched (a path pointing at the wrong directory).
const MAX_FILES: usize = 20_000;

/// Files up to this size are hashed as well.
const HASHED_SIZE: u64 = 1024 * 1024;

/// What is known of one file.
type FileState = (PathBuf, u64, Option<SystemTime>, u64);

/// The state of the watched files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<FileState>);

impl Fingerprint {
    /// Reads the fingerprint of every file under `paths` (hidden entries, like a `.relais` state
    /// directory, are skipped: they change without being flows).
    pub fn of(paths: &[PathBuf]) -> Fingerprint {
        let mut files = Vec::new();
        for path in paths {
            walk(path, &mut files);
        }
        files.sort();
        Fingerprint(files)
    }

    /// Number of files seen.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no file was seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

fn content_hash(path: &Path, len: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    if len > HASHED_SIZE {
        return 0;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

fn walk(path: &Path, files: &mut Vec<FileState>) {
    if files.len() >= MAX_FILES {
        return;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        // A file that disappeared is a change too: it is simply absent from the new fingerprint.
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else { return };
        for entry in entries.flatten() {
            let child = entry.path();
            if !hidden(&child) {
                walk(&child, files);
            }
        }
    } else if meta.is_file() {
        // Only regular files are hashed: reading a FIFO would block the watcher (check refuses it, RL0006).
        files.push((path.to_path_buf(), meta.len(), meta.modified().ok(), content_hash(path, meta.len())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_an_addition_or_a_removal_changes_the_fingerprint_but_hidden_files_do_not() {
        let dir = std::env::temp_dir().join(format!("relais-fingerprint-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".relais")).unwrap();
        std::fs::write(dir.join("a.yaml"), "flows: {}").unwrap();
        let first = Fingerprint::of(std::slice::from_ref(&dir));
        assert_eq!(first.len(), 1);
        std::fs::write(dir.join(".relais/state"), "x").unwrap();
        assert_eq!(Fingerprint::of(std::slice::from_ref(&dir)), first);
        std::fs::write(dir.join("a.yaml"), "flows: {} # edited").unwrap();
        let edited = Fingerprint::of(std::slice::from_ref(&dir));
        assert_ne!(edited, first);
        std::fs::write(dir.join("b.rhai"), "payload").unwrap();
        let added = Fingerprint::of(std::slice::from_ref(&dir));
        assert_eq!(added.len(), 2);
        std::fs::remove_file(dir.join("b.rhai")).unwrap();
        assert_eq!(Fingerprint::of(std::slice::from_ref(&dir)), edited);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
