//! Durable queues in redb: bodies written once, a small state record per message, a ready index in FIFO order and
//! a timer index of delays and lease expiries.
//!
//! A lease first promotes every timer due at `now` of its queue to the ready index (nack delays that have passed,
//! leases that ran out), then takes the smallest ready id. Costs are logarithmic in the queue size plus the number
//! of promoted timers; stats read one counter plus the timer index (in-flight and delayed messages only).

use super::dead_letters;
use super::records::{decode, encode, MessageHeader, MessageState};
use super::tables::{LAST_MESSAGE_ID, MESSAGE_BODIES, MESSAGE_STATES, META, QUEUE_SIZES, READY, TIMERS};
use super::During;
use crate::dead_letter::DeadLetter;
use crate::error::StoreError;
use crate::message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery, Visibility};
use crate::time::Timestamp;
use ::redb::{ReadTransaction, ReadableTable, WriteTransaction};
use std::time::Duration;

pub(super) const ENQUEUE: &str = "enqueueing a message";
pub(super) const LEASE: &str = "leasing a message";
pub(super) const ACK: &str = "acking a message";
pub(super) const NACK: &str = "nacking a message";
pub(super) const UNLEASE: &str = "giving back a leased message";
pub(super) const ACK_AND_LEASE: &str = "acking and leasing messages";
pub(super) const STATS: &str = "counting queued messages";
pub(super) const RELEASE: &str = "releasing the leases of a stopped process";

fn describe(queue: &str, id: u64) -> impl FnOnce() -> String + '_ {
    move || format!("message {id} of queue {queue:?}")
}

pub(super) fn enqueue(
    tx: &WriteTransaction,
    queue: &str,
    message: &Message,
    now: Timestamp,
) -> Result<MessageId, StoreError> {
    let mut meta = tx.open_table(META).during(ENQUEUE)?;
    let id = meta.get(LAST_MESSAGE_ID).during(ENQUEUE)?.map_or(0, |v| v.value()) + 1;
    meta.insert(LAST_MESSAGE_ID, id).during(ENQUEUE)?;

    let header = encode(&MessageHeader::of(message, now), "message header")?;
    let mut bodies = tx.open_table(MESSAGE_BODIES).during(ENQUEUE)?;
    bodies.insert((queue, id), (header.as_slice(), message.payload.as_slice())).during(ENQUEUE)?;
    let state = MessageState { deliveries: 0, first_failure: None, visibility: Visibility::Ready };
    tx.open_table(MESSAGE_STATES).during(ENQUEUE)?.insert((queue, id), state.to_tuple()).during(ENQUEUE)?;
    tx.open_table(READY).during(ENQUEUE)?.insert((queue, id), ()).during(ENQUEUE)?;
    add_to_size(tx, queue, 1, ENQUEUE)?;
    Ok(MessageId(id))
}

/// Adds `delta` (+1 or -1) to the number of messages of `queue`, dropping the row at zero.
fn add_to_size(tx: &WriteTransaction, queue: &str, delta: i64, operation: &'static str) -> Result<(), StoreError> {
    let mut sizes = tx.open_table(QUEUE_SIZES).during(operation)?;
    let size = sizes.get(queue).during(operation)?.map_or(0, |v| v.value());
    let size = size.saturating_add_signed(delta);
    if size == 0 {
        sizes.remove(queue).during(operation)?;
    } else {
        sizes.insert(queue, size).during(operation)?;
    }
    Ok(())
}

fn load_state(
    tx: &WriteTransaction,
    queue: &str,
    id: u64,
    operation: &'static str,
) -> Result<Option<MessageState>, StoreError> {
    let states = tx.open_table(MESSAGE_STATES).during(operation)?;
    let Some(tuple) = states.get((queue, id)).during(operation)?.map(|v| v.value()) else { return Ok(None) };
    MessageState::from_tuple(tuple, describe(queue, id)).map(Some)
}

fn save_state(
    tx: &WriteTransaction,
    queue: &str,
    id: u64,
    state: MessageState,
    operation: &'static str,
) -> Result<(), StoreError> {
    tx.open_table(MESSAGE_STATES).during(operation)?.insert((queue, id), state.to_tuple()).during(operation)?;
    Ok(())
}

fn load_message(tx: &WriteTransaction, queue: &str, id: u64, operation: &'static str) -> Result<Message, StoreError> {
    let bodies = tx.open_table(MESSAGE_BODIES).during(operation)?;
    let Some(body) = bodies.get((queue, id)).during(operation)? else {
        return Err(StoreError::Record { what: describe(queue, id)(), detail: "its body is missing".to_string() });
    };
    let (header, payload) = body.value();
    let header: MessageHeader<'_> = decode(header, describe(queue, id))?;
    Ok(header.into_message(payload))
}

/// Whether `queue` has a message visible at `now` (ready, or due on a timer), looked up in a read transaction so
/// that idle consumers polling an empty queue neither take redb's writer lock nor wait for it.
pub(super) fn has_visible(tx: &ReadTransaction, queue: &str, now: Timestamp) -> Result<bool, StoreError> {
    let ready = tx.open_table(READY).during(LEASE)?;
    if ready.range((queue, 0)..=(queue, u64::MAX)).during(LEASE)?.next().is_some() {
        return Ok(true);
    }
    let timers = tx.open_table(TIMERS).during(LEASE)?;
    let mut due = timers.range((queue, 0, 0)..=(queue, now.as_millis(), u64::MAX)).during(LEASE)?;
    Ok(due.next().is_some())
}

pub(super) fn lease(
    tx: &WriteTransaction,
    queue: &str,
    visibility_timeout: Duration,
    now: Timestamp,
) -> Result<Option<Leased>, StoreError> {
    promote_due(tx, queue, now)?;
    lease_next(tx, queue, visibility_timeout, now)
}

/// Up to `max` leases, oldest first, with the due timers promoted once.
pub(super) fn lease_many(
    tx: &WriteTransaction,
    queue: &str,
    max: usize,
    visibility_timeout: Duration,
    now: Timestamp,
) -> Result<Vec<Leased>, StoreError> {
    let mut leased = Vec::new();
    if max == 0 {
        return Ok(leased);
    }
    promote_due(tx, queue, now)?;
    while leased.len() < max {
        match lease_next(tx, queue, visibility_timeout, now)? {
            Some(message) => leased.push(message),
            None => break,
        }
    }
    Ok(leased)
}

/// Gives a leased message back without counting its delivery; `false` if it is not leased.
pub(super) fn unlease(tx: &WriteTransaction, queue: &str, id: MessageId) -> Result<bool, StoreError> {
    let Some(mut state) = load_state(tx, queue, id.0, UNLEASE)? else { return Ok(false) };
    if !matches!(state.visibility, Visibility::Leased(_)) {
        return Ok(false);
    }
    unindex(tx, queue, id.0, state.visibility, UNLEASE)?;
    state.deliveries = state.deliveries.saturating_sub(1);
    state.visibility = Visibility::Ready;
    save_state(tx, queue, id.0, state, UNLEASE)?;
    tx.open_table(READY).during(UNLEASE)?.insert((queue, id.0), ()).during(UNLEASE)?;
    Ok(true)
}

/// Leases the smallest ready id (the timers due are promoted already).
fn lease_next(
    tx: &WriteTransaction,
    queue: &str,
    visibility_timeout: Duration,
    now: Timestamp,
) -> Result<Option<Leased>, StoreError> {
    let mut ready = tx.open_table(READY).during(LEASE)?;
    let first = match ready.range((queue, 0)..=(queue, u64::MAX)).during(LEASE)?.next() {
        Some(entry) => Some(entry.during(LEASE)?.0.value().1),
        None => None,
    };
    let Some(id) = first else { return Ok(None) };
    ready.remove((queue, id)).during(LEASE)?;

    let Some(mut state) = load_state(tx, queue, id, LEASE)? else {
        return Err(StoreError::Record { what: describe(queue, id)(), detail: "ready but has no state".to_string() });
    };
    let until = now.saturating_add(visibility_timeout);
    state.deliveries = state.deliveries.saturating_add(1);
    state.visibility = Visibility::Leased(until);
    save_state(tx, queue, id, state, LEASE)?;
    tx.open_table(TIMERS).during(LEASE)?.insert((queue, until.as_millis(), id), true).during(LEASE)?;
    let message = load_message(tx, queue, id, LEASE)?;
    Ok(Some(Leased { id: MessageId(id), message, deliveries: state.deliveries, lease_expires: until }))
}

/// Makes every leased message of every queue ready (the timer index marks leases `true`); returns how many.
pub(super) fn release_leases(tx: &WriteTransaction) -> Result<u64, StoreError> {
    let mut timers = tx.open_table(TIMERS).during(RELEASE)?;
    let mut leased = Vec::new();
    for entry in timers.iter().during(RELEASE)? {
        let (key, is_lease) = entry.during(RELEASE)?;
        if is_lease.value() {
            let (queue, at, id) = key.value();
            leased.push((queue.to_string(), at, id));
        }
    }
    let mut ready = tx.open_table(READY).during(RELEASE)?;
    for (queue, at, id) in &leased {
        timers.remove((queue.as_str(), *at, *id)).during(RELEASE)?;
        ready.insert((queue.as_str(), *id), ()).during(RELEASE)?;
        if let Some(mut state) = load_state(tx, queue, *id, RELEASE)? {
            state.visibility = Visibility::Ready;
            save_state(tx, queue, *id, state, RELEASE)?;
        }
    }
    Ok(leased.len() as u64)
}

/// Moves every timer of `queue` due at `now` (delays passed, leases run out) to the ready index.
fn promote_due(tx: &WriteTransaction, queue: &str, now: Timestamp) -> Result<(), StoreError> {
    let mut timers = tx.open_table(TIMERS).during(LEASE)?;
    let mut due = Vec::new();
    for entry in timers.range((queue, 0, 0)..=(queue, now.as_millis(), u64::MAX)).during(LEASE)? {
        let (at, id) = entry.during(LEASE).map(|(key, _)| (key.value().1, key.value().2))?;
        due.push((at, id));
    }
    if due.is_empty() {
        return Ok(());
    }
    let mut ready = tx.open_table(READY).during(LEASE)?;
    for (at, id) in due {
        timers.remove((queue, at, id)).during(LEASE)?;
        ready.insert((queue, id), ()).during(LEASE)?;
        if let Some(mut state) = load_state(tx, queue, id, LEASE)? {
            state.visibility = Visibility::Ready;
            save_state(tx, queue, id, state, LEASE)?;
        }
    }
    Ok(())
}

/// Removes the index entry that matches a message's visibility.
fn unindex(
    tx: &WriteTransaction,
    queue: &str,
    id: u64,
    visibility: Visibility,
    operation: &'static str,
) -> Result<(), StoreError> {
    match visibility {
        Visibility::Ready => {
            tx.open_table(READY).during(operation)?.remove((queue, id)).during(operation)?;
        }
        Visibility::Delayed(at) | Visibility::Leased(at) => {
            tx.open_table(TIMERS).during(operation)?.remove((queue, at.as_millis(), id)).during(operation)?;
        }
    }
    Ok(())
}

/// Deletes a message: its index entry, state and body, and one from its queue's size.
fn delete(
    tx: &WriteTransaction,
    queue: &str,
    id: u64,
    state: MessageState,
    operation: &'static str,
) -> Result<(), StoreError> {
    unindex(tx, queue, id, state.visibility, operation)?;
    tx.open_table(MESSAGE_STATES).during(operation)?.remove((queue, id)).during(operation)?;
    tx.open_table(MESSAGE_BODIES).during(operation)?.remove((queue, id)).during(operation)?;
    add_to_size(tx, queue, -1, operation)
}

pub(super) fn ack(tx: &WriteTransaction, queue: &str, id: MessageId) -> Result<bool, StoreError> {
    let Some(state) = load_state(tx, queue, id.0, ACK)? else { return Ok(false) };
    delete(tx, queue, id.0, state, ACK)?;
    Ok(true)
}

pub(super) fn nack(
    tx: &WriteTransaction,
    queue: &str,
    id: MessageId,
    redelivery: Redelivery,
    failure: &Failure,
    now: Timestamp,
) -> Result<NackOutcome, StoreError> {
    let Some(mut state) = load_state(tx, queue, id.0, NACK)? else { return Ok(NackOutcome::NotLeased) };
    if !matches!(state.visibility, Visibility::Leased(_)) {
        return Ok(NackOutcome::NotLeased);
    }
    let first_failure = *state.first_failure.get_or_insert(now);
    if state.deliveries >= redelivery.max_deliveries {
        let message = load_message(tx, queue, id.0, NACK)?;
        delete(tx, queue, id.0, state, NACK)?;
        let letter = DeadLetter::new(message, failure, state.deliveries, first_failure, now);
        let letter = DeadLetter { queue: Some(queue.to_string()), ..letter };
        return Ok(NackOutcome::DeadLettered(dead_letters::insert(tx, &letter)?));
    }
    unindex(tx, queue, id.0, state.visibility, NACK)?;
    let visible_at = now.saturating_add(redelivery.delay);
    state.visibility = Visibility::Delayed(visible_at);
    save_state(tx, queue, id.0, state, NACK)?;
    tx.open_table(TIMERS).during(NACK)?.insert((queue, visible_at.as_millis(), id.0), false).during(NACK)?;
    Ok(NackOutcome::Redelivered { visible_at })
}

/// When the first message of `queue`'s ready index (the next a consumer gets) was enqueued.
pub(super) fn oldest_ready(tx: &ReadTransaction, queue: &str) -> Result<Option<Timestamp>, StoreError> {
    let ready = tx.open_table(READY).during(STATS)?;
    let Some(first) = ready.range((queue, 0)..=(queue, u64::MAX)).during(STATS)?.next() else { return Ok(None) };
    let id = first.during(STATS)?.0.value().1;
    let bodies = tx.open_table(MESSAGE_BODIES).during(STATS)?;
    let Some(body) = bodies.get((queue, id)).during(STATS)? else { return Ok(None) };
    let (header, _) = body.value();
    let header: MessageHeader<'_> = decode(header, describe(queue, id))?;
    Ok(Some(header.enqueued_at))
}

pub(super) fn stats(tx: &ReadTransaction, queue: &str, now: Timestamp) -> Result<QueueStats, StoreError> {
    let total = tx.open_table(QUEUE_SIZES).during(STATS)?.get(queue).during(STATS)?.map_or(0, |v| v.value());
    let mut stats = QueueStats::default();
    let timers = tx.open_table(TIMERS).during(STATS)?;
    // Only timers still in the future are delayed or in flight; the rest are visible.
    for entry in
        timers.range((queue, now.as_millis().saturating_add(1), 0)..=(queue, u64::MAX, u64::MAX)).during(STATS)?
    {
        let leased = entry.during(STATS)?.1.value();
        if leased {
            stats.in_flight += 1;
        } else {
            stats.delayed += 1;
        }
    }
    stats.ready = total.saturating_sub(stats.in_flight + stats.delayed);
    Ok(stats)
}
