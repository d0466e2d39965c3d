//! Object entries with TTL in redb: the `objects` table and its expiry index.

use super::tables::{OBJECTS, OBJECT_EXPIRIES};
use super::During;
use crate::error::StoreError;
use crate::time::Timestamp;
use ::redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde_json::Value as Json;
use std::time::Duration;

pub(super) const GET: &str = "reading an object entry";
pub(super) const PUT: &str = "storing an object entry";
pub(super) const REMOVE: &str = "removing an object entry";
pub(super) const SWEEP: &str = "sweeping expired object entries";

fn is_live(expires: Option<u64>, now: Timestamp) -> bool {
    expires.is_none_or(|at| now.as_millis() < at)
}

fn decode_value(bytes: &[u8], store: &str, key: &str) -> Result<Json, StoreError> {
    super::records::decode(bytes, || format!("object entry {key:?} of store {store:?}"))
}

/// The value under `key` in `table` if it is live at `now`: the read `get` and `compare_and_set` share.
fn live_value(
    table: &impl ReadableTable<(&'static str, &'static str), (Option<u64>, &'static [u8])>,
    store: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<Json>, StoreError> {
    let Some(entry) = table.get((store, key)).during(GET)? else { return Ok(None) };
    let (expires, bytes) = entry.value();
    if !is_live(expires, now) {
        return Ok(None);
    }
    decode_value(bytes, store, key).map(Some)
}

/// Entries held, live or expired.
pub(super) fn len(tx: &ReadTransaction) -> Result<u64, StoreError> {
    tx.open_table(OBJECTS).during(GET)?.len().during(GET)
}

pub(super) fn get(tx: &ReadTransaction, store: &str, key: &str, now: Timestamp) -> Result<Option<Json>, StoreError> {
    live_value(&tx.open_table(OBJECTS).during(GET)?, store, key, now)
}

pub(super) fn put(
    tx: &WriteTransaction,
    store: &str,
    key: &str,
    value: &Json,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<(), StoreError> {
    sweep_some(tx, now, crate::SWEEP_PER_WRITE)?;
    let bytes = super::records::encode(value, "object entry")?;
    let expires = ttl.map(|ttl| now.saturating_add(ttl).as_millis());
    let mut table = tx.open_table(OBJECTS).during(PUT)?;
    let previous_expiry =
        table.insert((store, key), (expires, bytes.as_slice())).during(PUT)?.and_then(|old| old.value().0);
    let mut expiries = tx.open_table(OBJECT_EXPIRIES).during(PUT)?;
    if let Some(at) = previous_expiry {
        expiries.remove((at, store, key)).during(PUT)?;
    }
    if let Some(at) = expires {
        expiries.insert((at, store, key), ()).during(PUT)?;
    }
    Ok(())
}

/// `true` if the value was stored (the key was absent or expired).
pub(super) fn put_if_absent(
    tx: &WriteTransaction,
    store: &str,
    key: &str,
    value: &Json,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let taken = {
        let table = tx.open_table(OBJECTS).during(PUT)?;
        let existing = table.get((store, key)).during(PUT)?;
        existing.is_some_and(|entry| is_live(entry.value().0, now))
    };
    if !taken {
        put(tx, store, key, value, ttl, now)?;
    }
    Ok(!taken)
}

/// `true` if the live value equalled `expected` and was replaced (or removed, for `value: None`).
pub(super) fn compare_and_set(
    tx: &WriteTransaction,
    store: &str,
    key: &str,
    expected: &Json,
    value: Option<&Json>,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let current = live_value(&tx.open_table(OBJECTS).during(GET)?, store, key, now)?;
    if current.as_ref() != Some(expected) {
        return Ok(false);
    }
    match value {
        Some(value) => put(tx, store, key, value, ttl, now)?,
        None => {
            remove(tx, store, key, now)?;
        }
    }
    Ok(true)
}

/// `None` if there was no entry, else whether the removed entry was live at `now`.
pub(super) fn remove(
    tx: &WriteTransaction,
    store: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<bool>, StoreError> {
    let mut table = tx.open_table(OBJECTS).during(REMOVE)?;
    let Some(expires) = table.remove((store, key)).during(REMOVE)?.map(|old| old.value().0) else { return Ok(None) };
    if let Some(at) = expires {
        tx.open_table(OBJECT_EXPIRIES).during(REMOVE)?.remove((at, store, key)).during(REMOVE)?;
    }
    Ok(Some(is_live(expires, now)))
}

pub(super) fn sweep_expired(tx: &WriteTransaction, now: Timestamp) -> Result<u64, StoreError> {
    sweep_some(tx, now, usize::MAX)
}

/// Deletes up to `limit` of the entries expired at `now`, oldest expiry first.
fn sweep_some(tx: &WriteTransaction, now: Timestamp, limit: usize) -> Result<u64, StoreError> {
    let mut expiries = tx.open_table(OBJECT_EXPIRIES).during(SWEEP)?;
    // Every key with an expiry <= now sorts before (now + 1, "", ""), "" being the smallest string. An entry
    // expiring at u64::MAX ms (half a billion years from now) is never swept.
    let bound = now.as_millis().saturating_add(1);
    let mut due = Vec::new();
    for entry in expiries.range(..(bound, "", "")).during(SWEEP)?.take(limit) {
        let (key, ()) = entry.during(SWEEP).map(|(k, v)| (k, v.value()))?;
        let (at, store, key) = key.value();
        due.push((at, store.to_string(), key.to_string()));
    }
    let mut table = tx.open_table(OBJECTS).during(SWEEP)?;
    for (at, store, key) in &due {
        expiries.remove((*at, store.as_str(), key.as_str())).during(SWEEP)?;
        table.remove((store.as_str(), key.as_str())).during(SWEEP)?;
    }
    Ok(due.len() as u64)
}
