//! Dead letters shared by every replica: listed, taken, replayed and purged from any of them. `take` is one
//! `DELETE ... RETURNING`, so of two replicas (or operators) taking the same letter only one gets it; a replay
//! takes the letter and enqueues its message in one statement, so it is published once or not at all.

use super::codec::{count_from_sql, count_to_sql, decode_json, id_from_sql, id_to_sql, millis, timestamp};
use super::failure::Failed;
use super::queues::trace_headers;
use crate::dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
use crate::message::MessageId;
use crate::time::Timestamp;
use deadpool_postgres::Object;
use tokio_postgres::Row;

/// The columns of a dead letter, in the order [`decode`] reads them.
const COLUMNS: &str = "id, flow, step, location, payload, media_type, attributes, correlation_id, error_type, \
    error_description, attempts, first_failure, last_failure, queue, sub_flow, payload_at_failure, \
    media_type_at_failure, traceparent, tracestate";

/// How many columns [`COLUMNS`] names (a replay's message id follows them).
const COLUMN_COUNT: usize = 19;

/// The condition of a filter: `$1` flow, `$2` queue, `$3` after (0: from the start), `$4` error type.
const MATCHING: &str = "($1::text IS NULL OR flow = $1) AND ($2::text IS NULL OR queue = $2) AND id > $3 \
    AND ($4::text IS NULL OR error_type = $4)";

fn decode(row: &Row) -> Result<StoredDeadLetter, Failed> {
    let id = DeadLetterId(id_from_sql(row.try_get(0)?));
    let attributes: String = row.try_get(6)?;
    let letter = DeadLetter {
        flow: row.try_get(1)?,
        step: row.try_get(2)?,
        location: row.try_get(3)?,
        payload: row.try_get(4)?,
        media_type: row.try_get(5)?,
        attributes: decode_json(&attributes, || format!("dead letter {id}"))?,
        correlation_id: row.try_get(7)?,
        error_type: row.try_get(8)?,
        error_description: row.try_get(9)?,
        attempts: count_from_sql(row.try_get(10)?),
        first_failure: timestamp(row.try_get(11)?),
        last_failure: timestamp(row.try_get(12)?),
        queue: row.try_get(13)?,
        sub_flow: row.try_get(14)?,
        payload_at_failure: row.try_get(15)?,
        media_type_at_failure: row.try_get(16)?,
        trace: trace_headers(row.try_get(17)?, row.try_get(18)?),
    };
    Ok(StoredDeadLetter { id, letter })
}

pub(super) async fn insert(c: &Object, letter: &DeadLetter) -> Result<DeadLetterId, Failed> {
    let sql = "INSERT INTO dead_letters (flow, step, location, payload, media_type, attributes, correlation_id,
            error_type, error_description, attempts, first_failure, last_failure, queue, sub_flow, payload_at_failure,
            media_type_at_failure, traceparent, tracestate)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id";
    let statement = c.prepare_cached(sql).await?;
    let attributes = letter.attributes.to_string();
    let traceparent = letter.trace.as_ref().map(|t| t.traceparent.as_str());
    let tracestate = letter.trace.as_ref().map(|t| t.tracestate.as_str()).filter(|s| !s.is_empty());
    let row = c
        .query_one(
            &statement,
            &[
                &letter.flow,
                &letter.step,
                &letter.location,
                &letter.payload,
                &letter.media_type,
                &attributes,
                &letter.correlation_id,
                &letter.error_type,
                &letter.error_description,
                &count_to_sql(letter.attempts),
                &millis(letter.first_failure),
                &millis(letter.last_failure),
                &letter.queue,
                &letter.sub_flow,
                &letter.payload_at_failure,
                &letter.media_type_at_failure,
                &traceparent,
                &tracestate,
            ],
        )
        .await?;
    Ok(DeadLetterId(id_from_sql(row.try_get(0)?)))
}

fn after(filter: &DeadLetterFilter) -> i64 {
    filter.after.map_or(0, |id| id_to_sql(id.0))
}

pub(super) async fn list(c: &Object, filter: &DeadLetterFilter) -> Result<Vec<StoredDeadLetter>, Failed> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE {MATCHING} ORDER BY id LIMIT $5");
    let statement = c.prepare_cached(&sql).await?;
    let limit = filter.limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let rows = c.query(&statement, &[&filter.flow, &filter.queue, &after(filter), &filter.error_type, &limit]).await?;
    rows.iter().map(decode).collect()
}

pub(super) async fn get(c: &Object, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, Failed> {
    let statement = c.prepare_cached(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1")).await?;
    c.query_opt(&statement, &[&id_to_sql(id.0)]).await?.as_ref().map(decode).transpose()
}

pub(super) async fn take(c: &Object, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, Failed> {
    let statement = c.prepare_cached(&format!("DELETE FROM dead_letters WHERE id = $1 RETURNING {COLUMNS}")).await?;
    c.query_opt(&statement, &[&id_to_sql(id.0)]).await?.as_ref().map(decode).transpose()
}

/// Takes the letter and enqueues its message on its queue, in one statement; `None` when the letter is not
/// there (taken meanwhile) or came from no queue.
pub(super) async fn replay(
    c: &Object,
    id: DeadLetterId,
    now: Timestamp,
) -> Result<Option<(StoredDeadLetter, MessageId)>, Failed> {
    let sql = format!(
        "WITH taken AS (DELETE FROM dead_letters WHERE id = $1 AND queue IS NOT NULL RETURNING {COLUMNS}),
         queued AS (
            INSERT INTO messages (queue, payload, media_type, attributes, correlation_id, enqueued_at, traceparent,
                tracestate)
            SELECT queue, payload, media_type, attributes, correlation_id, $2, traceparent, tracestate FROM taken
            RETURNING id AS message_id)
         SELECT taken.*, queued.message_id FROM taken, queued"
    );
    let statement = c.prepare_cached(&sql).await?;
    let Some(row) = c.query_opt(&statement, &[&id_to_sql(id.0), &millis(now)]).await? else { return Ok(None) };
    let letter = decode(&row)?;
    Ok(Some((letter, MessageId(id_from_sql(row.try_get(COLUMN_COUNT)?)))))
}

pub(super) async fn purge(c: &Object, filter: &DeadLetterFilter) -> Result<u64, Failed> {
    let statement = c.prepare_cached(&format!("DELETE FROM dead_letters WHERE {MATCHING}")).await?;
    Ok(c.execute(&statement, &[&filter.flow, &filter.queue, &after(filter), &filter.error_type]).await?)
}
