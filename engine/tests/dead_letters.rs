//! Dead letters an operator can work with: a letter a flow writes keeps the message the flow received
//! (replayed) beside the payload at the failure (read only), is filed under the flow that received the
//! message with the sub-flow and step as its location, and is replayed in bulk, by flow and error type,
//! through the admin port and through `relais dlq`, which show the same fields under the same names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::request;

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
  results: { object_store: {} }
flows:
  intake:
    source: { http.listener: { config: api, method: POST, path: /orders, response: { status: 202 } } }
    steps:
      - transform: { code: "#{ order: payload.id, kind: payload.kind, step: 2 }" }
      - flow_ref: push
    on_error:
      - continue:
          steps:
            - dead_letter.write: { queue: retry }
  redo:
    source: { queue.listener: { queue: retry } }
    steps:
      - object_store.put: { config: results, key: "#[payload.id]" }
  result:
    source: { http.listener: { config: api, method: GET, path: "/results/{id}" } }
    steps:
      - object_store.get: { config: results, key: "#[attributes.params.id]", default: "none" }
sub_flows:
  push:
    steps:
      - choice:
          - when: "#[payload.kind == \"down\"]"
            steps:
              - raise_error: { type: "APP:DOWN", description: "the partner is down for #[payload.order]" }
          - otherwise:
              - raise_error: { type: "APP:REFUSED", description: "the partner refused #[payload.order]" }
"##;

/// The fields of a dead letter, as the admin port and `relais dlq show` both name them.
const FIELDS: [&str; 18] = [
    "attempts",
    "attributes",
    "correlation_id",
    "error_description",
    "error_type",
    "first_failure",
    "flow",
    "id",
    "last_failure",
    "location",
    "media_type",
    "media_type_at_failure",
    "payload",
    "payload_at_failure",
    "queue",
    "step",
    "sub_flow",
    "trace_id",
];

fn keys(letter: &Value) -> Vec<String> {
    let mut keys: Vec<String> = letter.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

async fn letters(admin: std::net::SocketAddr, query: &str) -> Vec<Value> {
    let (status, _, body) = request(admin, "GET", &format!("/dead-letters{query}"), &[], b"").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn replayed(api: std::net::SocketAddr, id: &str) -> bool {
    let (_, _, body) = request(api, "GET", &format!("/results/{id}"), &[], b"").await;
    body.contains(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_s_dead_letter_replays_the_message_it_received_and_the_admin_port_replays_by_flow_and_error_type() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = relais_engine::daemon::start_with_admin_access(
        relais_engine::components::registry(),
        relais_engine::runtime::Runtime::new(program),
        Some("127.0.0.1:0".parse().unwrap()),
        relais_engine::daemon::AdminAccess::insecure_loopback(),
    )
    .await
    .unwrap();
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    for (id, kind) in [("A1", "down"), ("A2", "down"), ("B1", "refused")] {
        let body = json!({ "id": id, "kind": kind }).to_string();
        let (status, ..) =
            request(api, "POST", "/orders", &[("content-type", "application/json")], body.as_bytes()).await;
        assert_eq!(status, 202);
    }
    let all = letters(admin, "").await;
    assert_eq!(all.len(), 3, "{all:?}");
    let first = &all[0];
    assert_eq!(keys(first), FIELDS, "{first}");
    assert_eq!(first["flow"], "intake", "filed under the flow that received the message: {first}");
    assert_eq!(first["sub_flow"], "push", "{first}");
    assert_eq!(first["step"], "raise_error", "{first}");
    assert!(first["location"].as_str().unwrap().contains("flows.yaml:"), "{first}");
    assert_eq!((first["error_type"].as_str(), first["queue"].as_str()), (Some("APP:DOWN"), Some("retry")));
    let original: Value = serde_json::from_str(first["payload"].as_str().unwrap()).unwrap();
    assert_eq!(original, json!({ "id": "A1", "kind": "down" }), "the message as received: {first}");
    let at_failure: Value = serde_json::from_str(first["payload_at_failure"].as_str().unwrap()).unwrap();
    assert_eq!(at_failure, json!({ "order": "A1", "kind": "down", "step": 2 }), "{first}");
    assert_eq!(letters(admin, "?flow=intake&error_type=APP%3ADOWN").await.len(), 2);
    assert!(letters(admin, "?flow=redo").await.is_empty());

    // A misspelt condition never widens a bulk replay to everything.
    let (status, _, body) = request(admin, "POST", "/dead-letters/replay?error=APP:DOWN", &[], b"").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`error`"), "{body}");
    assert_eq!(letters(admin, "").await.len(), 3);

    // The partner is down for the A orders: replay those. Each replay runs the message the flow received
    // (`id`, which only the original holds) through the queue's consumer.
    let (status, _, body) =
        request(admin, "POST", "/dead-letters/replay?flow=intake&error_type=APP:DOWN", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["replayed"].as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(answer["replayed"][0]["queue"], "retry", "{answer}");
    for id in ["A1", "A2"] {
        support::eventually(&format!("{id} is processed again from its original message"), || replayed(api, id)).await;
    }
    assert!(!replayed(api, "B1").await, "B1 was not chosen");
    let left = letters(admin, "").await;
    assert_eq!((left.len(), left[0]["error_type"].as_str()), (1, Some("APP:REFUSED")), "{left:?}");

    // Everything left.
    let (status, _, body) = request(admin, "POST", "/dead-letters/replay", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    support::eventually("B1 is processed again", || replayed(api, "B1")).await;
    assert!(letters(admin, "").await.is_empty());
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

fn seed(store: &relais_store::RedbStore, flow: &str, id: &str, error_type: &str) {
    let now = relais_engine::runtime::state::now();
    let message = relais_store::Message {
        payload: json!({ "id": id }).to_string().into_bytes(),
        media_type: "application/json".into(),
        attributes: json!({}),
        correlation_id: format!("corr-{id}"),
        trace: None,
    };
    let failure = relais_store::Failure {
        flow: flow.to_string(),
        sub_flow: Some("push".into()),
        step: Some("raise_error".into()),
        location: Some("flows.yaml:40:17".into()),
        error_type: error_type.into(),
        error_description: "the partner failed".into(),
    };
    let mut letter = relais_store::DeadLetter::new(message, &failure, 1, now, now);
    letter.queue = Some("retry".into());
    letter.payload_at_failure = Some(json!({ "order": id, "step": 2 }).to_string().into_bytes());
    letter.media_type_at_failure = Some("application/json".into());
    relais_store::StateStore::dead_letter(store, &letter).unwrap();
}

#[test]
fn relais_dlq_replays_in_bulk_by_flow_and_error_type_and_shows_the_fields_the_admin_port_shows() {
    let dir = support::write_files(&[("flows/flows.yaml", FLOWS)]);
    let state_dir = dir.join("state");
    {
        let store = relais_store::RedbStore::open(&state_dir).unwrap();
        seed(&store, "intake", "A1", "APP:DOWN");
        seed(&store, "intake", "B1", "APP:REFUSED");
        seed(&store, "other", "C1", "APP:DOWN");
        seed(&store, "intake", "A2", "APP:DOWN");
        store.close().unwrap();
    }
    let (state, flows) = (state_dir.to_str().unwrap().to_string(), dir.join("flows").to_str().unwrap().to_string());
    let dlq = |args: &[&str]| {
        let mut out = Vec::new();
        let mut all = vec!["relais", "dlq"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--state", &state, "--flows", &flows]);
        let outcome = relais_engine::cli::run(all, &mut out);
        (outcome, String::from_utf8_lossy(&out).to_string())
    };
    let (_, text) = dlq(&["list", "--error-type", "APP:DOWN"]);
    assert!(text.ends_with("3 dead letter(s)\n"), "{text}");
    let (_, text) = dlq(&["show", "1"]);
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys(&shown), FIELDS, "the admin port's fields, under its names: {shown}");
    assert_eq!((shown["flow"].as_str(), shown["sub_flow"].as_str()), (Some("intake"), Some("push")));

    let (outcome, text) = dlq(&["replay", "--all", "--flow", "intake", "--error-type", "APP:DOWN"]);
    assert_eq!(outcome, relais_engine::cli::Outcome::Success, "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("1\treplayed into queue `retry`") && text.contains("4\treplayed into queue `retry`"),
        "{text}"
    );
    let (_, text) = dlq(&["list"]);
    assert!(text.ends_with("2 dead letter(s)\n") && text.contains("APP:REFUSED") && text.contains("other"), "{text}");

    let store = relais_store::RedbStore::open(&state_dir).unwrap();
    let now = relais_engine::runtime::state::now();
    let mut queued = Vec::new();
    while let Some(leased) =
        relais_store::StateStore::lease(&store, "retry", std::time::Duration::from_secs(30), now).unwrap()
    {
        queued.push(String::from_utf8(leased.message.payload).unwrap());
    }
    assert_eq!(queued, [r#"{"id":"A1"}"#, r#"{"id":"A2"}"#], "the original messages, oldest first");
}

const PERMANENT: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  intake:
    source: { http.listener: { config: api, method: POST, path: /items, response: { status: 202 } } }
    steps:
      - queue.publish: { queue: in_memory }
      - queue.publish: { queue: on_disk, persistent: true }
  from_memory:
    source: { queue.listener: { queue: in_memory, max_deliveries: 5, redelivery_delay: 10ms } }
    steps:
      - raise_error: { type: "CONTRACT:VIOLATION", description: "the body breaks its contract" }
  from_disk:
    source: { queue.listener: { queue: on_disk, persistent: true, max_deliveries: 5, redelivery_delay: 10ms } }
    steps:
      - raise_error: { type: "CONTRACT:VIOLATION", description: "the body breaks its contract" }
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_is_dead_lettered_at_its_first_delivery_from_a_queue_in_memory_or_persistent() {
    let dir = support::write_files(&[("flows.yaml", PERMANENT)]);
    let (daemon, api) = support::daemon(&dir).await;
    let (status, ..) = request(api, "POST", "/items", &[("content-type", "application/json")], b"{\"id\":1}").await;
    assert_eq!(status, 202);
    let state = daemon.state();
    support::eventually("both messages are dead-lettered", || {
        let state = state.clone();
        async move { state.dead_letters().len() >= 2 }
    })
    .await;
    let mut letters = state.dead_letters();
    letters.sort_by(|a, b| a.flow.cmp(&b.flow));
    let seen: Vec<(&str, &str, u32)> =
        letters.iter().map(|l| (l.flow.as_str(), l.error_type.as_str(), l.attempts)).collect();
    assert_eq!(
        seen,
        [("from_disk", "CONTRACT:VIOLATION", 1), ("from_memory", "CONTRACT:VIOLATION", 1)],
        "five deliveries allowed, one made"
    );
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}
