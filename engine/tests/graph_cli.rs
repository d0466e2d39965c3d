//! `relais graph` as users run it: bad inputs say what is wrong on standard error with the exit codes of
//! the other commands (1 the flows do not check, 2 usage or I/O), and `--metrics` reads a running
//! daemon's admin port over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::plan::compile_program;
use std::process::Command;
use support::request;

/// Runs the binary on `../flows` (the reference integration) with `args`: exit code, stdout, stderr.
fn graph(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("graph")
        .arg("../flows")
        .args(args)
        .env("CRM_CLIENT_SECRET", "x")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn an_unknown_flow_is_a_usage_error_suggesting_the_nearest_name() {
    let (code, out, err) = graph(&["--flow", "order_to_cmr"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("no flow or sub-flow named `order_to_cmr`"), "{err}");
    assert!(err.contains("did you mean `order_to_crm`?"), "{err}");
}

#[test]
fn an_unreadable_metrics_file_is_an_io_error_naming_it() {
    let (code, out, err) = graph(&["--metrics", "/nonexistent/metrics.txt"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("cannot read the metrics file `/nonexistent/metrics.txt`"), "{err}");
    assert!(err.contains("help: save a scrape with"), "{err}");
}

#[test]
fn a_file_that_is_not_a_scrape_is_refused_with_its_bad_line() {
    let dir = support::write_files(&[("metrics.txt", "relais_flow_events_total{flow=\"a\"} 1\nnot a metric line\n")]);
    let path = dir.join("metrics.txt");
    let (code, _, err) = graph(&["--metrics", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a relais /metrics scrape: line 2"), "{err}");
    let other = dir.join("other.txt");
    std::fs::write(&other, "process_cpu_seconds_total 12\n").unwrap();
    let (code, _, err) = graph(&["--metrics", other.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("it holds no `relais_` metric"), "{err}");
}

#[test]
fn an_admin_url_nobody_listens_on_is_an_io_error_naming_the_url() {
    // A port that was just free: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, out, err) = graph(&["--metrics", &url]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains(&format!("cannot fetch `{url}/metrics`")), "{err}");
    assert!(err.contains("help: give the admin address of a running daemon"), "{err}");
}

#[test]
fn flows_that_do_not_check_are_reported_and_nothing_is_drawn() {
    let dir = support::write_files(&[(
        "flows.yaml",
        "flows:\n  a:\n    steps:\n      - http.request: { config: nowhere, method: GET, path: / }\n",
    )]);
    let out = Command::new(env!("CARGO_BIN_EXE_relais")).arg("graph").arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("config `nowhere` is not defined"), "{err}");
    assert!(err.contains("relais graph: the flows do not check (1 error(s)); nothing was drawn"), "{err}");
}

#[test]
fn the_out_file_receives_the_graph() {
    let dir = support::write_files(&[]);
    let file = dir.join("map.dot");
    let (code, out, err) = graph(&["--format", "dot", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("digraph \"relais graph\" {"));
}

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
  partner: { http.client: { base_url: "http://127.0.0.1:9", zone: partner } }
flows:
  orders:
    source: { http.listener: { config: api, method: POST, path: /orders } }
    steps:
      - choice:
          - when: "#[payload.bad == true]"
            steps: [ { raise_error: { type: "APP:BAD" } } ]
  unused:
    source: { http.listener: { config: api, method: GET, path: /unused } }
    steps:
      - http.request: { config: partner, method: GET, path: / }
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_s_admin_url_gives_each_source_edge_its_measured_volume() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), None);
    let program =
        compile_program(&loaded, relais_stdlib::Clock::system(), relais_engine::components::registry()).ok().unwrap();
    let daemon = support::daemon_with_admin(program).await;
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    for body in [r#"{"bad":false}"#, r#"{"bad":false}"#, r#"{"bad":false}"#, r#"{"bad":true}"#] {
        request(api, "POST", "/orders", &[("content-type", "application/json")], body.as_bytes()).await;
    }
    let url = format!("http://{admin}");
    let dir_arg = dir.display().to_string();
    // The command blocks on its own runtime, as it does from a shell.
    let (outcome, text) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let outcome =
            relais_engine::cli::run(["relais", "graph", &dir_arg, "--format", "json", "--metrics", &url], &mut out);
        (outcome, String::from_utf8(out).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(outcome, relais_engine::cli::Outcome::Success, "{text}");
    let map: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(map["metrics"]["source"], format!("http://{admin}/metrics"));
    assert!(map["metrics"]["uptime_seconds"].as_f64().unwrap() > 0.0);
    let edges = map["edges"].as_array().unwrap();
    let orders = edges.iter().find(|e| e["flow"] == "flow:orders" && e["direction"] == "receives").unwrap();
    let v = &orders["volume"];
    assert_eq!((v["events"].as_u64(), v["errors"].as_u64()), (Some(4), Some(1)), "{v}");
    assert_eq!(v["error_share"], 0.25);
    assert!(v["messages_per_hour"].as_f64().unwrap() > 0.0);
    assert!(v["bytes"].as_u64().unwrap() >= 4 * 13, "{v}");
    assert!(v["bytes_per_day"].as_f64().unwrap() > 0.0);
    let unused = edges.iter().find(|e| e["flow"] == "flow:unused" && e["direction"] == "receives").unwrap();
    assert!(unused.get("volume").is_none(), "no event, no volume: {unused}");
    let zones: Vec<&str> = map["zones"].as_array().unwrap().iter().map(|z| z["name"].as_str().unwrap()).collect();
    assert_eq!(zones, ["partner", "internal"]);
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}
