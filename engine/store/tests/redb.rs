//! The behaviour suite on the redb backend, each test in a fresh temporary state directory.

mod behaviour;

use relais_store::RedbStore;
use std::ops::Deref;

/// A store and the directory that holds it, removed when the test ends.
struct Fixture {
    store: RedbStore,
    _dir: tempfile::TempDir,
}

impl Deref for Fixture {
    type Target = RedbStore;
    fn deref(&self) -> &RedbStore {
        &self.store
    }
}

#[allow(clippy::unwrap_used)] // Part of every test: a failure to set up is a failed test.
fn fresh() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture { store: RedbStore::open(dir.path()).unwrap(), _dir: dir }
}

behaviour_suite!(fresh(), stream_keys: 500);

/// 64 publishers at once, as 64 webhooks would: each enqueue returns only once durable, they share commits
/// (fewer fsyncs than enqueues), and every message is in the file after a reopen.
#[test]
#[allow(clippy::unwrap_used)]
fn concurrent_publishers_share_commits_and_every_message_survives_a_reopen() {
    use relais_store::{Message, StateStore, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let (publishers, each) = (64usize, 10usize);
    let store = RedbStore::open(dir.path()).unwrap();
    let message = Message {
        payload: vec![b'x'; 1024],
        media_type: "application/json".to_string(),
        attributes: serde_json::json!({}),
        correlation_id: "c".to_string(),
        trace: None,
    };
    let now = Timestamp::from_millis(1_700_000_000_000);
    std::thread::scope(|scope| {
        for _ in 0..publishers {
            let (store, message) = (&store, &message);
            scope.spawn(move || {
                for _ in 0..each {
                    store.enqueue("q", message, now).unwrap();
                }
            });
        }
    });
    let commits = store.commits();
    assert!(commits < (publishers * each) as u64, "{commits} commits for {} enqueues", publishers * each);
    store.close().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.queue_stats("q", now).unwrap().ready, (publishers * each) as u64);
    let leased = store.ack_and_lease("q", &[], publishers * each, std::time::Duration::from_secs(60), now).unwrap();
    assert_eq!(leased.len(), publishers * each);
}
