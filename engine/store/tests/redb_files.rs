//! What only a file can do: survive a restart, be damaged, be held by another process.

// The helpers below are parts of tests, where a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_store::{
    DeadLetter, DeadLetterFilter, Failure, Message, MessageId, NackOutcome, RedbStore, Redelivery, StateStore,
    StoreError, Timestamp,
};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn at(millis: u64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + millis)
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn message(text: &str) -> Message {
    Message {
        payload: text.as_bytes().to_vec(),
        media_type: "text/plain".to_string(),
        attributes: json!({ "n": text }),
        correlation_id: format!("corr-{text}"),
        trace: None,
    }
}

fn failure() -> Failure {
    Failure {
        flow: "orders".to_string(),
        step: None,
        location: None,
        error_type: "HTTP:TIMEOUT".to_string(),
        error_description: "timeout".to_string(),
        ..Failure::default()
    }
}

fn text(payload: &[u8]) -> &str {
    std::str::from_utf8(payload).unwrap()
}

#[test]
fn enqueued_and_leased_but_unacked_messages_are_delivered_again_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        for t in ["m1", "m2", "m3"] {
            store.enqueue("q", &message(t), T0).unwrap();
        }
        let leased = store.lease("q", ms(30_000), T0).unwrap().unwrap();
        assert_eq!(text(&leased.message.payload), "m1");
        // The process "crashes" here: no ack, the store is dropped without close.
    }
    let store = RedbStore::open(dir.path()).unwrap();
    // The lease was durable too: until it runs out, m1 stays hidden.
    let m2 = store.lease("q", ms(30_000), at(1)).unwrap().unwrap();
    assert_eq!((text(&m2.message.payload), m2.deliveries), ("m2", 1));
    let m1 = store.lease("q", ms(30_000), at(30_000)).unwrap().unwrap();
    assert_eq!((text(&m1.message.payload), m1.deliveries), ("m1", 2));
    assert_eq!(m1.message, message("m1"));
    let m3 = store.lease("q", ms(30_000), at(30_000)).unwrap().unwrap();
    assert_eq!(text(&m3.message.payload), "m3");
    drop(store);
    // m2 was leased after the reopen and not acked either: it comes back once more.
    let store = RedbStore::open(dir.path()).unwrap();
    let again: Vec<String> = std::iter::from_fn(|| store.lease("q", ms(30_000), at(100_000)).unwrap())
        .map(|leased| text(&leased.message.payload).to_string())
        .collect();
    assert_eq!(again, ["m1", "m2", "m3"]);
}

#[test]
fn a_nacked_message_keeps_its_delay_deliveries_and_first_failure_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = RedbStore::open(dir.path()).unwrap();
        let id = store.enqueue("q", &message("m"), T0).unwrap();
        store.lease("q", ms(1_000), T0).unwrap().unwrap();
        let redelivery = Redelivery { delay: ms(10_000), max_deliveries: 2 };
        store.nack("q", id, redelivery, &failure(), at(500)).unwrap();
        id
    };
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.lease("q", ms(1_000), at(10_499)).unwrap(), None);
    let leased = store.lease("q", ms(1_000), at(10_500)).unwrap().unwrap();
    assert_eq!((leased.id, leased.deliveries), (id, 2));
    let redelivery = Redelivery { delay: ms(10_000), max_deliveries: 2 };
    let NackOutcome::DeadLettered(dead) = store.nack("q", id, redelivery, &failure(), at(11_000)).unwrap() else {
        panic!("the second failed delivery dead-letters the message")
    };
    let letter = store.get_dead_letter(dead).unwrap().unwrap().letter;
    assert_eq!((letter.first_failure, letter.last_failure, letter.attempts), (at(500), at(11_000), 2));
}

#[test]
fn object_entries_dead_letters_and_scheduler_leases_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let dead = {
        let store = RedbStore::open(dir.path()).unwrap();
        store.put("tokens", "crm", &json!({"token": "t"}), None, T0).unwrap();
        store.put("tokens", "short", &json!(1), Some(ms(100)), T0).unwrap();
        assert!(store.put_if_absent("idem", "order-1", &json!(true), Some(ms(60_000)), T0).unwrap());
        assert!(store.try_acquire_lease("tick", "replica-a", ms(60_000), T0).unwrap());
        let letter = DeadLetter {
            flow: "orders".to_string(),
            step: Some("upsert".to_string()),
            location: Some("flows/orders.flow:3:1".to_string()),
            payload: vec![1, 2, 3],
            media_type: "application/octet-stream".to_string(),
            attributes: json!({}),
            correlation_id: "c".to_string(),
            error_type: "HTTP:TIMEOUT".to_string(),
            error_description: "timeout".to_string(),
            attempts: 5,
            first_failure: T0,
            last_failure: at(9),
            queue: None,
            sub_flow: None,
            payload_at_failure: None,
            media_type_at_failure: None,
            trace: None,
        };
        (store.dead_letter(&letter).unwrap(), letter)
    };
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.get("tokens", "crm", at(1)).unwrap(), Some(json!({"token": "t"})));
    assert!(!store.put_if_absent("idem", "order-1", &json!(true), None, at(1)).unwrap(), "the claim survived");
    assert!(!store.try_acquire_lease("tick", "replica-b", ms(60_000), at(1)).unwrap(), "the lease survived");
    assert_eq!(store.sweep_expired(at(100)).unwrap(), 1, "the expiry index survived");
    let stored = store.get_dead_letter(dead.0).unwrap().unwrap();
    assert_eq!(stored.letter, dead.1);
    assert_eq!(store.list_dead_letters(&DeadLetterFilter::flow("orders")).unwrap().len(), 1);
}

#[test]
fn ids_are_never_reused_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (message_id, letter_id) = {
        let store = RedbStore::open(dir.path()).unwrap();
        let id = store.enqueue("q", &message("m"), T0).unwrap();
        store.lease("q", ms(1), T0).unwrap().unwrap();
        let redelivery = Redelivery { delay: ms(0), max_deliveries: 1 };
        let NackOutcome::DeadLettered(letter) = store.nack("q", id, redelivery, &failure(), T0).unwrap() else {
            panic!("max_deliveries 1 dead-letters on the first nack")
        };
        store.take_dead_letter(letter).unwrap().unwrap();
        (id, letter)
    };
    let store = RedbStore::open(dir.path()).unwrap();
    assert!(store.enqueue("q", &message("n"), T0).unwrap() > message_id);
    let redelivery = Redelivery { delay: ms(0), max_deliveries: 1 };
    let leased = store.lease("q", ms(1), T0).unwrap().unwrap();
    let NackOutcome::DeadLettered(next) = store.nack("q", leased.id, redelivery, &failure(), T0).unwrap() else {
        panic!("dead-lettered")
    };
    assert!(next > letter_id);
    assert!(MessageId(0) < message_id, "ids start at 1");
}

#[test]
fn open_creates_missing_directories_and_only_the_state_file_and_the_queue_log() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("var").join("relais");
    let store = RedbStore::open(&nested).unwrap();
    assert_eq!(store.path(), nested.join("state.redb"));
    let mut names: Vec<String> =
        std::fs::read_dir(&nested).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["queues", "state.redb"], "no temporary file is left behind");
}

#[test]
fn a_file_where_the_directory_should_be_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("state");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let error = RedbStore::open(&not_a_dir).unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains(&not_a_dir.display().to_string()), "{error}");
}

// --- in use ---

#[test]
fn opening_a_state_directory_that_is_open_reports_it_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedbStore::open(dir.path()).unwrap();
    let error = RedbStore::open(dir.path()).unwrap_err();
    let StoreError::InUse { dir: reported, file } = &error else { panic!("expected InUse, got {error:?}") };
    assert_eq!(reported, dir.path());
    assert_eq!(file, &dir.path().join("state.redb"));
    assert!(error.to_string().contains("is in use"), "{error}");
    // The refused open changed nothing, and the lock goes with the store.
    first.enqueue("q", &message("still mine"), T0).unwrap();
    first.close().unwrap();
    let second = RedbStore::open(dir.path()).unwrap();
    assert_eq!(second.lease("q", ms(1), T0).unwrap().unwrap().message, message("still mine"));
}

/// The environment variable naming the directory [`open_the_state_directory_named_in_the_environment`] opens.
const HELPER_DIR: &str = "RELAIS_STORE_TEST_STATE_DIR";

#[test]
fn a_second_process_is_told_the_state_directory_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _held = RedbStore::open(dir.path()).unwrap();
    // This test binary, run again as another process, with only the helper test below.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "open_the_state_directory_named_in_the_environment", "--ignored", "--nocapture"])
        .env(HELPER_DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = stdout.lines().find_map(|line| line.strip_prefix("RESULT: ")).unwrap_or_else(|| {
        panic!("the helper printed no result:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr))
    });
    assert!(result.starts_with("in use: the state directory"), "{result}");
}

#[test]
#[ignore = "a helper: run as a separate process by a_second_process_is_told_the_state_directory_is_in_use"]
fn open_the_state_directory_named_in_the_environment() {
    let dir = std::env::var_os(HELPER_DIR).expect("set by the parent test");
    match RedbStore::open(Path::new(&dir)) {
        Ok(_) => println!("RESULT: opened"),
        Err(error @ StoreError::InUse { .. }) => println!("RESULT: in use: {error}"),
        Err(error) => println!("RESULT: other error: {error:?}"),
    }
}

// --- damage ---

/// A state directory with some of everything in it, closed; returns the pristine bytes of its file.
fn populated(dir: &Path) -> Vec<u8> {
    let store = RedbStore::open(dir).unwrap();
    for i in 0..200 {
        let mut m = message(&format!("m{i}"));
        m.payload = vec![b'x'; 1024];
        store.enqueue("orders", &m, T0).unwrap();
    }
    for i in 0..50 {
        store.put("tokens", &format!("k{i}"), &json!({"i": i}), None, T0).unwrap();
    }
    let letter = store.lease("orders", ms(1), T0).unwrap().unwrap();
    let redelivery = Redelivery { delay: ms(0), max_deliveries: 1 };
    store.nack("orders", letter.id, redelivery, &failure(), T0).unwrap();
    store.close().unwrap();
    std::fs::read(dir.join("state.redb")).unwrap()
}

/// The files of the queue log of `dir`, to put back with [`restore_log`].
fn saved_log(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let log = dir.join("queues");
    std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect()
}

fn restore_log(dir: &Path, saved: &[(std::path::PathBuf, Vec<u8>)]) {
    std::fs::remove_dir_all(dir.join("queues")).unwrap();
    std::fs::create_dir(dir.join("queues")).unwrap();
    for (path, bytes) in saved {
        std::fs::write(path, bytes).unwrap();
    }
}

/// The data [`populated`] wrote, all of it, or a panic.
fn assert_intact(store: &RedbStore) {
    let stats = store.queue_stats("orders", T0).unwrap();
    assert_eq!(stats.total(), 199);
    for i in 0..50 {
        assert_eq!(store.get("tokens", &format!("k{i}"), T0).unwrap(), Some(json!({"i": i})));
    }
    assert_eq!(store.list_dead_letters(&DeadLetterFilter::default()).unwrap().len(), 1);
    let mut leased = 0;
    while let Some(m) = store.lease("orders", ms(1_000), T0).unwrap() {
        assert_eq!(m.message.payload, vec![b'x'; 1024]);
        leased += 1;
    }
    assert_eq!(leased, 199);
}

/// Opens a damaged state and expects the clear error, and the file left as it was (not reset).
fn assert_reported_as_damaged(dir: &Path) -> StoreError {
    let file = dir.join("state.redb");
    let before = std::fs::read(&file).unwrap();
    let error = RedbStore::open(dir).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "expected Corrupt, got {error:?}");
    let text = error.to_string();
    assert!(text.contains(&file.display().to_string()), "the message names the file: {text}");
    assert!(text.contains("move the file aside"), "the message says how to recover: {text}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "a refused open leaves the file untouched");
    error
}

/// Deterministic garbage (xorshift), so a failure reproduces.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_file_overwritten_with_garbage_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = populated(dir.path());
    std::fs::write(dir.path().join("state.redb"), garbage(pristine.len(), 7)).unwrap();
    let error = assert_reported_as_damaged(dir.path());
    assert!(error.to_string().contains("Not a redb database"), "{error}");
}

#[test]
fn a_truncated_file_is_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = populated(dir.path());
    for len in [pristine.len() / 2, 4096, 100] {
        std::fs::write(dir.path().join("state.redb"), &pristine[..len]).unwrap();
        assert_reported_as_damaged(dir.path());
    }
}

#[test]
fn an_emptied_file_is_reported_as_damaged_not_taken_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    std::fs::write(dir.path().join("state.redb"), b"").unwrap();
    assert_reported_as_damaged(dir.path());
}

#[test]
fn damaged_commit_slots_are_reported_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = populated(dir.path());
    // redb's super-header: 64 bytes of header, then two 128-byte commit slots.
    bytes[64..320].copy_from_slice(&garbage(256, 11));
    std::fs::write(dir.path().join("state.redb"), &bytes).unwrap();
    assert_reported_as_damaged(dir.path());
}

#[test]
fn damage_anywhere_in_the_file_is_reported_or_harmless_never_a_panic_or_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = populated(dir.path());
    let log = saved_log(dir.path());
    let (mut reported, mut harmless) = (0, 0);
    for (n, offset) in (0..pristine.len()).step_by(16 * 1024).enumerate() {
        // The leases of the last intact open are in the log: back to the log as populated.
        restore_log(dir.path(), &log);
        let mut bytes = pristine.clone();
        let end = (offset + 4096).min(bytes.len());
        bytes[offset..end].copy_from_slice(&garbage(end - offset, n as u64 + 1));
        std::fs::write(dir.path().join("state.redb"), &bytes).unwrap();
        match RedbStore::open(dir.path()) {
            // Garbage over free pages: the open succeeds and every record is there.
            Ok(store) => {
                assert_intact(&store);
                harmless += 1;
            }
            Err(StoreError::Corrupt { .. }) => reported += 1,
            Err(other) => panic!("damage at offset {offset} gave {other:?}"),
        }
    }
    assert!(reported > 0 && harmless > 0, "both cases were exercised: {reported} reported, {harmless} harmless");
}

// --- foreign files ---

#[test]
fn a_redb_file_that_is_not_a_relais_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::create(dir.path().join("state.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(redb::TableDefinition::<&str, &str>::new("something")).unwrap().insert("a", "b").unwrap();
    tx.commit().unwrap();
    drop(db);
    let error = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Incompatible { .. }), "{error:?}");
    assert!(error.to_string().contains("not a relais state file"), "{error}");
}

#[test]
fn a_state_file_with_a_newer_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    RedbStore::open(dir.path()).unwrap().close().unwrap();
    let db = redb::Database::open(dir.path().join("state.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(redb::TableDefinition::<&str, u64>::new("meta")).unwrap().insert("layout_version", 3).unwrap();
    tx.commit().unwrap();
    drop(db);
    let error = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Incompatible { .. }), "{error:?}");
    assert!(error.to_string().contains("layout version 3"), "{error}");
}

// --- the queue log ---

/// The segment files of the queue log of `dir`, oldest first.
fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("queues"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "qlog"))
        .collect();
    files.sort();
    files
}

/// A log of several small segments with 300 messages of 1 KB queued, closed.
fn populated_log(dir: &Path) {
    let store = RedbStore::open_with_segments(dir, 64 * 1024).unwrap();
    for i in 0..300 {
        let mut m = message(&format!("m{i}"));
        m.payload = vec![b'y'; 1024];
        store.enqueue("orders", &m, T0).unwrap();
    }
    store.close().unwrap();
    assert!(segments(dir).len() >= 3, "several segments: {:?}", segments(dir));
}

#[test]
fn a_torn_tail_of_the_queue_log_is_cut_and_every_message_before_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    populated_log(dir.path());
    let last = segments(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    // A crash in the middle of a write: half of a record of a message never reported durable.
    let mut torn = bytes.clone();
    torn.extend_from_slice(&bytes[20..20 + 500]);
    std::fs::write(&last, &torn).unwrap();
    let store = RedbStore::open_with_segments(dir.path(), 64 * 1024).unwrap();
    assert_eq!(store.queue_stats("orders", T0).unwrap().ready, 300);
    assert_eq!(std::fs::read(&last).unwrap(), bytes, "the torn tail is cut off");
    let kept = std::fs::read_dir(dir.path().join("queues"))
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().contains(".cut-"));
    assert!(kept, "the bytes cut are kept beside the segment");
    // The log goes on after the cut.
    let id = store.enqueue("orders", &message("after"), T0).unwrap();
    store.close().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let leased = store.ack_and_lease("orders", &[], 1_000, ms(1_000), T0).unwrap();
    assert_eq!(leased.len(), 301);
    assert_eq!(leased.last().map(|m| m.id), Some(id));
}

#[test]
fn a_damaged_record_in_an_older_segment_is_a_corrupt_error_naming_the_file_and_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    populated_log(dir.path());
    let first = segments(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[2_000] ^= 0x40;
    std::fs::write(&first, &bytes).unwrap();
    let error = RedbStore::open(dir.path()).unwrap_err();
    let StoreError::Corrupt { path, detail } = &error else { panic!("expected Corrupt, got {error:?}") };
    assert_eq!(path, &first);
    assert!(detail.contains("checksum mismatch") && detail.contains("at offset "), "{detail}");
    assert!(detail.contains("move the whole"), "the way out is the whole log directory: {detail}");
    assert_eq!(std::fs::read(&first).unwrap(), bytes, "a refused open changes nothing");
}

#[test]
fn a_segment_that_is_not_a_queue_log_or_a_missing_segment_is_a_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    populated_log(dir.path());
    let files = segments(dir.path());
    let saved = std::fs::read(&files[1]).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let error = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt { path, .. } if path == &files[1]), "{error:?}");
    assert!(error.to_string().contains("is missing"), "{error}");

    std::fs::write(&files[1], garbage(saved.len(), 5)).unwrap();
    let error = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt { path, .. } if path == &files[1]), "{error:?}");
    assert!(error.to_string().contains("not a relais queue log segment"), "{error}");

    std::fs::write(&files[1], &saved[..10]).unwrap();
    let error = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt { path, .. } if path == &files[1]), "{error:?}");
}

#[test]
fn garbage_anywhere_in_the_queue_log_is_reported_or_cut_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    populated_log(dir.path());
    let log = saved_log(dir.path());
    let files = segments(dir.path());
    let (mut reported, mut cut) = (0, 0);
    for (n, file) in files.iter().enumerate() {
        let len = std::fs::metadata(file).unwrap().len() as usize;
        for offset in (0..len).step_by(7_919) {
            restore_log(dir.path(), &log);
            let mut bytes = std::fs::read(file).unwrap();
            let end = (offset + 64).min(len);
            bytes[offset..end].copy_from_slice(&garbage(end - offset, (n * 1_000 + offset) as u64 + 1));
            std::fs::write(file, &bytes).unwrap();
            match RedbStore::open_with_segments(dir.path(), 64 * 1024) {
                Ok(store) => {
                    // Only the newest segment may be cut; what is left reads back whole.
                    assert_eq!(n, files.len() - 1, "damage in {file:?} at {offset} was not reported");
                    let leased = store.ack_and_lease("orders", &[], 1_000, ms(1_000), T0).unwrap();
                    assert!(leased.len() < 300);
                    assert!(leased.iter().all(|m| m.message.payload == vec![b'y'; 1024]));
                    cut += 1;
                }
                Err(StoreError::Corrupt { path, detail }) => {
                    assert_eq!(&path, file);
                    assert!(detail.contains("offset"), "{detail}");
                    reported += 1;
                }
                Err(other) => panic!("damage in {file:?} at {offset} gave {other:?}"),
            }
        }
    }
    assert!(reported > 0 && cut > 0, "{reported} reported, {cut} cut");
}

#[test]
fn acked_segments_are_deleted_and_ids_are_not_reused_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    populated_log(dir.path());
    let before = segments(dir.path()).len();
    let store = RedbStore::open_with_segments(dir.path(), 64 * 1024).unwrap();
    let leased = store.ack_and_lease("orders", &[], 1_000, ms(1_000), T0).unwrap();
    let last = leased.last().map(|m| m.id).unwrap();
    let ids: Vec<MessageId> = leased.iter().map(|m| m.id).collect();
    store.ack_and_lease("orders", &ids, 0, ms(1_000), T0).unwrap();
    // The deletion follows the sync of the acks: one more change makes sure it ran.
    store.enqueue("other", &message("x"), T0).unwrap();
    let after = segments(dir.path()).len();
    assert!(after < before, "{after} segments left of {before}");
    store.close().unwrap();
    let store = RedbStore::open_with_segments(dir.path(), 64 * 1024).unwrap();
    assert_eq!(store.queue_stats("orders", T0).unwrap().total(), 0);
    assert_eq!(store.queue_stats("other", T0).unwrap().ready, 1);
    assert!(store.enqueue("orders", &message("y"), T0).unwrap() > last);
}
