//! Dead letters: store, list with filters and pages, get, take for replay, purge.

use super::{dead_letter, T0};
use relais_store::{DeadLetterFilter, DeadLetterId, StateStore};

fn payloads(letters: &[relais_store::StoredDeadLetter]) -> Vec<String> {
    letters.iter().map(|s| String::from_utf8(s.letter.payload.clone()).unwrap()).collect()
}

pub fn dead_letters_are_listed_oldest_first_and_filtered_by_flow_and_queue(store: &dyn StateStore) {
    store.dead_letter(&dead_letter("orders", "o1", Some("orders-q"))).unwrap();
    store.dead_letter(&dead_letter("sms", "s1", None)).unwrap();
    store.dead_letter(&dead_letter("orders", "o2", None)).unwrap();
    let all = store.list_dead_letters(&DeadLetterFilter::default()).unwrap();
    assert_eq!(payloads(&all), ["o1", "s1", "o2"]);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(payloads(&store.list_dead_letters(&DeadLetterFilter::flow("orders")).unwrap()), ["o1", "o2"]);
    let from_queue = DeadLetterFilter { queue: Some("orders-q".to_string()), ..Default::default() };
    assert_eq!(payloads(&store.list_dead_letters(&from_queue).unwrap()), ["o1"]);
    assert!(store.list_dead_letters(&DeadLetterFilter::flow("nobody")).unwrap().is_empty());
}

pub fn listings_page_with_after_and_limit(store: &dyn StateStore) {
    for i in 0..7 {
        let flow = if i % 2 == 0 { "even" } else { "odd" };
        store.dead_letter(&dead_letter(flow, &format!("d{i}"), None)).unwrap();
    }
    let mut filter = DeadLetterFilter { flow: Some("even".to_string()), limit: Some(2), ..Default::default() };
    let mut pages = Vec::new();
    loop {
        let page = store.list_dead_letters(&filter).unwrap();
        let Some(last) = page.last() else { break };
        filter.after = Some(last.id);
        pages.push(payloads(&page));
    }
    assert_eq!(pages, [vec!["d0", "d2"], vec!["d4", "d6"]]);
    let none = DeadLetterFilter { limit: Some(0), ..Default::default() };
    assert!(store.list_dead_letters(&none).unwrap().is_empty());
}

pub fn get_returns_a_dead_letter_with_its_payload(store: &dyn StateStore) {
    let mut letter = dead_letter("orders", "{\"id\":42}", Some("q"));
    letter.payload = vec![0, 159, 146, 150, 255];
    letter.step = Some("upsert".to_string());
    letter.location = Some("flows/x.yaml:3:7".to_string());
    letter.attempts = 4;
    letter.last_failure = super::at(9_000);
    let id = store.dead_letter(&letter).unwrap();
    let stored = store.get_dead_letter(id).unwrap().unwrap();
    assert_eq!((stored.id, stored.letter), (id, letter));
    assert_eq!(store.get_dead_letter(DeadLetterId(id.0 + 100)).unwrap(), None);
}

pub fn take_removes_a_dead_letter_and_returns_it_only_once(store: &dyn StateStore) {
    let keep = store.dead_letter(&dead_letter("orders", "keep", None)).unwrap();
    let replay = store.dead_letter(&dead_letter("orders", "replay", Some("orders-q"))).unwrap();
    let taken = store.take_dead_letter(replay).unwrap().unwrap();
    assert_eq!(taken.id, replay);
    assert_eq!(taken.letter.payload, b"replay");
    assert_eq!(taken.letter.first_failure, T0);
    assert_eq!(store.take_dead_letter(replay).unwrap(), None);
    assert_eq!(store.get_dead_letter(replay).unwrap(), None);
    assert_eq!(store.list_dead_letters(&DeadLetterFilter::default()).unwrap().len(), 1);
    assert!(store.get_dead_letter(keep).unwrap().is_some());
    // Replay: the taken letter goes back on its queue.
    let queue = taken.letter.queue.clone().unwrap();
    store.enqueue(&queue, &taken.letter.to_message(), T0).unwrap();
    let leased = store.lease(&queue, super::ms(1_000), T0).unwrap().unwrap();
    assert_eq!(leased.message.payload, b"replay");
    assert_eq!(leased.deliveries, 1, "a replayed message starts over");
}

pub fn purge_removes_the_matching_dead_letters_and_counts_them(store: &dyn StateStore) {
    for i in 0..3 {
        store.dead_letter(&dead_letter("orders", &format!("o{i}"), None)).unwrap();
        store.dead_letter(&dead_letter("sms", &format!("s{i}"), None)).unwrap();
    }
    let limited = DeadLetterFilter { limit: Some(1), ..DeadLetterFilter::flow("orders") };
    assert_eq!(store.purge_dead_letters(&limited).unwrap(), 3, "a purge ignores the limit");
    assert_eq!(store.purge_dead_letters(&DeadLetterFilter::flow("orders")).unwrap(), 0);
    assert_eq!(payloads(&store.list_dead_letters(&DeadLetterFilter::default()).unwrap()), ["s0", "s1", "s2"]);
    assert_eq!(store.purge_dead_letters(&DeadLetterFilter::default()).unwrap(), 3);
    assert!(store.list_dead_letters(&DeadLetterFilter::default()).unwrap().is_empty());
    let next = store.dead_letter(&dead_letter("sms", "later", None)).unwrap();
    assert!(next.0 > 6, "ids are not reused after a purge");
}

pub fn replay_takes_a_letter_and_queues_its_message_once(store: &dyn StateStore) {
    let from_queue = store.dead_letter(&dead_letter("orders", "again", Some("orders-q"))).unwrap();
    let from_nowhere = store.dead_letter(&dead_letter("orders", "direct", None)).unwrap();
    let (taken, message) = store.replay_dead_letter(from_queue, T0).unwrap().unwrap();
    assert_eq!((taken.id, taken.letter.payload.as_slice()), (from_queue, &b"again"[..]));
    assert_eq!(store.replay_dead_letter(from_queue, T0).unwrap(), None, "replayed once");
    assert_eq!(store.get_dead_letter(from_queue).unwrap(), None);
    let leased = store.lease("orders-q", super::ms(1_000), T0).unwrap().unwrap();
    assert_eq!((leased.id, leased.message.payload.as_slice(), leased.deliveries), (message, &b"again"[..], 1));
    assert_eq!(store.lease("orders-q", super::ms(1_000), T0).unwrap(), None, "queued once");
    assert_eq!(store.replay_dead_letter(from_nowhere, T0).unwrap(), None, "no queue to put it back on");
    assert!(store.get_dead_letter(from_nowhere).unwrap().is_some(), "and left alone");
    assert_eq!(store.replay_dead_letter(DeadLetterId(from_nowhere.0 + 100), T0).unwrap(), None);
}

/// Replicas replaying the same letters at once: each letter is published exactly once.
pub fn concurrent_replays_publish_each_letter_once(store: &dyn StateStore) {
    let ids: Vec<DeadLetterId> = (0..20)
        .map(|i| store.dead_letter(&dead_letter("orders", &format!("l{i}"), Some("replayed"))).unwrap())
        .collect();
    let published = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (ids, published) = (&ids, &published);
            scope.spawn(move || {
                for id in ids {
                    if store.replay_dead_letter(*id, T0).unwrap().is_some() {
                        published.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(published.into_inner(), 20);
    assert_eq!(store.queue_stats("replayed", T0).unwrap().ready, 20);
    assert!(store.list_dead_letters(&DeadLetterFilter::default()).unwrap().is_empty());
}

pub fn a_letter_keeps_its_sub_flow_and_its_payload_at_failure_beside_its_message(store: &dyn StateStore) {
    let mut letter = dead_letter("orders", "{\"order_id\":\"O-1\"}", Some("orders-q"));
    letter.sub_flow = Some("load_order".to_string());
    letter.step = Some("fetch".to_string());
    letter.payload_at_failure = Some(b"{\"order\":{\"id\":\"O-1\"},\"step\":2}".to_vec());
    letter.media_type_at_failure = Some("application/json".to_string());
    let id = store.dead_letter(&letter).unwrap();
    assert_eq!(store.get_dead_letter(id).unwrap().unwrap().letter, letter);
    let mut binary = dead_letter("files", "chunk", None);
    binary.payload_at_failure = Some(vec![0, 159, 146, 150, 255]);
    binary.media_type_at_failure = Some("application/octet-stream".to_string());
    let id = store.dead_letter(&binary).unwrap();
    assert_eq!(store.get_dead_letter(id).unwrap().unwrap().letter, binary, "bytes that are not UTF-8 too");
    let (replayed, message) =
        store.replay_dead_letter(store.list_dead_letters(&Default::default()).unwrap()[0].id, T0).unwrap().unwrap();
    assert_eq!(replayed.letter.sub_flow.as_deref(), Some("load_order"));
    let leased = store.lease("orders-q", std::time::Duration::from_secs(30), T0).unwrap().unwrap();
    assert_eq!(
        (leased.id, leased.message.payload),
        (message, b"{\"order_id\":\"O-1\"}".to_vec()),
        "the message replays"
    );
}

pub fn letters_are_listed_and_purged_by_error_type(store: &dyn StateStore) {
    let mut leak = dead_letter("sync", "l1", Some("q"));
    leak.error_type = "SENSITIVE:LEAK".to_string();
    store.dead_letter(&leak).unwrap();
    store.dead_letter(&dead_letter("sync", "t1", Some("q"))).unwrap();
    store.dead_letter(&dead_letter("other", "t2", Some("q"))).unwrap();
    let timeouts = DeadLetterFilter { error_type: Some("HTTP:TIMEOUT".to_string()), ..DeadLetterFilter::flow("sync") };
    assert_eq!(payloads(&store.list_dead_letters(&timeouts).unwrap()), ["t1"]);
    let leaks = DeadLetterFilter { error_type: Some("SENSITIVE:LEAK".to_string()), ..Default::default() };
    assert_eq!(store.purge_dead_letters(&leaks).unwrap(), 1);
    assert_eq!(payloads(&store.list_dead_letters(&Default::default()).unwrap()), ["t1", "t2"]);
}

fn trace(span: &str, state: &str) -> relais_store::TraceHeaders {
    relais_store::TraceHeaders {
        traceparent: format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{span}-01"),
        tracestate: state.to_string(),
    }
}

/// A letter written from a flow run keeps the run's trace context, one from a message that failed its last
/// delivery keeps the message's, one without stays without; a replay queues the message with it, so the
/// replayed run continues that trace.
pub fn a_letter_keeps_its_trace_context_and_its_replay_carries_it(store: &dyn StateStore) {
    let mut written = dead_letter("orders", "from a run", Some("orders-q"));
    written.trace = Some(trace("00f067aa0ba902b7", "vendor=abc"));
    let written_id = store.dead_letter(&written).unwrap();
    assert_eq!(store.get_dead_letter(written_id).unwrap().unwrap().letter, written);
    let untraced_id = store.dead_letter(&dead_letter("orders", "untraced", Some("orders-q"))).unwrap();
    assert_eq!(store.get_dead_letter(untraced_id).unwrap().unwrap().letter.trace, None);

    let mut message = super::message("nacked");
    message.trace = Some(trace("b7ad6b7169203331", ""));
    let id = store.enqueue("in", &message, T0).unwrap();
    store.lease("in", std::time::Duration::from_secs(30), T0).unwrap().unwrap();
    let redelivery = relais_store::Redelivery { delay: std::time::Duration::ZERO, max_deliveries: 1 };
    let relais_store::NackOutcome::DeadLettered(nacked_id) =
        store.nack("in", id, redelivery, &super::failure("orders", "HTTP:TIMEOUT"), T0).unwrap()
    else {
        panic!("the last delivery's nack dead-letters the message")
    };
    let nacked = store.get_dead_letter(nacked_id).unwrap().unwrap().letter;
    assert_eq!(nacked.trace, message.trace, "the message's trace context is kept");

    for (letter_id, queue, expected) in [
        (written_id, "orders-q", written.trace.clone()),
        (untraced_id, "orders-q", None),
        (nacked_id, "in", message.trace.clone()),
    ] {
        let (_, replayed) = store.replay_dead_letter(letter_id, T0).unwrap().unwrap();
        let leased = store.lease(queue, std::time::Duration::from_secs(30), T0).unwrap().unwrap();
        assert_eq!(leased.id, replayed);
        assert_eq!(leased.message.trace, expected, "letter {letter_id}");
        store.ack(queue, leased.id).unwrap();
    }
}
