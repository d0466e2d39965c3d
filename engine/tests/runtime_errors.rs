//! Error handling as in Mule 4: typed errors and their hierarchy, `continue` / `propagate`, `try`,
//! `until_successful`, routers reporting failed routes, and runaway scripts stopped while others flow.

mod support;

use relais_engine::runtime::Event;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{payload, yaml};

#[tokio::test]
async fn a_continue_handler_completes_the_flow_with_its_own_result() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - raise_error: { type: CRM:CONFLICT, description: "contact #[payload.id] exists" }
    on_error:
      - continue:
          types: CRM:CONFLICT
          steps:
            - set_payload: "#[#{ handled: error.type, why: error.description, step: error.step }]"
"##,
    );
    let out = rt.run_flow("f", Event::new(json!({ "id": 9 }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "handled": "CRM:CONFLICT", "why": "contact 9 exists", "step": "raise_error" }));
    assert!(out.error.is_none());
}

#[tokio::test]
async fn a_propagate_handler_runs_then_rethrows_with_the_failing_place() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - id: check_order
        raise_error: APP:INVALID
    on_error:
      - propagate:
          steps:
            - set_variable: { name: logged, value: true }
"##,
    );
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "APP:INVALID");
    assert_eq!(err.flow, "f");
    assert_eq!(err.step.as_deref(), Some("check_order"));
    assert!(err.location.as_deref().is_some_and(|l| l.ends_with("flows.yaml:5:9")), "{:?}", err.location);
}

#[tokio::test]
async fn handlers_match_by_type_hierarchy_and_by_condition_in_order() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - choice:
          - when: "#[payload.kind == \"nf\"]"
            steps: [ { raise_error: HTTP:NOT_FOUND } ]
          - otherwise: [ { raise_error: APP:OTHER } ]
    on_error:
      - continue:
          types: HTTP:CLIENT_ERROR
          when: "#[payload.urgent]"
          steps: [ { set_payload: urgent client error } ]
      - continue:
          types: [HTTP:CLIENT_ERROR]
          steps: [ { set_payload: client error } ]
      - continue:
          types: ANY
          steps: [ { set_payload: anything else } ]
"##,
    );
    let run = |kind: &str, urgent: bool| {
        let rt = rt.clone();
        let ev = Event::new(json!({ "kind": kind, "urgent": urgent }));
        async move { payload(&rt.run_flow("f", ev).await.unwrap()) }
    };
    assert_eq!(run("nf", true).await, json!("urgent client error"));
    assert_eq!(run("nf", false).await, json!("client error"));
    assert_eq!(run("other", true).await, json!("anything else"));
}

#[tokio::test]
async fn on_error_continue_inside_try_lets_the_flow_go_on() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - try:
          steps:
            - raise_error: SMS:RATE_LIMITED
            - set_payload: never
          on_error:
            - continue:
                types: SMS:RATE_LIMITED
                steps: [ { set_variable: { name: deferred, value: true } } ]
      - set_payload: "#[`after try, deferred=${vars.deferred}`]"
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert_eq!(payload(&out), json!("after try, deferred=true"));
}

#[tokio::test]
async fn an_unmatched_try_error_reaches_the_flow_handler() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - try:
          steps: [ { raise_error: CRM:DOWN } ]
          on_error:
            - continue: { types: SMS:ANY }
    on_error:
      - continue:
          steps: [ { set_payload: "#[error.type]" } ]
"##,
    );
    assert_eq!(payload(&rt.run_flow("f", Event::new(json!(null))).await.unwrap()), json!("CRM:DOWN"));
}

#[tokio::test]
async fn until_successful_restarts_each_attempt_from_the_original_event() {
    let rt = yaml(
        r##"
configs:
  attempts: { object_store: {} }
flows:
  f:
    steps:
      - object_store.put: { config: attempts, key: n, value: 0 }
      - until_successful:
          max_retries: 4
          backoff: { initial: 1ms, max: 2ms }
          steps:
            - object_store.get: { config: attempts, key: n, target: n }
            - object_store.put: { config: attempts, key: n, value: "#[vars.n + 1]" }
            - set_payload: "#[payload + \"!\"]"
            - set_variable: { name: mutated, value: true }
            - choice:
                - when: "#[vars.n < 2]"
                  steps: [ { raise_error: CRM:UNAVAILABLE } ]
"##,
    );
    let out = rt.run_flow("f", Event::new(json!("hello"))).await.unwrap();
    assert_eq!(payload(&out), json!("hello!"), "the successful attempt started from the original payload");
    assert_eq!(out.vars["n"], json!(2), "third attempt succeeded");
}

#[tokio::test]
async fn until_successful_gives_up_with_retry_exhausted_and_the_last_error_as_cause() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - until_successful:
          max_retries: 2
          backoff: { initial: 1ms, max: 1ms }
          steps: [ { raise_error: { type: CRM:UNAVAILABLE, description: down } } ]
"##,
    );
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "RETRY:EXHAUSTED");
    assert!(err.description.contains("3 attempt"), "{}", err.description);
    assert_eq!(err.cause.as_ref().map(|c| c.error_type.to_string()).as_deref(), Some("CRM:UNAVAILABLE"));
}

#[tokio::test]
async fn scatter_gather_reports_which_routes_failed() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - scatter_gather:
          routes:
            - - set_payload: ok
            - - raise_error: CRM:DOWN
            - - raise_error: SMS:DOWN
"##,
    );
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "ROUTING:COMPOSITE");
    assert!(err.description.contains("2 (CRM:DOWN), 3 (SMS:DOWN)"), "{}", err.description);
    let failed: Vec<usize> = err.children.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, vec![1, 2]);
}

#[tokio::test]
async fn parallel_foreach_times_out_with_a_typed_error() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - parallel_foreach:
          timeout: 50ms
          steps:
            - until_successful:
                max_retries: 100
                backoff: { initial: 100ms, max: 100ms, jitter: false }
                steps: [ { raise_error: SLOW:NEVER } ]
"##,
    );
    let err = rt.run_flow("f", Event::new(json!([1, 2]))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "ROUTING:TIMEOUT");
}

#[tokio::test]
async fn script_runtime_errors_are_typed_expression_errors() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - transform: { code: \"payload.missing.deeper\" }\n");
    let err = rt.run_flow("f", Event::new(json!(1))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "EXPRESSION:RUNTIME");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_script_is_stopped_while_other_events_keep_flowing() {
    let rt = yaml(
        r##"
flows:
  runaway:
    steps:
      - transform: { code: "loop { }" }
  bomb:
    steps:
      - transform: { code: "let s = \"x\"; loop { s += s; }" }
  normal:
    steps:
      - set_payload: "#[payload + 1]"
"##,
    );
    let started = Instant::now();
    let (a, b, normal) = tokio::join!(
        rt.run_flow("runaway", Event::new(json!(null))),
        rt.run_flow("bomb", Event::new(json!(null))),
        async {
            let mut last = json!(0);
            for i in 0..50 {
                last = payload(&rt.run_flow("normal", Event::new(json!(i))).await.unwrap());
            }
            last
        }
    );
    assert_eq!(a.unwrap_err().error_type.to_string(), "EXPRESSION:LIMIT");
    assert_eq!(b.unwrap_err().error_type.to_string(), "EXPRESSION:LIMIT");
    assert_eq!(normal, json!(50));
    assert!(started.elapsed() < Duration::from_secs(30), "limits must stop scripts, not a test timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_bounds_events_in_flight() {
    // Each event marks itself in flight, waits for a retry (an await point), then unmarks; a second event
    // in flight at the same time would find the mark and fail with IDEMPOTENCY:DUPLICATE.
    let rt = yaml(
        r##"
configs:
  gauge: { object_store: {} }
  tries: { object_store: {} }
flows:
  f:
    max_concurrency: 1
    steps:
      - idempotent: { key: "#[\"in-flight\"]", store: gauge, ttl: 1h }
      - until_successful:
          max_retries: 1
          backoff: { initial: 5ms, max: 5ms, jitter: false }
          steps:
            - object_store.get: { config: tries, key: "#[correlation_id]", default: "0", target: t }
            - object_store.put: { config: tries, key: "#[correlation_id]", value: "1" }
            - choice:
                - when: "#[vars.t == \"0\"]"
                  steps: [ { raise_error: TEST:WAIT } ]
      - object_store.remove: { config: gauge, key: in-flight }
"##,
    );
    let runs = (0..10).map(|_| rt.run_flow("f", Event::new(json!(null))));
    for r in futures_util::future::join_all(runs).await {
        assert!(r.is_ok(), "two events were in flight at once: {r:?}");
    }
}
