//! The Grafana dashboard of the reference integration (`ops/grafana/relais.json`) is valid JSON whose
//! queries name only metrics a running daemon exports: the reference flows are started on free loopback
//! ports with their simulated partners failing a share of calls, a few orders are sent, and every metric
//! and every exact label value the dashboard's queries use must then be in `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_engine::runtime::Runtime;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 exchange: status and body.
async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), body.to_string())
}

/// Every PromQL text of the dashboard: panel targets and templating queries.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", Value::String(q)) => out.push(q.clone()),
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// The metric names a query names (`relais_...`), histograms' `_bucket` series by their family.
fn metric_names(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("relais_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.push(name.strip_suffix("_bucket").unwrap_or(&name).to_string());
    }
    names
}

/// The exact label matchers of a query (`config="crm"`; not `=~`, not `!=`).
fn exact_matchers(query: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in query.match_indices("=\"") {
        let before = &query[..i];
        if before.ends_with('!') || before.ends_with('=') {
            continue;
        }
        let name: String = before.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let name: String = name.chars().rev().collect();
        let value: String = query[i + 2..].chars().take_while(|c| *c != '"').collect();
        found.push(format!("{name}=\"{value}\""));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_grafana_dashboard_queries_is_exported_by_the_reference_daemon() {
    let root = relais_tests::fixtures().join("../..");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("ops/grafana/relais.json")).unwrap()).unwrap();
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 10), "the dashboard has its panels");
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let names: std::collections::BTreeSet<String> = all.iter().flat_map(|q| metric_names(q)).collect();
    let matchers: std::collections::BTreeSet<String> = all.iter().flat_map(|q| exact_matchers(q)).collect();
    assert!(names.len() >= 15, "{names:?}");

    std::env::set_var("CRM_CLIENT_SECRET", "dev-secret");
    let dir = std::env::temp_dir().join(format!("relais-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&root.join("flows"), &dir);
    let [api, crm, ticketing, sms, accreditation, transport, ehr] = std::array::from_fn(|_| free_port());
    let env = format!(
        "http.port: {api}\ncrm.base_url: http://127.0.0.1:{crm}/crm\ncrm.token_url: http://127.0.0.1:{crm}/crm/oauth/token\n\
         ticketing.base_url: http://127.0.0.1:{ticketing}/ticketing\nsms.base_url: http://127.0.0.1:{sms}/sms\n\
         accreditation.base_url: http://127.0.0.1:{accreditation}/accreditation\n\
         transport.base_url: http://127.0.0.1:{transport}/transport\nehr.base_url: http://127.0.0.1:{ehr}/ehr\n\
         sim.crm.port: {crm}\nsim.ticketing.port: {ticketing}\nsim.sms.port: {sms}\n\
         sim.accreditation.port: {accreditation}\nsim.transport.port: {transport}\nsim.ehr.port: {ehr}\n\
         sim.relais.base_url: http://127.0.0.1:{api}\nsim.failure_rate: 0.3\nsim.slow_response: 10ms\n"
    );
    std::fs::write(dir.join("env/dashboard.yaml"), env).unwrap();
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), Some("dashboard".into()));
    let errors: Vec<_> = loaded.diags.iter().filter(|d| d.severity == relais_dsl::Severity::Error).collect();
    assert!(errors.is_empty(), "{:?}", errors.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .ok()
    .unwrap();
    let daemon = relais_engine::daemon::start_with_admin(
        relais_engine::components::registry(),
        Runtime::new(program),
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap();
    let (relais, admin) = (daemon.listeners.iter().find(|(n, _)| n == "api").unwrap().1, daemon.admin.unwrap());
    let orders = std::fs::read_to_string(dir.join("data/samples/orders.jsonl")).unwrap();
    for order in orders.lines().take(20) {
        let (status, body) = call(relais, "POST", "/ticketing/orders", order).await;
        assert_eq!(status, 202, "{body}");
    }
    // Until the orders reached the CRM (the simulator fails 30 % of calls: retries, redeliveries).
    let deadline = Instant::now() + Duration::from_secs(120);
    let metrics = loop {
        let (_, metrics) = call(admin, "GET", "/metrics", "").await;
        let acked = metrics
            .lines()
            .find_map(|l| l.strip_prefix("relais_queue_acked_total{queue=\"crm_contacts\"} "))
            .and_then(|n| n.trim().parse::<f64>().ok());
        if acked.unwrap_or(0.0) >= 10.0 {
            break metrics;
        }
        assert!(Instant::now() < deadline, "the orders did not reach the CRM in time:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for name in &names {
        let declared = metrics.contains(&format!("# TYPE {name} "));
        assert!(declared, "the dashboard queries `{name}`, which the daemon does not export:\n{metrics}");
    }
    for matcher in &matchers {
        assert!(metrics.contains(matcher.as_str()), "the dashboard selects {matcher}, which no series has:\n{metrics}");
    }
    // The partner systems the dashboard is about have series, not just declarations; the CRM's OAuth2 token
    // fetches show apart in the per-system panels (their queries group by `config`).
    for series in [
        "relais_outbound_requests_total{config=\"crm\"",
        "relais_outbound_requests_total{config=\"crm.oauth2\",status=\"200\"}",
        "relais_outbound_request_duration_seconds_count{config=\"crm.oauth2\"}",
        "relais_http_requests_total{listener=\"api\"",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
    daemon.shutdown(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
