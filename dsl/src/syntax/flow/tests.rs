//! Tests of the `.flow` parser: each construct gives the same tree as its YAML spelling, positions inside
//! strings map back to the file, bad input is a diagnostic (never a panic).
#![allow(clippy::unwrap_used)]

use super::parse;
use crate::codes;
use crate::diagnostic::Diagnostics;
use crate::span::FileId;
use crate::syntax::{Origin, Value};
use proptest::prelude::*;

fn flow_json(text: &str) -> serde_json::Value {
    let mut d = Diagnostics::new();
    let node = parse(text, FileId(0), &mut d);
    assert!(d.is_empty(), "{text}: {:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>());
    node.unwrap().to_json()
}

fn yaml_json(text: &str) -> serde_json::Value {
    let mut d = Diagnostics::new();
    crate::syntax::yaml::parse(text, FileId(0), &mut d).unwrap().to_json()
}

fn assert_same(flow: &str, yaml: &str) {
    let (f, y) = (flow_json(flow), yaml_json(yaml));
    assert_eq!(f, y, "\n.flow gives: {f}\nyaml gives:  {y}");
}

#[test]
fn top_level_items_become_the_yaml_sections() {
    assert_same(
        r#"import "common.flow"
           property crm.base_url = "http://x"
           config crm = http.client { base_url: "${crm.base_url}", timeout: 5s }
           flow a { max_concurrency 4 initial_state stopped }
           sub_flow b { }"#,
        r#"imports: [common.flow]
properties: { crm.base_url: "http://x" }
configs: { crm: { http.client: { base_url: "${crm.base_url}", timeout: 5s } } }
flows: { a: { max_concurrency: 4, initial_state: stopped, steps: [] } }
sub_flows: { b: { steps: [] } }"#,
    );
}

#[test]
fn a_flow_s_objectives_block_gives_the_yaml_objectives_map() {
    assert_same(
        r#"flow a {
             objectives { error_share: { max: "2%", over: 5m }, p99_latency: 1s, alert_flow: on_incident }
             logger "x"
           }"#,
        r#"flows: { a: { objectives: { error_share: { max: "2%", over: 5m }, p99_latency: 1s, alert_flow: on_incident }, steps: [ { logger: { message: x } } ] } }"#,
    );
}

#[test]
fn sources_and_components_take_an_optional_config_name_and_map() {
    assert_same(
        r#"flow a {
             source http.listener api { method: POST, path: "/orders" }
             http.request crm { method: PUT }
             queue.publish { queue: audit }
             object_store.remove seen
           }"#,
        r#"flows:
  a:
    source: { http.listener: { config: api, method: POST, path: /orders } }
    steps:
      - http.request: { config: crm, method: PUT }
      - queue.publish: { queue: audit }
      - object_store.remove: { config: seen }"#,
    );
}

#[test]
fn every_step_form_matches_its_yaml_shape() {
    assert_same(
        r#"flow a {
             set_payload #[1 + 1]
             set_payload "hi" { media_type: "text/plain" }
             set_variable total = 0
             remove_variable total
             transform file "m.rhai"
             transform #[payload]
             logger "msg"
             @l2 logger warn "careful" { category: audit }
             choice { when #[a] { set_payload 1 } otherwise { set_payload 2 } }
             foreach #[payload.items] { batch_size: 2 } { logger "x" }
             parallel_foreach { max_concurrency: 2 } { logger "y" }
             scatter_gather { timeout: 5s } { route { set_payload a } route { set_payload b } }
             first_successful { route { flow_ref x } route { flow_ref y { target: v } } }
             try { raise_error APP:X "boom" on_error continue APP:X { logger "caught" } }
             until_successful { max_retries: 3 } { validate "s.json" }
             idempotent #[payload.id] { ttl: 7d }
             async { logger "bg" }
           }"#,
        r##"flows:
  a:
    steps:
      - set_payload: "#[1 + 1]"
      - set_payload: { value: hi, media_type: text/plain }
      - set_variable: { name: total, value: 0 }
      - remove_variable: total
      - transform: { script: m.rhai }
      - transform: { code: payload }
      - logger: { message: msg }
      - { id: l2, logger: { level: warn, message: careful, category: audit } }
      - choice: [ { when: "#[a]", steps: [ { set_payload: 1 } ] }, { otherwise: [ { set_payload: 2 } ] } ]
      - foreach: { collection: "#[payload.items]", batch_size: 2, steps: [ { logger: { message: x } } ] }
      - parallel_foreach: { max_concurrency: 2, steps: [ { logger: { message: y } } ] }
      - scatter_gather: { timeout: 5s, routes: [ [ { set_payload: a } ], [ { set_payload: b } ] ] }
      - first_successful: { routes: [ [ { flow_ref: x } ], [ { flow_ref: { name: y, target: v } } ] ] }
      - try:
          steps: [ { raise_error: { type: "APP:X", description: boom } } ]
          on_error: [ { continue: { types: "APP:X", steps: [ { logger: { message: caught } } ] } } ]
      - until_successful: { max_retries: 3, steps: [ { validate: s.json } ] }
      - idempotent: { key: "#[payload.id]", ttl: 7d }
      - async: { steps: [ { logger: { message: bg } } ] }"##,
    );
}

#[test]
fn handlers_list_their_types_and_condition() {
    assert_same(
        r#"flow a { on_error propagate HTTP:NOT_FOUND, HTTP:TIMEOUT when #[error.description != ""] { } }"#,
        r##"flows:
  a:
    steps: []
    on_error: [ { propagate: { types: ["HTTP:NOT_FOUND", "HTTP:TIMEOUT"], when: "#[error.description != \"\"]", steps: [] } } ]"##,
    );
}

#[test]
fn expressions_keep_their_position_in_the_file() {
    let text = "flow a { set_payload #[payload + 1] }";
    let mut d = Diagnostics::new();
    let doc = parse(text, FileId(0), &mut d).unwrap();
    let step = &doc.get("flows").unwrap().get("a").unwrap().get("steps").unwrap();
    let Value::List(steps) = &step.value else { panic!() };
    let value = steps[0].get("set_payload").unwrap();
    let Value::Str(s) = &value.value else { panic!() };
    assert_eq!(s.origin, Origin::Verbatim { start: text.find("#[").unwrap() as u32 });
}

#[test]
fn syntax_errors_say_what_was_expected_and_where() {
    for (bad, code) in [
        ("flow x { set_variable a 1 }", codes::DSL_SYNTAX),
        ("flow x { ", codes::DSL_SYNTAX),
        ("flow x { set_payload #[ a ", codes::UNCLOSED_EXPRESSION),
        ("flo", codes::DSL_SYNTAX),
        ("flow x { logger \"never closed }", codes::DSL_SYNTAX),
    ] {
        let mut d = Diagnostics::new();
        // Recovery may still give a document (the items that parse); the syntax error comes first.
        let _ = parse(bad, FileId(0), &mut d);
        let first = d.iter().next().unwrap();
        assert_eq!(first.code, code, "{bad}: {}", first.message);
        assert!((first.primary.span.end as usize) <= bad.len().max(1));
    }
}

#[test]
fn duplicate_names_in_one_file_are_reported_once_and_the_first_kept() {
    let mut d = Diagnostics::new();
    let doc = parse("flow a { } flow a { set_payload 1 }", FileId(0), &mut d).unwrap();
    assert_eq!(d.iter().map(|d| d.code).collect::<Vec<_>>(), vec![codes::DUPLICATE_KEY]);
    assert_eq!(doc.get("flows").unwrap().as_map().unwrap().len(), 1);
}

proptest! {
    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let mut d = Diagnostics::new();
        let _ = parse(&text, FileId(0), &mut d);
    }

    #[test]
    fn random_token_soup_never_panics(tokens in proptest::collection::vec(prop_oneof![
        Just("flow"), Just("a"), Just("{"), Just("}"), Just("["), Just("]"), Just("#["), Just("\""), Just("\"\"\""),
        Just("on_error"), Just("continue"), Just("when"), Just(":"), Just(","), Just("="), Just("@"), Just("logger"),
        Just("x.y"), Just("5s"), Just("choice"), Just("route"), Just("//"), Just("/*"), Just("\n"), Just("try"),
    ], 0..60)) {
        let mut d = Diagnostics::new();
        let _ = parse(&tokens.join(" "), FileId(0), &mut d);
    }
}

#[test]
fn test_files_in_the_flow_syntax_give_the_yaml_tree() {
    let flow = r#"tests push_contact {
        test "first" {
            now "2024-07-26T09:15:30Z"
            input { payload: { id: 1 } }
            mock step upsert { payload: ok }
            mock component http.request { config: crm, returns: [ { raise: HTTP:CONFLICT } ] }
            expect { error: HTTP:CLIENT_ERROR, calls: [ { step: upsert, times: 1 } ] }
        }
    }"#;
    let yaml = r#"
flow: push_contact
tests:
  first:
    now: "2024-07-26T09:15:30Z"
    input: { payload: { id: 1 } }
    expect: { error: "HTTP:CLIENT_ERROR", calls: [ { step: upsert, times: 1 } ] }
    mocks:
      - { step: upsert, payload: ok }
      - { component: http.request, config: crm, returns: [ { raise: "HTTP:CONFLICT" } ] }
"#;
    let mut d = Diagnostics::new();
    let tree = super::parse_tests(flow, FileId(0), &mut d).unwrap();
    assert!(d.is_empty(), "{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>());
    assert_eq!(tree.to_json(), yaml_json(yaml));
}
