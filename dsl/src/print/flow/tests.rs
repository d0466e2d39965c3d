//! Tests of the `.flow` printer: exact canonical text, print -> parse identity, idempotence.
#![allow(clippy::unwrap_used)]

use super::print;
use crate::diagnostic::Diagnostics;
use crate::span::FileId;
use crate::syntax::{flow, Node};

fn parse(text: &str) -> Node {
    let mut diags = Diagnostics::new();
    let node = flow::parse(text, FileId(0), &mut diags);
    assert!(diags.is_empty(), "{text}\n{:?}", diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    node.unwrap()
}

/// Parses, prints, parses the printed text again: same tree, and printing that tree gives the same text.
fn round_trip(text: &str) -> String {
    let first = parse(text);
    let printed = print(&first);
    let second = parse(&printed);
    assert_eq!(first.to_json(), second.to_json(), "printed:\n{printed}");
    assert_eq!(print(&second), printed, "printing is not idempotent");
    printed
}

#[test]
fn a_small_file_prints_in_canonical_style() {
    let text = r#"flow order_to_crm { validate "schemas/order.schema.json"
        source http.listener api { method: POST, path: "/orders" } max_concurrency 16
        http.request crm { method: PUT, path: "/contacts/#[payload.external_id]" } }
        config crm = http.client { base_url: "${crm.base_url}", timeout: 5s }
        import "common.flow"
        property crm.base_url = "http://x""#;
    let expected = r#"import "common.flow"

property crm.base_url = "http://x"

config crm = http.client { base_url: "${crm.base_url}", timeout: 5s }

flow order_to_crm {
    max_concurrency 16
    source http.listener api { method: POST, path: "/orders" }
    validate "schemas/order.schema.json"
    http.request crm { method: PUT, path: "/contacts/#[payload.external_id]" }
}
"#;
    assert_eq!(round_trip(text), expected);
}

#[test]
fn every_step_kind_survives_print_then_parse() {
    round_trip(
        r#"
        flow all {
            initial_state stopped
            source scheduler { cron: "0 10 * * *" }
            set_payload "hello"
            set_payload #[ payload.items ] { media_type: "application/json" }
            set_payload { a: [1, 2.5, -3, true, null, "x y"], b: { c: 1m30s } }
            set_variable total = #[payload.total]
            remove_variable total
            transform file "mappings/x.rhai"
            transform #[ payload.x ]
            logger info "Order #[payload.id]" { category: audit }
            logger "plain"
            choice {
                when #[payload.kind == "a"] { set_payload 1 }
                otherwise { }
            }
            @each foreach #[payload.items] { batch_size: 10 } { logger "item" }
            parallel_foreach { max_concurrency: 4, timeout: 5s } { }
            scatter_gather { timeout: 5s } { route { flow_ref a } route { } }
            first_successful { route { flow_ref a } }
            try {
                raise_error APP:INVALID_ORDER "Order #[payload.id] has no tickets"
                on_error continue APP:INVALID_ORDER { raise_error APP:X }
            }
            until_successful { max_retries: 5, backoff: { initial: 200ms, max: 10s } } { flow_ref a }
            idempotent #[payload.order_id] { ttl: 7d, store: seen }
            async { flow_ref lookup { target: session } }
            queue.publish
            on_error propagate VALIDATION:INVALID, HTTP:NOT_FOUND when #[error.description != ""] { }
        }
        sub_flow "odd name" { set_payload "flow" }
        "#,
    );
}

#[test]
fn multi_line_code_prints_as_an_indented_triple_quoted_block() {
    let text = "sub_flow s {\n transform \"let x = 1;\\nif x > 0 {\\n    x\\n}\\n\"\n}";
    assert_eq!(
        round_trip(text),
        "sub_flow s {\n    transform \"\"\"\n        let x = 1;\n        if x > 0 {\n            x\n        }\n        \"\"\"\n}\n"
    );
}

#[test]
fn a_code_block_opened_by_a_bracket_and_a_line_break_prints_as_written() {
    let text = "sub_flow s {\n    transform #[\n        let x = 1;\n        #{ x: x }\n    ]\n}\n";
    assert_eq!(round_trip(text), text);
}

#[test]
fn maps_too_wide_for_one_line_get_one_entry_per_line() {
    let long = "x".repeat(90);
    let printed = round_trip(&format!("sub_flow s {{ http.request crm {{ method: PUT, path: \"/{long}\" }} }}"));
    assert_eq!(
        printed,
        format!(
            "sub_flow s {{\n    http.request crm {{\n        method: PUT,\n        path: \"/{long}\"\n    }}\n}}\n"
        )
    );
}

#[test]
fn strings_that_would_read_back_differently_are_quoted() {
    let printed =
        round_trip(r#"sub_flow s { set_payload ["42", "true", "null", "transform", "a b", "", "1.5", "-x", "ok"] }"#);
    assert!(printed.contains(r#"["42", "true", "null", "transform", "a b", "", "1.5", "-x", ok]"#), "{printed}");
}

#[test]
fn an_empty_document_prints_as_empty_text() {
    assert_eq!(print(&parse("")), "");
}
