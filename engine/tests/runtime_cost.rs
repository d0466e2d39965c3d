//! Per-event cost of a 10-step flow (the benchmark's order -> contact shape), timed by hand:
//! `cargo test -p relais-engine --release --test runtime_cost -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::runtime::{Event, Payload};
use serde_json::json;
use std::time::Instant;

const FLOW: &str = r##"
flows:
  order_to_contact:
    steps:
      - set_variable: { name: order_id, value: "#[payload.order_id]" }
      - logger: { level: trace, message: "order #[vars.order_id]" }
      - transform: { script: order_to_contact.rhai }
      - set_variable: { name: contact_id, value: "#[payload.external_id]" }
      - choice:
          - when: "#[payload.opt_in.email]"
            steps: [ { set_variable: { name: channel, value: email } } ]
          - otherwise: [ { set_variable: { name: channel, value: none } } ]
      - set_variable: { name: stamp, value: "#[payload.updated_at]" }
      - remove_variable: stamp
      - set_payload: "#[#{ contact: payload, channel: vars.channel }]"
      - transform: { code: "payload.contact" }
      - logger: { level: trace, message: "contact #[vars.contact_id]" }
"##;

fn order() -> serde_json::Value {
    let tickets: Vec<serde_json::Value> = (0..12)
        .map(|i| {
            json!({ "ticket_id": format!("T-{i:04}"), "session_id": format!("SWM-07{i:02}-F"), "category": "A",
                    "price": { "amount": 85.0 + f64::from(i), "currency": "EUR" } })
        })
        .collect();
    json!({
        "order_id": "ORD-2024-000123", "created_at": "2024-07-26T09:15:00Z",
        "buyer": { "first_name": "  élodie ", "last_name": "Lefèvre", "email": " Elodie.Lefevre@Example.FR ",
                   "phone": "06 12 34 56 78", "country": "fr", "language": "FR" },
        "tickets": tickets, "consents": { "marketing": true, "sms": false }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing, run by hand in release mode"]
async fn a_ten_step_flow_costs_this_much_per_event() {
    // Heavy mappings hand the worker over (`block_in_place`) on a multi-thread runtime.
    println!("multi-thread: {:.1} µs per event", per_event().await);
}

#[tokio::test]
#[ignore = "timing, run by hand in release mode"]
async fn a_ten_step_flow_on_a_current_thread_runtime_costs_this_much_per_event() {
    // Scripts run in place here: the difference with the multi-thread figure is the hand-over's cost.
    println!("current-thread: {:.1} µs per event", per_event().await);
}

/// Mean time of one event through the flow, after a warm-up.
async fn per_event() -> f64 {
    let mapping =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../flows/mappings/order_to_contact.rhai"))
            .unwrap();
    let rt = support::runtime(&[("flow.yaml", FLOW), ("order_to_contact.rhai", &mapping)]);
    let bytes = serde_json::to_vec(&order()).unwrap();
    let run = |n: usize| {
        let rt = rt.clone();
        let bytes = bytes.clone();
        async move {
            let started = Instant::now();
            for _ in 0..n {
                let ev = Event::with_payload(Payload::bytes(bytes.clone(), "application/json"));
                rt.run_flow("order_to_contact", ev).await.unwrap();
            }
            started.elapsed()
        }
    };
    run(200).await;
    let n = 2000;
    let elapsed = run(n).await;
    elapsed.as_secs_f64() * 1e6 / n as f64
}
