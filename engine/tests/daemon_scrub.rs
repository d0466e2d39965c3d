//! No secret and no sensitive value reaches a caller: problem+json bodies, the admin port's dead letters,
//! `relais dlq show` and the logs, against a real daemon on loopback and a real upstream partner that echoes
//! what it was sent (its address, its headers) in a 500 answer.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_body_util::Full;
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use support::process::RelaisProcess;
use support::request;

/// A partner that answers every request 500 with a body quoting the request (path and query, the
/// `authorization` and `x-api-key` headers) and an internal detail of its own.
async fn echoing_partner() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let text = format!(
                        "partner internal error at db=orders-7; you sent {} with authorization `{}` and key `{}`",
                        req.uri(),
                        header("authorization"),
                        header("x-api-key")
                    );
                    let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
                    *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// An in-process daemon on the flows in `dir`, with the connectors (`http.request`); its first listener.
async fn daemon(dir: &std::path::Path) -> (relais_engine::daemon::Daemon, SocketAddr) {
    let loaded = support::checked(dir);
    let state = relais_engine::runtime::state::State::new();
    let program = relais_engine::plan::compile_program_in(
        &state,
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
        None,
    )
    .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()));
    let runtime = relais_engine::runtime::Runtime::new(program);
    let daemon = relais_engine::daemon::start(relais_engine::components::registry(), runtime).await.unwrap();
    let addr = daemon.listeners[0].1;
    (daemon, addr)
}

/// `relais run` as a process, with its logs (JSON lines at debug level) collected.
struct Relais {
    process: RelaisProcess,
    addr: SocketAddr,
    admin: SocketAddr,
}

impl Relais {
    fn start(dir: &std::path::Path, state: &std::path::Path, env: &[(&str, &str)]) -> Relais {
        let state = state.to_str().unwrap();
        let process = RelaisProcess::start(
            dir,
            &["--admin", "127.0.0.1:0", "--admin-insecure", "--no-watch", "--state", state],
            "debug",
            env,
        );
        let addr = process.wait_for_address("listening on http://");
        let admin = process.wait_for_address("admin endpoints on http://");
        Relais { process, addr, admin }
    }

    /// Stops the process with SIGTERM and returns everything it logged.
    fn stop(self) -> String {
        self.process.stop()
    }
}

/// `relais dlq ARGS --state STATE` as a separate process (which has resolved no secret): its output.
fn dlq(args: &[&str], state: &std::path::Path, flows: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("dlq")
        .args(args)
        .arg("--state")
        .arg(state)
        .arg("--flows")
        .arg(flows)
        .output()
        .unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every form a secret could be shown in: as written, percent-encoded, and inside Basic auth's base64.
fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoded: String = secret
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    vec![secret.to_string(), encoded, b64.encode(secret)]
}

fn assert_absent(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        for form in forms(secret) {
            assert!(!text.contains(&form), "`{form}` (a form of `{secret}`) reached {what}:\n{text}");
        }
    }
}

const URL_PASSWORD: &str = "pw-in-url-4242";
const URL_KEY: &str = "key!in!query9191";
const HEADER_KEY: &str = "hdr-key-7e7e7e";
const BASIC_PASSWORD: &str = "basic-pass-5150";

fn flows(partner: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  private: {{ sensitive_data: {{ fields: [passport_number] }} }}
  in_url:
    http.client:
      base_url: "http://relais:${{secret:SCRUB_URL_PASSWORD}}@{partner}/api?key=${{secret:SCRUB_URL_KEY}}"
  in_headers:
    http.client:
      base_url: "http://{partner}"
      headers: {{ x-api-key: "${{secret:SCRUB_HEADER_KEY}}" }}
      auth: {{ basic: {{ username: relais, password: "${{secret:SCRUB_BASIC_PASSWORD}}" }} }}
flows:
  push_url:
    source: {{ http.listener: {{ config: api, method: POST, path: /url }} }}
    steps:
      - http.request: {{ config: in_url, method: POST, path: /contacts }}
    on_error:
      - propagate:
          steps: [ {{ dead_letter.write: {{}} }} ]
  push_headers:
    source: {{ http.listener: {{ config: api, method: POST, path: /headers }} }}
    steps:
      - http.request: {{ config: in_headers, method: POST, path: /contacts }}
    on_error:
      - propagate:
          steps: [ {{ dead_letter.write: {{}} }} ]
  push_headers_answered:
    source:
      http.listener:
        config: api
        method: POST
        path: /answered
        error_response: {{ status: 502, body: "#[error.description]" }}
    steps:
      - http.request: {{ config: in_headers, method: POST, path: /contacts }}
"##
    )
}

const SECRETS: [(&str, &str); 4] = [
    ("SCRUB_URL_PASSWORD", URL_PASSWORD),
    ("SCRUB_URL_KEY", URL_KEY),
    ("SCRUB_HEADER_KEY", HEADER_KEY),
    ("SCRUB_BASIC_PASSWORD", BASIC_PASSWORD),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_a_base_url_a_header_and_basic_auth_reach_no_caller_no_dead_letter_answer_no_dlq_show_and_no_log() {
    let partner = echoing_partner().await;
    let dir = support::write_files(&[("flows/flows.yaml", &flows(partner))]);
    let state = dir.join("state");
    let mut secrets: Vec<&str> = SECRETS.iter().map(|(_, v)| *v).collect();
    secrets.push("P-777-sensitive");
    let relais = Relais::start(&dir.join("flows"), &state, &SECRETS);

    let mut answers = String::new();
    for path in ["/url", "/headers", "/answered"] {
        let person = br#"{"id":1,"passport_number":"P-777-sensitive"}"#;
        let (status, headers, body) = request(relais.addr, "POST", path, &[], person).await;
        assert_eq!(status, 502, "{path}: {body}");
        if path != "/answered" {
            assert!(headers.contains("application/problem+json"), "{headers}");
        }
        answers.push_str(&format!("{path}: {body}\n"));
    }
    assert_absent("the HTTP callers", &answers, &secrets);
    // The flow that asked for the detail gets the partner's answer, scrubbed.
    assert!(answers.contains("partner internal error at db=orders-7"), "{answers}");
    assert!(answers.contains("[redacted]"), "{answers}");

    let (status, _, list) = request(relais.admin, "GET", "/dead-letters", &[], b"").await;
    assert_eq!(status, 200, "{list}");
    let letters: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(letters.as_array().map(Vec::len), Some(2), "{list}");
    assert_absent("GET /dead-letters", &list, &secrets);
    let mut shown = String::new();
    for letter in letters.as_array().unwrap() {
        let id = letter["id"].as_u64().unwrap();
        let (status, _, one) = request(relais.admin, "GET", &format!("/dead-letters/{id}"), &[], b"").await;
        assert_eq!(status, 200, "{one}");
        shown.push_str(&one);
    }
    assert_absent("GET /dead-letters/ID", &shown, &secrets);
    assert!(shown.contains("partner internal error"), "the operator sees the partner's answer: {shown}");

    let logs = relais.stop();
    assert!(logs.contains("dead-lettered"), "{logs}");
    assert_absent("the logs", &logs, &secrets);

    let listed = dlq(&["list"], &state, &dir.join("flows"));
    assert!(listed.contains("2 dead letter(s)"), "{listed}");
    let first = listed.split('\t').next().unwrap().trim().to_string();
    let mut shown = String::new();
    for id in [first.clone(), (first.parse::<u64>().unwrap() + 1).to_string()] {
        shown.push_str(&dlq(&["show", &id], &state, &dir.join("flows")));
    }
    assert!(shown.contains("partner internal error") && shown.contains("passport_number"), "{shown}");
    assert_absent("relais dlq show", &format!("{listed}{shown}"), &secrets);
    // Without the flows, `relais dlq` cannot know which fields are sensitive: it withholds the message.
    let blind = dlq(&["show", &first], &state, &dir.join("no-such-flows"));
    assert!(blind.contains("withheld") && blind.contains("partner internal error"), "{blind}");
    assert_absent("relais dlq show without the flows", &blind, &secrets);
}

/// The source side of the invariant "every way out goes through the scrubber": problem bodies are built in
/// `http_server/problem.rs` only, admin answers by `admin::answer` only, and the daemon's logs are written through
/// `scrub::LogWriter` only. A new way out that bypasses them fails here.
#[test]
fn every_way_out_goes_through_the_scrubber_in_the_source() {
    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() > 50, "the engine sources were not found");
    for (name, text) in &files {
        if text.contains("\"about:blank\"") {
            assert_eq!(name, "src/http_server/problem.rs", "a problem body is built outside http_server/problem.rs");
        }
        if text.contains("with_writer(") {
            assert!(text.contains("with_writer(crate::scrub::LogWriter)"), "{name}: logs written past the scrubber");
            assert_eq!(text.matches("with_writer(").count(), 1, "{name}: logs written past the scrubber");
        }
        if name == "src/daemon/admin/mod.rs" {
            assert_eq!(text.matches("Response::new(").count(), 1, "an admin answer is built outside `answer`");
        }
    }
}

const PEOPLE: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
  private: { sensitive_data: { fields: [passport_number] } }
flows:
  checked:
    source: { http.listener: { config: api, method: POST, path: /checked } }
    steps:
      - validate: { schema: schemas/person.schema.json }
  scripted:
    source: { http.listener: { config: api, method: POST, path: /scripted } }
    steps:
      - transform: |
          if payload.person.passport_number.len() != 8 { throw "passport " + payload.person.passport_number + " is not 8 characters" }
          payload
"##;

const PERSON_SCHEMA: &str = r#"{
  "type": "object",
  "properties": {
    "person": {
      "type": "object",
      "properties": { "passport_number": { "type": "string", "pattern": "^[A-Z][0-9]{7}$" } }
    }
  }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_error_quoting_a_sensitive_value_is_redacted_in_the_problem() {
    let dir = support::write_files(&[("flows.yaml", PEOPLE), ("schemas/person.schema.json", PERSON_SCHEMA)]);
    let (daemon, addr) = daemon(&dir).await;
    let body = br#"{"person":{"name":"Ana","passport_number":"bad-passport-1234"}}"#;
    let (status, _, answer) = request(addr, "POST", "/checked", &[], body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("VALIDATION:INVALID") && answer.contains("[redacted]"), "{answer}");
    assert!(!answer.contains("bad-passport-1234"), "the passport number reached the caller: {answer}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_quoting_a_sensitive_value_is_redacted_in_the_problem() {
    let dir = support::write_files(&[("flows.yaml", PEOPLE), ("schemas/person.schema.json", PERSON_SCHEMA)]);
    let (daemon, addr) = daemon(&dir).await;
    let body = br#"{"person":{"name":"Ana","passport_number":"X12-secret-99"}}"#;
    let (status, _, answer) = request(addr, "POST", "/scripted", &[], body).await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("EXPRESSION:") && answer.contains("passport [redacted] is not 8"), "{answer}");
    assert!(!answer.contains("X12-secret-99"), "the passport number reached the caller: {answer}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

fn upstream_flows(partner: SocketAddr, open: bool) -> String {
    let open = if open {
        "  open:\n    source: { http.listener: { config: api, method: POST, path: /open, expose_upstream_errors: true } }\n    \
         steps:\n      - http.request: { config: crm, method: POST, path: /contacts }\n"
    } else {
        ""
    };
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{partner}" }} }}
flows:
  quiet:
    source: {{ http.listener: {{ config: api, method: POST, path: /quiet }} }}
    steps:
      - http.request: {{ config: crm, method: POST, path: /contacts }}
  retried:
    source: {{ http.listener: {{ config: api, method: POST, path: /retried }} }}
    steps:
      - until_successful:
          max_retries: 1
          backoff: {{ initial: 1ms, max: 1ms, jitter: false }}
          steps:
            - http.request: {{ config: crm, method: POST, path: /contacts }}
{open}"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_500_body_is_not_echoed_to_the_caller_by_default() {
    let partner = echoing_partner().await;
    let dir = support::write_files(&[("flows.yaml", &upstream_flows(partner, false))]);
    let (daemon, addr) = daemon(&dir).await;
    for path in ["/quiet", "/retried"] {
        let (status, _, answer) = request(addr, "POST", path, &[("x-correlation-id", "cid-77")], b"{}").await;
        assert_eq!(status, 502, "{answer}");
        let problem: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(problem["detail"], "the upstream call to config `crm` failed with status 500", "{path}: {answer}");
        assert_eq!(problem["correlation_id"], "cid-77", "{answer}");
        assert!(problem["error_type"].as_str().is_some_and(|t| t.contains(':')), "{answer}");
        assert!(!answer.contains("orders-7") && !answer.contains(&partner.to_string()), "{path}: {answer}");
    }
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_500_body_is_echoed_when_the_flow_exposes_upstream_errors() {
    let partner = echoing_partner().await;
    let dir = support::write_files(&[("flows.yaml", &upstream_flows(partner, true))]);
    let (daemon, addr) = daemon(&dir).await;
    let (status, _, answer) = request(addr, "POST", "/open", &[], b"{}").await;
    assert_eq!(status, 502, "{answer}");
    let problem: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("answered 500") && detail.contains("partner internal error at db=orders-7"), "{answer}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_partner_is_summarised_to_the_caller_without_its_address_or_password() {
    std::env::set_var("SCRUB_DOWN_PASSWORD", "down-pw-8080");
    let flows = r##"
configs:
  api: { http.listener: { port: 0 } }
  down: { http.client: { base_url: "http://relais:${secret:SCRUB_DOWN_PASSWORD}@127.0.0.1:1", connect_timeout: 2s } }
flows:
  call:
    source: { http.listener: { config: api, method: POST, path: /call } }
    steps:
      - http.request: { config: down, method: POST, path: /contacts }
"##;
    let dir = support::write_files(&[("flows.yaml", flows)]);
    let (daemon, addr) = daemon(&dir).await;
    let (status, _, answer) = request(addr, "POST", "/call", &[], b"{}").await;
    assert_eq!(status, 502, "{answer}");
    let problem: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(problem["error_type"], "HTTP:CONNECTIVITY", "{answer}");
    assert_eq!(problem["detail"], "the upstream call to config `down` failed: the partner could not be reached");
    assert!(!answer.contains("down-pw-8080") && !answer.contains("127.0.0.1:1"), "{answer}");
    daemon.shutdown(Duration::from_secs(5)).await;
}
