//! The queue tables of layout 1, where every persistent message lived in redb (body, state, ready set, timers,
//! sizes). Layout 2 keeps them in the queue log (`queue_log/`); opening a layout-1 file moves its messages
//! there, with their ids, delivery counts and visibility, and empties these tables.
//!
//! The move is ordered so that a crash can only repeat it, never lose a message: the messages are first
//! written to the log and synced, then deleted from redb with the layout raised to 2 in one commit. A crash
//! between the two leaves them in both; the next open moves them again, and the log's later record of an id
//! replaces the earlier one, so nothing is duplicated either.

use super::queue_log::Adopted;
use super::records::{decode, MessageHeader, MessageState};
use super::tables::{LAST_MESSAGE_ID, MESSAGE_BODIES, MESSAGE_STATES, META, QUEUE_SIZES, READY, TIMERS};
use super::During;
use crate::error::StoreError;
use ::redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};

pub(super) const MIGRATE: &str = "moving queued messages out of the state file";

/// The last message id layout 1 handed out (0 when none): the log's ids start above it.
pub(super) fn last_message_id(tx: &ReadTransaction) -> Result<u64, StoreError> {
    let meta = tx.open_table(META).during(MIGRATE)?;
    Ok(meta.get(LAST_MESSAGE_ID).during(MIGRATE)?.map_or(0, |v| v.value()))
}

/// Every message of the layout-1 tables, with its state.
pub(super) fn read_all(tx: &ReadTransaction) -> Result<Vec<Adopted>, StoreError> {
    let bodies = tx.open_table(MESSAGE_BODIES).during(MIGRATE)?;
    let states = tx.open_table(MESSAGE_STATES).during(MIGRATE)?;
    let mut messages = Vec::new();
    for entry in bodies.iter().during(MIGRATE)? {
        let (key, body) = entry.during(MIGRATE)?;
        let (queue, id) = key.value();
        let what = || format!("message {id} of queue {queue:?}");
        let (header, payload) = body.value();
        let enqueued_at = decode::<MessageHeader<'_>>(header, what)?.enqueued_at;
        let Some(state) = states.get((queue, id)).during(MIGRATE)? else {
            return Err(StoreError::Record { what: what(), detail: "its state is missing".to_string() });
        };
        let state = MessageState::from_tuple(state.value(), what)?;
        messages.push(Adopted {
            id,
            queue: queue.to_string(),
            enqueued_at,
            deliveries: state.deliveries,
            first_failure: state.first_failure,
            visibility: state.visibility,
            header: header.to_vec(),
            payload: payload.to_vec(),
        });
    }
    Ok(messages)
}

/// Whether the layout-1 tables hold any message.
pub(super) fn any(tx: &ReadTransaction) -> Result<bool, StoreError> {
    Ok(!tx.open_table(MESSAGE_BODIES).during(MIGRATE)?.is_empty().during(MIGRATE)?)
}

/// Empties the layout-1 queue tables.
pub(super) fn clear(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(MESSAGE_BODIES).during(MIGRATE)?.retain(|_, _| false).during(MIGRATE)?;
    tx.open_table(MESSAGE_STATES).during(MIGRATE)?.retain(|_, _| false).during(MIGRATE)?;
    tx.open_table(READY).during(MIGRATE)?.retain(|_, _| false).during(MIGRATE)?;
    tx.open_table(TIMERS).during(MIGRATE)?.retain(|_, _| false).during(MIGRATE)?;
    tx.open_table(QUEUE_SIZES).during(MIGRATE)?.retain(|_, _| false).during(MIGRATE)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.
mod tests {
    use super::super::records::encode;
    use super::super::tables::{LAYOUT_VERSION_KEY, META};
    use super::super::RedbStore;
    use super::*;
    use crate::message::{Message, Visibility};
    use crate::time::Timestamp;
    use crate::StateStore;
    use ::redb::{Database, ReadableDatabase};
    use std::time::Duration;

    const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn message(text: &str) -> Message {
        Message {
            payload: text.as_bytes().to_vec(),
            media_type: "text/plain".to_string(),
            attributes: serde_json::json!({ "n": text }),
            correlation_id: format!("corr-{text}"),
            trace: None,
        }
    }

    /// A state file as layout 1 left it: two messages of "q" (one ready, one nacked twice) and the last id 9.
    fn layout_one(dir: &std::path::Path) {
        RedbStore::open(dir).unwrap().close().unwrap();
        let db = Database::open(dir.join(super::super::STATE_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx.open_table(META).unwrap();
            meta.insert(LAYOUT_VERSION_KEY, 1).unwrap();
            meta.insert(LAST_MESSAGE_ID, 9).unwrap();
            let mut bodies = tx.open_table(MESSAGE_BODIES).unwrap();
            let mut states = tx.open_table(MESSAGE_STATES).unwrap();
            for (id, text, state) in [
                (8u64, "ready", MessageState { deliveries: 0, first_failure: None, visibility: Visibility::Ready }),
                (
                    9,
                    "delayed",
                    MessageState {
                        deliveries: 2,
                        first_failure: Some(T0),
                        visibility: Visibility::Delayed(T0.saturating_add(Duration::from_secs(10))),
                    },
                ),
            ] {
                let m = message(text);
                let header = encode(&MessageHeader::of(&m, T0), "header").unwrap();
                bodies.insert(("q", id), (header.as_slice(), m.payload.as_slice())).unwrap();
                states.insert(("q", id), state.to_tuple()).unwrap();
            }
            tx.open_table(READY).unwrap().insert(("q", 8), ()).unwrap();
            tx.open_table(TIMERS).unwrap().insert(("q", T0.as_millis() + 10_000, 9), false).unwrap();
            tx.open_table(QUEUE_SIZES).unwrap().insert("q", 2).unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn a_layout_one_file_has_its_messages_moved_to_the_log_with_their_ids_and_state() {
        let dir = tempfile::tempdir().unwrap();
        layout_one(dir.path());
        let store = RedbStore::open(dir.path()).unwrap();
        let stats = store.queue_stats("q", T0).unwrap();
        assert_eq!((stats.ready, stats.delayed), (1, 1));
        let later = T0.saturating_add(Duration::from_secs(11));
        let leased = store.ack_and_lease("q", &[], 10, Duration::from_secs(60), later).unwrap();
        let got: Vec<_> = leased.iter().map(|m| (m.id.0, m.deliveries, m.message.clone())).collect();
        assert_eq!(got, [(8, 1, message("ready")), (9, 3, message("delayed"))]);
        assert!(store.enqueue("q", &message("new"), T0).unwrap().0 > 9, "ids go on above layout 1's");
        {
            let tx = store.db.begin_read().unwrap();
            assert!(!any(&tx).unwrap(), "the layout-1 tables are empty");
            let layout = tx.open_table(META).unwrap().get(LAYOUT_VERSION_KEY).unwrap().map(|v| v.value());
            assert_eq!(layout, Some(super::super::tables::LAYOUT_VERSION));
        }
        store.close().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.queue_stats("q", T0).unwrap().total(), 3, "moved once, kept across a reopen");
    }

    #[test]
    fn a_migration_interrupted_after_the_log_was_written_runs_again_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        layout_one(dir.path());
        // The crash: the messages reached the log, the redb commit that empties the tables did not.
        {
            let (db, _, _) = super::super::open::open(dir.path()).unwrap();
            let messages = read_all(&db.begin_read().unwrap()).unwrap();
            let log = super::super::queue_log::QueueLog::open(
                &dir.path().join(super::super::queue_log::DIRECTORY),
                9,
                super::super::queue_log::SEGMENT_BYTES,
            )
            .unwrap();
            log.adopt(messages).unwrap();
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.queue_stats("q", T0).unwrap().total(), 2);
    }
}
