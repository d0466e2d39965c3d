//! Events per second through a 10-step flow whose core is the ticketing-order -> CRM-contact Rhai mapping
//! on a 2 KB order, side by side with the same mapping written as plain Rust over serde_json (the ceiling),
//! and the cost of the payload conversions at the script boundary on their own.
//!
//! The realistic mapping of scenario (d) of `tests/bench/http.sh` (`tests/bench/flows/http/mappings/
//! order_to_crm.rhai`: a helper `fn`, a `for` loop, a sort, a sum) of the 2.6 KB order, bytes in to bytes out,
//! beside `relais_bench::order_to_crm` (parse, map by hand, write): on a current-thread runtime, and spawned
//! on a one-worker multi-thread runtime as the daemon runs it (where a script handed the worker over
//! would pay a thread switch per call).
//!
//! `cargo bench -p relais-bench --bench engine`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relais_engine::runtime::{Event, Payload, Runtime};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;

fn order() -> Value {
    let tickets: Vec<Value> = (0..12)
        .map(|i| {
            json!({ "ticket_id": format!("T-{i:04}"), "session_id": format!("SWM-07{i:02}-F"), "category": "A",
                    "price": { "amount": 85.0 + i as f64, "currency": "EUR" } })
        })
        .collect();
    json!({
        "order_id": "ORD-2024-000123", "created_at": "2024-07-26T09:15:00Z",
        "buyer": { "first_name": "  élodie ", "last_name": "Lefèvre", "email": " Elodie.Lefevre@Example.FR ",
                   "phone": "06 12 34 56 78", "country": "fr", "language": "FR" },
        "tickets": tickets, "consents": { "marketing": true, "sms": false }
    })
}

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

/// Scenario (d)'s flow: the realistic mapping and nothing else.
const CRM_FLOW: &str = r##"
flows:
  order_to_crm:
    steps:
      - transform: { script: order_to_crm.rhai }
"##;

fn runtime() -> Runtime {
    let dir = std::env::temp_dir().join(format!("relais-bench-engine-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mapping =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows/mappings/order_to_contact.rhai"))
            .unwrap_or_default();
    let _ = std::fs::write(dir.join("order_to_contact.rhai"), mapping);
    let _ = std::fs::write(dir.join("flow.yaml"), FLOW);
    let crm = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/flows/http/mappings/order_to_crm.rhai"))
        .unwrap_or_default();
    let _ = std::fs::write(dir.join("order_to_crm.rhai"), crm);
    let _ = std::fs::write(dir.join("crm_flow.yaml"), CRM_FLOW);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    assert!(!loaded.diags.has_errors(), "benchmark flow does not check");
    let components = relais_engine::components::registry();
    match relais_engine::plan::compile_program(&loaded, relais_stdlib::Clock::system(), components) {
        Ok(program) => Runtime::new(program),
        Err(_) => panic!("benchmark flow does not compile"),
    }
}

/// The same mapping in plain Rust, plus the flow's channel choice and wrapping: the ceiling an interpreted
/// 10-step flow is measured against.
fn plain_rust(order: &Value) -> Value {
    let contact = relais_bench::order_to_contact(order);
    let channel = if contact["opt_in"]["email"] == json!(true) { "email" } else { "none" };
    json!({ "contact": contact, "channel": channel })["contact"].clone()
}

fn benches(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let order = order();
    let bytes = serde_json::to_vec(&order).unwrap_or_default();
    let mut group = c.benchmark_group("order_to_contact");
    group.throughput(Throughput::Elements(1));
    group.bench_function("relais_10_step_flow", |b| {
        b.iter(|| {
            let ev = Event::with_payload(Payload::bytes(bytes.clone(), "application/json"));
            tokio.block_on(rt.run_flow("order_to_contact", black_box(ev))).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.bench_function("plain_rust_serde_json", |b| {
        b.iter(|| {
            let order: Value = serde_json::from_slice(black_box(&bytes)).unwrap_or_default();
            black_box(plain_rust(&order))
        })
    });
    group.finish();
    realistic_mapping(c, &rt, &tokio);
    let mut conv = c.benchmark_group("payload_conversions_2kb");
    conv.bench_function("json_to_dynamic", |b| b.iter(|| relais_stdlib::json_to_dynamic(black_box(&order))));
    let dynamic = relais_stdlib::json_to_dynamic(&order).unwrap_or_default();
    conv.bench_function("dynamic_to_json", |b| b.iter(|| relais_stdlib::dynamic_to_json(black_box(&dynamic))));
    conv.bench_function("parse_bytes_to_json", |b| b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes))));
    conv.finish();
}

/// Scenario (d) in process: the 2.6 KB order's bytes through the realistic mapping to the answer's bytes.
fn realistic_mapping(c: &mut Criterion, rt: &Runtime, current: &tokio::runtime::Runtime) {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/order_large.json")).unwrap_or_default();
    let one_worker = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Arc::new(rt.clone());
    let mut group = c.benchmark_group("order_to_crm_2_6kb");
    group.throughput(Throughput::Elements(1));
    group.bench_function("relais_transform", |b| {
        b.iter(|| {
            let ev = Event::with_payload(Payload::bytes(black_box(bytes.clone()), "application/json"));
            let out = current.block_on(rt.run_flow("order_to_crm", ev)).unwrap_or_else(|e| panic!("{e}"));
            black_box(out.payload.to_bytes())
        })
    });
    group.bench_function("relais_transform_on_a_worker", |b| {
        b.iter(|| {
            let ev = Event::with_payload(Payload::bytes(black_box(bytes.clone()), "application/json"));
            let rt = rt.clone();
            let bytes = one_worker.block_on(async move {
                tokio::spawn(async move {
                    rt.run_flow("order_to_crm", ev).await.map(|out| out.payload.to_bytes()).map_err(|e| e.to_string())
                })
                .await
            });
            black_box(bytes.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}")))
        })
    });
    group.bench_function("plain_rust_serde_json", |b| {
        b.iter(|| {
            let order: Value = serde_json::from_slice(black_box(&bytes)).unwrap_or_default();
            black_box(serde_json::to_vec(&relais_bench::order_to_crm(&order)).unwrap_or_default())
        })
    });
    group.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
