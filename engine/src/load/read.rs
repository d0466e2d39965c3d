//! Reading files with the limits that keep `relais check` fast and safe on hostile input.

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

/// Reads a UTF-8 text file of at most `limit` bytes, without reading more than that from disk.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
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
