//! The tables of a PostgreSQL state and their migrations, versioned like the redb layout: the schema's `layout`
//! table holds the version; a replica that starts on an older schema migrates it (one replica at a time, under
//! an advisory lock, in one transaction), one that finds a newer schema refuses to start.
//!
//! Messages are one row each: the body (written once) and the small state a lease, a nack or an unlease
//! rewrites (`deliveries`, `leased`, `visible_at`). Only `(queue, id)` is indexed among them, so those updates
//! touch no index and stay heap-only (HOT) updates on pages kept with room for them (`fillfactor`).
//! Instants are milliseconds since the Unix epoch (`bigint`); JSON is stored as text, exactly as serialized.

use super::failure::Failed;
use deadpool_postgres::Object;

/// The layout this relais reads and writes. Raise it with a new entry in [`MIGRATIONS`].
pub(super) const LAYOUT_VERSION: i32 = 5;

/// `MIGRATIONS[n]` takes a schema from layout `n` to `n + 1` (layout 0: no tables yet).
const MIGRATIONS: [&str; LAYOUT_VERSION as usize] = [V1, V2, V3, V4, V5];

/// Layout 1: object entries, queue messages, dead letters, scheduler leases.
const V1: &str = "
CREATE TABLE objects (
    store text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    expires bigint,
    PRIMARY KEY (store, key)
);
CREATE INDEX objects_expiry ON objects (expires) WHERE expires IS NOT NULL;

CREATE TABLE messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    payload bytea NOT NULL,
    media_type text NOT NULL,
    attributes text NOT NULL,
    correlation_id text NOT NULL,
    deliveries integer NOT NULL DEFAULT 0,
    first_failure bigint,
    leased boolean NOT NULL DEFAULT false,
    visible_at bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 80);
CREATE INDEX messages_fifo ON messages (queue, id);

CREATE TABLE dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow text NOT NULL,
    step text,
    location text,
    payload bytea NOT NULL,
    media_type text NOT NULL,
    attributes text NOT NULL,
    correlation_id text NOT NULL,
    error_type text NOT NULL,
    error_description text NOT NULL,
    attempts integer NOT NULL,
    first_failure bigint NOT NULL,
    last_failure bigint NOT NULL,
    queue text
);

CREATE TABLE scheduler_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires bigint NOT NULL
);
";

/// Layout 2: when each message was enqueued (milliseconds since the epoch), for the age of the oldest ready
/// message in the metrics (`StateStore::oldest_ready`). Messages of layout 1 read as enqueued at 0 (the
/// epoch): their age shows as very old until they are consumed, never as young.
const V2: &str = "
ALTER TABLE messages ADD COLUMN enqueued_at bigint NOT NULL DEFAULT 0;
";

/// Layout 3: where a dead letter failed when it was in a sub-flow (`sub_flow`), and the payload at the
/// failure when it is not the message's (`dead_letter.write`): nullable, so letters of layout 2 read as
/// failing in their own flow with nothing more to show.
const V3: &str = "
ALTER TABLE dead_letters ADD COLUMN sub_flow text;
ALTER TABLE dead_letters ADD COLUMN payload_at_failure bytea;
ALTER TABLE dead_letters ADD COLUMN media_type_at_failure text;
";

/// Layout 4: the W3C trace context of each message (`traceparent`, `tracestate`), so that a consumer's spans
/// join the publisher's trace. Messages of layout 3 have none (NULL) and start a trace of their own.
const V4: &str = "
ALTER TABLE messages ADD COLUMN traceparent text, ADD COLUMN tracestate text;
";

/// Layout 5: the trace context a dead letter was written in (`traceparent`, `tracestate`), so that a replay
/// continues that trace. Letters of layout 4 have none (NULL) and replay into a trace of their own.
const V5: &str = "
ALTER TABLE dead_letters ADD COLUMN traceparent text, ADD COLUMN tracestate text;
";

/// What [`migrate`] found.
pub(super) enum Layout {
    /// The schema is at [`LAYOUT_VERSION`] (created or migrated now if it was older).
    Current,
    /// The schema was written by a newer relais: its version.
    Newer(i32),
}

/// Creates the schema and its tables, or migrates them to [`LAYOUT_VERSION`]; reports a newer layout without
/// touching it. Replicas starting together serialize on an advisory lock named after the schema.
pub(super) async fn migrate(client: &mut Object, schema: &str) -> Result<Layout, Failed> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('relais layout ' || $1))", &[&schema]).await?;
    // The name was checked to be a plain identifier (`target.rs`); it is quoted anyway.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         CREATE TABLE IF NOT EXISTS \"{schema}\".layout (version integer NOT NULL);
         SET LOCAL search_path TO \"{schema}\""
    ))
    .await?;
    let row = tx.query_one(&format!("SELECT max(version) FROM \"{schema}\".layout"), &[]).await?;
    let current: i32 = row.try_get::<_, Option<i32>>(0)?.unwrap_or(0);
    if current > LAYOUT_VERSION {
        return Ok(Layout::Newer(current));
    }
    if current < LAYOUT_VERSION {
        // The migrations name their tables unqualified: they go to the schema set as search_path above.
        for migration in &MIGRATIONS[usize::try_from(current).unwrap_or(0)..] {
            tx.batch_execute(migration).await?;
        }
        tx.execute(&format!("DELETE FROM \"{schema}\".layout"), &[]).await?;
        tx.execute(&format!("INSERT INTO \"{schema}\".layout (version) VALUES ($1)"), &[&LAYOUT_VERSION]).await?;
    }
    tx.commit().await?;
    Ok(Layout::Current)
}
