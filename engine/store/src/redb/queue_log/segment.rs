//! Segment files: `queues/NNNNNNNNNNNNNNNN.qlog` in the state directory, numbered from 1 without gaps (the
//! oldest are deleted first), each a 20-byte header and records appended one after the other.
//!
//! The header (`RLQLOG1\n`, the next message id when the segment was started, a CRC-32 of both) keeps ids
//! from being reused once every older segment is deleted: the newest segment is never deleted, and every id
//! handed out after it was started is in one of its records.
//!
//! Replaying reads every segment in order. A record cut short or damaged in the *last* segment is what a crash
//! in the middle of a write leaves (the batch being written had not been reported durable to anyone, and no
//! later batch is written before an earlier one is synced), so the log is cut there; the bytes cut are kept
//! beside the segment (`NNN.qlog.cut-OFFSET`) for an operator. The same in any older segment can only be
//! damage, since a segment is synced before the next one is started: the open fails, naming the file and the
//! offset.

use super::index::{Index, Location};
use super::record::{self, Read};
use crate::error::StoreError;
use crc32fast::hash as crc32;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Bytes of a segment's header.
pub(super) const HEADER: u64 = 20;
const MAGIC: &[u8; 8] = b"RLQLOG1\n";
const EXTENSION: &str = "qlog";

/// The file of segment `number` in `dir`.
pub(super) fn path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016}.{EXTENSION}"))
}

/// A segment's header.
pub(super) fn header(next_id: u64) -> [u8; HEADER as usize] {
    let mut out = [0u8; HEADER as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&next_id.to_le_bytes());
    let checksum = crc32(&out[..16]);
    out[16..].copy_from_slice(&checksum.to_le_bytes());
    out
}

fn open_error<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Open { path: path.to_path_buf(), what, source }
}

/// Damage in the log. The recovery the error goes on to describe is for `state.redb`; for the log, the unit
/// to move aside is the whole `queues` directory (a segment alone would leave a gap), which is said here.
fn corrupt(path: &Path, detail: String) -> StoreError {
    let detail = format!(
        "{detail} (this file is part of the queue log: to start without its messages, move the whole `{}` \
         directory aside, not only this file)",
        path.parent().map_or_else(|| super::DIRECTORY.into(), |dir| dir.display().to_string())
    );
    StoreError::Corrupt { path: path.to_path_buf(), detail }
}

/// The segment numbers in `dir`, oldest first; other files are ignored.
fn list(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir).map_err(open_error(dir, "listing the queue log"))? {
        let entry = entry.map_err(open_error(dir, "listing the queue log"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".qlog") else { continue };
        if let Ok(number) = stem.parse::<u64>() {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// What replaying a log directory found.
pub(super) struct Replayed {
    /// The next id to hand out: above every id seen and every segment's header.
    pub next_id: u64,
    /// The oldest and the newest segment (equal when there is one); `None` when the directory had none.
    pub segments: Option<(u64, u64)>,
    /// The length of the newest segment, after cutting a torn tail.
    pub last_len: u64,
}

/// Replays every segment of `dir` into `index`, cutting a torn tail off the last one.
pub(super) fn replay(dir: &Path, index: &mut Index) -> Result<Replayed, StoreError> {
    let mut numbers = list(dir)?;
    // A last segment shorter than its header was being created when the process died: nothing in it was ever
    // reported durable.
    while let Some(&last) = numbers.last() {
        let file = path(dir, last);
        let len = fs::metadata(&file).map_err(open_error(&file, "reading a queue log segment"))?.len();
        if len >= HEADER {
            break;
        }
        fs::remove_file(&file).map_err(open_error(&file, "removing a queue log segment cut short"))?;
        sync_directory(dir)?;
        numbers.pop();
    }
    for pair in numbers.windows(2) {
        if pair[1] != pair[0] + 1 {
            return Err(corrupt(
                &path(dir, pair[0] + 1),
                format!(
                    "queue log segment {} is missing (segments {} and {} are there)",
                    pair[0] + 1,
                    pair[0],
                    pair[1]
                ),
            ));
        }
    }
    let mut next_id = 1;
    let mut last_len = 0;
    for (i, &number) in numbers.iter().enumerate() {
        let file = path(dir, number);
        let bytes = fs::read(&file).map_err(open_error(&file, "reading a queue log segment"))?;
        let Some(head) = bytes.get(..HEADER as usize) else {
            return Err(corrupt(&file, "a queue log segment shorter than its header (offset 0)".to_string()));
        };
        if &head[..8] != MAGIC || crc32(&head[..16]).to_le_bytes() != head[16..] {
            return Err(corrupt(&file, "not a relais queue log segment (bad header at offset 0)".to_string()));
        }
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(&head[8..16]);
        next_id = next_id.max(u64::from_le_bytes(id_bytes));
        let is_last = i + 1 == numbers.len();
        let mut offset = HEADER as usize;
        while offset < bytes.len() {
            let why = match record::read(&bytes[offset..]) {
                Read::Record(record, length) => {
                    next_id = next_id.max(record.id().saturating_add(1));
                    index.replay(&record, Location { segment: number, offset: offset as u64, length });
                    offset += length;
                    continue;
                }
                Read::Truncated => "a record cut short".to_string(),
                Read::Damaged(why) => why,
            };
            if !is_last {
                return Err(corrupt(&file, format!("{why} at offset {offset}")));
            }
            cut_tail(&file, &bytes[offset..], offset as u64)?;
            break;
        }
        if is_last {
            last_len = offset.min(bytes.len()) as u64;
        }
    }
    Ok(Replayed { next_id, segments: numbers.first().copied().zip(numbers.last().copied()), last_len })
}

/// Cuts the last segment at `offset`, keeping the bytes cut in a file beside it.
fn cut_tail(file: &Path, tail: &[u8], offset: u64) -> Result<(), StoreError> {
    let kept = file.with_extension(format!("{EXTENSION}.cut-{offset}"));
    fs::write(&kept, tail).map_err(open_error(&kept, "keeping the torn tail of the queue log"))?;
    let segment = OpenOptions::new().write(true).open(file).map_err(open_error(file, "opening a queue log segment"))?;
    segment.set_len(offset).map_err(open_error(file, "cutting the torn tail of the queue log"))?;
    segment.sync_all().map_err(open_error(file, "cutting the torn tail of the queue log"))
}

/// Creates segment `number` with its header, durably (the file and its directory entry).
pub(super) fn create(dir: &Path, number: u64, next_id: u64) -> std::io::Result<File> {
    let mut file = OpenOptions::new().append(true).create_new(true).open(path(dir, number))?;
    file.write_all(&header(next_id))?;
    file.sync_data()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Opens the newest segment to append to.
pub(super) fn open_for_append(dir: &Path, number: u64) -> Result<File, StoreError> {
    let file = path(dir, number);
    OpenOptions::new().append(true).open(&file).map_err(open_error(&file, "opening the queue log"))
}

/// Deletes segment `number`; a segment already gone is fine.
pub(super) fn delete(dir: &Path, number: u64) -> std::io::Result<()> {
    match fs::remove_file(path(dir, number)) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(open_error(dir, "syncing the queue log directory"))
}
