//! Many threads on one store: no message lost, none acked twice, one winner per idempotency key.

use super::{message, ms, T0};
use relais_store::{MessageId, StateStore};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const MESSAGES: usize = 5_000;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

pub fn concurrent_consumers_ack_every_message_exactly_once(store: &dyn StateStore) {
    let enqueued = Mutex::new(HashSet::new());
    let acked = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for producer in 0..PRODUCERS {
            let enqueued = &enqueued;
            scope.spawn(move || {
                for i in 0..MESSAGES / PRODUCERS {
                    let id = store.enqueue("work", &message(&format!("{producer}-{i}")), T0).unwrap();
                    assert!(enqueued.lock().unwrap().insert(id), "id {id} handed out twice");
                }
            });
        }
        for _ in 0..CONSUMERS {
            let (acked, done) = (&acked, &done);
            scope.spawn(move || {
                let mut mine: Vec<(MessageId, Vec<u8>)> = Vec::new();
                while done.load(Ordering::SeqCst) < MESSAGES {
                    // A visibility timeout far beyond the test: a message is never leased twice.
                    match store.lease("work", ms(3_600_000), T0).unwrap() {
                        Some(leased) => {
                            assert_eq!(leased.deliveries, 1);
                            assert!(store.ack("work", leased.id).unwrap(), "ack of {} found nothing", leased.id);
                            mine.push((leased.id, leased.message.payload));
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        // Nothing visible yet: the producers are behind. Back off briefly, as a real poller does.
                        None => std::thread::sleep(std::time::Duration::from_micros(500)),
                    }
                }
                acked.lock().unwrap().extend(mine);
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    let enqueued = enqueued.into_inner().unwrap();
    assert_eq!(acked.len(), MESSAGES);
    let ids: HashSet<MessageId> = acked.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), MESSAGES, "some message was acked twice");
    assert_eq!(ids, enqueued);
    let payloads: HashSet<&[u8]> = acked.iter().map(|(_, payload)| payload.as_slice()).collect();
    assert_eq!(payloads.len(), MESSAGES, "every payload delivered once");
    assert_eq!(store.queue_stats("work", T0).unwrap().total(), 0);
}

pub fn concurrent_claims_of_one_key_succeed_exactly_once(store: &dyn StateStore) {
    let winners = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let winners = &winners;
            scope.spawn(move || {
                for key in 0..50 {
                    let claimed = store.put_if_absent("idem", &format!("k{key}"), &json!(thread), None, T0).unwrap();
                    if claimed {
                        winners.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(winners.load(Ordering::SeqCst), 50);
}

/// Consumers that settle and lease in batches (`ack_and_lease`, as `queue.listener` does on persistent queues)
/// while producers enqueue: every message is delivered and acked once, none is left behind.
pub fn batching_consumers_ack_every_message_exactly_once(store: &dyn StateStore) {
    let enqueued = Mutex::new(HashSet::new());
    let acked = Mutex::new(HashSet::new());
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for producer in 0..PRODUCERS {
            let enqueued = &enqueued;
            scope.spawn(move || {
                for i in 0..MESSAGES / PRODUCERS {
                    let id = store.enqueue("batches", &message(&format!("{producer}-{i}")), T0).unwrap();
                    enqueued.lock().unwrap().insert(id);
                }
            });
        }
        for _ in 0..CONSUMERS {
            let (acked, done) = (&acked, &done);
            scope.spawn(move || {
                // What this consumer processed and has not acked yet: acked with its next lease.
                let mut finished: Vec<MessageId> = Vec::new();
                while done.load(Ordering::SeqCst) < MESSAGES || !finished.is_empty() {
                    let batch = store.ack_and_lease("batches", &finished, 16, ms(3_600_000), T0).unwrap();
                    finished.clear();
                    if batch.is_empty() {
                        std::thread::sleep(std::time::Duration::from_micros(500));
                    }
                    for leased in batch {
                        assert_eq!(leased.deliveries, 1, "{} delivered twice", leased.id);
                        assert!(acked.lock().unwrap().insert(leased.id), "{} leased twice", leased.id);
                        finished.push(leased.id);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(acked.into_inner().unwrap(), enqueued.into_inner().unwrap());
    assert_eq!(store.queue_stats("batches", T0).unwrap().total(), 0, "every ack was applied");
}
