//! The durable state of relais: object store entries with a TTL (and the idempotency keys built on them), durable
//! queues with leases, nacks and dead letters, and scheduler leases (ARCHITECTURE.md, "State").
//!
//! One object-safe trait, [`StateStore`], and three backends:
//! - [`MemoryStore`]: everything in a mutex-guarded map. For tests and `--state memory`; lost on exit.
//! - [`RedbStore`]: one [redb](https://docs.rs/redb) file, `state.redb`, in the state directory, and the
//!   persistent queues in an append-only log beside it (`queues/`).
//! - [`PgStore`]: a PostgreSQL schema shared by several replicas (`--state postgres://...`); it drives its
//!   async driver on a small runtime of its own, so the trait stays synchronous.
//!
//! The API is synchronous: every call is a short critical section (memory) or one redb transaction. From async
//! code, call the read-only and single-message operations directly when a millisecond of blocking is acceptable,
//! and anything that commits in a loop, sweeps or lists through `spawn_blocking`. Both backends are
//! `Send + Sync` and meant to be shared as `Arc<dyn StateStore>`.
//!
//! # Time
//! No call reads a clock. Operations that depend on time take `now` ([`Timestamp`], milliseconds since the Unix
//! epoch), so tests control time and expiry is a pure function of the arguments.
//!
//! # Object entries
//! Entries live in named stores (the store name namespaces the keys). An entry with a TTL expires at
//! `now + ttl`: from that instant `get` no longer sees it and `put_if_absent` may claim the key again, whether or
//! not [`StateStore::sweep_expired`] has removed it yet. The sweep only reclaims space. Every write of an entry
//! (`put`, a successful `put_if_absent` or `compare_and_set`) first deletes up to [`SWEEP_PER_WRITE`] expired
//! entries, oldest first, in the same transaction: a stream of new keys then deletes expired ones faster than it
//! adds, so the entries held stay about the live ones even when no periodic sweep runs.
//!
//! # Queues
//! At-least-once delivery. `enqueue` stores a message; `lease` hands out the oldest visible message (FIFO by
//! enqueue order among the messages visible at `now`) and hides it for the visibility timeout; `ack` removes it;
//! `nack` makes it visible again after a delay or, once it has been delivered `max_deliveries` times, moves it to
//! the dead-letter store with the error. A lease that runs out (the consumer crashed, or took too long) makes
//! the message visible again, with its delivery count already raised: a message that keeps crashing its
//! consumer shows `deliveries > max_deliveries` on its next lease, and the consumer dead-letters it with `nack`.
//! A message that is redelivered after its lease expired may be processed twice; flows that must not repeat
//! side effects use the `idempotent` step, which is [`StateStore::put_if_absent`].
//!
//! A consumer that keeps many messages moving calls [`StateStore::ack_and_lease`]: it acks what it finished
//! and leases the next batch in one change (one commit on redb, where one per ack and one per lease would
//! bound a queue by the disk's fsync rate), and gives back with [`StateStore::unlease`] what it leased ahead
//! and never started, without counting a delivery.
//!
//! # Durability of `RedbStore` (the fsync policy)
//! Every operation that changes state runs in a redb write transaction committed with `Durability::Immediate`,
//! or for queue messages appends a record to the queue log synced with `fdatasync`: the commit or record is on
//! disk before the call returns. So once `enqueue` returns its id, the message survives a crash
//! or a power cut (as far as the disk honours fsync); once `ack` returns, the message will not be delivered
//! again; `put`, `put_if_absent`, `compare_and_set`, `nack`, `dead_letter`, `take_dead_letter` and lease changes
//! are durable likewise. A call that changes nothing (a failed claim, an ack of an unknown id) aborts instead of
//! committing, and `lease` first looks for a visible message in a read transaction, so idle consumers polling an
//! empty queue neither write nor take the writer lock. Calls that change state at the same time share a commit
//! (group commit, `redb/group_commit.rs`; the queue log groups its records likewise, `redb/queue_log/`): while
//! one commit is being fsynced, the calls that arrive run in the next transaction and return together after
//! its one fsync. That bounds groups, not calls, by the disk's fsync
//! rate (300 to 1,500 commits a second on the shared virtual disk it was measured on, against about 15,000 on
//! tmpfs; see `examples/throughput.rs`), so throughput comes from many changes per group: concurrent publishers,
//! and consumers that ack and lease in batches ([`StateStore::ack_and_lease`]). A call whose work fails aborts
//! the group it is in. Reads (`get`,
//! `queue_stats`, listings) use read transactions (MVCC snapshots) and never wait for a writer.
//!
//! On open, the whole file is checked (`Builder::set_check_integrity_on_open`; it reads the whole file, which is
//! fast for state-sized files): redb otherwise trusts a cleanly closed file and may panic on one damaged since.
//! The queue log is replayed whole, every record's checksum verified; a torn tail of its newest segment (a crash
//! mid-write) is cut, damage elsewhere is [`StoreError::Corrupt`] naming the segment and offset.
//! A damaged or foreign file gives [`StoreError::Corrupt`] or [`StoreError::Incompatible`] with the way out, a
//! file held by another process [`StoreError::InUse`]; the state is never reset silently. A new file is created
//! under a temporary name and hard-linked into place, so `state.redb` either does not exist or is a complete
//! store, and an empty or truncated one is reported as damaged rather than taken for a first start.

mod dead_letter;
mod error;
mod memory;
mod message;
mod postgres;
mod redb;
mod time;

/// TLS to PostgreSQL (`sslmode`), shared with the engine's `db` connector so both read it alike.
pub use crate::postgres::tls as pg_tls;
pub use crate::postgres::{is_postgres_url, redact, PgStore, Target, DEFAULT_POOL_SIZE, DEFAULT_SCHEMA};
pub use crate::redb::{CommitStats, RedbStore, STATE_FILE};
pub use dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
pub use error::{BoxError, StoreError, CORRUPT_RECOVERY};
pub use memory::MemoryStore;
pub use message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery, TraceHeaders};
pub use time::Timestamp;

use serde_json::Value as Json;
use std::time::Duration;

/// How many expired entries each write of an entry deletes on its way (amortised sweeping): more than one,
/// so that a backlog (a burst of keys that expired together) shrinks while new keys keep arriving; few, so
/// that a write stays a small transaction.
pub const SWEEP_PER_WRITE: usize = 2;

/// The state relais keeps across events and restarts, behind one object-safe trait so the engine holds an
/// `Arc<dyn StateStore>` and does not care whether it is in memory, in redb, or (later) in PostgreSQL.
///
/// Every method returns a `Result`: even the memory backend's callers must handle failure, so that switching to
/// a durable backend never turns an impossible error into an ignored one.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    // --- object entries ---

    /// The live value under `key` in `store`, or `None` if it is absent or expired at `now`.
    fn get(&self, store: &str, key: &str, now: Timestamp) -> Result<Option<Json>, StoreError>;

    /// Stores `value` under `key`, replacing any previous value and TTL. With a TTL the entry expires at
    /// `now + ttl`; without one it lives until removed.
    fn put(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Stores `value` only if `key` is absent or expired at `now`; `true` when it was stored. Atomic: of two
    /// concurrent calls with the same key, exactly one gets `true`. This is the `idempotent` step's "claim key K
    /// unless already present and unexpired".
    fn put_if_absent(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Replaces the live value under `key` with `value` (or removes it when `value` is `None`) only if it equals
    /// `expected`; `true` when it did. Atomic, like [`StateStore::put_if_absent`]: this is how an idempotency
    /// claim is confirmed, released or taken over without clobbering a claim that changed hands meanwhile.
    fn compare_and_set(
        &self,
        store: &str,
        key: &str,
        expected: &Json,
        value: Option<&Json>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Whether this process is the only one using the state while it runs (the embedded backends hold an
    /// exclusive lock on it). Then an idempotency claim left pending by an earlier process is an orphan of a
    /// crash and may be taken over at once; a shared backend must wait for the claim to time out instead.
    fn is_exclusive(&self) -> bool {
        true
    }

    /// Whether the backend answered its last call: false while a shared backend (PostgreSQL) cannot be
    /// reached, so that `/ready` answers 503 and load balancers send traffic to replicas that can commit.
    /// The embedded backends are always available while open.
    fn is_available(&self) -> bool {
        true
    }

    /// Removes `key`; `true` if a live (unexpired at `now`) entry was removed.
    fn remove(&self, store: &str, key: &str, now: Timestamp) -> Result<bool, StoreError>;

    /// Deletes every entry expired at `now`, in all stores, and returns how many. Expired entries are already
    /// invisible; this reclaims their space. Run it periodically, off the async workers.
    fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// How many object entries the store holds, live or expired but not yet deleted, in all stores: what
    /// sweeping keeps bounded.
    fn object_entries(&self) -> Result<u64, StoreError>;

    // --- durable queues ---

    /// Appends a message to `queue` (created on first use), visible at once. Durable when it returns.
    fn enqueue(&self, queue: &str, message: &Message, now: Timestamp) -> Result<MessageId, StoreError>;

    /// Hands out the oldest message of `queue` visible at `now` and hides it until `now + visibility_timeout`;
    /// `None` if no message is visible. Each lease counts as a delivery.
    fn lease(&self, queue: &str, visibility_timeout: Duration, now: Timestamp) -> Result<Option<Leased>, StoreError>;

    /// Removes a message after it was processed; `false` if it was not there (already acked or dead-lettered).
    /// An ack after the lease expired still removes the message: the work was done.
    fn ack(&self, queue: &str, id: MessageId) -> Result<bool, StoreError>;

    /// Acks `acks` (messages whose processing succeeded; unknown ids are skipped), then leases up to `max`
    /// messages of `queue` visible at `now`, oldest first, each as [`StateStore::lease`] would: one change, so
    /// a consumer that settles what it finished and takes what comes next pays one durable commit for all of
    /// it instead of one per ack and one per lease. When it returns, the acks are durable and the leases
    /// counted. `max: 0` only acks. The default runs the single operations one after the other.
    fn ack_and_lease(
        &self,
        queue: &str,
        acks: &[MessageId],
        max: usize,
        visibility_timeout: Duration,
        now: Timestamp,
    ) -> Result<Vec<Leased>, StoreError> {
        for id in acks {
            self.ack(queue, *id)?;
        }
        let mut leased = Vec::new();
        while leased.len() < max {
            match self.lease(queue, visibility_timeout, now)? {
                Some(message) => leased.push(message),
                None => break,
            }
        }
        Ok(leased)
    }

    /// Gives back leased messages that were never handed to a consumer (a consumer leased ahead and stopped
    /// before it started them): visible again at once, their delivery not counted, as if never leased. Ids
    /// that are not leased are left alone; returns how many were given back.
    fn unlease(&self, queue: &str, ids: &[MessageId]) -> Result<u64, StoreError>;

    /// Reports a failed delivery of a leased message: it becomes visible again after `redelivery.delay`, or, if
    /// this was delivery number `redelivery.max_deliveries` or later, moves to the dead-letter store with
    /// `failure` as its last error. A message that is not leased (waiting, or unknown) is left alone. A nack
    /// cannot tell its delivery from a later one: if the lease expired and another consumer leased the message
    /// since, a late nack applies to that delivery, so keep visibility timeouts above processing times.
    fn nack(
        &self,
        queue: &str,
        id: MessageId,
        redelivery: Redelivery,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<NackOutcome, StoreError>;

    /// Makes every leased message of every queue visible at once, keeping its delivery count; returns how many.
    /// Called when a process opens an exclusive state: its leases can only be those of a process that stopped
    /// while processing (a crash, a kill), whose messages would otherwise wait for their visibility timeout.
    fn release_leases(&self) -> Result<u64, StoreError>;

    /// How many messages `queue` holds at `now`, by state.
    fn queue_stats(&self, queue: &str, now: Timestamp) -> Result<QueueStats, StoreError>;

    /// When the first message ready for delivery in `queue` (the next a consumer gets) was enqueued, for
    /// the age of the oldest message in the metrics; `None` when none is ready, or when the backend does not
    /// keep enqueue times (the default).
    fn oldest_ready(&self, queue: &str) -> Result<Option<Timestamp>, StoreError> {
        let _ = queue;
        Ok(None)
    }

    // --- dead letters ---

    /// Stores a dead letter (from any flow, queued or not) and returns its new id.
    fn dead_letter(&self, letter: &DeadLetter) -> Result<DeadLetterId, StoreError>;

    /// The dead letters matching `filter`, oldest first.
    fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<StoredDeadLetter>, StoreError>;

    /// One dead letter by id.
    fn get_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError>;

    /// Removes a dead letter and returns it, for replay: whoever takes it owns it (atomic, so two operators
    /// replaying the same id cannot both get it).
    fn take_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError>;

    /// Takes dead letter `id` and enqueues its message on the queue it came from, in one change: of two
    /// replicas (or operators) replaying the same letter at once, one publishes it and the other gets `None`,
    /// as it does for a letter that is not there or came from no queue (left alone). Returns the letter and
    /// the new message's id. The default takes, then enqueues, and stores the letter again (under a new id)
    /// if the enqueue fails.
    fn replay_dead_letter(
        &self,
        id: DeadLetterId,
        now: Timestamp,
    ) -> Result<Option<(StoredDeadLetter, MessageId)>, StoreError> {
        match self.get_dead_letter(id)? {
            Some(stored) if stored.letter.queue.is_some() => {}
            _ => return Ok(None),
        }
        let Some(taken) = self.take_dead_letter(id)? else { return Ok(None) };
        let Some(queue) = taken.letter.queue.clone() else { return Ok(None) };
        match self.enqueue(&queue, &taken.letter.to_message(), now) {
            Ok(message) => Ok(Some((taken, message))),
            Err(e) => {
                self.dead_letter(&taken.letter)?;
                Err(e)
            }
        }
    }

    /// Deletes every dead letter matching `filter` (its `limit` is ignored) and returns how many.
    fn purge_dead_letters(&self, filter: &DeadLetterFilter) -> Result<u64, StoreError>;

    // --- scheduler leases ---

    /// Takes or renews the lease `name` for `holder` until `now + ttl`; `true` if `holder` holds it now. Fails
    /// (`false`) only while another holder's lease is unexpired, so two replicas never run the same schedule
    /// tick.
    fn try_acquire_lease(&self, name: &str, holder: &str, ttl: Duration, now: Timestamp) -> Result<bool, StoreError>;

    /// Gives up the lease `name` if `holder` holds it; `true` if it was released. Another holder's lease is left
    /// alone.
    fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError>;
}
