//! The log on its own: what a reopen rebuilds, compaction, and grouped syncs.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use super::*;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const SMALL: u64 = 16 * 1024;

fn message(text: &str) -> Message {
    Message {
        payload: text.as_bytes().repeat(100),
        media_type: "text/plain".to_string(),
        attributes: serde_json::json!({ "n": text }),
        correlation_id: format!("corr-{text}"),
        trace: None,
    }
}

fn lease(log: &QueueLog, queue: &str, max: usize, now: Timestamp) -> Vec<Leased> {
    log.ack_and_lease(queue, &[], max, Duration::from_secs(60), now, LEASE).unwrap().1
}

fn ack(log: &QueueLog, queue: &str, ids: &[MessageId]) -> u64 {
    log.ack_and_lease(queue, ids, 0, Duration::ZERO, T0, ACK).unwrap().0
}

#[test]
fn a_reopen_rebuilds_every_queue_with_its_deliveries_delays_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SEGMENT_BYTES).unwrap();
    let ids: Vec<MessageId> =
        (0..5).map(|i| log.enqueue(if i < 4 { "a" } else { "b" }, &message(&format!("m{i}")), T0).unwrap()).collect();
    let first = lease(&log, "a", 3, T0);
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..3]);
    ack(&log, "a", &[ids[0]]);
    let plan = log.nack("a", ids[1], Duration::from_secs(30), 5, T0).unwrap();
    assert!(matches!(plan, NackPlan::Redelivered(at) if at == T0.saturating_add(Duration::from_secs(30))));
    assert_eq!(log.unlease("a", &[ids[2]]).unwrap(), 1);
    drop(log);

    let log = QueueLog::open(dir.path(), 0, SEGMENT_BYTES).unwrap();
    let stats = log.queue_stats("a", T0);
    assert_eq!((stats.ready, stats.delayed, stats.in_flight), (2, 1, 0));
    assert_eq!(log.queue_stats("b", T0).ready, 1);
    let again = lease(&log, "a", 10, T0);
    assert_eq!(again.iter().map(|m| (m.id, m.deliveries)).collect::<Vec<_>>(), [(ids[2], 1), (ids[3], 1)]);
    assert_eq!(again[0].message, message("m2"));
    // The nacked message comes back after its delay, its first delivery counted.
    let due = lease(&log, "a", 10, T0.saturating_add(Duration::from_secs(31)));
    assert_eq!(due.iter().map(|m| (m.id, m.deliveries)).collect::<Vec<_>>(), [(ids[1], 2)]);
    drop(log);

    // Leases found at open are kept until released, with their counts.
    let log = QueueLog::open(dir.path(), 0, SEGMENT_BYTES).unwrap();
    assert_eq!(log.queue_stats("a", T0).in_flight, 3);
    assert_eq!(log.release_leases().unwrap(), 3);
    let released = lease(&log, "a", 10, T0);
    assert_eq!(
        released.iter().map(|m| (m.id, m.deliveries)).collect::<Vec<_>>(),
        [(ids[1], 3), (ids[2], 2), (ids[3], 2)]
    );
}

#[test]
fn ids_start_above_the_floor_and_are_never_reused_after_everything_is_acked() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 41, SMALL).unwrap();
    let id = log.enqueue("q", &message("x"), T0).unwrap();
    assert_eq!(id, MessageId(42));
    let leased = lease(&log, "q", 1, T0);
    ack(&log, "q", &[leased[0].id]);
    drop(log);
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    assert_eq!(log.enqueue("q", &message("y"), T0).unwrap(), MessageId(43));
}

#[test]
fn a_drained_queue_frees_its_segments_and_the_log_keeps_only_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    for i in 0..200 {
        log.enqueue("q", &message(&format!("m{i}")), T0).unwrap();
    }
    let (oldest, newest) = log.segments();
    assert!(newest - oldest >= 5, "several segments: {oldest}..{newest}");
    let leased = lease(&log, "q", 1_000, T0);
    let ids: Vec<MessageId> = leased.iter().map(|m| m.id).collect();
    assert_eq!(ack(&log, "q", &ids), 200);
    log.enqueue("q", &message("last"), T0).unwrap();
    let (oldest, newest) = log.segments();
    assert_eq!(oldest, newest, "only the segment being written is left");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1);
    drop(log);
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    assert_eq!(log.live(), 1);
}

#[test]
fn a_few_messages_left_far_behind_are_written_again_so_their_old_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    // One message delayed for an hour, then a stream of messages consumed as they come.
    let straggler = log.enqueue("q", &message("straggler"), T0).unwrap();
    let leased = lease(&log, "q", 1, T0);
    assert!(matches!(log.nack("q", straggler, Duration::from_secs(3_600), 5, T0).unwrap(), NackPlan::Redelivered(_)));
    assert_eq!(leased[0].id, straggler);
    for i in 0..300 {
        log.enqueue("q", &message(&format!("m{i}")), T0).unwrap();
        let leased = lease(&log, "q", 1, T0);
        ack(&log, "q", &[leased[0].id]);
    }
    let (oldest, newest) = log.segments();
    assert!(newest - oldest <= 3, "the straggler does not keep the segments: {oldest}..{newest}");
    drop(log);
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    assert_eq!(log.live(), 1);
    let stats = log.queue_stats("q", T0);
    assert_eq!((stats.ready, stats.delayed), (0, 1), "carried with its delay");
    let back = lease(&log, "q", 1, T0.saturating_add(Duration::from_secs(3_601)));
    assert_eq!(back.iter().map(|m| (m.id, m.deliveries)).collect::<Vec<_>>(), [(straggler, 2)]);
    assert_eq!(back[0].message, message("straggler"));
}

#[test]
fn a_message_being_dead_lettered_is_not_leased_and_comes_back_if_the_letter_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SEGMENT_BYTES).unwrap();
    let id = log.enqueue("q", &message("x"), T0).unwrap();
    lease(&log, "q", 1, T0);
    let later = T0.saturating_add(Duration::from_secs(120));
    let NackPlan::DeadLetter { message: m, deliveries, .. } = log.nack("q", id, Duration::ZERO, 1, T0).unwrap() else {
        panic!("dead-lettered")
    };
    assert_eq!((m, deliveries), (message("x"), 1));
    assert!(lease(&log, "q", 1, later).is_empty(), "not leased while it moves");
    log.cancel_move(id);
    assert_eq!(lease(&log, "q", 1, later).len(), 1, "back once its lease runs out");
    let NackPlan::DeadLetter { .. } = log.nack("q", id, Duration::ZERO, 1, later).unwrap() else { panic!() };
    log.finish_move(id).unwrap();
    drop(log);
    let log = QueueLog::open(dir.path(), 0, SEGMENT_BYTES).unwrap();
    assert_eq!(log.live(), 0);
}

#[test]
fn concurrent_publishers_share_syncs_and_every_message_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    std::thread::scope(|scope| {
        for t in 0..16 {
            let log = &log;
            scope.spawn(move || {
                for i in 0..25 {
                    log.enqueue("q", &message(&format!("{t}-{i}")), T0).unwrap();
                }
            });
        }
    });
    let stats = log.sync_stats();
    assert_eq!(stats.records, 400);
    assert!(stats.syncs < 400, "{} syncs for 400 enqueues", stats.syncs);
    drop(log);
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    let leased = lease(&log, "q", 1_000, T0);
    assert_eq!(leased.len(), 400);
    assert!(leased.windows(2).all(|w| w[0].id < w[1].id), "FIFO by id");
}

#[test]
fn acks_of_unknown_ids_or_of_another_queue_change_nothing_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SEGMENT_BYTES).unwrap();
    let id = log.enqueue("q", &message("x"), T0).unwrap();
    let syncs = log.sync_stats().syncs;
    assert_eq!(ack(&log, "other", &[id]), 0);
    assert_eq!(ack(&log, "q", &[MessageId(999)]), 0);
    assert!(lease(&log, "empty", 5, T0).is_empty());
    assert_eq!(log.sync_stats().syncs, syncs);
    assert_eq!(log.queue_stats("q", T0).ready, 1);
}

#[test]
fn a_backlog_spread_over_many_segments_is_never_written_again_by_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let log = QueueLog::open(dir.path(), 0, SMALL).unwrap();
    for i in 0..300 {
        log.enqueue("q", &message(&format!("m{i}")), T0).unwrap();
    }
    let (oldest, newest) = log.segments();
    assert!(newest - oldest >= 5, "several segments: {oldest}..{newest}");
    assert_eq!(log.sync_stats().records, 300, "each message written once");
}
