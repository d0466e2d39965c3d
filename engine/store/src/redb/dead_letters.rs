//! Dead letters in redb: one row per dead letter, keyed by its id, so listings come out oldest first.
//!
//! Filters by flow and queue read every row after the `after` cursor: dead letters are expected to number in the
//! thousands, not millions, and a per-flow index would cost every insert for the benefit of a rare admin query.

use super::records::{decode, encode, DeadLetterRecord};
use super::tables::{DEAD_LETTERS, LAST_DEAD_LETTER_ID, META};
use super::During;
use crate::dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
use crate::error::StoreError;
use ::redb::{ReadTransaction, ReadableTable, WriteTransaction};

pub(super) const INSERT: &str = "storing a dead letter";
pub(super) const LIST: &str = "listing dead letters";
pub(super) const GET: &str = "reading a dead letter";
pub(super) const TAKE: &str = "taking a dead letter";
pub(super) const PURGE: &str = "purging dead letters";

fn load(id: u64, record: &[u8], payload: &[u8]) -> Result<StoredDeadLetter, StoreError> {
    let record: DeadLetterRecord<'_> = decode(record, || format!("dead letter {id}"))?;
    Ok(StoredDeadLetter { id: DeadLetterId(id), letter: record.into_dead_letter(payload) })
}

pub(super) fn insert(tx: &WriteTransaction, letter: &DeadLetter) -> Result<DeadLetterId, StoreError> {
    let mut meta = tx.open_table(META).during(INSERT)?;
    let id = meta.get(LAST_DEAD_LETTER_ID).during(INSERT)?.map_or(0, |v| v.value()) + 1;
    meta.insert(LAST_DEAD_LETTER_ID, id).during(INSERT)?;
    let record = encode(&DeadLetterRecord::of(letter), "dead letter")?;
    let mut table = tx.open_table(DEAD_LETTERS).during(INSERT)?;
    table.insert(id, (record.as_slice(), letter.payload.as_slice())).during(INSERT)?;
    Ok(DeadLetterId(id))
}

/// Visits the dead letters after `filter.after` that match it, in id order, until `visit` returns `false`.
fn scan(
    table: &impl ReadableTable<u64, (&'static [u8], &'static [u8])>,
    filter: &DeadLetterFilter,
    operation: &'static str,
    mut visit: impl FnMut(StoredDeadLetter) -> bool,
) -> Result<(), StoreError> {
    let start = filter.after.map_or(0, |after| after.0.saturating_add(1));
    for entry in table.range(start..).during(operation)? {
        let (id, value) = entry.during(operation)?;
        let (record, payload) = value.value();
        let stored = load(id.value(), record, payload)?;
        if filter.matches(&stored.letter) && !visit(stored) {
            break;
        }
    }
    Ok(())
}

pub(super) fn list(tx: &ReadTransaction, filter: &DeadLetterFilter) -> Result<Vec<StoredDeadLetter>, StoreError> {
    let table = tx.open_table(DEAD_LETTERS).during(LIST)?;
    let limit = filter.limit.unwrap_or(usize::MAX);
    let mut letters = Vec::new();
    if limit > 0 {
        scan(&table, filter, LIST, |stored| {
            letters.push(stored);
            letters.len() < limit
        })?;
    }
    Ok(letters)
}

pub(super) fn get(tx: &ReadTransaction, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
    let table = tx.open_table(DEAD_LETTERS).during(GET)?;
    let Some(value) = table.get(id.0).during(GET)? else { return Ok(None) };
    let (record, payload) = value.value();
    load(id.0, record, payload).map(Some)
}

pub(super) fn take(tx: &WriteTransaction, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
    let mut table = tx.open_table(DEAD_LETTERS).during(TAKE)?;
    let Some(value) = table.remove(id.0).during(TAKE)? else { return Ok(None) };
    let (record, payload) = value.value();
    load(id.0, record, payload).map(Some)
}

pub(super) fn purge(tx: &WriteTransaction, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
    let mut table = tx.open_table(DEAD_LETTERS).during(PURGE)?;
    let mut ids = Vec::new();
    scan(&table, filter, PURGE, |stored| {
        ids.push(stored.id.0);
        true
    })?;
    for id in &ids {
        table.remove(*id).during(PURGE)?;
    }
    Ok(ids.len() as u64)
}
