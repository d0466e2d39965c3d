//! The embedded backend: one redb file, `state.redb`, in the state directory, and the persistent queues' log
//! beside it (`queues/`, see `queue_log/`).
//!
//! Object entries, idempotency keys, dead letters and scheduler leases live in redb: each query is one read
//! transaction; each change runs in a write transaction committed with `Durability::Immediate`, shared with the
//! changes made at the same time (`group_commit.rs`; see the crate docs for the fsync policy). Queued messages
//! live in the append-only log, synced before each call returns, because a redb commit rewrites several pages
//! per message and bounded a queue by the disk (README, "What bounds a persistent queue").
//!
//! A message moves between the two stores in an order a crash can only repeat, never undo: dead-lettering
//! stores the letter in redb first and then removes the message from the log (a crash in between delivers it
//! again, with its delivery count, and it is dead-lettered again: a second letter); replaying a letter
//! enqueues it in the log first and then takes the letter from redb (a crash in between leaves the letter
//! listed and the message queued). The submodules hold the logic of one concept each as functions over an
//! open transaction; this module owns the database, the log and the transactions.

mod dead_letters;
mod group_commit;
mod leases;
mod legacy_queues;
mod objects;
mod open;
mod queue_log;
mod records;
mod tables;

use crate::dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
use crate::error::StoreError;
use crate::message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery};
use crate::time::Timestamp;
use crate::StateStore;
use ::redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
pub use group_commit::CommitStats;
use queue_log::{NackPlan, QueueLog};
use serde_json::Value as Json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The name of the state file inside the state directory.
pub const STATE_FILE: &str = "state.redb";

/// State in a redb file: survives restarts and crashes; one process at a time.
pub struct RedbStore {
    db: Database,
    file: PathBuf,
    writer: group_commit::GroupCommit,
    queues: QueueLog,
    /// Held while a dead letter is replayed (enqueued, then taken), so two replays of one letter cannot both
    /// enqueue it.
    replaying: Mutex<()>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("file", &self.file).finish_non_exhaustive()
    }
}

/// Whether a write transaction changed anything worth an fsync.
enum Change {
    Commit,
    Abort,
}

impl RedbStore {
    /// Opens the state in `dir`, creating the directory and an empty `state.redb` if there is none.
    ///
    /// Fails with [`StoreError::InUse`] if another process (or another `RedbStore` in this one) has it open,
    /// [`StoreError::Corrupt`] if the file is damaged or not a redb file, [`StoreError::Incompatible`] if it is
    /// another layout, and [`StoreError::Open`] if the directory or file cannot be accessed. Never starts empty
    /// over an existing file. Reads the whole file once to check it (see the crate docs).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_segments(dir.as_ref(), queue_log::SEGMENT_BYTES)
    }

    /// [`RedbStore::open`] with the queue log cut into segments of `segment_bytes` (tests use small ones to
    /// see compaction work).
    #[doc(hidden)]
    pub fn open_with_segments(dir: &Path, segment_bytes: u64) -> Result<Self, StoreError> {
        // redb's file lock is taken first: the log in the same directory is then this process's alone.
        let (db, file, layout) = open::open(dir)?;
        let floor = {
            let tx = db.begin_read().during(legacy_queues::MIGRATE)?;
            legacy_queues::last_message_id(&tx)?
        };
        let queues = QueueLog::open(&dir.join(queue_log::DIRECTORY), floor, segment_bytes)?;
        let store =
            RedbStore { db, file, writer: group_commit::GroupCommit::default(), queues, replaying: Mutex::new(()) };
        if layout < tables::LAYOUT_VERSION {
            store.migrate()?;
        }
        Ok(store)
    }

    /// Moves the messages of a layout-1 file into the log, then empties its queue tables and raises the layout,
    /// in that order (see `legacy_queues.rs`).
    fn migrate(&self) -> Result<(), StoreError> {
        let messages = {
            let tx = self.db.begin_read().during(legacy_queues::MIGRATE)?;
            if legacy_queues::any(&tx)? {
                legacy_queues::read_all(&tx)?
            } else {
                Vec::new()
            }
        };
        if !messages.is_empty() {
            self.queues.adopt(messages)?;
        }
        self.write(legacy_queues::MIGRATE, |tx| {
            legacy_queues::clear(tx)?;
            open::set_layout(tx)?;
            Ok(((), Change::Commit))
        })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Durable commits (one fsync each) this store has made since it was opened: divided by the operations
    /// made, how many changes shared each fsync (benchmarks report it).
    pub fn commits(&self) -> u64 {
        self.writer.commits() + self.queues.sync_stats().syncs
    }

    /// The durable commits so far with the changes they held and the time they took (writing pages and the
    /// fsync): changes per commit and time per commit say whether the disk or the callers bound the
    /// throughput (the queue benchmark reports both).
    pub fn commit_stats(&self) -> CommitStats {
        let (redb, log) = (self.writer.stats(), self.queues.sync_stats());
        CommitStats {
            commits: redb.commits + log.syncs,
            changes: redb.changes + log.records,
            committing: redb.committing + log.syncing,
        }
    }

    /// Closes the file and releases its lock, reporting a failure that dropping the store would ignore. Call it
    /// at shutdown once every clone of the `Arc` holding the store is gone.
    pub fn close(self) -> Result<(), StoreError> {
        self.db.close().map_err(|e| StoreError::storage("closing the state file", e))
    }

    /// Runs `f` in a write transaction committed durably before this returns, grouped with the changes that
    /// arrive while an earlier group is being committed (see `group_commit.rs`); a group that changed nothing
    /// is aborted (no fsync). An error from `f` aborts its group: a failed call leaves no partial change.
    fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&WriteTransaction) -> Result<(T, Change), StoreError>,
    ) -> Result<T, StoreError> {
        self.writer.write(&self.db, operation, f)
    }

    /// Runs `f` in a read transaction (a consistent snapshot; never waits for writers).
    fn read<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.db.begin_read().during(operation)?;
        f(&tx)
    }
}

/// Converts redb's error types into [`StoreError::Storage`] naming the operation.
trait During<T> {
    fn during(self, operation: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<::redb::Error>> During<T> for Result<T, E> {
    fn during(self, operation: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::storage(operation, e.into()))
    }
}

impl StateStore for RedbStore {
    fn get(&self, store: &str, key: &str, now: Timestamp) -> Result<Option<Json>, StoreError> {
        self.read(objects::GET, |tx| objects::get(tx, store, key, now))
    }

    fn put(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(objects::PUT, |tx| Ok((objects::put(tx, store, key, value, ttl, now)?, Change::Commit)))
    }

    fn put_if_absent(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(objects::PUT, |tx| {
            let stored = objects::put_if_absent(tx, store, key, value, ttl, now)?;
            Ok((stored, if stored { Change::Commit } else { Change::Abort }))
        })
    }

    fn compare_and_set(
        &self,
        store: &str,
        key: &str,
        expected: &Json,
        value: Option<&Json>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write(objects::PUT, |tx| {
            let swapped = objects::compare_and_set(tx, store, key, expected, value, ttl, now)?;
            Ok((swapped, if swapped { Change::Commit } else { Change::Abort }))
        })
    }

    fn remove(&self, store: &str, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.write(objects::REMOVE, |tx| {
            // An expired entry is deleted too (and committed), but reported as not live.
            let removed = objects::remove(tx, store, key, now)?;
            Ok((removed == Some(true), if removed.is_some() { Change::Commit } else { Change::Abort }))
        })
    }

    fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.write(objects::SWEEP, |tx| {
            let removed = objects::sweep_expired(tx, now)?;
            Ok((removed, if removed > 0 { Change::Commit } else { Change::Abort }))
        })
    }

    fn object_entries(&self) -> Result<u64, StoreError> {
        self.read(objects::GET, objects::len)
    }

    fn enqueue(&self, queue: &str, message: &Message, now: Timestamp) -> Result<MessageId, StoreError> {
        self.queues.enqueue(queue, message, now)
    }

    fn lease(&self, queue: &str, visibility_timeout: Duration, now: Timestamp) -> Result<Option<Leased>, StoreError> {
        if !self.queues.has_visible(queue, now) {
            return Ok(None);
        }
        let (_, leased) = self.queues.ack_and_lease(queue, &[], 1, visibility_timeout, now, queue_log::LEASE)?;
        Ok(leased.into_iter().next())
    }

    fn ack(&self, queue: &str, id: MessageId) -> Result<bool, StoreError> {
        let (acked, _) =
            self.queues.ack_and_lease(queue, &[id], 0, Duration::ZERO, Timestamp::EPOCH, queue_log::ACK)?;
        Ok(acked > 0)
    }

    fn ack_and_lease(
        &self,
        queue: &str,
        acks: &[MessageId],
        max: usize,
        visibility_timeout: Duration,
        now: Timestamp,
    ) -> Result<Vec<Leased>, StoreError> {
        let (_, leased) =
            self.queues.ack_and_lease(queue, acks, max, visibility_timeout, now, queue_log::ACK_AND_LEASE)?;
        Ok(leased)
    }

    fn unlease(&self, queue: &str, ids: &[MessageId]) -> Result<u64, StoreError> {
        self.queues.unlease(queue, ids)
    }

    fn nack(
        &self,
        queue: &str,
        id: MessageId,
        redelivery: Redelivery,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<NackOutcome, StoreError> {
        match self.queues.nack(queue, id, redelivery.delay, redelivery.max_deliveries, now)? {
            NackPlan::NotLeased => Ok(NackOutcome::NotLeased),
            NackPlan::Redelivered(visible_at) => Ok(NackOutcome::Redelivered { visible_at }),
            NackPlan::DeadLetter { message, deliveries, first_failure } => {
                // The letter first, durably; then the message leaves the log (see the module docs).
                let letter = DeadLetter::new(message, failure, deliveries, first_failure, now);
                let letter = DeadLetter { queue: Some(queue.to_string()), ..letter };
                match self.write(dead_letters::INSERT, |tx| Ok((dead_letters::insert(tx, &letter)?, Change::Commit))) {
                    Ok(letter) => {
                        self.queues.finish_move(id)?;
                        Ok(NackOutcome::DeadLettered(letter))
                    }
                    Err(e) => {
                        self.queues.cancel_move(id);
                        Err(e)
                    }
                }
            }
        }
    }

    fn release_leases(&self) -> Result<u64, StoreError> {
        self.queues.release_leases()
    }

    fn queue_stats(&self, queue: &str, now: Timestamp) -> Result<QueueStats, StoreError> {
        Ok(self.queues.queue_stats(queue, now))
    }

    fn oldest_ready(&self, queue: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.queues.oldest_ready(queue))
    }

    fn dead_letter(&self, letter: &DeadLetter) -> Result<DeadLetterId, StoreError> {
        self.write(dead_letters::INSERT, |tx| Ok((dead_letters::insert(tx, letter)?, Change::Commit)))
    }

    fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<StoredDeadLetter>, StoreError> {
        self.read(dead_letters::LIST, |tx| dead_letters::list(tx, filter))
    }

    fn get_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
        self.read(dead_letters::GET, |tx| dead_letters::get(tx, id))
    }

    fn take_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
        self.write(dead_letters::TAKE, |tx| {
            let taken = dead_letters::take(tx, id)?;
            let change = if taken.is_some() { Change::Commit } else { Change::Abort };
            Ok((taken, change))
        })
    }

    fn replay_dead_letter(
        &self,
        id: DeadLetterId,
        now: Timestamp,
    ) -> Result<Option<(StoredDeadLetter, MessageId)>, StoreError> {
        let _replaying = self.replaying.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(stored) = self.read(dead_letters::GET, |tx| dead_letters::get(tx, id))? else { return Ok(None) };
        let Some(queue) = stored.letter.queue.clone() else { return Ok(None) };
        // The message first, durably; then the letter is taken (see the module docs). A letter purged meanwhile
        // takes its message back out, so a replay never resurrects what an operator deleted.
        let message = self.queues.enqueue(&queue, &stored.letter.to_message(), now)?;
        let taken = self.write(dead_letters::TAKE, |tx| {
            let taken = dead_letters::take(tx, id)?;
            let change = if taken.is_some() { Change::Commit } else { Change::Abort };
            Ok((taken, change))
        });
        match taken {
            Ok(Some(taken)) => Ok(Some((taken, message))),
            Ok(None) => {
                self.ack(&queue, message)?;
                Ok(None)
            }
            Err(e) => {
                self.ack(&queue, message)?;
                Err(e)
            }
        }
    }

    fn purge_dead_letters(&self, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
        self.write(dead_letters::PURGE, |tx| {
            let purged = dead_letters::purge(tx, filter)?;
            Ok((purged, if purged > 0 { Change::Commit } else { Change::Abort }))
        })
    }

    fn try_acquire_lease(&self, name: &str, holder: &str, ttl: Duration, now: Timestamp) -> Result<bool, StoreError> {
        self.write(leases::ACQUIRE, |tx| {
            let acquired = leases::try_acquire(tx, name, holder, ttl, now)?;
            Ok((acquired, if acquired { Change::Commit } else { Change::Abort }))
        })
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        self.write(leases::RELEASE, |tx| {
            let released = leases::release(tx, name, holder)?;
            Ok((released, if released { Change::Commit } else { Change::Abort }))
        })
    }
}
