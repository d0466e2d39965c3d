//! Deep values against the `relais` binary on loopback: whatever a request carries or a script builds, the
//! daemon answers with a typed error (never a stack overflow, which aborts the whole process) and answers the
//! next request. The daemon runs as a child process so that a crash fails the test instead of aborting it.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::process::RelaisProcess;

use relais_stdlib::MAX_DEPTH;

/// A loop that nests an array `n` levels deep, as a Rhai expression.
fn nested_array(n: usize) -> String {
    format!("let a = []; for i in 0..{n} {{ a = [a]; }} a")
}

fn flows() -> String {
    let deep = nested_array(2000);
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0, request_timeout: 10m }} }}
  kept: {{ object_store: {{ persistent: true }} }}
flows:
  ping:
    source: {{ http.listener: {{ config: api, method: GET, path: /ping }} }}
    steps:
      - set_payload: pong
  linked:
    source: {{ http.listener: {{ config: api, method: POST, path: /linked }} }}
    steps:
      - transform:
          code: |
            let list = ();
            for item in payload {{ list = #{{ value: item, next: list }}; }}
            list
  deep_result:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-result }} }}
    steps:
      - transform: {{ code: "{deep}" }}
  deep_map:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-map }} }}
    steps:
      - transform: {{ code: "let m = #{{}}; for i in 0..3000 {{ m = #{{ next: m, i: i }}; }} m" }}
  deep_mixed:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-mixed }} }}
    steps:
      - transform: {{ code: "let v = 1; for i in 0..1500 {{ v = [#{{ v: v }}, i]; }} v" }}
  built_only:
    source: {{ http.listener: {{ config: api, method: GET, path: /built }} }}
    steps:
      - transform: {{ code: "let a = []; for i in 0..10000 {{ a = [a]; }} \"built\"" }}
  deep_var:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-var }} }}
    steps:
      - set_variable: {{ name: deep, value: "#[{deep}]" }}
      - set_payload: unreachable
  deep_template:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-template }} }}
    steps:
      - set_payload: "deep: #[{deep}]"
  deep_to_json:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-to-json }} }}
    steps:
      - set_payload: "#[to_json({{ {deep} }})]"
  deep_logger:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-logger }} }}
    steps:
      - logger: "deep: #[{deep}]"
      - set_payload: unreachable
  deep_store:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-store }} }}
    steps:
      - object_store.put: {{ config: kept, key: deep, value: "#[{deep}]" }}
      - set_payload: unreachable
  deep_publish:
    source: {{ http.listener: {{ config: api, method: GET, path: /deep-publish }} }}
    steps:
      - transform: {{ code: "{deep}" }}
      - queue.publish: {{ queue: deep, persistent: true }}
  at_the_limit:
    source: {{ http.listener: {{ config: api, method: POST, path: /at-the-limit }} }}
    steps:
      - set_variable: {{ name: copy, value: "#[payload]" }}
      - object_store.put: {{ config: kept, key: limit, value: "#[vars.copy]" }}
      - queue.publish: {{ queue: deep, persistent: true }}
      - set_payload: "#[to_json(vars.copy)]"
  consume:
    source: {{ queue.listener: {{ queue: deep, persistent: true }} }}
    steps:
      - object_store.put: {{ config: kept, key: consumed, value: "#[payload]" }}
  read_back:
    source: {{ http.listener: {{ config: api, method: GET, path: "/read-back/{{key}}" }} }}
    steps:
      - object_store.get: {{ config: kept, key: "#[attributes.params.key]", target: found }}
      - set_payload: "#[vars.found]"
  echo:
    source: {{ http.listener: {{ config: api, method: POST, path: /echo }} }}
    steps:
      - set_payload: "#[payload]"
  parse_text:
    source: {{ http.listener: {{ config: api, method: POST, path: /parse }} }}
    steps:
      - set_payload: "#[parse_json(payload)]"
"##
    )
}

/// `relais run` on the flows above, with a state directory (persistent stores and queues written as JSON).
struct Relais {
    process: RelaisProcess,
    addr: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Relais {
    fn start() -> Relais {
        let dir = support::write_files(&[("flows.yaml", &flows())]);
        let state = dir.join("state");
        let process = RelaisProcess::start(&dir, &["--admin", "off", "--state", state.to_str().unwrap()], "info", &[]);
        let addr = process.wait_for_address("listening on http://");
        Relais { process, addr, _dir: dir }
    }

    /// One exchange, or `None` when the connection is refused or closed without an answer (a dead daemon).
    async fn call(&self, method: &str, path: &str, media_type: &str, body: &[u8]) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-type: {media_type}\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        self.call("GET", path, "text/plain", b"").await
    }

    /// Panics unless the process is still running and answers `/ping`; prints what it logged otherwise.
    async fn assert_alive(&mut self, after: &str) {
        let answer = self.get("/ping").await;
        let exited = self.process.child.try_wait().unwrap();
        if answer.as_ref().map(|(s, b)| (*s, b.as_str())) != Some((200, "pong")) || exited.is_some() {
            let logged = self.process.drain_logs(Duration::from_millis(200));
            panic!("after {after} the daemon is gone ({exited:?}, answered {answer:?}); logged:\n{logged}");
        }
    }

    /// The object-store entry `key` as the daemon reads it back, polling until it is there.
    async fn wait_for_entry(&self, key: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.get(&format!("/read-back/{key}")).await;
            if let Some((200, body)) = answer {
                return body;
            }
            assert!(Instant::now() < until, "no entry {key}: {answer:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Asserts a problem+json answer with `status` and `error_type`.
fn assert_problem(answer: Option<(u16, String)>, status: u16, error_type: &str) {
    let (got, body) = answer.unwrap_or_else(|| panic!("no answer: the daemon died (expected {status} {error_type})"));
    let problem: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{got}: not a problem document: {body}"));
    assert_eq!((got, problem["error_type"].as_str()), (status, Some(error_type)), "{body}");
}

/// JSON arrays nested `n` deep around `1`.
fn json_nested(n: usize) -> String {
    format!("{}1{}", "[".repeat(n), "]".repeat(n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_list_over_a_6000_item_payload_is_a_limit_error_and_the_daemon_lives() {
    let mut relais = Relais::start();
    let items = serde_json::to_vec(&(10_000..16_000).collect::<Vec<u32>>()).unwrap();
    assert!(items.len() > 30_000, "a 35 KB payload");
    assert_problem(relais.call("POST", "/linked", "application/json", &items).await, 500, "EXPRESSION:LIMIT");
    relais.assert_alive("a linked list of 6,000 items").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_returning_deep_arrays_maps_or_both_is_a_limit_error_and_the_daemon_lives() {
    let mut relais = Relais::start();
    for path in ["/deep-result", "/deep-map", "/deep-mixed"] {
        assert_problem(relais.get(path).await, 500, "EXPRESSION:LIMIT");
        relais.assert_alive(path).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10000_deep_array_built_inside_a_script_does_not_overflow_the_stack() {
    let mut relais = Relais::start();
    // The script returns text, so the deep array only lives inside Rhai: cloned at each step, dropped at the
    // end. Where a wall-clock budget stops the copying first, the answer is that limit; either way an answer.
    let answer = relais.get("/built").await;
    match &answer {
        Some((200, body)) => assert_eq!(body, "\"built\""),
        other => assert_problem(other.clone(), 500, "EXPRESSION:LIMIT"),
    }
    relais.assert_alive("a 10,000-deep array built in a script").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_values_in_variables_templates_loggers_stores_and_queues_are_limit_errors() {
    let mut relais = Relais::start();
    for path in ["/deep-var", "/deep-template", "/deep-to-json", "/deep-logger", "/deep-store", "/deep-publish"] {
        assert_problem(relais.get(path).await, 500, "EXPRESSION:LIMIT");
        relais.assert_alive(path).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_at_the_depth_limit_goes_through_variables_stores_and_persistent_queues() {
    let mut relais = Relais::start();
    let value = json_nested(MAX_DEPTH);
    let answer = relais.call("POST", "/at-the-limit", "application/json", value.as_bytes()).await;
    assert_eq!(answer, Some((200, value.clone())));
    assert_eq!(relais.wait_for_entry("limit").await, value);
    assert_eq!(relais.wait_for_entry("consumed").await, value, "the consumer read the queued message back");
    relais.assert_alive("a value at the limit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_json_and_xml_bodies_are_answered_400() {
    let mut relais = Relais::start();
    for (media_type, body) in [
        ("application/json", json_nested(100_000)),
        ("application/json", json_nested(MAX_DEPTH + 1)),
        ("application/xml", format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000))),
        ("application/xml", format!("{}{}", "<a><b/>".repeat(150), "</a>".repeat(150))),
    ] {
        let answer = relais.call("POST", "/echo", media_type, body.as_bytes()).await;
        let (status, text) = answer.unwrap_or_else(|| panic!("the daemon died on a deep {media_type} body"));
        assert_eq!(status, 400, "{media_type} ({} bytes): {text}", body.len());
        assert!(text.contains("payload is not valid"), "{text}");
        relais.assert_alive(media_type).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_json_on_deep_text_is_an_error_not_a_crash() {
    let mut relais = Relais::start();
    for depth in [100_000, MAX_DEPTH + 1] {
        let answer = relais.call("POST", "/parse", "text/plain", json_nested(depth).as_bytes()).await;
        let (status, text) = answer.unwrap_or_else(|| panic!("the daemon died parsing {depth} levels"));
        assert_eq!(status, 500, "{text}");
        assert!(text.contains("EXPRESSION:"), "{text}");
        relais.assert_alive("parse_json").await;
    }
}
