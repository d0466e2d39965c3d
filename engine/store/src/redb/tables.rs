//! The redb tables of a state file and the layout version that names this set.
//!
//! Keys are tuples that start with the namespace (store, queue), so one range scan covers one namespace and
//! sorts by the rest: ids for FIFO order, instants for expiry. Fixed-width numbers are stored as redb's own
//! integer types; everything free-form is JSON (see `records.rs`).

use super::records::MessageStateTuple;
use ::redb::TableDefinition;

/// (namespace, id): a queue's message key.
type QueueKey = (&'static str, u64);
/// (expiry in ms, JSON bytes).
type ExpiringJson = (Option<u64>, &'static [u8]);
/// (JSON record, payload bytes).
type RecordAndPayload = (&'static [u8], &'static [u8]);

/// The layout this crate writes, stored under [`LAYOUT_VERSION_KEY`] in [`META`]. Raise it with a migration
/// when a table's key or value changes. 2: persistent queue messages live in the queue log (`queue_log/`), and
/// the queue tables below stay empty; a file of layout 1 has its messages moved there at open
/// (`legacy_queues.rs`), and an older relais refuses a file of layout 2 rather than show its queues empty.
pub(super) const LAYOUT_VERSION: u64 = 2;
/// The oldest layout this crate opens (migrating it).
pub(super) const FIRST_LAYOUT: u64 = 1;

/// Counters and the layout version.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Key of the layout version in [`META`].
pub(super) const LAYOUT_VERSION_KEY: &str = "layout_version";
/// Key of the last message id handed out in [`META`] (layout 1; the queue log keeps its own).
pub(super) const LAST_MESSAGE_ID: &str = "last_message_id";
/// Key of the last dead-letter id handed out in [`META`].
pub(super) const LAST_DEAD_LETTER_ID: &str = "last_dead_letter_id";

/// (store, key) -> (expiry in ms, the JSON value).
pub(super) const OBJECTS: TableDefinition<(&str, &str), ExpiringJson> = TableDefinition::new("objects");
/// (expiry in ms, store, key) -> (): what a sweep deletes, in expiry order.
pub(super) const OBJECT_EXPIRIES: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("object_expiries");

/// Layout 1's queue tables, read once to migrate a file (`legacy_queues.rs`) and empty in layout 2.
///
/// (queue, id) -> (JSON header: media type, attributes, correlation id; payload bytes). Written once at enqueue.
pub(super) const MESSAGE_BODIES: TableDefinition<QueueKey, RecordAndPayload> =
    TableDefinition::new("queue_message_bodies");
/// (queue, id) -> (deliveries, first failure in ms, visibility kind, visibility instant in ms). Small and
/// fixed-width: it is rewritten on every lease and nack, the body never is.
pub(super) const MESSAGE_STATES: TableDefinition<QueueKey, MessageStateTuple> =
    TableDefinition::new("queue_message_states");
/// (queue, id) -> (): messages visible now, in FIFO order.
pub(super) const READY: TableDefinition<QueueKey, ()> = TableDefinition::new("queue_ready");
/// (queue, instant in ms, id) -> leased?: messages that become visible at an instant (a nack's delay when
/// `false`, a lease's expiry when `true`).
pub(super) const TIMERS: TableDefinition<(&str, u64, u64), bool> = TableDefinition::new("queue_timers");
/// queue -> number of messages it holds, so stats need not count the ready index.
pub(super) const QUEUE_SIZES: TableDefinition<&str, u64> = TableDefinition::new("queue_sizes");

/// id -> (JSON record without the payload, payload bytes).
pub(super) const DEAD_LETTERS: TableDefinition<u64, RecordAndPayload> = TableDefinition::new("dead_letters");

/// name -> (holder, expiry in ms).
pub(super) const SCHEDULER_LEASES: TableDefinition<&str, (&str, u64)> = TableDefinition::new("scheduler_leases");
