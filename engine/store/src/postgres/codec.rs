//! Values between the store's types and PostgreSQL columns: instants as `bigint` milliseconds (saturating at
//! `i64::MAX`, "never" in practice), JSON as text, delivery counts as `integer`.

use super::failure::Failed;
use crate::time::Timestamp;
use serde_json::Value as Json;
use std::time::Duration;

/// An instant as stored.
pub(super) fn millis(at: Timestamp) -> i64 {
    i64::try_from(at.as_millis()).unwrap_or(i64::MAX)
}

/// A stored instant (a negative one, which relais never writes, reads as the epoch).
pub(super) fn timestamp(millis: i64) -> Timestamp {
    Timestamp::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// When an entry written at `now` with `ttl` expires (`None`: never).
pub(super) fn expiry(ttl: Option<Duration>, now: Timestamp) -> Option<i64> {
    ttl.map(|ttl| millis(now.saturating_add(ttl)))
}

/// JSON as stored: serde_json's text, which always succeeds for a `Value`.
pub(super) fn encode_json(value: &Json) -> String {
    value.to_string()
}

/// Stored JSON text back to a value; `what` names the record when it is not JSON.
pub(super) fn decode_json(text: &str, what: impl FnOnce() -> String) -> Result<Json, Failed> {
    serde_json::from_str(text).map_err(|e| Failed::Record { what: what(), detail: e.to_string() })
}

/// A delivery or attempt count as stored (saturating: no message is delivered two billion times).
pub(super) fn count_to_sql(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// A stored delivery or attempt count.
pub(super) fn count_from_sql(count: i32) -> u32 {
    u32::try_from(count).unwrap_or(0)
}

/// A message or dead-letter id as stored.
pub(super) fn id_to_sql(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// A stored id (identity columns start at 1).
pub(super) fn id_from_sql(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0)
}
