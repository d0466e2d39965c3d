//! Mule 4 corner cases the other runtime tests leave out: what every router and scope does when all goes
//! wrong, how errors look to handler scripts, and what leaks (or must not leak) between scopes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::runtime::Event;
use serde_json::json;
use std::time::Duration;
use support::{payload, yaml};

#[tokio::test]
async fn first_successful_fails_with_a_composite_error_when_every_route_fails() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - first_successful:
          routes:
            - - raise_error: CRM:DOWN
            - - raise_error: BACKUP:DOWN
"##,
    );
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "ROUTING:COMPOSITE");
    let failed: Vec<String> = err.children.iter().map(|(_, e)| e.error_type.to_string()).collect();
    assert_eq!(failed, vec!["CRM:DOWN", "BACKUP:DOWN"]);
}

#[tokio::test]
async fn a_scatter_gather_route_that_overruns_its_timeout_fails_with_a_typed_timeout() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - scatter_gather:
          timeout: 20ms
          routes:
            - - set_payload: fast
            - - until_successful:
                  max_retries: 3
                  backoff: { initial: 1s, max: 1s, jitter: false }
                  steps: [ { raise_error: CRM:DOWN } ]
"##,
    );
    let err = tokio::time::timeout(Duration::from_secs(5), rt.run_flow("f", Event::new(json!(null))))
        .await
        .expect("the route timeout must stop the slow route")
        .unwrap_err();
    assert_eq!(err.error_type.to_string(), "ROUTING:COMPOSITE");
    let children: Vec<(usize, String)> = err.children.iter().map(|(i, e)| (*i, e.error_type.to_string())).collect();
    assert_eq!(children, vec![(1, "ROUTING:TIMEOUT".to_string())]);
}

#[tokio::test]
async fn handler_scripts_see_the_error_as_a_map_with_its_cause() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - until_successful:
          max_retries: 1
          backoff: { initial: 1ms, max: 1ms }
          steps:
            - id: call_crm
              raise_error: { type: CRM:UNAVAILABLE, description: "crm down" }
    on_error:
      - continue:
          types: RETRY:EXHAUSTED
          steps:
            - set_payload: >-
                #[#{ ns: error.namespace, name: error.name, flow: error.flow,
                     cause: error.cause.type, cause_step: error.cause.step, why: error.cause.description,
                     at: error.location != () }]
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert_eq!(
        payload(&out),
        json!({
            "ns": "RETRY", "name": "EXHAUSTED", "flow": "f",
            "cause": "CRM:UNAVAILABLE", "cause_step": "call_crm", "why": "crm down", "at": true
        })
    );
}

#[tokio::test]
async fn an_error_inside_a_handler_replaces_the_one_being_handled() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - raise_error: CRM:DOWN
    on_error:
      - continue:
          steps:
            - raise_error: { type: APP:HANDLER_FAILED, description: "while handling #[error.type]" }
"##,
    );
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "APP:HANDLER_FAILED");
    assert_eq!(err.description, "while handling CRM:DOWN");
}

#[tokio::test]
async fn a_propagating_inner_try_is_caught_by_the_outer_try_and_the_flow_goes_on() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - try:
          steps:
            - try:
                steps:
                  - raise_error: APP:INNER
                on_error:
                  - propagate:
                      steps: [ { set_variable: { name: inner_saw, value: "#[error.type]" } } ]
          on_error:
            - continue:
                types: APP:ANY
                steps: [ { set_payload: recovered } ]
      - set_variable: { name: after, value: true }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert_eq!(payload(&out), json!("recovered"));
    assert_eq!(out.vars["inner_saw"], json!("APP:INNER"));
    assert_eq!(out.vars["after"], json!(true));
}

#[tokio::test]
async fn a_sub_flow_error_is_handled_by_the_callers_try() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - try:
          steps:
            - flow_ref: enrich
          on_error:
            - continue:
                types: ENRICH:FAILED
                steps: [ { set_payload: "#[\"caught \" + error.flow]" } ]
sub_flows:
  enrich:
    steps:
      - raise_error: ENRICH:FAILED
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert_eq!(payload(&out), json!("caught enrich"), "the error names the sub-flow it was raised in");
}

#[tokio::test]
async fn an_error_inside_foreach_stops_the_iteration_at_that_element() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - foreach:
          steps:
            - set_variable: { name: last, value: "#[payload]" }
            - choice:
                - when: "#[payload == 2]"
                  steps: [ { raise_error: APP:BAD_ITEM } ]
    on_error:
      - continue:
          steps: [ { set_payload: "#[vars.last]" } ]
"##,
    );
    let out = rt.run_flow("f", Event::new(json!([1, 2, 3]))).await.unwrap();
    assert_eq!(payload(&out), json!(2), "the third element never ran");
}

#[tokio::test]
async fn a_choice_without_a_matching_branch_or_otherwise_leaves_the_event_alone() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - choice:
          - when: "#[payload > 10]"
            steps: [ { set_payload: big } ]
"##,
    );
    assert_eq!(payload(&rt.run_flow("f", Event::new(json!(3))).await.unwrap()), json!(3));
}

#[tokio::test]
async fn changes_made_inside_async_do_not_reach_the_callers_event() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - async:
          steps:
            - set_payload: changed
            - set_variable: { name: leaked, value: true }
      - set_variable: { name: after, value: true }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!("original"))).await.unwrap();
    // Once the async scope has run, it has still changed nothing of the caller's event.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rt.async_running() > 0 {
        assert!(std::time::Instant::now() < deadline, "the async scope did not end within 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(payload(&out), json!("original"));
    assert!(!out.vars.contains_key("leaked"));
    assert_eq!(rt.async_errors(), 0);
}

#[tokio::test]
async fn an_idempotency_key_is_accepted_again_once_its_ttl_expires() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - idempotent: { key: "#[payload.id]", ttl: 30ms }
"##,
    );
    assert!(rt.run_flow("f", Event::new(json!({ "id": 1 }))).await.is_ok());
    let dup = rt.run_flow("f", Event::new(json!({ "id": 1 }))).await.unwrap_err();
    assert_eq!(dup.error_type.to_string(), "IDEMPOTENCY:DUPLICATE");
    // Accepted again once the 30 ms have passed: retried until then (up to 30 s), never waited for blindly.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match rt.run_flow("f", Event::new(json!({ "id": 1 }))).await {
            Ok(_) => break,
            Err(e) => assert_eq!(e.error_type.to_string(), "IDEMPOTENCY:DUPLICATE", "{}", e.description),
        }
        assert!(std::time::Instant::now() < deadline, "the key was still a duplicate 30 s after its 30 ms TTL");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn raise_error_without_a_description_names_its_type_and_app_any_catches_it() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - raise_error: APP:OUT_OF_STOCK
    on_error:
      - continue:
          types: [ HTTP:ANY ]
          steps: [ { set_payload: wrong handler } ]
      - continue:
          types: [ APP:ANY ]
          steps: [ { set_payload: "#[error.description]" } ]
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert!(payload(&out).as_str().is_some_and(|s| s.contains("APP:OUT_OF_STOCK")), "{:?}", payload(&out));
}

#[tokio::test]
async fn an_unknown_flow_name_is_a_typed_error_not_a_panic() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - set_payload: x\n");
    let err = rt.run_flow("nope", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "FLOW:NOT_FOUND");
}
