//! Scheduler leases in redb: name -> (holder, expiry). A write transaction makes check-and-take atomic.

use super::tables::SCHEDULER_LEASES;
use super::During;
use crate::error::StoreError;
use crate::time::Timestamp;
use ::redb::{ReadableTable, WriteTransaction};
use std::time::Duration;

pub(super) const ACQUIRE: &str = "acquiring a scheduler lease";
pub(super) const RELEASE: &str = "releasing a scheduler lease";

pub(super) fn try_acquire(
    tx: &WriteTransaction,
    name: &str,
    holder: &str,
    ttl: Duration,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut table = tx.open_table(SCHEDULER_LEASES).during(ACQUIRE)?;
    let free = match table.get(name).during(ACQUIRE)? {
        Some(lease) => {
            let (current, expires) = lease.value();
            current == holder || expires <= now.as_millis()
        }
        None => true,
    };
    if free {
        table.insert(name, (holder, now.saturating_add(ttl).as_millis())).during(ACQUIRE)?;
    }
    Ok(free)
}

pub(super) fn release(tx: &WriteTransaction, name: &str, holder: &str) -> Result<bool, StoreError> {
    let mut table = tx.open_table(SCHEDULER_LEASES).during(RELEASE)?;
    let held = table.get(name).during(RELEASE)?.is_some_and(|lease| lease.value().0 == holder);
    if held {
        table.remove(name).during(RELEASE)?;
    }
    Ok(held)
}
