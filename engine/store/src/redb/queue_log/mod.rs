//! Persistent queue messages in an append-only log beside `state.redb` (`queues/` in the state directory),
//! with the queues' state in memory, rebuilt from the log at open.
//!
//! Why not redb: a redb commit rewrites the copy-on-write pages of every table a message touches (body, state,
//! ready set, timers, sizes, counters: about 37 KB written per message), so the disk bounded a queue at 4,000 to
//! 9,000 messages a second however many changes shared a commit (README, "What bounds a persistent queue").
//! Here a message is written once (about 1.1 KB for 1 KB of payload) and each later change is a record of a
//! few bytes; the records of every call waiting are written together and made durable by one `fdatasync`.
//!
//! Durability is the crate's fsync policy: a call that appends a record returns only once that record (and
//! every record before it) is synced, so an enqueue returned is on disk, an ack returned is never delivered
//! again, and each delivery is counted on disk before the message is handed out (the count that guards
//! `max_deliveries` survives a crash). Calls are grouped like redb's group commit, without a transaction: each
//! changes the in-memory queues and appends its records under one lock, in the same order, then waits; the
//! first waiter finding no write in flight writes everything appended so far and syncs it for all, while the
//! next calls append behind it. A record is only ever read after the records before it, so a lease that hands
//! out a message enqueued a moment ago waits for (and is logged after) that enqueue.
//!
//! A write or sync that fails leaves the memory ahead of the disk, so the log refuses every later call with
//! the same error until the store is opened again (which rebuilds the queues from what is on disk).
//!
//! Compaction: the log is cut into segments of [`SEGMENT_BYTES`]; a segment older than the oldest one holding
//! a live message's record is deleted once the records that made it so are synced. A few live messages left
//! in a segment two or more behind (a long delay, a stuck message; at most an eighth of the segment's bytes,
//! so a backlog is never rewritten) are written again, whole, at the end of the log, so they do not keep the
//! segments after theirs.

mod index;
mod record;
mod segment;

use super::records::{decode, encode, MessageHeader};
use crate::error::StoreError;
use crate::message::{Leased, Message, MessageId, QueueStats, Visibility};
use crate::time::Timestamp;
use index::{Body, Entry, Index, Location};
use record::Record;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The directory of the log inside the state directory.
pub(super) const DIRECTORY: &str = "queues";

/// The size past which the log starts a new segment: large enough that segment files stay few (a second or
/// more of writes at the target rate), small enough that a drained queue frees its disk space soon.
pub(super) const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;

/// The live messages of a segment two or more behind are written again to free it when their records take at
/// most this fraction of a segment: stragglers (a long delay, a stuck message), not a backlog, which would be
/// rewritten over and over. So compaction writes at most an eighth of a segment for each segment it frees.
const CARRY_FRACTION: u64 = 8;

pub(super) const ENQUEUE: &str = "enqueueing a message";
pub(super) const LEASE: &str = "leasing a message";
pub(super) const ACK: &str = "acking a message";
pub(super) const NACK: &str = "nacking a message";
pub(super) const UNLEASE: &str = "giving back a leased message";
pub(super) const ACK_AND_LEASE: &str = "acking and leasing messages";
const ADOPT: &str = "moving queued messages into the queue log";
const RELEASE: &str = "releasing the leases of a stopped process";

/// What a nack decided under the log's lock.
pub(super) enum NackPlan {
    /// Not leased (or not in this queue): nothing changed.
    NotLeased,
    /// Visible again at the instant; durable.
    Redelivered(Timestamp),
    /// Delivered `max_deliveries` times: the caller stores the dead letter, then calls
    /// [`QueueLog::finish_move`] (or [`QueueLog::cancel_move`] if that failed). Meanwhile nobody leases it.
    DeadLetter { message: Message, deliveries: u32, first_failure: Timestamp },
}

/// A message found in a state file of the first layout, moved into the log at open.
pub(super) struct Adopted {
    pub id: u64,
    pub queue: String,
    pub enqueued_at: Timestamp,
    pub deliveries: u32,
    pub first_failure: Option<Timestamp>,
    pub visibility: Visibility,
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Records appended for one segment and not yet written.
struct Chunk {
    segment: u64,
    /// Set when the chunk starts its segment: the header's next id.
    starts: Option<u64>,
    bytes: Vec<u8>,
}

struct Inner {
    index: Index,
    next_id: u64,
    /// The segment records are appended to, and its length counting what is not written yet.
    segment: u64,
    segment_len: u64,
    /// The oldest segment file not deleted.
    oldest_segment: u64,
    pending: Vec<Chunk>,
    /// Messages whose body is cached until the record at that location is durable.
    pending_bodies: Vec<(u64, Location)>,
    pending_records: u64,
    /// Bytes appended since open, and how many of them are durable.
    appended: u64,
    durable: u64,
    /// A writer is writing and syncing (outside the lock).
    syncing: bool,
    failed: Option<String>,
}

impl Inner {
    /// Appends `record` to the pending chunk of the current segment, starting a new segment when this one is
    /// full, and returns where it will be.
    fn append(&mut self, record: &Record<'_>, segment_bytes: u64) -> Location {
        if self.segment_len >= segment_bytes {
            self.segment += 1;
            self.segment_len = segment::HEADER;
            self.pending.push(Chunk { segment: self.segment, starts: Some(self.next_id), bytes: Vec::new() });
        }
        if self.pending.last().is_none_or(|chunk| chunk.segment != self.segment) {
            self.pending.push(Chunk { segment: self.segment, starts: None, bytes: Vec::new() });
        }
        let offset = self.segment_len;
        let chunk = self.pending.last_mut().map(|chunk| &mut chunk.bytes);
        // Just pushed when there was none for this segment.
        let length = chunk.map_or(0, |bytes| record.append_to(bytes));
        self.segment_len += length as u64;
        self.appended += length as u64;
        self.pending_records += 1;
        Location { segment: self.segment, offset, length }
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        match &self.failed {
            Some(why) => Err(StoreError::storage(operation, format!("the queue log failed earlier: {why}"))),
            None => Ok(()),
        }
    }
}

/// The file being appended to.
struct Writer {
    segment: u64,
    file: File,
}

/// The queue log of one state directory.
pub(super) struct QueueLog {
    dir: PathBuf,
    segment_bytes: u64,
    inner: Mutex<Inner>,
    synced: Condvar,
    writer: Mutex<Writer>,
    /// Segment files opened to read bodies back.
    readers: Mutex<HashMap<u64, Arc<File>>>,
    syncs: AtomicU64,
    records: AtomicU64,
    syncing_nanos: AtomicU64,
}

/// What the log's syncs cost so far: syncs, records they held, time spent writing and syncing.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SyncStats {
    pub syncs: u64,
    pub records: u64,
    pub syncing: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks but an allocation failure; the state is consistent between
    // statements that change it, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

impl QueueLog {
    /// Opens (creating if needed) the log in `dir`, replaying it; ids start above `id_floor` (ids handed out
    /// by an earlier layout). Fails with [`StoreError::Corrupt`] naming the segment and offset of damage
    /// anywhere but a torn tail.
    pub(super) fn open(dir: &Path, id_floor: u64, segment_bytes: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Open {
            path: dir.to_path_buf(),
            what: "creating the queue log directory",
            source,
        })?;
        let mut index = Index::default();
        let replayed = segment::replay(dir, &mut index)?;
        let next_id = replayed.next_id.max(id_floor.saturating_add(1));
        let (oldest, newest, len) = match replayed.segments {
            Some((oldest, newest)) => (oldest, newest, replayed.last_len),
            None => {
                segment::create(dir, 1, next_id).map_err(|source| StoreError::Open {
                    path: segment::path(dir, 1),
                    what: "creating the queue log",
                    source,
                })?;
                (1, 1, segment::HEADER)
            }
        };
        let file = segment::open_for_append(dir, newest)?;
        Ok(QueueLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            inner: Mutex::new(Inner {
                index,
                next_id,
                segment: newest,
                segment_len: len,
                oldest_segment: oldest,
                pending: Vec::new(),
                pending_bodies: Vec::new(),
                pending_records: 0,
                appended: 0,
                durable: 0,
                syncing: false,
                failed: None,
            }),
            synced: Condvar::new(),
            writer: Mutex::new(Writer { segment: newest, file }),
            readers: Mutex::new(HashMap::new()),
            syncs: AtomicU64::new(0),
            records: AtomicU64::new(0),
            syncing_nanos: AtomicU64::new(0),
        })
    }

    /// Syncs so far.
    pub(super) fn sync_stats(&self) -> SyncStats {
        SyncStats {
            syncs: self.syncs.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            syncing: Duration::from_nanos(self.syncing_nanos.load(Ordering::Relaxed)),
        }
    }

    /// The segment files the log holds now (oldest, newest), for the compaction tests.
    #[cfg(test)]
    fn segments(&self) -> (u64, u64) {
        let inner = lock(&self.inner);
        (inner.oldest_segment, inner.segment)
    }

    /// Writes messages of an earlier layout into the log, with their ids and state, durably. Adopting an id
    /// the log already holds replaces it (a migration interrupted by a crash and run again duplicates nothing).
    pub(super) fn adopt(&self, messages: Vec<Adopted>) -> Result<(), StoreError> {
        let ticket = {
            let mut inner = lock(&self.inner);
            for message in messages {
                let record = Record::Message {
                    id: message.id,
                    queue: &message.queue,
                    enqueued_at: message.enqueued_at,
                    deliveries: message.deliveries,
                    first_failure: message.first_failure,
                    visibility: message.visibility,
                    header: &message.header,
                    payload: &message.payload,
                };
                let location = inner.append(&record, self.segment_bytes);
                inner.next_id = inner.next_id.max(message.id.saturating_add(1));
                inner.pending_bodies.push((message.id, location));
                let entry = Entry {
                    queue: inner.index.queue_name(&message.queue),
                    enqueued_at: message.enqueued_at,
                    deliveries: message.deliveries,
                    first_failure: message.first_failure,
                    visibility: message.visibility,
                    moving: false,
                    location,
                    cached: Some(Arc::new(Body { header: message.header, payload: message.payload })),
                };
                inner.index.insert(message.id, entry);
            }
            inner.appended
        };
        self.sync_to(ticket, ADOPT)
    }

    pub(super) fn enqueue(&self, queue: &str, message: &Message, now: Timestamp) -> Result<MessageId, StoreError> {
        let header = encode(&MessageHeader::of(message, now), "message header")?;
        let (id, ticket) = {
            let mut inner = lock(&self.inner);
            inner.check(ENQUEUE)?;
            let id = inner.next_id;
            inner.next_id += 1;
            let record = Record::Message {
                id,
                queue,
                enqueued_at: now,
                deliveries: 0,
                first_failure: None,
                visibility: Visibility::Ready,
                header: &header,
                payload: &message.payload,
            };
            let location = inner.append(&record, self.segment_bytes);
            inner.pending_bodies.push((id, location));
            let entry = Entry {
                queue: inner.index.queue_name(queue),
                enqueued_at: now,
                deliveries: 0,
                first_failure: None,
                visibility: Visibility::Ready,
                moving: false,
                location,
                cached: Some(Arc::new(Body { header, payload: message.payload.clone() })),
            };
            inner.index.insert(id, entry);
            (id, inner.appended)
        };
        self.sync_to(ticket, ENQUEUE)?;
        Ok(MessageId(id))
    }

    /// Whether `queue` has a message visible at `now` (no record, no wait).
    pub(super) fn has_visible(&self, queue: &str, now: Timestamp) -> bool {
        lock(&self.inner).index.has_visible(queue, now)
    }

    /// Acks `acks`, then leases up to `max` messages visible at `now`, oldest first; durable when it returns.
    pub(super) fn ack_and_lease(
        &self,
        queue: &str,
        acks: &[MessageId],
        max: usize,
        visibility_timeout: Duration,
        now: Timestamp,
        operation: &'static str,
    ) -> Result<(u64, Vec<Leased>), StoreError> {
        let (acked, leased, ticket) = {
            let mut inner = lock(&self.inner);
            inner.check(operation)?;
            let mut acked = 0;
            for id in acks {
                if inner.index.in_queue(queue, id.0).is_some_and(|entry| !entry.moving) {
                    inner.append(&Record::Removed { id: id.0 }, self.segment_bytes);
                    inner.index.remove(id.0);
                    acked += 1;
                }
            }
            let mut leased = Vec::new();
            if max > 0 {
                inner.index.promote_due(queue, now);
            }
            while leased.len() < max {
                let Some(id) = inner.index.first_ready(queue) else { break };
                let message = self.read_message(&inner, id, operation)?;
                let until = now.saturating_add(visibility_timeout);
                let deliveries = inner.index.get(id).map_or(0, |entry| entry.deliveries).saturating_add(1);
                if let Some(entry) = inner.index.get_mut(id) {
                    entry.deliveries = deliveries;
                }
                inner.index.set_visibility(id, Visibility::Leased(until));
                inner.append(&Record::Leased { id, deliveries, until }, self.segment_bytes);
                leased.push(Leased { id: MessageId(id), message, deliveries, lease_expires: until });
            }
            (acked, leased, inner.appended)
        };
        if acked > 0 || !leased.is_empty() {
            self.sync_to(ticket, operation)?;
        }
        Ok((acked, leased))
    }

    /// Gives back leased messages unstarted; returns how many.
    pub(super) fn unlease(&self, queue: &str, ids: &[MessageId]) -> Result<u64, StoreError> {
        let (given_back, ticket) = {
            let mut inner = lock(&self.inner);
            inner.check(UNLEASE)?;
            let mut given_back = 0;
            for id in ids {
                let leased = inner
                    .index
                    .in_queue(queue, id.0)
                    .is_some_and(|entry| !entry.moving && matches!(entry.visibility, Visibility::Leased(_)));
                if !leased {
                    continue;
                }
                if let Some(entry) = inner.index.get_mut(id.0) {
                    entry.deliveries = entry.deliveries.saturating_sub(1);
                }
                inner.index.set_visibility(id.0, Visibility::Ready);
                inner.append(&Record::Unleased { id: id.0 }, self.segment_bytes);
                given_back += 1;
            }
            (given_back, inner.appended)
        };
        if given_back > 0 {
            self.sync_to(ticket, UNLEASE)?;
        }
        Ok(given_back)
    }

    /// A failed delivery: visible again after `delay`, or handed back to be dead-lettered once delivered
    /// `max_deliveries` times.
    pub(super) fn nack(
        &self,
        queue: &str,
        id: MessageId,
        delay: Duration,
        max_deliveries: u32,
        now: Timestamp,
    ) -> Result<NackPlan, StoreError> {
        let (visible_at, ticket) = {
            let mut inner = lock(&self.inner);
            inner.check(NACK)?;
            let Some(entry) = inner.index.in_queue(queue, id.0) else { return Ok(NackPlan::NotLeased) };
            if entry.moving || !matches!(entry.visibility, Visibility::Leased(_)) {
                return Ok(NackPlan::NotLeased);
            }
            let (deliveries, first_failure) = (entry.deliveries, entry.first_failure.unwrap_or(now));
            if deliveries >= max_deliveries {
                let message = self.read_message(&inner, id.0, NACK)?;
                if let Some(entry) = inner.index.get_mut(id.0) {
                    entry.first_failure = Some(first_failure);
                }
                inner.index.set_moving(id.0, true);
                return Ok(NackPlan::DeadLetter { message, deliveries, first_failure });
            }
            let visible_at = now.saturating_add(delay);
            if let Some(entry) = inner.index.get_mut(id.0) {
                entry.first_failure = Some(first_failure);
            }
            inner.index.set_visibility(id.0, Visibility::Delayed(visible_at));
            inner.append(&Record::Nacked { id: id.0, visible_at, first_failure }, self.segment_bytes);
            (visible_at, inner.appended)
        };
        self.sync_to(ticket, NACK)?;
        Ok(NackPlan::Redelivered(visible_at))
    }

    /// Removes a message whose dead letter is stored: durable when it returns.
    pub(super) fn finish_move(&self, id: MessageId) -> Result<(), StoreError> {
        let ticket = {
            let mut inner = lock(&self.inner);
            inner.check(NACK)?;
            if inner.index.remove(id.0).is_none() {
                return Ok(());
            }
            inner.append(&Record::Removed { id: id.0 }, self.segment_bytes);
            inner.appended
        };
        self.sync_to(ticket, NACK)
    }

    /// Puts a message back where it was when storing its dead letter failed.
    pub(super) fn cancel_move(&self, id: MessageId) {
        lock(&self.inner).index.set_moving(id.0, false);
    }

    /// Makes every leased message ready, keeping its count. No record: a lease found on disk at open can only
    /// be a stopped process's, and is released then.
    pub(super) fn release_leases(&self) -> Result<u64, StoreError> {
        let mut inner = lock(&self.inner);
        inner.check(RELEASE)?;
        Ok(inner.index.release_leases())
    }

    pub(super) fn queue_stats(&self, queue: &str, now: Timestamp) -> QueueStats {
        lock(&self.inner).index.stats(queue, now)
    }

    pub(super) fn oldest_ready(&self, queue: &str) -> Option<Timestamp> {
        lock(&self.inner).index.oldest_ready(queue)
    }

    /// Live messages in all queues.
    #[cfg(test)]
    fn live(&self) -> usize {
        lock(&self.inner).index.len()
    }

    /// The message `id`: from memory while its record is not durable, else read back from its segment.
    fn read_message(&self, inner: &Inner, id: u64, operation: &'static str) -> Result<Message, StoreError> {
        let body = self.read_body(inner, id, operation)?;
        let what = || format!("message {id} of the queue log");
        let header: MessageHeader<'_> = decode(&body.header, what)?;
        Ok(header.into_message(&body.payload))
    }

    fn read_body(&self, inner: &Inner, id: u64, operation: &'static str) -> Result<Arc<Body>, StoreError> {
        let what = || format!("message {id} of the queue log");
        let Some(entry) = inner.index.get(id) else {
            return Err(StoreError::Record { what: what(), detail: "indexed but not held".to_string() });
        };
        if let Some(body) = &entry.cached {
            return Ok(body.clone());
        }
        let location = entry.location;
        let path = segment::path(&self.dir, location.segment);
        let reader = {
            let mut readers = lock(&self.readers);
            match readers.get(&location.segment) {
                Some(file) => file.clone(),
                None => {
                    let file = File::open(&path)
                        .map(Arc::new)
                        .map_err(|e| StoreError::storage(operation, io_error(&path, "opening", e)))?;
                    readers.insert(location.segment, file.clone());
                    file
                }
            }
        };
        let mut bytes = vec![0u8; location.length];
        reader
            .read_exact_at(&mut bytes, location.offset)
            .map_err(|e| StoreError::storage(operation, io_error(&path, "reading", e)))?;
        let damaged = |detail: String| StoreError::Record {
            what: what(),
            detail: format!("{detail} at offset {} of {}", location.offset, path.display()),
        };
        match record::read(&bytes) {
            record::Read::Record(Record::Message { id: found, header, payload, .. }, _) if found == id => {
                Ok(Arc::new(Body { header: header.to_vec(), payload: payload.to_vec() }))
            }
            record::Read::Record(other, _) => Err(damaged(format!("another record ({})", other.id()))),
            record::Read::Truncated => Err(damaged("a record cut short".to_string())),
            record::Read::Damaged(why) => Err(damaged(why)),
        }
    }

    /// Waits until everything appended up to `ticket` is durable, writing and syncing it (with whatever else is
    /// waiting) when no other caller is.
    fn sync_to(&self, ticket: u64, operation: &'static str) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        loop {
            inner.check(operation)?;
            if inner.durable >= ticket {
                return Ok(());
            }
            if inner.syncing {
                inner = self.synced.wait(inner).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            inner.syncing = true;
            let deletable = self.plan_compaction(&mut inner);
            let chunks = std::mem::take(&mut inner.pending);
            let bodies = std::mem::take(&mut inner.pending_bodies);
            let records = std::mem::take(&mut inner.pending_records);
            let upto = inner.appended;
            drop(inner);

            let started = Instant::now();
            let written = self.write(&chunks);
            if written.is_ok() {
                self.syncs.fetch_add(1, Ordering::Relaxed);
                self.records.fetch_add(records, Ordering::Relaxed);
                let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.syncing_nanos.fetch_add(took, Ordering::Relaxed);
            }
            let deleted = if written.is_ok() { self.delete(&deletable) } else { None };

            inner = lock(&self.inner);
            inner.syncing = false;
            match written {
                Ok(()) => {
                    inner.durable = upto;
                    for (id, location) in bodies {
                        if let Some(entry) = inner.index.get_mut(id).filter(|entry| entry.location == location) {
                            entry.cached = None;
                        }
                    }
                    if let Some(next) = deleted {
                        inner.oldest_segment = next;
                    }
                }
                Err(why) => inner.failed = Some(why),
            }
            self.synced.notify_all();
        }
    }

    /// Writes the chunks in order and syncs each segment before the next is started (so only the newest can
    /// have a torn tail).
    fn write(&self, chunks: &[Chunk]) -> Result<(), String> {
        let mut writer = lock(&self.writer);
        for chunk in chunks {
            let path = segment::path(&self.dir, chunk.segment);
            if chunk.segment != writer.segment {
                let next_id = chunk.starts.unwrap_or(0);
                let file = segment::create(&self.dir, chunk.segment, next_id)
                    .map_err(|e| io_error(&path, "creating queue log segment", e))?;
                *writer = Writer { segment: chunk.segment, file };
            }
            writer.file.write_all(&chunk.bytes).map_err(|e| io_error(&path, "writing to", e))?;
            writer.file.sync_data().map_err(|e| io_error(&path, "syncing", e))?;
        }
        Ok(())
    }

    /// Decides, under the lock, which segments the batch about to be written frees, first writing again the
    /// few live messages of a segment far behind. Returns the segments to delete once the batch is durable.
    fn plan_compaction(&self, inner: &mut Inner) -> Vec<u64> {
        if let Some((oldest, live)) = inner.index.oldest_live_segment() {
            if oldest + 2 <= inner.segment && live.bytes <= self.segment_bytes / CARRY_FRACTION {
                for id in inner.index.ids_in_segment(oldest) {
                    // A body that cannot be read stays where it is; the segment then waits.
                    let Ok(body) = self.read_body(inner, id, ENQUEUE) else { continue };
                    let Some(entry) = inner.index.get(id) else { continue };
                    let record = Record::Message {
                        id,
                        queue: &entry.queue.clone(),
                        enqueued_at: entry.enqueued_at,
                        deliveries: entry.deliveries,
                        first_failure: entry.first_failure,
                        visibility: entry.visibility,
                        header: &body.header,
                        payload: &body.payload,
                    };
                    let location = inner.append(&record, self.segment_bytes);
                    inner.pending_bodies.push((id, location));
                    inner.index.relocate(id, location, body);
                }
            }
        }
        let first_needed = inner.index.oldest_live_segment().map_or(inner.segment, |(s, _)| s).min(inner.segment);
        (inner.oldest_segment..first_needed).collect()
    }

    /// Deletes segments oldest first, stopping at the first that cannot be deleted (so the files left stay
    /// numbered without a gap); returns the oldest segment left, if any was deleted.
    fn delete(&self, segments: &[u64]) -> Option<u64> {
        let mut next = None;
        for &number in segments {
            lock(&self.readers).remove(&number);
            if segment::delete(&self.dir, number).is_err() {
                break;
            }
            next = Some(number + 1);
        }
        next
    }
}

#[cfg(test)]
mod tests;
