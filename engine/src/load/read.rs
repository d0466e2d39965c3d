//! Reading files with the limits that keep `relais check` fast and safe on hostile input.

use super::root::Roots;
use std::io::Read;
use std::path::Path;

/// Flow files above this size are refused (a generated or mistaken file, not a flow).
pub const MAX_FLOW_FILE: u64 = 8 * 1024 * 1024;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS refused (missing, permissions, a directory...).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a regular file (a FIFO, device, socket or directory): refused before it is opened, so that a
    /// FIFO cannot block `relais check` and a device cannot stream into it.
    #[error("not a regular file")]
    NotRegular,
    /// The path resolves outside the project root (absolute, `../`, or a symlink leading out).
    #[error("outside the project `{}`", root.display())]
    Outside {
        /// The project root it left.
        root: std::path::PathBuf,
    },
    /// Larger than the limit.
    #[error("file is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Actual size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not UTF-8; `lossy` is the text with replacement characters, so the offending byte can be shown.
    #[error("not valid UTF-8")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
        /// Lossy decoding, for rendering.
        lossy: String,
    },
}

/// Reads a UTF-8 text file inside the project `roots` (see [`read_text`]); a path resolving outside them is
/// [`ReadError::Outside`], and nothing of it is read.
pub fn read_in(roots: &Roots, path: &Path, limit: u64) -> Result<String, ReadError> {
    let real = roots.admit(path).map_err(|o| ReadError::Outside { root: o.root })?;
    // Kernel pseudo-files look regular (size 0) but are live process state, never project files.
    if PSEUDO_FILESYSTEMS.iter().any(|p| real.starts_with(p)) {
        return Err(ReadError::NotRegular);
    }
    if let Some(text) = roots.overlaid(&real) {
        let size = text.len() as u64;
        return if size > limit { Err(ReadError::TooLarge { size, limit }) } else { Ok(text.to_string()) };
    }
    read_text(&real, limit)
}

/// Mount points of kernel pseudo-filesystems, refused even inside a root (`--root /`). Not `/dev`: its devices
/// are refused by [`read_text`] from their metadata, and `/dev/shm` is an ordinary tmpfs where flows may live.
const PSEUDO_FILESYSTEMS: &[&str] = &["/proc", "/sys"];

/// Reads a UTF-8 text file of at most `limit` bytes, without reading more than that from disk. Anything
/// but a regular file is refused from its metadata, before it is opened (opening a FIFO blocks).
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    // Checked again on the open file, in case the path changed in between.
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    let size = meta.len();
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, limit });
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
        // The lossy text has the same prefix, so the offset still points at the replacement character.
        ReadError::NotUtf8 { offset, lossy }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_files_are_refused_even_inside_the_root() {
        let roots = Roots::of(&[std::path::PathBuf::from("/proc/self")], None);
        assert!(matches!(read_in(&roots, Path::new("/proc/self/environ"), 1024), Err(ReadError::NotRegular)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_flow_file_on_the_dev_shm_tmpfs_is_read_like_any_other() {
        let dir = Path::new("/dev/shm").join(format!("relais-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join("a.yaml");
        std::fs::write(&path, "flows: []\n").unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        let read = read_in(&Roots::of(std::slice::from_ref(&dir), None), &path, 1024);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read.ok().as_deref(), Some("flows: []\n"));
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_before_it_is_opened() {
        assert!(matches!(read_text(Path::new("/dev/zero"), 1024), Err(ReadError::NotRegular)));
    }
}
