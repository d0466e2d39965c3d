//! Scheduler leases shared by every replica: one upsert that takes the lease only while it is free, expired
//! or already ours, so of two replicas asking at once exactly one holds it.

use super::codec::millis;
use super::failure::Failed;
use crate::time::Timestamp;
use deadpool_postgres::Object;
use std::time::Duration;

pub(super) async fn try_acquire(
    c: &Object,
    name: &str,
    holder: &str,
    ttl: Duration,
    now: Timestamp,
) -> Result<bool, Failed> {
    let sql = "INSERT INTO scheduler_leases (name, holder, expires) VALUES ($1, $2, $3)
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
            WHERE scheduler_leases.holder = excluded.holder OR scheduler_leases.expires <= $4
        RETURNING 1";
    let statement = c.prepare_cached(sql).await?;
    let until = millis(now.saturating_add(ttl));
    Ok(!c.query(&statement, &[&name, &holder, &until, &millis(now)]).await?.is_empty())
}

pub(super) async fn release(c: &Object, name: &str, holder: &str) -> Result<bool, Failed> {
    let statement = c.prepare_cached("DELETE FROM scheduler_leases WHERE name = $1 AND holder = $2").await?;
    Ok(c.execute(&statement, &[&name, &holder]).await? > 0)
}
