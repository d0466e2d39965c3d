//! `relais graph` on the reference integration: the map as JSON, Mermaid and DOT, and one flow's
//! execution graph, kept as snapshots; the shape of the JSON and the volumes a metrics scrape gives.
//! The simulated partners under `flows/sim` are left out of the snapshots so that the map is the
//! integration's own (`relais graph flows/` draws them too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_engine::cli::Outcome;
use relais_tests::relais;
use serde_json::Value;

const REFERENCE: [&str; 4] = ["--root", "../flows", "../flows/ticketing", "../flows/accreditation"];

fn graph(extra: &[&str]) -> String {
    let mut args = vec!["graph"];
    args.extend_from_slice(&REFERENCE);
    args.extend_from_slice(extra);
    let (outcome, out) = relais(&args);
    assert_eq!(outcome, Outcome::Success, "{out}");
    out
}

#[test]
fn the_reference_map_as_json() {
    insta::assert_snapshot!(graph(&["--format", "json"]));
}

#[test]
fn the_reference_map_as_mermaid() {
    insta::assert_snapshot!(graph(&["--format", "mermaid"]));
}

#[test]
fn the_reference_map_as_dot() {
    insta::assert_snapshot!(graph(&["--format", "dot"]));
}

#[test]
fn the_execution_graph_of_the_sms_reminder_shows_its_loops_handlers_and_retries() {
    insta::assert_snapshot!(graph(&["--flow", "sms_reminder", "--format", "mermaid"]));
}

#[test]
fn the_execution_graph_of_the_crm_push_as_json() {
    insta::assert_snapshot!(graph(&["--flow", "push_order_to_crm", "--format", "json"]));
}

#[test]
fn the_map_groups_every_system_by_its_declared_zone() {
    let map: Value = serde_json::from_str(&graph(&["--format", "json"])).unwrap();
    assert_eq!(map["version"], 1);
    let zone = |name: &str| -> Vec<String> {
        let zones = map["zones"].as_array().unwrap();
        let z = zones.iter().find(|z| z["name"] == name).unwrap_or_else(|| panic!("no zone {name}: {zones:?}"));
        z["systems"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(zone("private"), ["system:accreditation_service", "system:ops_pager", "system:polyclinic_ehr"]);
    assert_eq!(zone("partner"), ["system:crm", "system:sms_gateway", "system:ticketing", "system:transport_app"]);
    assert!(zone("internal").contains(&"queue:crm_contacts".to_string()));
    // Each system is in exactly one zone.
    let systems = map["systems"].as_array().unwrap().len();
    let zoned: usize = map["zones"].as_array().unwrap().iter().map(|z| z["systems"].as_array().unwrap().len()).sum();
    assert_eq!(systems, zoned);
}

#[test]
fn an_edge_names_its_step_its_location_and_the_type_a_validate_fixed() {
    let map: Value = serde_json::from_str(&graph(&["--format", "json"])).unwrap();
    let upsert = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["flow"] == "flow:push_order_to_crm" && e["to"] == "system:crm")
        .unwrap();
    assert_eq!(upsert["direction"], "calls");
    assert_eq!(upsert["step"]["kind"], "http.request");
    assert_eq!(upsert["step"]["location"], "../flows/ticketing/order_to_crm.yaml:84:15");
    assert_eq!(upsert["data_type"], "type:../flows/schemas/crm/contact.schema.json");
    // The consumer of a queue gets the type its publisher validated.
    let consumed = map["edges"].as_array().unwrap().iter().find(|e| e["from"] == "queue:crm_contacts").unwrap();
    assert_eq!(consumed["data_type"], "type:../flows/schemas/ticketing/order.schema.json");
}

#[test]
fn a_metrics_scrape_puts_rates_and_error_shares_on_each_flow_s_source_edge() {
    let scrape = std::env::temp_dir().join(format!("relais-graph-scrape-{}.txt", std::process::id()));
    std::fs::write(
        &scrape,
        "# TYPE relais_uptime_seconds gauge\nrelais_uptime_seconds 7200\n\
         relais_flow_events_total{flow=\"order_to_crm\"} 600\n\
         relais_flow_errors_total{flow=\"order_to_crm\",type=\"VALIDATION:INVALID\"} 30\n\
         relais_flow_errors_total{flow=\"order_to_crm\",type=\"IDEMPOTENCY:IN_PROGRESS\"} 6\n\
         relais_flow_bytes_in_total{flow=\"order_to_crm\"} 720000\n\
         relais_flow_bytes_out_total{flow=\"order_to_crm\"} 30000\n\
         relais_flow_events_total{flow=\"push_order_to_crm\"} 564\n",
    )
    .unwrap();
    let map: Value =
        serde_json::from_str(&graph(&["--format", "json", "--metrics", scrape.to_str().unwrap()])).unwrap();
    std::fs::remove_file(&scrape).unwrap();
    assert_eq!(map["metrics"]["uptime_seconds"], 7200.0);
    let edges = map["edges"].as_array().unwrap();
    let source = |flow: &str| edges.iter().find(|e| e["flow"] == flow && e["direction"] == "receives").unwrap();
    let v = &source("flow:order_to_crm")["volume"];
    assert_eq!(v["events"], 600);
    assert_eq!(v["errors"], 36);
    assert_eq!(v["error_share"], 0.06);
    assert_eq!(v["messages_per_hour"], 300.0);
    assert_eq!(v["bytes"], 750000);
    assert_eq!(v["bytes_per_day"], 9_000_000.0);
    let q = &source("flow:push_order_to_crm")["volume"];
    assert_eq!((q["events"].as_u64(), q["messages_per_hour"].as_f64()), (Some(564), Some(282.0)));
    assert!(q.get("bytes").is_none(), "a queue consumer counts no bytes: {q}");
    // Calls are not counted per system by the daemon: their edges carry nothing.
    assert!(edges.iter().filter(|e| e["direction"] != "receives").all(|e| e.get("volume").is_none()));
    // A flow without events in the scrape has no volume either.
    assert!(source("flow:sales_overview").get("volume").is_none());
}

#[test]
fn volumes_are_written_on_the_mermaid_edges() {
    let scrape = std::env::temp_dir().join(format!("relais-graph-scrape-m-{}.txt", std::process::id()));
    std::fs::write(&scrape, "relais_uptime_seconds 3600\nrelais_flow_events_total{flow=\"order_to_crm\"} 120\n")
        .unwrap();
    let text = graph(&["--metrics", scrape.to_str().unwrap()]);
    std::fs::remove_file(&scrape).unwrap();
    assert!(
        text.contains("system_api -->|\"receives ticketing/order · 120/h · 0% errors\"| flow_order_to_crm"),
        "{text}"
    );
}

/// Every step of a compiled plan: (index, location).
fn plan_steps(steps: &[relais_engine::plan::StepPlan], out: &mut Vec<(usize, String)>) {
    use relais_engine::plan::Op;
    for s in steps {
        out.push((s.index, s.location.clone()));
        match &s.op {
            Op::Choice(branches, otherwise) => {
                branches.iter().for_each(|(_, b)| plan_steps(b, out));
                if let Some(o) = otherwise {
                    plan_steps(o, out);
                }
            }
            Op::Foreach { steps, .. } | Op::ParallelForeach { steps, .. } | Op::UntilSuccessful(_, _, _, steps) => {
                plan_steps(steps, out)
            }
            Op::Async(_, steps) => plan_steps(steps, out),
            Op::ScatterGather { routes, .. } | Op::FirstSuccessful(routes) => {
                routes.iter().for_each(|r| plan_steps(r, out))
            }
            Op::Try(steps, handlers) => {
                plan_steps(steps, out);
                handlers.iter().for_each(|h| plan_steps(&h.steps, out));
            }
            _ => {}
        }
    }
}

#[test]
fn an_execution_graph_numbers_its_steps_as_the_compiled_plan_does() {
    let paths: Vec<std::path::PathBuf> = REFERENCE[2..].iter().map(std::path::PathBuf::from).collect();
    let loaded = relais_engine::cli::check::check_paths_in(&paths, None, Some(std::path::Path::new("../flows")));
    let program = relais_engine::plan::compile_program_offline(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .ok()
    .unwrap();
    for flow in ["sms_reminder", "marketing_push", "patient_record", "push_order_to_crm"] {
        let plan = program.flow(flow).unwrap();
        let mut expected = Vec::new();
        plan_steps(&plan.steps, &mut expected);
        for h in &plan.on_error {
            plan_steps(&h.steps, &mut expected);
        }
        let drawn: Value = serde_json::from_str(&graph(&["--flow", flow, "--format", "json"])).unwrap();
        let got: Vec<(usize, String)> = drawn["drawing"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| {
                let index = n["id"].as_str()?.strip_prefix('s')?.parse().ok()?;
                Some((index, n["detail"].as_str()?.to_string()))
            })
            .collect();
        assert_eq!(got, expected, "flow {flow}");
    }
}
