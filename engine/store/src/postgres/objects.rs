//! Object entries with TTL: one statement (one round trip) per call. A write first deletes up to
//! [`SWEEP_PER_WRITE`](crate::SWEEP_PER_WRITE) expired entries in the same statement (a data-modifying CTE),
//! skipping rows another replica is deleting (`SKIP LOCKED`) and never the key being written (one statement
//! must not change a row twice).

use super::codec::{decode_json, encode_json, expiry, millis};
use super::failure::Failed;
use crate::time::Timestamp;
use deadpool_postgres::Object;
use serde_json::Value as Json;
use std::time::Duration;

/// The expired entries a write deletes on its way ($1, $2: the key written; $5: now).
const SWEEP: &str = "swept AS (
    DELETE FROM objects WHERE (store, key) IN (
        SELECT store, key FROM objects
        WHERE expires <= $5 AND NOT (store = $1 AND key = $2)
        ORDER BY expires LIMIT 2 FOR UPDATE SKIP LOCKED))";

fn put_sql() -> String {
    format!(
        "WITH {SWEEP}
         INSERT INTO objects (store, key, value, expires) VALUES ($1, $2, $3, $4)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, expires = excluded.expires"
    )
}

fn put_if_absent_sql() -> String {
    format!(
        "WITH {SWEEP}
         INSERT INTO objects (store, key, value, expires) VALUES ($1, $2, $3, $4)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, expires = excluded.expires
             WHERE objects.expires IS NOT NULL AND objects.expires <= $5
         RETURNING 1"
    )
}

/// JSON equality as serde_json sees it for the values relais writes (key order ignored): compared as jsonb.
fn replace_sql() -> String {
    format!(
        "WITH {SWEEP}
         UPDATE objects SET value = $3, expires = $4
         WHERE store = $1 AND key = $2 AND value::jsonb = $6::text::jsonb
             AND (expires IS NULL OR expires > $5)
         RETURNING 1"
    )
}

const DELETE_IF: &str = "DELETE FROM objects
    WHERE store = $1 AND key = $2 AND value::jsonb = $3::text::jsonb AND (expires IS NULL OR expires > $4)
    RETURNING 1";

pub(super) async fn get(c: &Object, store: &str, key: &str, now: Timestamp) -> Result<Option<Json>, Failed> {
    let sql = "SELECT value FROM objects WHERE store = $1 AND key = $2 AND (expires IS NULL OR expires > $3)";
    let statement = c.prepare_cached(sql).await?;
    match c.query_opt(&statement, &[&store, &key, &millis(now)]).await? {
        Some(row) => Ok(Some(decode_json(&row.try_get::<_, String>(0)?, || format!("entry {key} of store {store}"))?)),
        None => Ok(None),
    }
}

pub(super) async fn put(
    c: &Object,
    store: &str,
    key: &str,
    value: &Json,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<(), Failed> {
    let statement = c.prepare_cached(&put_sql()).await?;
    c.execute(&statement, &[&store, &key, &encode_json(value), &expiry(ttl, now), &millis(now)]).await?;
    Ok(())
}

pub(super) async fn put_if_absent(
    c: &Object,
    store: &str,
    key: &str,
    value: &Json,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<bool, Failed> {
    let statement = c.prepare_cached(&put_if_absent_sql()).await?;
    let rows = c.query(&statement, &[&store, &key, &encode_json(value), &expiry(ttl, now), &millis(now)]).await?;
    Ok(!rows.is_empty())
}

#[allow(clippy::too_many_arguments)] // The trait's arguments plus the connection.
pub(super) async fn compare_and_set(
    c: &Object,
    store: &str,
    key: &str,
    expected: &Json,
    value: Option<&Json>,
    ttl: Option<Duration>,
    now: Timestamp,
) -> Result<bool, Failed> {
    let rows = match value {
        Some(value) => {
            let statement = c.prepare_cached(&replace_sql()).await?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
                [&store, &key, &encode_json(value), &expiry(ttl, now), &millis(now), &encode_json(expected)];
            c.query(&statement, &params).await?
        }
        None => {
            let statement = c.prepare_cached(DELETE_IF).await?;
            c.query(&statement, &[&store, &key, &encode_json(expected), &millis(now)]).await?
        }
    };
    Ok(!rows.is_empty())
}

pub(super) async fn remove(c: &Object, store: &str, key: &str, now: Timestamp) -> Result<bool, Failed> {
    let sql = "DELETE FROM objects WHERE store = $1 AND key = $2 RETURNING (expires IS NULL OR expires > $3)";
    let statement = c.prepare_cached(sql).await?;
    match c.query_opt(&statement, &[&store, &key, &millis(now)]).await? {
        Some(row) => Ok(row.try_get::<_, bool>(0)?),
        None => Ok(false),
    }
}

pub(super) async fn sweep_expired(c: &Object, now: Timestamp) -> Result<u64, Failed> {
    let statement = c.prepare_cached("DELETE FROM objects WHERE expires <= $1").await?;
    Ok(c.execute(&statement, &[&millis(now)]).await?)
}

pub(super) async fn count(c: &Object) -> Result<u64, Failed> {
    let row = c.query_one("SELECT count(*) FROM objects", &[]).await?;
    Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
}
