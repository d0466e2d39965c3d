//! The access log: opt-in per listener config (`access_log: true`), one line per request on the tracing
//! target `relais::access` with method, route template (never the path as sent), status, duration, body
//! bytes in and out and correlation id (and the trace id with tracing on: `tracing_otlp.rs`); read from the
//! log of a real `relais run`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::process::RelaisProcess;
use support::request;

const FLOWS: &str = r##"
configs:
  logged: { http.listener: { port: 0, access_log: true } }
  quiet: { http.listener: { port: 0 } }
flows:
  contact:
    source: { http.listener: { config: logged, method: PUT, path: "/contacts/{id}" } }
    steps:
      - set_payload: "#[#{ id: attributes.params.id, ok: true }]"
  refuse:
    source: { http.listener: { config: logged, method: POST, path: /refuse } }
    steps:
      - raise_error: { type: "VALIDATION:INVALID", description: "no" }
  unlogged:
    source: { http.listener: { config: quiet, method: GET, path: /quiet } }
    steps:
      - set_payload: "quiet"
"##;

/// The access lines of a JSON log.
fn access_lines(logs: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "relais::access")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_with_access_log_writes_one_line_per_request_naming_its_route_template_and_the_others_none() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let relais = RelaisProcess::start(&dir, &["--admin", "off", "--state", "memory", "--no-watch"], "info", &[]);
    // Each listener announces itself on a line naming it.
    let (mut logged, mut quiet) = (None, None);
    for _ in 0..2 {
        let line = relais.wait_for_log("listening on http://");
        let at = line.find("http://").unwrap() + "http://".len();
        let addr: String = line[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        if line.contains("\"listener\":\"logged\"") {
            logged = Some(addr);
        } else {
            quiet = Some(addr);
        }
    }
    let (logged, quiet) = (logged.unwrap(), quiet.unwrap());
    let cid = [("x-correlation-id", "order-77")];
    let (status, _, answer) = request(logged, "PUT", "/contacts/ORD-77?secret=1", &cid, b"{\"a\":1}").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(request(logged, "POST", "/refuse", &[], b"").await.0, 400);
    assert_eq!(request(logged, "GET", "/nowhere/ORD-78", &[], b"").await.0, 404);
    assert_eq!(request(quiet, "GET", "/quiet", &[], b"").await.0, 200);

    let logs = relais.stop();
    let lines = access_lines(&logs);
    let contact = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/contacts/{id}")
        .unwrap_or_else(|| panic!("no access line for the contact route:\n{logs}"));
    let f = &contact["fields"];
    assert_eq!(contact["level"], "INFO");
    assert_eq!((f["method"].as_str(), f["status"].as_u64()), (Some("PUT"), Some(200)), "{contact}");
    assert_eq!((f["listener"].as_str(), f["flow"].as_str()), (Some("logged"), Some("contact")), "{contact}");
    assert_eq!(f["correlation_id"], "order-77");
    assert!(f.get("trace_id").is_none(), "no trace id without tracing (no OTLP endpoint): {contact}");
    assert_eq!(f["bytes_in"], 7);
    assert_eq!(f["bytes_out"].as_u64(), Some(answer.len() as u64), "{contact}");
    assert!(f["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{contact}");
    let refused = lines.iter().find(|l| l["fields"]["route"] == "/refuse").expect("the refused request");
    assert_eq!(refused["fields"]["status"], 400);
    let unmatched = lines.iter().find(|l| l["fields"]["status"] == 404).expect("the unmatched request");
    assert_eq!((unmatched["fields"]["route"].as_str(), unmatched["fields"]["flow"].as_str()), (Some("-"), Some("-")));
    assert_eq!(lines.len(), 3, "one line per request of the logged listener, none for the other:\n{logs}");
    assert!(lines.iter().all(|l| !l.to_string().contains("ORD-7")), "the path as sent is never logged: {lines:?}");
}
