//! The embedded backend: one redb file, `state.redb`, in the state directory.
//!
//! Each query is one read transaction; each change runs in a write transaction committed with
//! `Durability::Immediate`, shared with the changes made at the same time (`group_commit.rs`; see the crate docs
//! for the fsync policy). The submodules hold the logic of
//! one concept each as functions over an open transaction; this module owns the database and the transactions.

mod dead_letters;
mod group_commit;
mod leases;
mod objects;
mod open;
mod queues;
mod records;
mod tables;

use crate::dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
use crate::error::StoreError;
use crate::message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery};
use crate::time::Timestamp;
use crate::StateStore;
use ::redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
pub use group_commit::CommitStats;
use serde_json::Value as Json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The name of the state file inside the state directory.
pub const STATE_FILE: &str = "state.redb";

/// State in a redb file: survives restarts and crashes; one process at a time.
pub struct RedbStore {
    db: Database,
    file: PathBuf,
    writer: group_commit::GroupCommit,
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
        let (db, file) = open::open(dir.as_ref())?;
        Ok(RedbStore { db, file, writer: group_commit::GroupCommit::default() })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Durable commits (one fsync each) this store has made since it was opened: divided by the operations
    /// made, how many changes shared each fsync (benchmarks report it).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    /// The durable commits so far with the changes they held and the time they took (writing pages and the
    /// fsync): changes per commit and time per commit say whether the disk or the callers bound the
    /// throughput (the queue benchmark reports both).
    pub fn commit_stats(&self) -> CommitStats {
        self.writer.stats()
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
        self.write(queues::ENQUEUE, |tx| Ok((queues::enqueue(tx, queue, message, now)?, Change::Commit)))
    }

    fn lease(&self, queue: &str, visibility_timeout: Duration, now: Timestamp) -> Result<Option<Leased>, StoreError> {
        if !self.read(queues::LEASE, |tx| queues::has_visible(tx, queue, now))? {
            return Ok(None);
        }
        self.write(queues::LEASE, |tx| {
            let leased = queues::lease(tx, queue, visibility_timeout, now)?;
            // Nothing visible means nothing was promoted either: an idle poll commits nothing.
            let change = if leased.is_some() { Change::Commit } else { Change::Abort };
            Ok((leased, change))
        })
    }

    fn ack(&self, queue: &str, id: MessageId) -> Result<bool, StoreError> {
        self.write(queues::ACK, |tx| {
            let acked = queues::ack(tx, queue, id)?;
            Ok((acked, if acked { Change::Commit } else { Change::Abort }))
        })
    }

    fn ack_and_lease(
        &self,
        queue: &str,
        acks: &[MessageId],
        max: usize,
        visibility_timeout: Duration,
        now: Timestamp,
    ) -> Result<Vec<Leased>, StoreError> {
        if acks.is_empty() && (max == 0 || !self.read(queues::LEASE, |tx| queues::has_visible(tx, queue, now))?) {
            return Ok(Vec::new());
        }
        self.write(queues::ACK_AND_LEASE, |tx| {
            let mut acked = false;
            for id in acks {
                acked |= queues::ack(tx, queue, *id)?;
            }
            let leased = queues::lease_many(tx, queue, max, visibility_timeout, now)?;
            let change = if acked || !leased.is_empty() { Change::Commit } else { Change::Abort };
            Ok((leased, change))
        })
    }

    fn unlease(&self, queue: &str, ids: &[MessageId]) -> Result<u64, StoreError> {
        self.write(queues::UNLEASE, |tx| {
            let mut given_back = 0;
            for id in ids {
                given_back += u64::from(queues::unlease(tx, queue, *id)?);
            }
            Ok((given_back, if given_back > 0 { Change::Commit } else { Change::Abort }))
        })
    }

    fn nack(
        &self,
        queue: &str,
        id: MessageId,
        redelivery: Redelivery,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<NackOutcome, StoreError> {
        self.write(queues::NACK, |tx| {
            let outcome = queues::nack(tx, queue, id, redelivery, failure, now)?;
            let change = if outcome == NackOutcome::NotLeased { Change::Abort } else { Change::Commit };
            Ok((outcome, change))
        })
    }

    fn release_leases(&self) -> Result<u64, StoreError> {
        self.write(queues::RELEASE, |tx| {
            let released = queues::release_leases(tx)?;
            Ok((released, if released > 0 { Change::Commit } else { Change::Abort }))
        })
    }

    fn queue_stats(&self, queue: &str, now: Timestamp) -> Result<QueueStats, StoreError> {
        self.read(queues::STATS, |tx| queues::stats(tx, queue, now))
    }

    fn oldest_ready(&self, queue: &str) -> Result<Option<Timestamp>, StoreError> {
        self.read(queues::STATS, |tx| queues::oldest_ready(tx, queue))
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
        // A letter never changes once stored, so the queue read here is the one taken below (if it is still
        // there): a letter from no queue is never taken, even in a group another call commits.
        let from_queue = self.read(dead_letters::GET, |tx| dead_letters::get(tx, id))?;
        if from_queue.is_none_or(|stored| stored.letter.queue.is_none()) {
            return Ok(None);
        }
        self.write(dead_letters::TAKE, |tx| {
            let Some(taken) = dead_letters::take(tx, id)? else { return Ok((None, Change::Abort)) };
            let Some(queue) = taken.letter.queue.clone() else { return Ok((None, Change::Abort)) };
            let message = queues::enqueue(tx, &queue, &taken.letter.to_message(), now)?;
            Ok((Some((taken, message)), Change::Commit))
        })
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
