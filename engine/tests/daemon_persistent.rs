//! Durable state through the daemon: persistent queues (redelivery count, dead letters after N deliveries,
//! replay), persistent object stores and queued messages surviving a restart on the redb backend, a
//! damaged state file refused with the way to recover, and `relais dlq` on a stopped daemon's state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::runtime::state::State;
use relais_engine::runtime::Runtime;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::request;

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
  results: { object_store: { persistent: true } }
  switches: { object_store: {} }
flows:
  accept:
    source: { http.listener: { config: api, method: POST, path: /jobs, response: { status: 202 } } }
    steps:
      - queue.publish: { queue: jobs, persistent: true }
  work:
    source:
      queue.listener: { queue: jobs, persistent: true, consumers: 2, max_deliveries: 3, redelivery_delay: 10ms }
    steps:
      - object_store.get: { config: switches, key: broken, default: false, target: broken }
      - choice:
          - when: "#[vars.broken || payload.fail == true]"
            steps:
              - raise_error: { type: "JOB:FAILED", description: "job #[payload.id] failed at delivery #[attributes.delivery]" }
      - object_store.put: { config: results, key: "#[payload.id]", value: "#[attributes.delivery]" }
  result:
    source: { http.listener: { config: api, method: GET, path: "/results/{id}" } }
    steps:
      - object_store.get: { config: results, key: "#[attributes.params.id]" }
  switch:
    source: { http.listener: { config: api, method: PUT, path: "/broken" } }
    steps:
      - object_store.put: { config: switches, key: broken }
  nightly:
    steps:
      - set_payload: { value: "#[#{ id: \"N1\" }]" }
      - try:
          steps:
            - raise_error: { type: "PARTNER:DOWN", description: "the partner refused #[payload.id]" }
          on_error:
            - continue:
                steps:
                  - dead_letter.write: { queue: jobs, replay: at_failure }
  misplaced:
    steps:
      - dead_letter.write: {}
"##;

async fn start(dir: &Path, state: Arc<State>) -> (relais_engine::daemon::Daemon, std::net::SocketAddr) {
    let (_, program) = support::compile_dir(dir, Some(state));
    let daemon = relais_engine::daemon::start_with_admin_access(
        relais_engine::components::registry(),
        Runtime::new(program),
        Some("127.0.0.1:0".parse().unwrap()),
        relais_engine::daemon::AdminAccess::insecure_loopback(),
    )
    .await
    .unwrap();
    let addr = daemon.listeners[0].1;
    (daemon, addr)
}

async fn result(addr: std::net::SocketAddr, id: &str) -> Option<String> {
    for _ in 0..300 {
        let (status, _, body) = request(addr, "GET", &format!("/results/{id}"), &[], b"").await;
        if status == 200 {
            return Some(body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_message_that_keeps_failing_is_redelivered_then_dead_lettered_and_can_be_replayed() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = start(&dir, State::new()).await;
    let admin = daemon.admin.unwrap();
    assert_eq!(request(addr, "PUT", "/broken", &[], b"true").await.0, 200);
    assert_eq!(request(addr, "POST", "/jobs", &[("x-correlation-id", "job-7")], br#"{"id":"J7"}"#).await.0, 202);
    let state = daemon.state();
    let mut dead = Vec::new();
    for _ in 0..300 {
        dead = state.dead_letters();
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    let letter = &dead[0];
    assert_eq!((letter.queue.as_str(), letter.flow.as_str(), letter.attempts), ("jobs", "work", 3));
    assert_eq!(letter.error_type, "JOB:FAILED");
    assert_eq!(letter.description, "job J7 failed at delivery 3", "the delivery count reaches the flow");
    assert_eq!(letter.correlation_id, "job-7");
    let (_, _, metrics) = request(admin, "GET", "/metrics", &[], b"").await;
    assert!(metrics.contains("relais_queue_depth{queue=\"jobs\"} 0"), "{metrics}");
    assert!(metrics.contains("relais_dead_letters_total{flow=\"work\",type=\"JOB:FAILED\"} 1"), "{metrics}");
    let (status, _, body) = request(admin, "GET", &format!("/dead-letters/{}", letter.id), &[], b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("J7") && body.contains("\"attempts\":3"), "{body}");

    // The cause is fixed; the replayed message goes through.
    assert_eq!(request(addr, "PUT", "/broken", &[], b"false").await.0, 200);
    let (status, _, body) = request(admin, "POST", &format!("/dead-letters/{}/replay", letter.id), &[], b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(result(addr, "J7").await.as_deref(), Some("1"), "the replayed message starts its deliveries over");
    assert!(state.dead_letters().is_empty());
    let (status, ..) = request(admin, "POST", &format!("/dead-letters/{}/replay", letter.id), &[], b"").await;
    assert_eq!(status, 409, "a dead letter is replayed once");
    daemon.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_dead_letters_what_its_handler_gives_up_on_and_a_replay_publishes_it_to_the_named_queue() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = start(&dir, State::new()).await;
    let event = relais_engine::runtime::Event::new(serde_json::Value::Null);
    let done = daemon.runtime().run_flow("nightly", event).await;
    assert!(done.is_ok(), "the handler continues after dead-lettering: {done:?}");
    let state = daemon.state();
    let dead = state.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let letter = &dead[0];
    assert_eq!((letter.queue.as_str(), letter.flow.as_str(), letter.attempts), ("jobs", "nightly", 1));
    assert_eq!((letter.error_type.as_str(), letter.description.as_str()), ("PARTNER:DOWN", "the partner refused N1"));
    assert_eq!(String::from_utf8_lossy(&letter.payload), r#"{"id":"N1"}"#);

    // Replayed, it goes to the `jobs` queue, whose consumer processes it.
    let admin = daemon.admin.unwrap();
    let (status, _, body) = request(admin, "POST", &format!("/dead-letters/{}/replay", letter.id), &[], b"").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(result(addr, "N1").await.as_deref(), Some("1"));

    // Outside a handler there is no error to record: the step says where it belongs.
    let event = relais_engine::runtime::Event::new(serde_json::Value::Null);
    let err = daemon.runtime().run_flow("misplaced", event).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "DEAD_LETTER:NO_ERROR");
    assert!(err.description.contains("on_error"), "{}", err.description);
    daemon.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_and_persistent_entries_survive_a_restart_on_disk() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let state_dir = dir.join("state");
    {
        let store = Arc::new(relais_store::RedbStore::open(&state_dir).unwrap());
        let (daemon, addr) = start(&dir, Arc::new(State::with_store(store))).await;
        assert_eq!(request(addr, "POST", "/jobs", &[], br#"{"id":"A"}"#).await.0, 202);
        assert_eq!(result(addr, "A").await.as_deref(), Some("1"));
        // Broken while the next ones arrive: they wait in the queue (redelivered with a delay).
        assert_eq!(request(addr, "PUT", "/broken", &[], b"true").await.0, 200);
        let daemon_state = daemon.state();
        drop(daemon_state);
        daemon.shutdown(Duration::from_secs(2)).await;
    }
    // Once the aborted tasks have dropped their handles on the store (it opens again), write to the queue
    // directly, as a publisher of another process would have.
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let store = loop {
            match relais_store::RedbStore::open(&state_dir) {
                Ok(store) => break store,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the state did not open again within 30 s: {e}"),
            }
        };
        let message = relais_store::Message {
            payload: br#"{"id":"B"}"#.to_vec(),
            media_type: "application/json".into(),
            attributes: serde_json::json!({}),
            correlation_id: "b".into(),
            trace: None,
        };
        relais_store::StateStore::enqueue(&store, "jobs", &message, relais_engine::runtime::state::now()).unwrap();
        store.close().unwrap();
    }
    let store = Arc::new(relais_store::RedbStore::open(&state_dir).unwrap());
    let (daemon, addr) = start(&dir, Arc::new(State::with_store(store))).await;
    assert_eq!(result(addr, "A").await.as_deref(), Some("1"), "a persistent entry survives the restart");
    assert_eq!(result(addr, "B").await.as_deref(), Some("1"), "a queued message is processed after the restart");
    daemon.shutdown(Duration::from_secs(2)).await;
}

#[test]
fn a_damaged_state_file_stops_relais_run_with_the_way_to_recover() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let state_dir = dir.join("state");
    drop(relais_store::RedbStore::open(&state_dir).unwrap());
    std::fs::write(state_dir.join("state.redb"), vec![0x5a; 64 * 1024]).unwrap();
    // `relais run` prints its errors on standard error: run the binary to read them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .args(["run", dir.to_str().unwrap(), "--admin", "off", "--no-watch", "--state", state_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(out.stdout.is_empty(), "nothing on standard output");
    assert!(text.contains("state.redb"), "{text}");
    assert!(text.to_lowercase().contains("move"), "the message says how to recover: {text}");
}

#[test]
fn relais_dlq_lists_shows_replays_and_purges_a_stopped_daemons_dead_letters() {
    let dir = support::write_files(&[]);
    let state_dir = dir.join("state");
    {
        let store = relais_store::RedbStore::open(&state_dir).unwrap();
        let now = relais_engine::runtime::state::now();
        for (i, flow) in ["work", "work", "other"].iter().enumerate() {
            let message = relais_store::Message {
                payload: format!(r#"{{"id":"D{i}"}}"#).into_bytes(),
                media_type: "application/json".into(),
                attributes: serde_json::json!({}),
                correlation_id: format!("c{i}"),
                trace: None,
            };
            let failure = relais_store::Failure {
                flow: flow.to_string(),
                step: Some("raise_error".into()),
                location: None,
                error_type: "JOB:FAILED".into(),
                error_description: "broken".into(),
                ..relais_store::Failure::default()
            };
            let mut letter = relais_store::DeadLetter::new(message, &failure, 3, now, now);
            letter.queue = Some("jobs".into());
            relais_store::StateStore::dead_letter(&store, &letter).unwrap();
        }
        store.close().unwrap();
    }
    let state = state_dir.to_str().unwrap();
    let flows = dir.to_str().unwrap();
    let dlq = |args: &[&str]| {
        let mut out = Vec::new();
        let mut all = vec!["relais", "dlq"];
        all.extend_from_slice(args);
        // The flows say which fields are sensitive (here: none); without them payloads are withheld.
        all.extend_from_slice(&["--state", state, "--flows", flows]);
        let outcome = relais_engine::cli::run(all, &mut out);
        (outcome, String::from_utf8_lossy(&out).to_string())
    };
    let (outcome, text) = dlq(&["list"]);
    assert_eq!(outcome, relais_engine::cli::Outcome::Success);
    assert!(text.ends_with("3 dead letter(s)\n"), "{text}");
    let (_, text) = dlq(&["list", "--flow", "other"]);
    assert!(text.contains("1 dead letter(s)") && text.contains("other"), "{text}");
    let first = text.split('\t').next().unwrap().to_string();
    let (_, text) = dlq(&["show", &first]);
    assert!(text.contains("\"payload\": \"{\\\"id\\\":\\\"D2\\\"}\""), "{text}");
    let (outcome, text) = dlq(&["replay", "--all", "--flow", "work"]);
    assert_eq!(outcome, relais_engine::cli::Outcome::Success, "{text}");
    assert_eq!(text.matches("replayed into queue `jobs`").count(), 2, "{text}");
    let (_, text) = dlq(&["purge"]);
    assert_eq!(text, "1 dead letter(s) purged\n");
    let store = relais_store::RedbStore::open(&state_dir).unwrap();
    let stats = relais_store::StateStore::queue_stats(&store, "jobs", relais_engine::runtime::state::now()).unwrap();
    assert_eq!(stats.depth(), 2, "the replayed letters wait in their queue for the next start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_persistent_queue_makes_publishers_wait_then_answers_503_and_takes_messages_again_once_drained() {
    let flows = r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  accept:
    source: { http.listener: { config: api, method: POST, path: /jobs, response: { status: 202 } } }
    steps:
      - queue.publish: { queue: tight, persistent: true, timeout: 200ms }
  work:
    source: { queue.listener: { queue: tight, persistent: true, capacity: 2, consumers: 1 } }
    steps:
      - time.delay: { duration: 3s }
"##;
    let dir = support::write_files(&[("flows.yaml", flows)]);
    let (daemon, addr) = start(&dir, State::new()).await;
    // Two messages fill the queue (one in flight for 3 s, one waiting); the third finds no room.
    for job in [r#"{"id":1}"#, r#"{"id":2}"#] {
        assert_eq!(request(addr, "POST", "/jobs", &[], job.as_bytes()).await.0, 202);
    }
    let (status, headers, body) = request(addr, "POST", "/jobs", &[], br#"{"id":3}"#).await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.contains("application/problem+json"), "{headers}");
    assert!(body.contains("QUEUE:TIMEOUT") && body.contains("capacity 2"), "{body}");
    // Once the consumer has worked through them, the queue takes messages again.
    let mut accepted = false;
    for _ in 0..300 {
        if request(addr, "POST", "/jobs", &[], br#"{"id":3}"#).await.0 == 202 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(accepted, "the drained queue never took the message");
    daemon.shutdown(Duration::from_secs(5)).await;
}
