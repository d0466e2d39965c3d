//! Scripts at run time: heavy mappings leave the async workers to other events, the clock can be fixed,
//! lookup tables next to the flows are loaded, and a mapping's result is what the next script reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::runtime::Event;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{payload, runtime, yaml};

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_runaway_mapping_does_not_hold_the_only_worker_while_another_event_flows() {
    // One worker thread: if the runaway script ran in place, the normal event could not even start until the
    // operation limit stopped it. Off the worker, the normal event finishes while the runaway still runs.
    let rt = yaml(
        r##"
flows:
  runaway:
    steps:
      - transform: { code: "let n = 0; loop { n += 1; }" }
  normal:
    steps:
      - set_payload: "#[payload + 1]"
"##,
    );
    let (a, b) = (rt.clone(), rt.clone());
    let runaway = tokio::spawn(async move {
        let r = a.run_flow("runaway", Event::new(json!(null))).await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let normal = tokio::spawn(async move {
        let r = b.run_flow("normal", Event::new(json!(1))).await;
        (r, Instant::now())
    });
    let (normal_result, normal_done) = normal.await.unwrap();
    let (runaway_result, runaway_done) = runaway.await.unwrap();
    assert_eq!(payload(&normal_result.unwrap()), json!(2));
    assert_eq!(runaway_result.unwrap_err().error_type.to_string(), "EXPRESSION:LIMIT");
    assert!(normal_done < runaway_done, "the normal event waited for the runaway script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_script_past_the_in_place_budget_runs_again_from_the_event_as_it_was() {
    // 30,000 loop turns pass the in-place budget: the first run is stopped after its `payload.n += 1` and the
    // script runs again off the worker from the event's payload, not from the first run's half-done scope.
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - transform: { code: "payload.n += 1; let i = 0; while i < 30000 { i += 1; } payload.turns = i; payload" }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!({ "n": 1 }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "n": 2, "turns": 30000 }));
}

#[tokio::test]
async fn scripts_run_in_place_on_a_current_thread_runtime() {
    let rt =
        yaml("flows:\n  f:\n    steps:\n      - transform: { code: \"let t = 0; for i in 0..10 { t += i; } t\" }\n");
    assert_eq!(payload(&rt.run_flow("f", Event::new(json!(null))).await.unwrap()), json!(45));
}

#[tokio::test]
async fn a_fixed_now_is_what_scripts_read() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - set_payload: \"#[now()]\"\n");
    let at = chrono::DateTime::parse_from_rfc3339("2024-07-26T19:30:00Z").unwrap().to_utc();
    rt.set_now(Some(at));
    let text = payload(&rt.run_flow("f", Event::new(json!(null))).await.unwrap());
    assert!(text.as_str().unwrap().starts_with("2024-07-26T19:30:00"), "{text}");
    rt.set_now(None);
    let text = payload(&rt.run_flow("f", Event::new(json!(null))).await.unwrap());
    assert!(!text.as_str().unwrap().starts_with("2024-07-26"), "{text}");
}

#[tokio::test]
async fn csv_tables_in_a_data_folder_next_to_the_flows_are_lookup_tables() {
    let rt = runtime(&[
        ("accreditation/access.yaml", "flows:\n  f:\n    steps:\n      - set_payload: \"#[lookup(\\\"levels\\\", payload).min_level]\"\n"),
        ("data/levels.csv", "category,min_level\nathlete,1\nmedia,3\n"),
        ("ticketing/other.yaml", "flows:\n  g:\n    steps:\n      - set_payload: \"#[lookup_all(\\\"levels\\\", \\\"min_level\\\", \\\"3\\\").len()]\"\n"),
    ]);
    assert_eq!(payload(&rt.run_flow("f", Event::new(json!("media"))).await.unwrap()), json!("3"));
    assert_eq!(payload(&rt.run_flow("g", Event::new(json!(null))).await.unwrap()), json!(1));
}

#[tokio::test]
async fn a_mappings_result_is_what_the_next_scripts_read() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - transform: { code: "#{ contact: #{ id: payload.id, tags: [\"a\", \"b\"] }, n: 1.5 }" }
      - set_variable: { name: first_tag, value: "#[payload.contact.tags[0]]" }
      - transform: { code: "payload.contact.tags.push(vars.first_tag); payload" }
      - set_variable: { name: tags, value: "#[payload.contact.tags]" }
      - transform: { code: "payload" }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!({ "id": 7 }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "contact": { "id": 7, "tags": ["a", "b", "a"] }, "n": 1.5 }));
    assert_eq!(out.vars["tags"], json!(["a", "b", "a"]));
}

#[tokio::test]
async fn closed_resolves_once_the_runtime_is_closed() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - set_payload: 1\n");
    let waiter = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.closed().await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!waiter.is_finished());
    rt.close();
    tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap();
    assert!(rt.is_closing());
}
