//! Durable queues shared by every replica: a lease is `FOR UPDATE SKIP LOCKED` over the queue's visible
//! messages in id (FIFO) order, so consumers in different processes never wait for each other nor take the
//! same message; a lease sets `visible_at` to its expiry, so the messages of a replica that dies are leased
//! again by the others once their visibility timeout has passed.
//!
//! A message is visible when `visible_at <= now` (0: at once). `leased` tells a lease's expiry from a nack's
//! delay; it stays set after the lease expires, as the other backends keep a lease until the next one.
//! Round trips: `enqueue`, `ack`, `lease` and `ack_and_lease` (any number of acks and leases) are one
//! statement each; `nack` is a transaction of three (four when it dead-letters).

use super::codec::{count_from_sql, count_to_sql, decode_json, id_from_sql, id_to_sql, millis, timestamp};
use super::failure::Failed;
use crate::dead_letter::DeadLetterId;
use crate::message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery, TraceHeaders};
use crate::time::Timestamp;
use deadpool_postgres::Object;
use std::time::Duration;

const ENQUEUE: &str = "INSERT INTO messages (queue, payload, media_type, attributes, correlation_id, enqueued_at,
    traceparent, tracestate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

/// When the first message not held by a consumer was enqueued, in enqueue order. No clock is read (the trait
/// gives no `now`), so a message whose lease ran out counts again only once it is leased anew, and one
/// waiting out a redelivery delay already counts: the queue-age gauge is off by at most a lease or a delay.
const OLDEST_READY: &str = "SELECT enqueued_at FROM messages WHERE queue = $1 AND NOT leased ORDER BY id LIMIT 1";

/// Acks `$2` and leases up to `$4` messages visible at `$3` until `$5`, in one statement. The CTEs see one
/// snapshot, so the acked rows are excluded from the pick explicitly.
const ACK_AND_LEASE: &str = "WITH acked AS (
        DELETE FROM messages WHERE queue = $1 AND id = ANY($2)),
    picked AS (
        SELECT id FROM messages
        WHERE queue = $1 AND visible_at <= $3 AND NOT (id = ANY($2))
        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
    UPDATE messages m SET deliveries = m.deliveries + 1, leased = true, visible_at = $5
    FROM picked WHERE m.id = picked.id
    RETURNING m.id, m.payload, m.media_type, m.attributes, m.correlation_id, m.deliveries, m.traceparent, m.tracestate";

pub(super) async fn enqueue(c: &Object, queue: &str, message: &Message, now: Timestamp) -> Result<MessageId, Failed> {
    let statement = c.prepare_cached(ENQUEUE).await?;
    let attributes = message.attributes.to_string();
    let at = millis(now);
    let traceparent = message.trace.as_ref().map(|t| t.traceparent.as_str());
    let tracestate = message.trace.as_ref().map(|t| t.tracestate.as_str()).filter(|s| !s.is_empty());
    let row = c
        .query_one(
            &statement,
            &[
                &queue,
                &message.payload,
                &message.media_type,
                &attributes,
                &message.correlation_id,
                &at,
                &traceparent,
                &tracestate,
            ],
        )
        .await?;
    Ok(MessageId(id_from_sql(row.try_get(0)?)))
}

pub(super) async fn oldest_ready(c: &Object, queue: &str) -> Result<Option<Timestamp>, Failed> {
    let statement = c.prepare_cached(OLDEST_READY).await?;
    let row = c.query_opt(&statement, &[&queue]).await?;
    Ok(row.map(|r| r.try_get::<_, i64>(0)).transpose()?.map(timestamp))
}

pub(super) async fn ack_and_lease(
    c: &Object,
    queue: &str,
    acks: &[MessageId],
    max: usize,
    visibility_timeout: Duration,
    now: Timestamp,
) -> Result<Vec<Leased>, Failed> {
    let statement = c.prepare_cached(ACK_AND_LEASE).await?;
    let acks: Vec<i64> = acks.iter().map(|id| id_to_sql(id.0)).collect();
    let until = now.saturating_add(visibility_timeout);
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let rows = c.query(&statement, &[&queue, &acks, &millis(now), &max, &millis(until)]).await?;
    let mut leased = Vec::with_capacity(rows.len());
    for row in rows {
        let id = MessageId(id_from_sql(row.try_get(0)?));
        let attributes: String = row.try_get(3)?;
        let message = Message {
            payload: row.try_get(1)?,
            media_type: row.try_get(2)?,
            attributes: decode_json(&attributes, || format!("message {id} of queue {queue}"))?,
            correlation_id: row.try_get(4)?,
            trace: trace_headers(row.try_get(6)?, row.try_get(7)?),
        };
        leased.push(Leased { id, message, deliveries: count_from_sql(row.try_get(5)?), lease_expires: until });
    }
    // RETURNING follows no order; a batch is handed out oldest first.
    leased.sort_by_key(|l| l.id);
    Ok(leased)
}

/// The trace context of a message as its two columns hold it (NULL `traceparent`: none).
pub(super) fn trace_headers(traceparent: Option<String>, tracestate: Option<String>) -> Option<TraceHeaders> {
    traceparent.map(|traceparent| TraceHeaders { traceparent, tracestate: tracestate.unwrap_or_default() })
}

pub(super) async fn ack(c: &Object, queue: &str, id: MessageId) -> Result<bool, Failed> {
    let statement = c.prepare_cached("DELETE FROM messages WHERE queue = $1 AND id = $2").await?;
    Ok(c.execute(&statement, &[&queue, &id_to_sql(id.0)]).await? > 0)
}

pub(super) async fn unlease(c: &Object, queue: &str, ids: &[MessageId]) -> Result<u64, Failed> {
    let sql = "UPDATE messages SET leased = false, visible_at = 0, deliveries = greatest(deliveries - 1, 0)
        WHERE queue = $1 AND id = ANY($2) AND leased";
    let statement = c.prepare_cached(sql).await?;
    let ids: Vec<i64> = ids.iter().map(|id| id_to_sql(id.0)).collect();
    Ok(c.execute(&statement, &[&queue, &ids]).await?)
}

pub(super) async fn nack(
    c: &mut Object,
    queue: &str,
    id: MessageId,
    redelivery: Redelivery,
    failure: &Failure,
    now: Timestamp,
) -> Result<NackOutcome, Failed> {
    let tx = c.transaction().await?;
    let lock = tx
        .prepare_cached(
            "SELECT deliveries, first_failure FROM messages WHERE queue = $1 AND id = $2 AND leased FOR UPDATE",
        )
        .await?;
    let Some(row) = tx.query_opt(&lock, &[&queue, &id_to_sql(id.0)]).await? else {
        return Ok(NackOutcome::NotLeased);
    };
    let deliveries = count_from_sql(row.try_get(0)?);
    let first_failure: i64 = row.try_get::<_, Option<i64>>(1)?.unwrap_or(millis(now));
    let outcome = if deliveries >= redelivery.max_deliveries {
        let sql = "WITH gone AS (DELETE FROM messages WHERE id = $1 RETURNING *)
            INSERT INTO dead_letters (flow, step, location, payload, media_type, attributes, correlation_id,
                error_type, error_description, attempts, first_failure, last_failure, queue, sub_flow, traceparent,
                tracestate)
            SELECT $2, $3, $4, payload, media_type, attributes, correlation_id, $5, $6, $7, $8, $9, queue, $10,
                traceparent, tracestate
            FROM gone
            RETURNING id";
        let statement = tx.prepare_cached(sql).await?;
        let row = tx
            .query_one(
                &statement,
                &[
                    &id_to_sql(id.0),
                    &failure.flow,
                    &failure.step,
                    &failure.location,
                    &failure.error_type,
                    &failure.error_description,
                    &count_to_sql(deliveries),
                    &first_failure,
                    &millis(now),
                    &failure.sub_flow,
                ],
            )
            .await?;
        NackOutcome::DeadLettered(DeadLetterId(id_from_sql(row.try_get(0)?)))
    } else {
        let visible_at = now.saturating_add(redelivery.delay);
        let sql = "UPDATE messages SET leased = false, visible_at = $2, first_failure = $3 WHERE id = $1";
        let statement = tx.prepare_cached(sql).await?;
        tx.execute(&statement, &[&id_to_sql(id.0), &millis(visible_at), &first_failure]).await?;
        NackOutcome::Redelivered { visible_at }
    };
    tx.commit().await?;
    Ok(outcome)
}

pub(super) async fn release_leases(c: &Object) -> Result<u64, Failed> {
    Ok(c.execute("UPDATE messages SET leased = false, visible_at = 0 WHERE leased", &[]).await?)
}

pub(super) async fn stats(c: &Object, queue: &str, now: Timestamp) -> Result<QueueStats, Failed> {
    let sql = "SELECT count(*) FILTER (WHERE visible_at <= $2),
            count(*) FILTER (WHERE visible_at > $2 AND NOT leased),
            count(*) FILTER (WHERE visible_at > $2 AND leased)
        FROM messages WHERE queue = $1";
    let statement = c.prepare_cached(sql).await?;
    let row = c.query_one(&statement, &[&queue, &millis(now)]).await?;
    let count = |i: usize| -> Result<u64, Failed> { Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0)) };
    Ok(QueueStats { ready: count(0)?, delayed: count(1)?, in_flight: count(2)? })
}
