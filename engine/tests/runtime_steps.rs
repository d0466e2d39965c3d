//! Every step kind, run through the real pipeline (files, check, plan, executor).

mod support;

use relais_engine::runtime::Event;
use serde_json::json;
use support::{payload, yaml};

#[tokio::test]
async fn set_payload_set_variable_and_remove_variable_shape_the_event() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - set_variable: { name: total, value: "#[payload.a + payload.b]" }
      - set_variable: { name: scratch, value: 1 }
      - remove_variable: scratch
      - set_payload: "#[#{ sum: vars.total, label: `total ${vars.total}` }]"
"##,
    );
    let out = rt.run_flow("f", Event::new(json!({ "a": 2, "b": 3 }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "sum": 5, "label": "total 5" }));
    assert_eq!(out.vars.get("total"), Some(&json!(5)));
    assert!(!out.vars.contains_key("scratch"));
}

#[tokio::test]
async fn templates_yield_text_and_literals_keep_their_type() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - set_variable: { name: n, value: 42 }
      - set_payload: "order #[payload.id] has #[vars.n] items"
"##,
    );
    let out = rt.run_flow("f", Event::new(json!({ "id": "A1" }))).await.unwrap();
    assert_eq!(payload(&out), json!("order A1 has 42 items"));
    assert_eq!(out.payload.media_type(), "text/plain");
}

#[tokio::test]
async fn transform_runs_a_script_file_and_its_result_becomes_the_payload() {
    let rt = support::runtime(&[
        ("f.yaml", "flows:\n  f:\n    steps:\n      - transform: { script: m.rhai }\n"),
        ("m.rhai", "#{ name: upper(payload.name), phone: to_e164(payload.phone, \"FR\") }"),
    ]);
    let out = rt.run_flow("f", Event::new(json!({ "name": "léon", "phone": "06 12 34 56 78" }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "name": "LÉON", "phone": "+33612345678" }));
}

#[tokio::test]
async fn choice_runs_the_first_matching_branch_or_otherwise() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - choice:
          - when: "#[payload.level >= 3]"
            steps: [ { set_payload: high } ]
          - when: "#[payload.level >= 1]"
            steps: [ { set_payload: low } ]
          - otherwise: [ { set_payload: none } ]
"##,
    );
    for (level, expected) in [(4, "high"), (1, "low"), (0, "none")] {
        let out = rt.run_flow("f", Event::new(json!({ "level": level }))).await.unwrap();
        assert_eq!(payload(&out), json!(expected));
    }
}

#[tokio::test]
async fn foreach_keeps_the_original_payload_and_vars_set_inside_stay_visible() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - set_variable: { name: sum, value: 0 }
      - foreach:
          collection: "#[payload.tickets]"
          steps:
            - set_variable: { name: sum, value: "#[vars.sum + payload.price]" }
            - set_variable: { name: last_index, value: "#[vars.counter]" }
            - set_variable: { name: order_seen, value: "#[vars.root_message.order_id]" }
"##,
    );
    let input = json!({ "order_id": "O1", "tickets": [ { "price": 10 }, { "price": 25 } ] });
    let out = rt.run_flow("f", Event::new(input.clone())).await.unwrap();
    assert_eq!(payload(&out), input, "foreach restores the payload it started with");
    assert_eq!(out.vars["sum"], json!(35));
    assert_eq!(out.vars["last_index"], json!(2));
    assert_eq!(out.vars["order_seen"], json!("O1"));
    assert!(!out.vars.contains_key("counter") && !out.vars.contains_key("root_message"));
}

#[tokio::test]
async fn foreach_batches_group_elements() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - set_variable: { name: sizes, value: "#[[]]" }
      - foreach:
          batch_size: 2
          steps:
            - set_variable: { name: sizes, value: "#[vars.sizes + [payload.len()]]" }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!([1, 2, 3, 4, 5]))).await.unwrap();
    assert_eq!(out.vars["sizes"], json!([2, 2, 1]));
}

#[tokio::test]
async fn parallel_foreach_collects_results_in_input_order() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - parallel_foreach:
          max_concurrency: 2
          steps:
            - set_payload: "#[payload * 10]"
"##,
    );
    let out = rt.run_flow("f", Event::new(json!([1, 2, 3, 4]))).await.unwrap();
    assert_eq!(payload(&out), json!([10, 20, 30, 40]));
}

#[tokio::test]
async fn scatter_gather_collects_every_route_and_merges_their_vars() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - scatter_gather:
          routes:
            - - set_variable: { name: a, value: 1 }
              - set_payload: crm
            - - set_variable: { name: b, value: 2 }
              - set_payload: sms
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert_eq!(payload(&out), json!(["crm", "sms"]));
    assert_eq!((out.vars["a"].clone(), out.vars["b"].clone()), (json!(1), json!(2)));
}

#[tokio::test]
async fn first_successful_returns_the_first_route_that_works() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - first_successful:
          routes:
            - - raise_error: CRM:DOWN
            - - set_payload: backup
            - - set_payload: never
"##,
    );
    assert_eq!(payload(&rt.run_flow("f", Event::new(json!(null))).await.unwrap()), json!("backup"));
}

#[tokio::test]
async fn flow_ref_calls_sub_flows_on_the_same_event_and_target_keeps_the_payload() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - flow_ref: { name: lookup, target: session }
      - flow_ref: mark
sub_flows:
  lookup:
    steps:
      - set_payload: "#[#{ id: payload.session_id, sport: \"swimming\" }]"
  mark:
    steps:
      - set_variable: { name: marked, value: true }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!({ "session_id": "S1" }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "session_id": "S1" }));
    assert_eq!(out.vars["session"], json!({ "id": "S1", "sport": "swimming" }));
    assert_eq!(out.vars["marked"], json!(true));
}

#[tokio::test]
async fn validate_reports_the_json_path_of_the_offending_value() {
    let rt = support::runtime(&[
        ("f.yaml", "flows:\n  f:\n    steps:\n      - validate: order.schema.json\n"),
        (
            "order.schema.json",
            r#"{ "type": "object", "required": ["order_id"], "properties": { "buyer": { "type": "object", "properties": { "email": { "type": "string" } } } } }"#,
        ),
    ]);
    assert!(rt.run_flow("f", Event::new(json!({ "order_id": "1" }))).await.is_ok());
    let err = rt.run_flow("f", Event::new(json!({ "order_id": "1", "buyer": { "email": 12 } }))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "VALIDATION:INVALID");
    assert!(err.description.contains("/buyer/email"), "{}", err.description);
}

#[tokio::test]
async fn validate_reports_every_problem_and_the_formats_of_the_schemas_draft() {
    let schema = r#"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "email": { "type": "string", "format": "email" },
            "day": { "type": "string", "format": "date" },
            "at": { "type": "string", "format": "date-time" },
            "site": { "type": "string", "format": "uri" },
            "tickets": { "type": "array", "items": { "type": "integer" } }
        }
    }"#;
    let rt = support::runtime(&[
        ("f.yaml", "flows:\n  f:\n    steps:\n      - validate: order.schema.json\n"),
        ("order.schema.json", schema),
    ]);
    let good = json!({ "email": "a@b.fr", "day": "2024-07-26", "at": "2024-07-26T09:00:00+02:00", "site": "https://x.fr/", "tickets": [1] });
    assert!(rt.run_flow("f", Event::new(good)).await.is_ok());
    let bad = json!({
        "email": "not-an-email", "day": "26/07/2024", "at": "tomorrow", "site": "no scheme",
        "tickets": ["a", "b", "c"]
    });
    let err = rt.run_flow("f", Event::new(bad)).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "VALIDATION:INVALID");
    // Seven problems, each named: four formats and three items (the old limit was five).
    for at in ["`/email`", "`/day`", "`/at`", "`/site`", "`/tickets/0`", "`/tickets/1`", "`/tickets/2`"] {
        assert!(err.description.contains(at), "{at} missing from: {}", err.description);
    }
    let many: Vec<String> = (0..25).map(|i| format!("x{i}")).collect();
    let err = rt.run_flow("f", Event::new(json!({ "tickets": many }))).await.unwrap_err();
    assert!(err.description.contains("`/tickets/19`"), "{}", err.description);
    assert!(err.description.ends_with(" (and 5 more problems)"), "{}", err.description);
}

#[tokio::test]
async fn idempotent_lets_a_key_through_once() {
    let rt = yaml(
        r##"
configs:
  seen: { object_store: { ttl: 1h } }
flows:
  f:
    steps:
      - idempotent: { key: "#[payload.order_id]", store: seen }
      - set_payload: processed
"##,
    );
    assert!(rt.run_flow("f", Event::new(json!({ "order_id": "O1" }))).await.is_ok());
    let err = rt.run_flow("f", Event::new(json!({ "order_id": "O1" }))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "IDEMPOTENCY:DUPLICATE");
    assert!(rt.run_flow("f", Event::new(json!({ "order_id": "O2" }))).await.is_ok());
}

#[tokio::test]
async fn object_store_steps_put_get_and_remove_by_templated_key() {
    let rt = yaml(
        r##"
configs:
  cache: { object_store: {} }
flows:
  put:
    steps:
      - object_store.put: { config: cache, key: "session-#[payload.id]" }
  get:
    steps:
      - object_store.get: { config: cache, key: "session-#[payload.id]", target: found }
  remove:
    steps:
      - object_store.remove: { config: cache, key: "session-#[payload.id]" }
"##,
    );
    rt.run_flow("put", Event::new(json!({ "id": 7, "sport": "judo" }))).await.unwrap();
    let out = rt.run_flow("get", Event::new(json!({ "id": 7 }))).await.unwrap();
    assert_eq!(out.vars["found"], json!({ "id": 7, "sport": "judo" }));
    rt.run_flow("remove", Event::new(json!({ "id": 7 }))).await.unwrap();
    let err = rt.run_flow("get", Event::new(json!({ "id": 7 }))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "OBJECT_STORE:KEY_NOT_FOUND");
}

#[tokio::test]
async fn object_store_put_keeps_the_type_of_numbers_expressions_maps_and_lists() {
    let rt = yaml(
        r##"
configs:
  cache: { object_store: {} }
flows:
  put:
    steps:
      - object_store.put: { config: cache, key: number, value: 5 }
      - object_store.put: { config: cache, key: sum, value: "#[41 + 1]" }
      - object_store.put: { config: cache, key: text, value: "n=#[41 + 1]" }
      - object_store.put: { config: cache, key: map, value: { id: "#[payload.id]", tags: [a, "#[1 + 1]"] } }
      - object_store.put: { config: cache, key: flag, value: false }
  get:
    steps:
      - object_store.get: { config: cache, key: "#[payload.key]" }
"##,
    );
    rt.run_flow("put", Event::new(json!({ "id": 7 }))).await.unwrap();
    let get = |key: &str| {
        let rt = &rt;
        let key = key.to_string();
        async move { payload(&rt.run_flow("get", Event::new(json!({ "key": key }))).await.unwrap()) }
    };
    assert_eq!(get("number").await, json!(5));
    assert_eq!(get("sum").await, json!(42));
    assert_eq!(get("text").await, json!("n=42"));
    assert_eq!(get("map").await, json!({ "id": 7, "tags": ["a", 2] }));
    assert_eq!(get("flag").await, json!(false));
}

#[tokio::test]
async fn async_runs_in_the_background_and_counts_its_errors() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - async:
          steps:
            - raise_error: AUDIT:DOWN
      - set_payload: answered
"##,
    );
    let out = rt.run_flow("f", Event::new(json!(null))).await.unwrap();
    assert_eq!(payload(&out), json!("answered"));
    support::eventually("the async error to be counted", || {
        let counted = rt.async_errors() == 1;
        async move { counted }
    })
    .await;
}

#[tokio::test]
async fn csv_and_form_payloads_are_read_by_media_type() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - set_payload: \"#[payload[1].name]\"\n");
    let csv = relais_engine::runtime::Payload::bytes(b"id,name\n1,Ana\n2,Leon\n".to_vec(), "text/csv");
    let out = rt.run_flow("f", Event::with_payload(csv)).await.unwrap();
    assert_eq!(payload(&out), json!("Leon"));
}

#[tokio::test]
async fn xml_payloads_are_read_as_maps() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - set_payload: \"#[payload.order.buyer]\"\n");
    let xml = relais_engine::runtime::Payload::bytes(b"<order><buyer>Ana</buyer></order>".to_vec(), "application/xml");
    let out = rt.run_flow("f", Event::with_payload(xml)).await.unwrap();
    assert_eq!(payload(&out), json!("Ana"));
}

#[tokio::test]
async fn a_logger_leaves_the_event_unchanged() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - logger: { level: error, message: \"order #[payload.id]\" }\n");
    let out = rt.run_flow("f", Event::new(json!({ "id": 1 }))).await.unwrap();
    assert_eq!(payload(&out), json!({ "id": 1 }));
}

#[tokio::test]
async fn flow_ref_to_a_flow_runs_that_flows_own_handlers() {
    let rt = yaml(
        r##"
flows:
  caller:
    steps:
      - flow_ref: callee
      - set_payload: "#[`after: ${payload}`]"
  callee:
    steps:
      - raise_error: CRM:DOWN
    on_error:
      - continue:
          steps: [ { set_payload: recovered } ]
"##,
    );
    assert_eq!(payload(&rt.run_flow("caller", Event::new(json!(null))).await.unwrap()), json!("after: recovered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_foreach_never_runs_more_elements_than_its_bound() {
    // Each element marks itself in flight, waits on a retry, and unmarks: a second element in flight would
    // find the mark and fail, failing the whole step.
    let rt = yaml(
        r##"
configs:
  gauge: { object_store: {} }
  tries: { object_store: {} }
flows:
  f:
    steps:
      - parallel_foreach:
          max_concurrency: 1
          steps:
            - idempotent: { key: "#[\"in-flight\"]", store: gauge, ttl: 1h }
            - until_successful:
                max_retries: 1
                backoff: { initial: 5ms, max: 5ms, jitter: false }
                steps:
                  - object_store.get: { config: tries, key: "#[payload]", default: "0", target: t }
                  - object_store.put: { config: tries, key: "#[payload]", value: "1" }
                  - choice:
                      - when: "#[vars.t == \"0\"]"
                        steps: [ { raise_error: TEST:WAIT } ]
            - object_store.remove: { config: gauge, key: in-flight }
"##,
    );
    let out = rt.run_flow("f", Event::new(json!([1, 2, 3, 4]))).await.unwrap();
    assert_eq!(payload(&out), json!([1, 2, 3, 4]));
}

#[tokio::test]
async fn a_closed_runtime_refuses_new_events_with_a_typed_error() {
    let rt = yaml("flows:\n  f:\n    steps:\n      - set_payload: ok\n");
    assert!(rt.run_flow("f", Event::new(json!(null))).await.is_ok());
    rt.close();
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "RUNTIME:SHUTTING_DOWN");
}

#[tokio::test(start_paused = true)]
async fn a_delay_step_waits_the_computed_duration() {
    let rt = yaml(
        r##"
flows:
  f:
    steps:
      - time.delay: { duration: "#[payload.wait]" }
      - set_payload: waited
"##,
    );
    let started = tokio::time::Instant::now();
    let out = rt.run_flow("f", Event::new(json!({ "wait": "1m30s" }))).await.unwrap();
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(90));
    assert_eq!(payload(&out), json!("waited"));
    let err = rt.run_flow("f", Event::new(json!({ "wait": "later" }))).await.unwrap_err();
    assert!(err.description.contains("neither a duration"), "{}", err.description);
}

#[tokio::test]
async fn an_idempotency_key_is_released_when_its_event_fails_and_kept_when_it_succeeds() {
    let rt = yaml(
        r##"
configs:
  seen: { object_store: {} }
flows:
  f:
    steps:
      - idempotent: { key: "#[payload.id]", store: seen }
      - choice:
          - when: "#[payload.fail]"
            steps: [ { raise_error: APP:DOWN } ]
      - set_payload: done
"##,
    );
    // A failure after the claim: the same message again is tried again, not a duplicate.
    for _ in 0..2 {
        let err = rt.run_flow("f", Event::new(json!({ "id": "A", "fail": true }))).await.unwrap_err();
        assert_eq!(err.error_type.to_string(), "APP:DOWN");
    }
    let out = rt.run_flow("f", Event::new(json!({ "id": "A", "fail": false }))).await.unwrap();
    assert_eq!(payload(&out), json!("done"));
    let err = rt.run_flow("f", Event::new(json!({ "id": "A", "fail": false }))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "IDEMPOTENCY:DUPLICATE", "a processed key stays claimed");
}

#[tokio::test]
async fn a_key_claimed_in_a_try_body_is_released_when_the_body_fails_even_though_a_handler_catches_it() {
    let rt = yaml(
        r##"
configs:
  seen: { object_store: {} }
flows:
  job:
    steps:
      - set_variable: { name: outcomes, value: "#[[]]" }
      - foreach:
          steps:
            - set_variable: { name: item, value: "#[payload.id]" }
            - try:
                steps:
                  - idempotent: { key: "#[payload.id]", store: seen }
                  - choice:
                      - when: "#[payload.fail]"
                        steps: [ { raise_error: APP:DOWN } ]
                  - set_variable: { name: outcomes, value: "#[vars.outcomes + [vars.item + \":done\"]]" }
                on_error:
                  - continue:
                      types: IDEMPOTENCY:DUPLICATE
                      steps: [ { set_variable: { name: outcomes, value: "#[vars.outcomes + [vars.item + \":duplicate\"]]" } } ]
                  - continue:
                      steps: [ { set_variable: { name: outcomes, value: "#[vars.outcomes + [vars.item + \":failed\"]]" } } ]
      - set_payload: "#[vars.outcomes]"
"##,
    );
    let run = |items: serde_json::Value| {
        let rt = rt.clone();
        async move { payload(&rt.run_flow("job", Event::new(items)).await.unwrap()) }
    };
    let out = run(json!([{ "id": "A", "fail": true }, { "id": "B", "fail": false }])).await;
    assert_eq!(out, json!(["A:failed", "B:done"]));
    // A failed (and was caught): its key is free again. B completed: its key is done.
    let out = run(json!([{ "id": "A", "fail": false }, { "id": "B", "fail": false }])).await;
    assert_eq!(out, json!(["A:done", "B:duplicate"]));
    let out = run(json!([{ "id": "A", "fail": false }])).await;
    assert_eq!(out, json!(["A:duplicate"]));
}

#[tokio::test]
async fn a_key_held_by_an_event_still_running_is_in_progress_for_another() {
    let rt = yaml(
        r##"
configs:
  seen: { object_store: {} }
flows:
  slow:
    steps:
      - idempotent: { key: "#[payload.id]", store: seen, target: claim }
      - time.delay: { duration: 500ms }
      - set_payload: "#[vars.claim]"
"##,
    );
    let first = tokio::spawn({
        let rt = rt.clone();
        async move { rt.run_flow("slow", Event::new(json!({ "id": "K" }))).await }
    });
    // Once the first event holds the key (pending, with this process's id)...
    let seen = rt.program().state.existing_store("seen").unwrap();
    while seen.get("K").unwrap().is_none() {
        tokio::task::yield_now().await;
    }
    assert!(seen.get("K").unwrap().unwrap()["pending"].is_string());
    let err = rt.run_flow("slow", Event::new(json!({ "id": "K" }))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "IDEMPOTENCY:IN_PROGRESS");
    let out = first.await.unwrap().unwrap();
    assert_eq!(payload(&out), json!({ "key": "K", "recovered": false }));
    let err = rt.run_flow("slow", Event::new(json!({ "id": "K" }))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "IDEMPOTENCY:DUPLICATE");
}
