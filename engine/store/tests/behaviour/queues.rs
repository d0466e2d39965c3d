//! Durable queues: FIFO, leases, ack, nack with delay, redelivery after a crash, dead-lettering.

use super::{at, failure, message, ms, T0};
use relais_store::{NackOutcome, QueueStats, Redelivery, StateStore};
use serde_json::json;

const VISIBILITY: u64 = 30_000;

fn retry(delay_ms: u64, max_deliveries: u32) -> Redelivery {
    Redelivery { delay: ms(delay_ms), max_deliveries }
}

fn lease_text(store: &dyn StateStore, queue: &str, now: relais_store::Timestamp) -> Option<String> {
    let leased = store.lease(queue, ms(VISIBILITY), now).unwrap()?;
    Some(String::from_utf8(leased.message.payload).unwrap())
}

pub fn messages_are_leased_in_fifo_order(store: &dyn StateStore) {
    for text in ["a", "b", "c"] {
        store.enqueue("q", &message(text), T0).unwrap();
    }
    assert_eq!(lease_text(store, "q", T0).as_deref(), Some("a"));
    assert_eq!(lease_text(store, "q", T0).as_deref(), Some("b"));
    assert_eq!(lease_text(store, "q", T0).as_deref(), Some("c"));
    assert_eq!(lease_text(store, "q", T0), None);
}

pub fn a_leased_message_is_hidden_from_other_consumers(store: &dyn StateStore) {
    store.enqueue("q", &message("only"), T0).unwrap();
    let leased = store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    assert_eq!(leased.deliveries, 1);
    assert_eq!(leased.lease_expires, at(VISIBILITY));
    assert_eq!(store.lease("q", ms(VISIBILITY), at(VISIBILITY - 1)).unwrap(), None);
}

pub fn an_acked_message_is_gone_for_good(store: &dyn StateStore) {
    let id = store.enqueue("q", &message("m"), T0).unwrap();
    let leased = store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    assert_eq!(leased.id, id);
    assert!(store.ack("q", id).unwrap());
    assert!(!store.ack("q", id).unwrap(), "a second ack finds nothing");
    assert_eq!(store.lease("q", ms(VISIBILITY), at(10 * VISIBILITY)).unwrap(), None, "not even after the lease");
    assert_eq!(store.queue_stats("q", at(10 * VISIBILITY)).unwrap(), QueueStats::default());
}

pub fn a_nacked_message_comes_back_after_its_delay_with_one_more_delivery(store: &dyn StateStore) {
    let id = store.enqueue("q", &message("m"), T0).unwrap();
    let first = store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    let outcome = store.nack("q", id, retry(5_000, 3), &failure("orders", "HTTP:TIMEOUT"), at(100)).unwrap();
    assert_eq!(outcome, NackOutcome::Redelivered { visible_at: at(5_100) });
    assert_eq!(store.lease("q", ms(VISIBILITY), at(5_099)).unwrap(), None, "hidden during the delay");
    let second = store.lease("q", ms(VISIBILITY), at(5_100)).unwrap().unwrap();
    assert_eq!(second.id, id);
    assert_eq!(second.deliveries, first.deliveries + 1);
    assert_eq!(second.message, first.message);
}

pub fn a_message_whose_lease_expired_is_delivered_again(store: &dyn StateStore) {
    // The consumer leases and then "crashes": no ack, no nack.
    let id = store.enqueue("q", &message("m"), T0).unwrap();
    store.lease("q", ms(1_000), T0).unwrap().unwrap();
    assert_eq!(store.lease("q", ms(1_000), at(999)).unwrap(), None);
    let again = store.lease("q", ms(1_000), at(1_000)).unwrap().unwrap();
    assert_eq!((again.id, again.deliveries), (id, 2));
    let third = store.lease("q", ms(1_000), at(2_500)).unwrap().unwrap();
    assert_eq!(third.deliveries, 3, "every expired lease counts as a delivery");
    assert!(store.ack("q", id).unwrap());
}

pub fn a_message_is_dead_lettered_with_its_error_after_max_deliveries(store: &dyn StateStore) {
    let id = store.enqueue("orders", &message("m"), T0).unwrap();
    let mut now = T0;
    for delivery in 1..=3u32 {
        let leased = store.lease("orders", ms(VISIBILITY), now).unwrap().unwrap();
        assert_eq!(leased.deliveries, delivery);
        let error = if delivery == 3 { "HTTP:BAD_GATEWAY" } else { "HTTP:TIMEOUT" };
        let outcome = store.nack("orders", id, retry(1_000, 3), &failure("order_to_crm", error), now).unwrap();
        if delivery < 3 {
            assert!(matches!(outcome, NackOutcome::Redelivered { .. }), "delivery {delivery}: {outcome:?}");
            now = at(1_000 * u64::from(delivery));
        } else {
            let NackOutcome::DeadLettered(dead) = outcome else { panic!("expected a dead letter, got {outcome:?}") };
            let stored = store.get_dead_letter(dead).unwrap().unwrap();
            let letter = stored.letter;
            assert_eq!(letter.flow, "order_to_crm");
            assert_eq!(letter.step.as_deref(), Some("call_crm"));
            assert_eq!(letter.location.as_deref(), Some("flows/orders.flow:12:5"));
            assert_eq!(letter.error_type, "HTTP:BAD_GATEWAY", "the last error is recorded");
            assert_eq!(letter.error_description, "HTTP:BAD_GATEWAY while calling the CRM");
            assert_eq!(letter.attempts, 3);
            assert_eq!(letter.first_failure, T0);
            assert_eq!(letter.last_failure, now);
            assert_eq!(letter.queue.as_deref(), Some("orders"));
            assert_eq!(letter.to_message(), message("m"));
        }
    }
    assert_eq!(store.lease("orders", ms(VISIBILITY), at(1_000_000)).unwrap(), None, "the queue no longer has it");
    assert!(!store.ack("orders", id).unwrap());
}

pub fn a_redelivered_message_keeps_its_place_before_newer_messages(store: &dyn StateStore) {
    let first = store.enqueue("q", &message("first"), T0).unwrap();
    store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    store.enqueue("q", &message("second"), at(1)).unwrap();
    store.nack("q", first, retry(0, 5), &failure("f", "X:Y"), at(2)).unwrap();
    assert_eq!(lease_text(store, "q", at(3)).as_deref(), Some("first"));
    assert_eq!(lease_text(store, "q", at(3)).as_deref(), Some("second"));
}

pub fn a_nack_of_a_message_that_is_not_leased_changes_nothing(store: &dyn StateStore) {
    let nack = |id, now| store.nack("q", id, retry(60_000, 1), &failure("f", "X:Y"), now).unwrap();
    let id = store.enqueue("q", &message("m"), T0).unwrap();
    assert_eq!(nack(id, T0), NackOutcome::NotLeased, "waiting, never leased");
    store.lease("q", ms(1_000), T0).unwrap().unwrap();
    store.nack("q", id, retry(5_000, 5), &failure("f", "X:Y"), at(10)).unwrap();
    assert_eq!(nack(id, at(20)), NackOutcome::NotLeased, "already nacked, waiting for its delay");
    assert_eq!(nack(relais_store::MessageId(999_999), at(20)), NackOutcome::NotLeased, "unknown id");
    assert_eq!(store.list_dead_letters(&Default::default()).unwrap(), vec![], "max_deliveries 1, yet no dead letter");
    assert_eq!(lease_text(store, "q", at(5_010)).as_deref(), Some("m"), "the first nack's delay still applies");
}

pub fn queues_are_independent_and_ids_unique_across_them(store: &dyn StateStore) {
    let a = store.enqueue("a", &message("for a"), T0).unwrap();
    let b = store.enqueue("b", &message("for b"), T0).unwrap();
    assert_ne!(a, b);
    assert!(!store.ack("a", b).unwrap(), "an id acks only in its own queue");
    assert_eq!(lease_text(store, "b", T0).as_deref(), Some("for b"));
    assert_eq!(lease_text(store, "b", T0), None);
    assert_eq!(lease_text(store, "a", T0).as_deref(), Some("for a"));
    assert_eq!(lease_text(store, "never-used", T0), None);
}

pub fn stats_count_ready_delayed_and_in_flight_messages(store: &dyn StateStore) {
    for i in 0..5 {
        store.enqueue("q", &message(&format!("m{i}")), T0).unwrap();
    }
    let leased = store.lease("q", ms(1_000), T0).unwrap().unwrap();
    let nacked = store.lease("q", ms(1_000), T0).unwrap().unwrap();
    store.nack("q", nacked.id, retry(5_000, 5), &failure("f", "X:Y"), T0).unwrap();
    let stats = store.queue_stats("q", T0).unwrap();
    assert_eq!(stats, QueueStats { ready: 3, delayed: 1, in_flight: 1 });
    assert_eq!((stats.depth(), stats.total()), (4, 5));
    // When the lease runs out, its message counts as ready again even before anyone leases.
    assert_eq!(store.queue_stats("q", at(1_000)).unwrap(), QueueStats { ready: 4, delayed: 1, in_flight: 0 });
    assert_eq!(store.queue_stats("q", at(5_000)).unwrap(), QueueStats { ready: 5, delayed: 0, in_flight: 0 });
    store.ack("q", leased.id).unwrap();
    assert_eq!(store.queue_stats("q", at(5_000)).unwrap().total(), 4);
    assert_eq!(store.queue_stats("other", T0).unwrap(), QueueStats::default());
}

pub fn a_message_keeps_its_payload_media_type_attributes_and_correlation_id(store: &dyn StateStore) {
    let mut sent = message("x");
    sent.payload = (0..=255u8).collect();
    sent.media_type = "application/octet-stream".to_string();
    sent.attributes = json!({"method": "PUT", "headers": {"x-n": ["1", "2"]}, "query": {}, "n": 1.5});
    store.enqueue("q", &sent, T0).unwrap();
    assert_eq!(store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap().message, sent);
}

pub fn a_message_keeps_its_trace_context_and_one_without_stays_without(store: &dyn StateStore) {
    let mut traced = message("traced");
    traced.trace = Some(relais_store::TraceHeaders {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        tracestate: "vendor=abc,other=1".to_string(),
    });
    let mut no_state = message("no-state");
    no_state.trace = Some(relais_store::TraceHeaders {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00".to_string(),
        tracestate: String::new(),
    });
    let untraced = message("untraced");
    for sent in [&traced, &no_state, &untraced] {
        store.enqueue("q", sent, T0).unwrap();
    }
    let leased = store.ack_and_lease("q", &[], 3, ms(VISIBILITY), T0).unwrap();
    let got: Vec<_> = leased.into_iter().map(|l| l.message).collect();
    assert_eq!(got, vec![traced, no_state, untraced]);
}

pub fn released_leases_are_delivered_again_at_once_in_order_and_delayed_messages_stay_delayed(store: &dyn StateStore) {
    for text in ["a", "b", "c", "d"] {
        store.enqueue("q", &message(text), T0).unwrap();
    }
    store.enqueue("other", &message("x"), T0).unwrap();
    let a = store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    let b = store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    store.lease("other", ms(VISIBILITY), T0).unwrap().unwrap();
    let c = store.lease("q", ms(VISIBILITY), T0).unwrap().unwrap();
    store.nack("q", c.id, retry(60_000, 5), &failure("f", "HTTP:TIMEOUT"), T0).unwrap();

    // The process that held the leases was killed; the next one releases them when it opens the state.
    assert_eq!(store.release_leases().unwrap(), 3);
    let again = store.lease("q", ms(VISIBILITY), at(10)).unwrap().unwrap();
    assert_eq!((again.id, again.deliveries), (a.id, 2), "the oldest first, its delivery counted");
    assert_eq!(store.lease("q", ms(VISIBILITY), at(10)).unwrap().unwrap().id, b.id);
    assert_eq!(lease_text(store, "q", at(10)).as_deref(), Some("d"), "the nacked message keeps its delay");
    assert_eq!(lease_text(store, "other", at(10)).as_deref(), Some("x"));
    assert_eq!(store.release_leases().unwrap(), 4);
    assert_eq!(store.release_leases().unwrap(), 0);
}

pub fn ack_and_lease_acks_then_leases_a_batch_in_fifo_order(store: &dyn StateStore) {
    let ids: Vec<_> = ["a", "b", "c", "d", "e"].iter().map(|t| store.enqueue("q", &message(t), T0).unwrap()).collect();
    let first = store.ack_and_lease("q", &[], 2, ms(VISIBILITY), T0).unwrap();
    assert_eq!(first.iter().map(|l| l.id).collect::<Vec<_>>(), ids[..2]);
    assert!(first.iter().all(|l| l.deliveries == 1 && l.lease_expires == at(VISIBILITY)));
    // The two acked, up to ten more asked for: the three left come, in order.
    let second = store.ack_and_lease("q", &[ids[0], ids[1]], 10, ms(VISIBILITY), at(1)).unwrap();
    assert_eq!(second.iter().map(|l| l.id).collect::<Vec<_>>(), ids[2..]);
    assert_eq!(store.queue_stats("q", at(2)).unwrap(), QueueStats { in_flight: 3, ..QueueStats::default() });
    // Acks only (max 0), one of them unknown: skipped, the others acked.
    let rest = [ids[2], ids[3], ids[4], relais_store::MessageId(999_999)];
    assert!(store.ack_and_lease("q", &rest, 0, ms(VISIBILITY), at(2)).unwrap().is_empty());
    assert_eq!(store.queue_stats("q", at(10 * VISIBILITY)).unwrap(), QueueStats::default());
    assert!(store.ack_and_lease("q", &[], 10, ms(VISIBILITY), at(3)).unwrap().is_empty(), "an empty queue");
}

pub fn a_batch_lease_that_is_never_acked_is_delivered_again_after_its_visibility_timeout(store: &dyn StateStore) {
    let ids: Vec<_> = ["a", "b"].iter().map(|t| store.enqueue("q", &message(t), T0).unwrap()).collect();
    assert_eq!(store.ack_and_lease("q", &[], 5, ms(VISIBILITY), T0).unwrap().len(), 2);
    assert!(store.ack_and_lease("q", &[], 5, ms(VISIBILITY), at(VISIBILITY - 1)).unwrap().is_empty());
    let again = store.ack_and_lease("q", &[], 5, ms(VISIBILITY), at(VISIBILITY)).unwrap();
    assert_eq!(again.iter().map(|l| (l.id, l.deliveries)).collect::<Vec<_>>(), vec![(ids[0], 2), (ids[1], 2)]);
}

pub fn unlease_gives_messages_back_without_counting_a_delivery(store: &dyn StateStore) {
    let ids: Vec<_> = ["a", "b", "c"].iter().map(|t| store.enqueue("q", &message(t), T0).unwrap()).collect();
    let leased = store.ack_and_lease("q", &[], 3, ms(VISIBILITY), T0).unwrap();
    assert_eq!(leased.len(), 3);
    // Give back the last two (never started) and a message that is not leased any more.
    assert!(store.ack("q", ids[0]).unwrap());
    assert_eq!(store.unlease("q", &[ids[1], ids[2], ids[0]]).unwrap(), 2);
    assert_eq!(store.unlease("q", &[ids[1]]).unwrap(), 0, "already given back");
    let next = store.lease("q", ms(VISIBILITY), at(1)).unwrap().unwrap();
    assert_eq!((next.id, next.deliveries), (ids[1], 1), "visible at once, first delivery again, in order");
    assert_eq!(store.queue_stats("q", at(1)).unwrap(), QueueStats { ready: 1, in_flight: 1, delayed: 0 });
}

pub fn the_oldest_ready_message_is_the_next_a_consumer_gets_with_its_enqueue_time(store: &dyn StateStore) {
    assert_eq!(store.oldest_ready("q").unwrap(), None, "an unknown queue has none");
    store.enqueue("q", &message("first"), at(100)).unwrap();
    store.enqueue("q", &message("second"), at(250)).unwrap();
    store.enqueue("other", &message("elsewhere"), at(50)).unwrap();
    assert_eq!(store.oldest_ready("q").unwrap(), Some(at(100)));
    assert_eq!(lease_text(store, "q", at(300)).as_deref(), Some("first"));
    assert_eq!(store.oldest_ready("q").unwrap(), Some(at(250)), "a leased message no longer waits");
    assert_eq!(lease_text(store, "q", at(300)).as_deref(), Some("second"));
    assert_eq!(store.oldest_ready("q").unwrap(), None);
    assert_eq!(store.oldest_ready("other").unwrap(), Some(at(50)));
}
