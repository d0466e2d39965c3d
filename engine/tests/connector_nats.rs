//! The `nats` connector against the NATS server with JetStream on 127.0.0.1:4222: a publish acknowledged
//! by its stream reaching a listener's flow with its subject, headers, sequence and delivery count; typed
//! errors (no stream, a bad subject); a stream of messages published and consumed through a TCP proxy
//! that cuts the connection mid-way (nothing lost, the stream holding each message once); bad credentials
//! on a throwaway `nats-server` with a password (`/ready` 503, the secret never shown); a message that
//! keeps failing ending in the dead letters and terminated on the server, and one whose process stopped
//! during its last run dead-lettered without running again; TLS verified against a test CA on a throwaway
//! `nats-server`; `relais check` refusing bad settings; the W3C trace context carried in the messages'
//! headers (one trace from the webhook through the stream to the CRM, at a local OTLP collector; a message
//! without it, or with a malformed one, in a trace of its own); a poison message dead-lettered on a
//! PostgreSQL state, then replayed with `relais dlq` while the daemon runs, once its cause is fixed. Each
//! test uses a stream and subjects of its own, deleted at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::otlp::{self, post_order, run_traced, Traced, TRACE};
use support::proxy::Proxy;

const START: &str = "start it with `nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server` \
                     (or `.ci/services`)";

/// A direct client to the shared server, behind relais's back.
async fn direct() -> async_nats::jetstream::Context {
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .unwrap_or_else(|e| panic!("NATS at 127.0.0.1:4222 is unreachable ({e}); {START}"));
    async_nats::jetstream::new(client)
}

/// A stream name and subject prefix of the test's own; the stream is deleted when the guard goes.
struct TestStream {
    name: String,
    subject: String,
}

impl TestStream {
    fn new(test: &str) -> TestStream {
        let id = format!("{test}_{}", std::process::id());
        TestStream { name: format!("RELAIS_{}", id.to_uppercase()), subject: format!("relais.{id}") }
    }

    /// The `stream:` declaration of a `nats` config.
    fn declaration(&self) -> String {
        format!("{{ name: {}, subjects: [\"{}.>\"], storage: memory }}", self.name, self.subject)
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(client) = async_nats::connect("127.0.0.1:4222").await {
                    let _ = async_nats::jetstream::new(client).delete_stream(&name).await;
                }
            });
        })
        .join()
        .ok();
    }
}

async fn run(rt: &Runtime, flow: &str, payload: serde_json::Value) -> Result<Event, String> {
    rt.run_flow(flow, Event::new(payload)).await.map_err(|e| format!("{}: {}", e.error_type, e.description))
}

/// The JSON files a listener flow wrote in `dir`, by name.
fn written(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut files: Vec<(String, serde_json::Value)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            Some((e.file_name().to_string_lossy().to_string(), value))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

async fn start(dir: &Path, state: Arc<State>) -> relais_engine::daemon::Daemon {
    let (_, program) = support::compile_dir(dir, Some(state));
    support::daemon_with_admin(program).await
}

async fn ready(daemon: &relais_engine::daemon::Daemon) -> (u16, String) {
    let (status, _, body) = support::request(daemon.admin.unwrap(), "GET", "/ready", &[], b"").await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_message_reaches_the_listener_with_its_subject_headers_sequence_and_correlation_id() {
    let stream = TestStream::new("happy");
    let out = support::write_files(&[]).join("out");
    let found = support::write_files(&[]).join("found");
    let flows = format!(
        r##"
configs:
  events: {{ nats: {{ servers: ["nats://127.0.0.1:4222"], stream: {declaration} }} }}
  plain: {{ nats: {{}} }}
flows:
  send:
    steps:
      - nats.publish:
          config: events
          subject: "{subject}.#[payload.kind]"
          headers: {{ X-Partner: "#[payload.partner]" }}
          message_id: "#[payload.id]"
          target: ack
      - set_payload: "#[vars.ack]"
  nowhere:
    steps:
      - nats.publish: {{ config: events, subject: "relais.nobody.keeps.this.{subject}" }}
  bad_subject:
    steps:
      - nats.publish: {{ config: events, subject: "{subject}.#[payload.kind]" }}
  receive:
    source: {{ nats.listener: {{ config: events, subject: "{subject}.>", max_deliveries: 3 }} }}
    steps:
      - set_payload: "#[#{{ id: payload.id, subject: attributes.subject, partner: attributes.headers[\"X-Partner\"], sequence: attributes.stream_sequence, delivery: attributes.delivery, stream: attributes.stream, correlation_id: correlation_id }}]"
      - file.write: {{ directory: "{out}", name: "#[payload.id].json" }}
  receive_by_subject:
    source: {{ nats.listener: {{ config: plain, subject: "{subject}.created" }} }}
    steps:
      - file.write: {{ directory: "{found}", name: "#[payload.id].json" }}
"##,
        declaration = stream.declaration(),
        subject = stream.subject,
        out = out.display(),
        found = found.display(),
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let daemon = start(&dir, Arc::default()).await;
    let rt = daemon.runtime();
    let sent = rt.run_flow("send", Event::new(json!({ "id": "o-1", "kind": "created", "partner": "acme" }))).await;
    let sent = sent.map_err(|e| format!("{}: {}", e.error_type, e.description)).unwrap();
    assert_eq!(support::payload(&sent), json!({ "stream": stream.name, "sequence": 1, "duplicate": false }));
    let again = run(&rt, "send", json!({ "id": "o-1", "kind": "created", "partner": "acme" })).await.unwrap();
    assert_eq!(support::payload(&again)["duplicate"], json!(true), "the same Nats-Msg-Id is kept once");

    support::eventually("the listener's flow to write o-1", || std::future::ready(written(&out).len() == 1)).await;
    support::eventually("the listener naming only a subject to find its stream", || {
        std::future::ready(found.join("o-1.json").exists())
    })
    .await;
    let (name, seen) = &written(&out)[0];
    assert_eq!(name, "o-1.json");
    assert_eq!(
        seen,
        &json!({ "id": "o-1", "subject": format!("{}.created", stream.subject), "partner": "acme", "sequence": 1,
                 "delivery": 1, "stream": stream.name, "correlation_id": sent.correlation_id.to_string() })
    );

    // What the stream holds, read directly: the headers relais sent.
    let js = direct().await;
    let kept = js.get_stream(&stream.name).await.unwrap().get_raw_message(1).await.unwrap();
    let headers = kept.headers;
    assert_eq!(headers.get("X-Correlation-ID").map(|v| v.as_str()), Some(&*sent.correlation_id));
    assert_eq!(headers.get("Nats-Msg-Id").map(|v| v.as_str()), Some("o-1"));
    assert_eq!(headers.get("X-Partner").map(|v| v.as_str()), Some("acme"));
    assert_eq!(headers.get("Content-Type").map(|v| v.as_str()), Some("application/json"));

    let nowhere = run(&rt, "nowhere", json!({})).await.unwrap_err();
    assert!(nowhere.starts_with("NATS:NO_STREAM") && nowhere.contains("no stream keeps subject"), "{nowhere}");
    let bad = run(&rt, "bad_subject", json!({ "kind": "a b" })).await.unwrap_err();
    assert!(bad.starts_with("NATS:BAD_MESSAGE") && bad.contains("is not a subject"), "{bad}");

    let (status, _, metrics) = support::request(daemon.admin.unwrap(), "GET", "/metrics", &[], b"").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"relais_outbound_requests_total{config="events",status="acked"} 2"#)
            && metrics
                .contains(r#"relais_outbound_errors_total{config="events",type="NATS:NO_STREAM",status="none"} 1"#),
        "{metrics}"
    );
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_messages_loses_nothing_when_the_server_goes_away_and_comes_back_mid_way() {
    let stream = TestStream::new("outage");
    let proxy = Proxy::start("127.0.0.1:4222").await;
    let out = support::write_files(&[]).join("out");
    let flows = format!(
        r##"
configs:
  events: {{ nats: {{ servers: ["nats://{proxy}"], connect_timeout: 1s, request_timeout: 1s, stream: {declaration} }} }}
flows:
  send:
    steps:
      - until_successful:
          max_retries: 100
          backoff: {{ initial: 50ms, max: 500ms }}
          steps:
            - nats.publish: {{ config: events, subject: "{subject}.order", message_id: "order-#[payload.id]" }}
  receive:
    source: {{ nats.listener: {{ config: events, ack_wait: 2s, consumers: 8, batch: 16 }} }}
    steps:
      - set_payload: "#[#{{ id: payload.id, delivery: attributes.delivery, sequence: attributes.stream_sequence }}]"
      - file.write: {{ directory: "{out}", name: "#[payload.id]-#[payload.sequence]-#[payload.delivery].json" }}
"##,
        proxy = proxy.addr,
        declaration = stream.declaration(),
        subject = stream.subject,
        out = out.display(),
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let daemon = start(&dir, Arc::default()).await;
    let rt = daemon.runtime();
    support::eventually("relais to connect through the proxy", || async { ready(&daemon).await.0 == 200 }).await;
    const N: usize = 300;
    let mut tasks = Vec::new();
    for id in 0..N {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move { run(&rt, "send", json!({ "id": id })).await.map(|_| ()) }));
        if id == N / 2 {
            support::eventually("a first part to be consumed", || std::future::ready(!written(&out).is_empty())).await;
            proxy.cut();
            support::eventually("/ready to say the server is away", || async {
                let (status, body) = ready(&daemon).await;
                status == 503 && body.contains("events")
            })
            .await;
        }
        if id == 3 * N / 4 {
            // Publishes made during the cut fail (and are retried) before the server comes back.
            support::eventually("a publish to fail during the cut", || async {
                let (_, _, metrics) = support::request(daemon.admin.unwrap(), "GET", "/metrics", &[], b"").await;
                metrics.contains(r#"relais_outbound_errors_total{config="events",type="NATS:CONNECTIVITY""#)
            })
            .await;
            proxy.restore();
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // The stream kept each message once (the retried publishes share their Nats-Msg-Id) ...
    let js = direct().await;
    let mut info = js.get_stream(&stream.name).await.unwrap();
    assert_eq!(info.info().await.unwrap().state.messages, N as u64);
    // ... and each one ran at least once; a second run only for a message whose ack was lost in the cut.
    support::eventually("every message consumed", || {
        std::future::ready({
            let ids: std::collections::BTreeSet<u64> =
                written(&out).iter().filter_map(|(_, v)| v["id"].as_u64()).collect();
            ids.len() == N
        })
    })
    .await;
    let runs = written(&out);
    let sequences: std::collections::BTreeSet<u64> = runs.iter().filter_map(|(_, v)| v["sequence"].as_u64()).collect();
    assert_eq!(sequences.len(), N, "one stream sequence per message");
    assert!(runs.iter().all(|(_, v)| v["id"].as_u64().is_some_and(|id| id < N as u64)));
    let again = runs.iter().filter(|(_, v)| v["delivery"] != json!(1)).count();
    eprintln!("{} runs for {N} messages ({again} redeliveries after the cut)", runs.len());
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// A `nats-server` of the test's own on a free port, with JetStream and the options given (a password,
/// TLS); killed when dropped.
struct OwnServer {
    port: u16,
    child: std::process::Child,
    _store: PathBuf,
}

impl OwnServer {
    async fn start(options: &[&str]) -> OwnServer {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("nats-server is not installed: `apt-get install nats-server`"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let store = support::write_files(&[]);
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .args(options)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        support::eventually("the test's own nats-server to listen", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        OwnServer { port, child, _store: store }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_logged_at_start_keep_ready_at_503_and_never_show_the_password() {
    let server = OwnServer::start(&["--user", "relais", "--pass", "the-right-one"]).await;
    let flows = |secret: &str| {
        format!(
            r##"
configs:
  events: {{ nats: {{ servers: ["nats://127.0.0.1:{port}"], user: relais, password: "${{secret:{secret}}}", connect_timeout: 1s }} }}
flows:
  send:
    steps:
      - nats.publish: {{ config: events, subject: relais.auth.test }}
"##,
            port = server.port
        )
    };
    std::env::set_var("NATS_TEST_WRONG_PASSWORD", "s3cr3t-never-shown");
    std::env::set_var("NATS_TEST_RIGHT_PASSWORD", "the-right-one");
    let dir = support::write_files(&[("flows.yaml", &flows("NATS_TEST_WRONG_PASSWORD"))]);
    let daemon = start(&dir, Arc::default()).await;
    let body = Arc::new(Mutex::new(String::new()));
    support::eventually("/ready to give the server's reason", || {
        let body = body.clone();
        let daemon = &daemon;
        async move {
            let (status, text) = ready(daemon).await;
            let found = status == 503 && text.contains("authorization violation");
            *body.lock().unwrap() = text;
            found
        }
    })
    .await;
    let body = body.lock().unwrap().clone();
    assert!(body.contains("events") && body.contains(&format!("127.0.0.1:{}", server.port)), "{body}");
    assert!(!body.contains("s3cr3t"), "{body}");
    let refused = run(&daemon.runtime(), "send", json!({})).await.unwrap_err();
    assert!(refused.starts_with("NATS:CONNECTIVITY") && refused.contains("authorization violation"), "{refused}");
    assert!(!refused.contains("s3cr3t"), "{refused}");
    daemon.shutdown(Duration::from_secs(5)).await;

    // `relais run` says so in its log at start, once, without the password.
    let logged = tokio::task::spawn_blocking(move || {
        let relais = support::process::RelaisProcess::start(&dir, &[], "info", &[]);
        let line = relais.wait_for_log("cannot connect to NATS");
        (line, relais.stop())
    })
    .await
    .unwrap();
    assert!(logged.0.contains("authorization violation") && logged.0.contains("events"), "{}", logged.0);
    assert!(!logged.1.contains("s3cr3t"), "{}", logged.1);

    // The right password is let in: the same server, ready.
    let dir = support::write_files(&[("flows.yaml", &flows("NATS_TEST_RIGHT_PASSWORD"))]);
    let daemon = start(&dir, Arc::default()).await;
    support::eventually("/ready with the right password", || async { ready(&daemon).await.0 == 200 }).await;
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_ends_in_the_dead_letters_and_is_terminated_on_the_server() {
    let stream = TestStream::new("dead");
    let out = support::write_files(&[]).join("out");
    let flows = format!(
        r##"
configs:
  events: {{ nats: {{ stream: {declaration} }} }}
flows:
  send:
    steps:
      - nats.publish: {{ config: events, subject: "{subject}.order" }}
  receive:
    source: {{ nats.listener: {{ config: events, durable: dead_test, max_deliveries: 3, redelivery_delay: 10ms }} }}
    steps:
      - file.write: {{ directory: "{out}", name: "#[payload.id]-#[attributes.delivery].json" }}
      - choice:
          - when: "#[payload.id == \"bad\"]"
            steps:
              - raise_error: {{ type: "APP:REFUSED", description: "order #[payload.id] refused" }}
"##,
        declaration = stream.declaration(),
        subject = stream.subject,
        out = out.display(),
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let state: Arc<State> = Arc::default();
    let daemon = start(&dir, state.clone()).await;
    let rt = daemon.runtime();
    run(&rt, "send", json!({ "id": "bad" })).await.unwrap();
    run(&rt, "send", json!({ "id": "good" })).await.unwrap();
    support::eventually("the bad message's dead letter", || std::future::ready(state.dead_letter_count() == 1)).await;
    let letter = &state.dead_letters()[0];
    assert!(letter.error_type == "APP:REFUSED" && letter.attempts == 3, "{letter:?}");
    assert_eq!((letter.flow.as_str(), letter.queue.as_str()), ("receive", "relais.replay.receive"), "replayable");
    let js = direct().await;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        js.get_stream(&stream.name).await.unwrap().get_consumer("dead_test").await.unwrap();
    support::eventually("the server to hold nothing pending", async || {
        let info = consumer.info().await.unwrap();
        info.num_ack_pending == 0 && info.num_pending == 0
    })
    .await;
    let names: Vec<String> = written(&out).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, vec!["bad-1.json", "bad-2.json", "bad-3.json", "good-1.json"]);
    assert_eq!(state.dead_letter_count(), 1);
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_process_stopped_during_its_last_run_is_dead_lettered_without_running_again() {
    let stream = TestStream::new("stopped");
    let out = support::write_files(&[]).join("out");
    let flows = |steps: &str| {
        format!(
            r##"
configs:
  events: {{ nats: {{ stream: {declaration} }} }}
flows:
  send:
    steps:
      - nats.publish: {{ config: events, subject: "{subject}.order" }}
  receive:
    source: {{ nats.listener: {{ config: events, durable: stopped_test, max_deliveries: 1, ack_wait: 1s }} }}
    steps:
      - file.write: {{ directory: "{out}", name: "#[payload.id]-#[attributes.delivery].json" }}
{steps}
"##,
            declaration = stream.declaration(),
            subject = stream.subject,
            out = out.display(),
        )
    };
    let slow = support::write_files(&[("flows.yaml", &flows("      - time.delay: { duration: 10m }"))]);
    let state: Arc<State> = Arc::default();
    let daemon = start(&slow, state.clone()).await;
    run(&daemon.runtime(), "send", json!({ "id": "m" })).await.unwrap();
    support::eventually("the first run to start", || std::future::ready(written(&out).len() == 1)).await;
    // The drain deadline passes during the run: the run is cut short, the message never acknowledged.
    assert!(!daemon.shutdown(Duration::from_millis(100)).await);

    let quick = support::write_files(&[("flows.yaml", &flows(""))]);
    let daemon = start(&quick, state.clone()).await;
    support::eventually("the dead letter of the cut run", || std::future::ready(state.dead_letter_count() == 1)).await;
    let letter = &state.dead_letters()[0];
    assert!(letter.error_type == "NATS:REDELIVERY_EXHAUSTED" && letter.attempts == 2, "{letter:?}");
    let names: Vec<String> = written(&out).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, vec!["m-1.json"], "the message did not run a second time");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn check_refuses_credentials_in_urls_bad_subjects_and_names_and_half_given_credentials() {
    let flows = r##"
configs:
  a: { nats: { servers: ["nats://me:pw@127.0.0.1:4222", "http://127.0.0.1:4222"], password: "x", stream: { name: "BAD.NAME", subjects: ["a..b"] } } }
  b: { nats: { user: u, password: p, token: t } }
flows:
  send:
    steps:
      - nats.publish: { config: b, subject: "orders.*", headers: { "Bad:Name": x } }
  receive:
    source: { nats.listener: { config: b, stream: "S T", subject: "a.>.b" } }
    steps:
      - logger: "#[payload]"
"##;
    let dir = support::write_files(&[("flows.yaml", flows)]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    let errors = support::errors(loaded.diags.iter()).join("\n");
    for expected in [
        "a server URL with credentials in it",
        "`http://127.0.0.1:4222` is not a NATS server URL",
        "a `password` without a `user`",
        "`BAD.NAME` cannot name a stream",
        "`a..b` is not a subject",
        "both a user and a token",
        "`orders.*` is not a subject to publish to",
        "`Bad:Name` cannot name a header",
        "`S T` cannot name a stream",
        "`a.>.b` is not a subject filter",
    ] {
        assert!(errors.contains(expected), "missing {expected:?} in\n{errors}");
    }
    assert!(!errors.contains("pw"), "{errors}");
}

/// A CA, and a server certificate for 127.0.0.1 it signed, as PEM files in `dir`.
fn certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_server_is_verified_against_the_configured_ca_and_refused_without_it() {
    let pki = support::write_files(&[]);
    certificates(&pki);
    let (cert, key, ca) = (pki.join("server.crt"), pki.join("server.key"), pki.join("ca.crt"));
    let server =
        OwnServer::start(&["--tls", "--tlscert", cert.to_str().unwrap(), "--tlskey", key.to_str().unwrap()]).await;
    let flows = |tls: &str| {
        format!(
            r##"
configs:
  events: {{ nats: {{ servers: ["tls://127.0.0.1:{port}"], connect_timeout: 2s, {tls} stream: {{ name: TLS_TEST, subjects: ["tls.>"], storage: memory }} }} }}
flows:
  send:
    steps:
      - nats.publish: {{ config: events, subject: tls.order, target: ack }}
      - set_payload: "#[vars.ack]"
"##,
            port = server.port
        )
    };
    let trusted = support::write_files(&[("flows.yaml", &flows(&format!("tls: {{ ca: \"{}\" }},", ca.display())))]);
    let daemon = start(&trusted, Arc::default()).await;
    support::eventually("/ready over TLS", || async { ready(&daemon).await.0 == 200 }).await;
    let sent = run(&daemon.runtime(), "send", json!({ "id": 1 })).await.unwrap();
    assert_eq!(support::payload(&sent), json!({ "stream": "TLS_TEST", "sequence": 1, "duplicate": false }));
    daemon.shutdown(Duration::from_secs(5)).await;

    // Without the CA, the server's certificate is not trusted: never connected, /ready says so.
    let untrusted = support::write_files(&[("flows.yaml", &flows(""))]);
    let daemon = start(&untrusted, Arc::default()).await;
    support::eventually("/ready to refuse the untrusted server", || async {
        let (status, body) = ready(&daemon).await;
        status == 503 && body.contains("events") && body.contains("invalid peer certificate")
    })
    .await;
    let refused = run(&daemon.runtime(), "send", json!({ "id": 2 })).await.unwrap_err();
    assert!(refused.starts_with("NATS:CONNECTIVITY"), "{refused}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// A webhook publishing orders to the test's stream, and a listener flow sending each to the CRM with the
/// message's `origin` header and whether it is a replay.
fn traced_flows(stream: &TestStream, crm: SocketAddr) -> String {
    format!(
        r##"
configs:
  hooks: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{crm}", timeout: 5s }} }}
  events: {{ nats: {{ stream: {declaration} }} }}
flows:
  webhook:
    source: {{ http.listener: {{ config: hooks, method: POST, path: /orders, response: {{ status: 202 }} }} }}
    steps:
      - nats.publish: {{ config: events, subject: "{subject}.#[payload.order_id]", headers: {{ origin: ticketing }} }}
  receive:
    source: {{ nats.listener: {{ config: events, durable: receive, max_deliveries: 2, redelivery_delay: 10ms }} }}
    steps:
      - http.request:
          config: crm
          method: PUT
          path: "/contacts/#[payload.order_id]"
          headers: {{ x-origin: "#[attributes.headers.origin]", x-replayed: "#[attributes.replayed]" }}
"##,
        declaration = stream.declaration(),
        subject = stream.subject,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_followed_by_its_consumption_is_one_trace_at_the_collector() {
    let stream = TestStream::new("traced");
    let (collector_addr, collector) = support::otlp::collector().await;
    let (crm_addr, calls) = support::otlp::crm(Arc::default()).await;
    let Traced { relais, addr, .. } = run_traced(&traced_flows(&stream, crm_addr), collector_addr, "memory").await;
    post_order(addr, "A-1").await;
    support::eventually("the CRM received the order", async || !calls.lock().unwrap().is_empty()).await;
    // Spans end in their own order (the request's after its flow published) and are exported in batches:
    // wait for one of each kind.
    support::eventually("the request's, publish's, consumer's and CRM call's spans were exported", async || {
        let spans = collector.trace(TRACE);
        [otlp::SERVER, otlp::PRODUCER, otlp::CONSUMER, otlp::CLIENT].iter().all(|k| spans.iter().any(|s| s.kind == *k))
    })
    .await;
    drop(relais);

    let spans = collector.trace(TRACE);
    let webhook = otlp::only(&spans, "webhook flow span", |s| s.name == "flow webhook");
    let publish = otlp::only(&spans, "producer span", |s| s.kind == otlp::PRODUCER);
    // Named by the subject as written: the rendered one holds the order's id.
    let written = format!("{}.#[payload.order_id] publish", stream.subject);
    assert_eq!((publish.name.as_str(), publish.parent.as_str()), (written.as_str(), webhook.span_id.as_str()));
    assert_eq!(publish.attributes["messaging.system"], "nats");
    // The consumer's span is the publisher's child: the context crossed the server in the message's headers.
    let consumer = otlp::only(&spans, "consumer span", |s| s.kind == otlp::CONSUMER);
    let process = format!("{} process", stream.name);
    assert_eq!((consumer.name.as_str(), consumer.parent.as_str()), (process.as_str(), publish.span_id.as_str()));
    let run = otlp::only(&spans, "listener flow span", |s| s.name == "flow receive");
    assert_eq!(run.parent, consumer.span_id);
    let call = otlp::only(&spans, "CRM call span", |s| s.kind == otlp::CLIENT);
    assert_eq!(call.parent, run.span_id);
    let received = calls.lock().unwrap()[0].clone();
    assert_eq!(received.traceparent, Some(format!("00-{TRACE}-{}-01", call.span_id)));
    assert_eq!(received.headers.get("x-origin").map(String::as_str), Some("ticketing"));
    for span in &spans {
        assert!(span.attributes.values().all(|v| !v.contains("A-1")), "no payload value in a span: {span:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_trace_headers_or_with_a_malformed_traceparent_starts_a_trace_of_its_own() {
    let stream = TestStream::new("untraced");
    let (collector_addr, collector) = support::otlp::collector().await;
    let (crm_addr, calls) = support::otlp::crm(Arc::default()).await;
    let Traced { relais, .. } = run_traced(&traced_flows(&stream, crm_addr), collector_addr, "memory").await;
    let js = direct().await;
    let malformed = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    for (order, traceparent) in [("none", None), ("malformed", Some(malformed)), ("garbage", Some("garbage"))] {
        let mut headers = async_nats::HeaderMap::new();
        if let Some(traceparent) = traceparent {
            headers.insert("traceparent", traceparent);
        }
        let body = format!(r#"{{"order_id":"{order}"}}"#);
        let subject = format!("{}.{order}", stream.subject);
        js.publish_with_headers(subject, headers, body.into()).await.unwrap().await.unwrap();
    }
    support::eventually("the CRM accepted the three orders", async || calls.lock().unwrap().len() == 3).await;
    support::eventually("three consumer spans", async || {
        collector.spans().iter().filter(|s| s.kind == otlp::CONSUMER).count() == 3
    })
    .await;
    drop(relais);
    let consumers: Vec<otlp::Received> = collector.spans().into_iter().filter(|s| s.kind == otlp::CONSUMER).collect();
    let mut traces: Vec<&str> = consumers.iter().map(|s| s.trace_id.as_str()).collect();
    traces.sort_unstable();
    traces.dedup();
    assert_eq!(traces.len(), 3, "each message in a trace of its own: {consumers:#?}");
    for consumer in &consumers {
        assert_eq!(consumer.parent, "", "a root span: {consumer:#?}");
        assert_ne!(consumer.status, otlp::ERROR, "never an error: {consumer:#?}");
        assert_ne!(consumer.trace_id, TRACE, "the malformed header's trace is not taken");
    }
    for call in calls.lock().unwrap().iter() {
        assert_eq!(call.status, 200);
        let sent = call.traceparent.as_deref().unwrap_or_default();
        assert!(traces.iter().any(|t| sent.starts_with(&format!("00-{t}-"))), "{sent}");
    }
}

/// `relais dlq ARGS... --state STATE`: its exit status and what it printed.
fn dlq(args: &[&str], state: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("dlq")
        .args(args)
        .args(["--state", state])
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_dead_lettered_is_replayed_with_relais_dlq_on_the_shared_state_once_its_cause_is_fixed() {
    let stream = TestStream::new("poison");
    let schema = support::postgres::Schema::fresh();
    let state = schema.url("nats_poison");
    let (collector_addr, collector) = support::otlp::collector().await;
    let down = Arc::new(AtomicBool::new(true));
    let (crm_addr, calls) = support::otlp::crm(down.clone()).await;
    let Traced { relais, addr, dir: flows, .. } =
        run_traced(&traced_flows(&stream, crm_addr), collector_addr, &state).await;
    post_order(addr, "A-7").await;
    support::eventually("the CRM refused both deliveries", async || calls.lock().unwrap().len() == 2).await;
    let listed = Arc::new(Mutex::new(String::new()));
    support::eventually("the dead letter, listed by relais dlq", || {
        let (listed, state) = (listed.clone(), state.clone());
        async move {
            let (ok, out) = dlq(&["list"], &state);
            let found = ok && out.contains("1 dead letter(s)");
            *listed.lock().unwrap() = out;
            found
        }
    })
    .await;
    let listed = listed.lock().unwrap().clone();
    assert!(listed.contains("receive\trelais.replay.receive\tHTTP:SERVICE_UNAVAILABLE\t2 attempt(s)"), "{listed}");
    let id = listed.split('\t').next().unwrap().trim().to_string();
    // Shown scrubbed by the policy of the daemon's flows (without them, the payload would be withheld).
    let (ok, shown) = dlq(&["show", &id, "--flows", flows.to_str().unwrap()], &state);
    assert!(ok, "{shown}");
    let letter: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(letter["correlation_id"], "order-corr-1");
    assert_eq!(letter["attributes"]["subject"], format!("{}.A-7", stream.subject));
    assert_eq!(letter["attributes"]["headers"]["origin"], "ticketing");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(letter["payload"].as_str().unwrap()).unwrap(),
        json!({ "order_id": "A-7" })
    );

    // The CRM is back; the replay, on the state the running daemon shares, runs its flow again.
    down.store(false, Ordering::SeqCst);
    let (ok, out) = dlq(&["replay", &id], &state);
    assert!(ok, "{out}");
    assert!(out.contains("replayed: flow `receive` runs it again"), "{out}");
    support::eventually("the CRM accepted the replayed order", async || {
        calls.lock().unwrap().iter().any(|c| c.status == 200)
    })
    .await;
    let accepted = calls.lock().unwrap().iter().find(|c| c.status == 200).cloned().unwrap();
    assert_eq!(accepted.path, "/contacts/A-7");
    assert_eq!(accepted.headers.get("x-origin").map(String::as_str), Some("ticketing"), "the message's headers");
    assert_eq!(accepted.headers.get("x-replayed").map(String::as_str), Some("true"));
    assert_eq!(accepted.headers.get("x-correlation-id").map(String::as_str), Some("order-corr-1"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&accepted.body).unwrap(), json!({ "order_id": "A-7" }));
    let sent = accepted.traceparent.as_deref().unwrap_or_default();
    assert!(sent.starts_with(&format!("00-{TRACE}-")), "in the trace the message was published in: {sent}");
    let (ok, out) = dlq(&["list"], &state);
    assert!(ok && out.contains("0 dead letter(s)"), "{out}");
    let (ok, out) = dlq(&["replay", &id], &state);
    assert!(!ok && out.contains("no such dead letter"), "a dead letter is replayed once: {out}");
    support::eventually("the replay's consumer span was exported", async || {
        collector.trace(TRACE).iter().any(|s| s.name == "relais.replay.receive process" && s.status != otlp::ERROR)
    })
    .await;
    assert_eq!(calls.lock().unwrap().len(), 3, "two refused deliveries and the replay");
    drop(relais);
}
