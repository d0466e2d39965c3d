//! Tracing across systems, through the real binary: one order's trace followed from the ticketing webhook
//! through a persistent queue (redb, `--state DIR`) to the CRM, across a restart of the daemon with the
//! message still queued; the spans read back from a local OTLP/HTTP receiver (a hyper server decoding the
//! protobuf export), the `traceparent` read back from the simulated CRM. Also: a collector that is down or
//! never answers holds no flow up (spans dropped and counted), and a malformed `traceparent` is ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::otlp::{collector, crm, only, partner, Received, CLIENT, CONSUMER, ERROR, INTERNAL, PRODUCER, SERVER};
use support::process::RelaisProcess;
use support::request;

fn flows(crm: SocketAddr) -> String {
    format!(
        r##"
configs:
  hooks: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{crm}", timeout: 5s }} }}
flows:
  ticketing_webhook:
    source: {{ http.listener: {{ config: hooks, method: POST, path: /ticketing/orders, response: {{ status: 202 }} }} }}
    steps:
      - queue.publish: {{ queue: orders, persistent: true }}
  order_to_crm:
    source:
      queue.listener: {{ queue: orders, persistent: true, max_deliveries: 1000, redelivery_delay: 100ms }}
    steps:
      - logger: {{ message: "upserting the contact of an order" }}
      - http.request: {{ config: crm, method: PUT, path: "/contacts/#[payload.order_id]" }}
"##
    )
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TICKETING_SPAN: &str = "00f067aa0ba902b7";
const ORDER: &str = r#"{"order_id":"A-90817","buyer":{"email":"lea.martin@example.org","phone":"+33612345678"}}"#;

fn otlp_env(collector: SocketAddr) -> Vec<(&'static str, String)> {
    support::otlp::env(collector)
}

fn start(
    dir: &std::path::Path,
    state: &std::path::Path,
    env: &[(&'static str, String)],
) -> (RelaisProcess, SocketAddr) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--admin", "off", "--state", state.to_str().unwrap(), "--no-watch"];
    let relais = RelaisProcess::start(dir, &args, "info", &env);
    let addr = relais.wait_for_address("listening on http://");
    (relais, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_orders_trace_follows_it_from_the_webhook_through_a_persistent_queue_and_a_restart_to_the_crm() {
    let (collector_addr, collector) = collector().await;
    let down = Arc::new(AtomicBool::new(true));
    let (crm_addr, calls) = crm(down.clone()).await;
    let dir = support::write_files(&[("flows.yaml", &flows(crm_addr))]);
    let state = dir.join("state");
    let env = otlp_env(collector_addr);

    // The webhook arrives with the ticketing system's trace; the CRM is down, so the message stays queued.
    let (first, addr) = start(&dir, &state, &env);
    let traceparent = format!("00-{TRACE}-{TICKETING_SPAN}-01");
    let headers = [("traceparent", traceparent.as_str()), ("x-correlation-id", "order-corr-1")];
    let (status, _, _) = request(addr, "POST", "/ticketing/orders", &headers, ORDER.as_bytes()).await;
    assert_eq!(status, 202);
    support::eventually("the CRM refused a first delivery", async || !calls.lock().unwrap().is_empty()).await;
    support::eventually("the first daemon's spans were exported", async || {
        let spans = collector.spans();
        spans.iter().any(|s| s.kind == PRODUCER) && spans.iter().any(|s| s.kind == CONSUMER && s.status == ERROR)
    })
    .await;
    let first_logs = first.stop();

    // Stopped with the message still in the persistent queue.
    {
        let store = relais_store::RedbStore::open(&state).unwrap();
        let stats = relais_store::StateStore::queue_stats(&store, "orders", relais_store::Timestamp::from_millis(0));
        assert_eq!(stats.unwrap().total(), 1, "the message waits in the queue across the restart");
    }

    // The CRM is back; a new daemon on the same state delivers the message, in the same trace.
    down.store(false, Ordering::SeqCst);
    let (second, _) = start(&dir, &state, &env);
    support::eventually("the CRM accepted the order", async || calls.lock().unwrap().iter().any(|c| c.status == 200))
        .await;
    support::eventually("the second daemon's client span was exported", async || {
        collector
            .spans()
            .iter()
            .any(|s| s.kind == CLIENT && s.attributes.get("http.response.status_code").is_some_and(|c| c == "200"))
    })
    .await;
    let second_logs = second.stop();

    let spans = collector.spans();
    for span in &spans {
        assert_eq!(span.trace_id, TRACE, "every span is in the ticketing system's trace: {span:#?}");
        assert_eq!(span.service, "games-relais");
    }
    let server = only(&spans, "server span", |s| s.kind == SERVER);
    assert_eq!(server.parent, TICKETING_SPAN, "the webhook's span is a child of the caller's");
    assert_eq!(server.name, "POST /ticketing/orders");
    assert_eq!(server.attributes["http.route"], "/ticketing/orders");
    assert_eq!(server.attributes["http.response.status_code"], "202");
    let webhook = only(&spans, "webhook flow span", |s| s.name == "flow ticketing_webhook");
    assert_eq!((webhook.kind, webhook.parent.as_str()), (INTERNAL, server.span_id.as_str()));
    assert_eq!(webhook.attributes["relais.correlation_id"], "order-corr-1");
    let publish = only(&spans, "publish span", |s| s.kind == PRODUCER);
    assert_eq!((publish.name.as_str(), publish.parent.as_str()), ("orders publish", webhook.span_id.as_str()));

    // Every delivery, before and after the restart, is a consumer span under the stored publish span.
    let consumers: Vec<&Received> = spans.iter().filter(|s| s.kind == CONSUMER).collect();
    assert!(consumers.len() >= 2, "{consumers:#?}");
    assert!(consumers.iter().all(|c| c.parent == publish.span_id && c.name == "orders process"), "{consumers:#?}");
    let delivered = only(&spans, "successful delivery", |s| s.kind == CONSUMER && s.status != ERROR);
    let run = only(&spans, "successful consumer flow run", |s| {
        s.name == "flow order_to_crm" && s.parent == delivered.span_id
    });
    assert_ne!(run.status, ERROR);
    let call = only(&spans, "successful CRM call", |s| s.kind == CLIENT && s.parent == run.span_id);
    assert_eq!(call.name, "PUT /contacts/#[payload.order_id]", "named by the template, not the order's id");
    assert_eq!(call.attributes["relais.system"], "crm");
    assert_eq!(call.attributes["http.response.status_code"], "200");
    let refused: Vec<&Received> = spans.iter().filter(|s| s.kind == CLIENT && s.status == ERROR).collect();
    assert!(!refused.is_empty() && refused.iter().all(|s| s.attributes["error.type"] == "503"), "{refused:#?}");

    // The CRM saw the trace: each call's traceparent names that call's client span.
    let calls = calls.lock().unwrap().clone();
    assert!(calls.iter().all(|c| c.path == "/contacts/A-90817"), "{calls:?}");
    let accepted = calls.iter().find(|c| c.status == 200).unwrap();
    assert_eq!(accepted.traceparent.as_deref(), Some(format!("00-{TRACE}-{}-01", call.span_id).as_str()));
    for refused_call in calls.iter().filter(|c| c.status == 503) {
        let sent = refused_call.traceparent.as_deref().unwrap_or_default();
        assert!(sent.starts_with(&format!("00-{TRACE}-")), "{sent}");
    }

    // No span carries a payload value.
    for span in &spans {
        for value in span.attributes.values() {
            for secret in ["A-90817", "lea.martin@example.org", "+33612345678"] {
                assert!(!value.contains(secret), "`{secret}` in {span:#?}");
            }
        }
    }

    // Log lines about the order carry its correlation id and its trace id together.
    let line = second_logs.lines().find(|l| l.contains("upserting the contact of an order")).unwrap_or_else(|| {
        panic!("no logger line in:\n{second_logs}");
    });
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["fields"]["correlation_id"], "order-corr-1", "{line}");
    assert_eq!(line["fields"]["trace_id"], TRACE, "{line}");
    assert!(first_logs.contains("exporting traces over OTLP/HTTP"), "{first_logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_refuses_or_never_answers_holds_no_flow_up_and_its_dropped_spans_are_counted() {
    let down = Arc::new(AtomicBool::new(false));
    let (crm_addr, _) = crm(down).await;
    // A port nothing listens on (bound, then closed), and a collector that accepts and never answers.
    let refusing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let dir = support::write_files(&[(
        "flows.yaml",
        &format!(
            r##"
configs:
  hooks: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{crm_addr}", timeout: 5s }} }}
flows:
  order:
    source: {{ http.listener: {{ config: hooks, method: POST, path: /orders }} }}
    steps:
      - http.request: {{ config: crm, method: PUT, path: "/contacts/#[payload.order_id]" }}
"##
        ),
    )]);
    for (collector, expected_log) in [(refusing, "cannot export spans"), (silent_addr, "span export queue is full")] {
        let env = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("http://{collector}/v1/traces")),
            ("OTEL_BSP_SCHEDULE_DELAY", "50".to_string()),
            // Room for a few requests' spans (3 each), so that the queue fills once the export hangs, not in
            // a burst before it while the export task waits for a worker (which says it twice: full, room
            // again, full).
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16".to_string()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000".to_string()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let relais =
            RelaisProcess::start(&dir, &["--admin", "127.0.0.1:0", "--state", "memory", "--no-watch"], "info", &env);
        let addr = relais.wait_for_address("listening on http://");
        let admin = relais.wait_for_address("admin endpoints on http://");
        for _ in 0..30 {
            let (status, _, body) = request(addr, "POST", "/orders", &[], br#"{"order_id":"B-1"}"#).await;
            assert_eq!(status, 200, "{body}");
        }
        support::eventually("dropped spans are counted", async || {
            let (_, _, metrics) = request(admin, "GET", "/metrics", &[], b"").await;
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("relais_trace_spans_dropped_total "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
        .await;
        relais.wait_for_log(expected_log);
        let logs = relais.drain_logs(Duration::from_millis(300));
        assert_eq!(logs.matches(expected_log).count(), 1, "said once:\n{logs}");
        drop(relais);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_traceparent_is_ignored_and_the_request_runs_in_a_fresh_trace() {
    let (collector_addr, collector) = collector().await;
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  hooks: { http.listener: { port: 0 } }
flows:
  hello:
    source: { http.listener: { config: hooks, method: GET, path: /hello } }
    steps:
      - set_payload: { value: "hi" }
"##,
    )]);
    let env = otlp_env(collector_addr);
    let (relais, addr) = start(&dir, &dir.join("state"), &env);
    let malformed = [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "garbage",
    ];
    for bad in malformed {
        let (status, _, body) = request(addr, "GET", "/hello", &[("traceparent", bad)], b"").await;
        assert_eq!(status, 200, "{body}");
    }
    support::eventually("three server spans", async || {
        collector.spans().iter().filter(|s| s.kind == SERVER).count() == 3
    })
    .await;
    let servers: Vec<Received> = collector.spans().into_iter().filter(|s| s.kind == SERVER).collect();
    let mut traces: Vec<&str> = servers.iter().map(|s| s.trace_id.as_str()).collect();
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 3, "each request in a trace of its own: {servers:#?}");
    for server in &servers {
        assert_eq!(server.parent, "", "a root span: the malformed parent was ignored");
        assert_eq!(server.trace_id.len(), 32);
        assert_ne!(server.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(server.trace_id, "0".repeat(32));
    }
    drop(relais);
}

/// The value of the sample `name{labels}` in a Prometheus text page, if it is there.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

fn replay_flows(crm: SocketAddr, tokens: SocketAddr) -> String {
    format!(
        r##"
configs:
  hooks: {{ http.listener: {{ port: 0, access_log: true }} }}
  crm:
    http.client:
      base_url: "http://{crm}"
      timeout: 5s
      auth: {{ oauth2: {{ token_url: "http://{tokens}/token", client_id: relais, client_secret: s3cret }} }}
  archive: {{ http.client: {{ base_url: "http://{crm}", timeout: 5s }} }}
flows:
  ticketing_webhook:
    source: {{ http.listener: {{ config: hooks, method: POST, path: /ticketing/orders, response: {{ status: 202 }} }} }}
    steps:
      - queue.publish: {{ queue: orders, persistent: true }}
      - queue.publish: {{ queue: archive }}
  order_to_crm:
    source: {{ queue.listener: {{ queue: orders, persistent: true, max_deliveries: 1 }} }}
    steps:
      - logger: {{ message: "upserting the contact of an order" }}
      - http.request: {{ config: crm, method: PUT, path: "/contacts/#[payload.order_id]" }}
  order_archive:
    source: {{ queue.listener: {{ queue: archive, max_deliveries: 1 }} }}
    steps:
      - http.request: {{ config: archive, method: PUT, path: "/archive/#[payload.order_id]" }}
"##
    )
}

/// The JSON log lines whose message contains `text`.
fn lines_with(logs: &str, text: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter(|l| l.contains(text))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_dead_letter_runs_in_the_trace_it_failed_in_and_oauth2_token_fetches_are_traced_and_counted() {
    let (collector_addr, collector) = collector().await;
    let crm_down = Arc::new(AtomicBool::new(true));
    let tokens_down = Arc::new(AtomicBool::new(true));
    let (crm_addr, crm_calls) = partner(crm_down.clone(), 503, "{\"ok\":true}").await;
    let (tokens_addr, token_calls) =
        partner(tokens_down.clone(), 500, "{\"access_token\":\"tok-90817\",\"expires_in\":3600}").await;
    let dir = support::write_files(&[("flows.yaml", &replay_flows(crm_addr, tokens_addr))]);
    let state = dir.join("state");
    let env = otlp_env(collector_addr);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--admin", "127.0.0.1:0", "--admin-insecure", "--state", state.to_str().unwrap(), "--no-watch"];
    let relais = RelaisProcess::start(&dir, &args, "info", &env);
    let addr = relais.wait_for_address("listening on http://");
    let admin = relais.wait_for_address("admin endpoints on http://");

    // The order arrives in the ticketing system's trace. The token endpoint fails (500): the persistent
    // queue's consumer gets no token and dead-letters the message (its store writes the letter); the archive
    // refuses (503): the in-memory queue's consumer dead-letters its delivery (the engine writes the letter).
    let traceparent = format!("00-{TRACE}-{TICKETING_SPAN}-01");
    let headers = [("traceparent", traceparent.as_str()), ("x-correlation-id", "order-corr-2")];
    let (status, _, _) = request(addr, "POST", "/ticketing/orders", &headers, ORDER.as_bytes()).await;
    assert_eq!(status, 202);
    let (status, _, _) = request(addr, "GET", "/nowhere", &headers, b"").await;
    assert_eq!(status, 404);
    let mut letters = Vec::new();
    support::eventually("both deliveries are dead-lettered", async || {
        let (_, _, body) = request(admin, "GET", "/dead-letters", &[], b"").await;
        letters = serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap_or_default();
        letters.len() == 2
    })
    .await;
    for letter in &letters {
        assert_eq!(letter["trace_id"], TRACE, "each letter names the trace it failed in: {letter}");
        assert_eq!(letter["correlation_id"], "order-corr-2");
    }

    // Both partners are back: each letter is replayed on the admin port, and each replayed run succeeds.
    crm_down.store(false, Ordering::SeqCst);
    tokens_down.store(false, Ordering::SeqCst);
    for letter in &letters {
        let path = format!("/dead-letters/{}/replay", letter["id"]);
        let (status, _, body) = request(admin, "POST", &path, &[], b"").await;
        assert_eq!(status, 200, "{body}");
    }
    support::eventually("the CRM and the archive accepted the order", async || {
        let calls = crm_calls.lock().unwrap();
        ["/contacts/A-90817", "/archive/A-90817"].iter().all(|p| calls.iter().any(|c| c.path == *p && c.status == 200))
    })
    .await;
    support::eventually("the replayed runs' client spans were exported", async || {
        let ok = |s: &&Received| {
            s.kind == CLIENT && s.attributes.get("http.response.status_code").is_some_and(|c| c == "200")
        };
        collector.spans().iter().filter(ok).count() == 3
    })
    .await;
    let (_, _, metrics) = request(admin, "GET", "/metrics", &[], b"").await;
    let logs = relais.stop();

    // Every span, before and after the replays, is in the ticketing system's trace.
    let spans = collector.spans();
    for span in &spans {
        assert_eq!(span.trace_id, TRACE, "{span:#?}");
    }
    let by_id = |id: &str| spans.iter().find(|s| s.span_id == id);
    // The persistent queue's letter kept the publish's context: the replayed delivery is under it again.
    let publish = only(&spans, "persistent publish", |s| s.name == "orders publish");
    let deliveries: Vec<&Received> = spans.iter().filter(|s| s.name == "orders process").collect();
    assert_eq!(deliveries.len(), 2, "the failed delivery and the replayed one: {deliveries:#?}");
    assert!(deliveries.iter().all(|d| d.parent == publish.span_id), "{deliveries:#?}");
    // The in-memory queue's letter kept the failed delivery's context: the replayed delivery is under it.
    let failed_archive = only(&spans, "failed archive run", |s| s.name == "flow order_archive" && s.status == ERROR);
    let replayed_archive =
        only(&spans, "replayed archive run", |s| s.name == "flow order_archive" && s.status != ERROR);
    let failed_delivery = by_id(&failed_archive.parent).expect("the failed run's delivery span");
    let replayed_delivery = by_id(&replayed_archive.parent).expect("the replayed run's delivery span");
    assert_eq!(failed_delivery.name, "archive process");
    assert_eq!(replayed_delivery.parent, failed_delivery.span_id, "{replayed_delivery:#?}");

    // Each token fetch is a client span of its own under the run that needed the token, counted apart.
    let fetches: Vec<&Received> = spans
        .iter()
        .filter(|s| s.kind == CLIENT && s.attributes.get("relais.system").is_some_and(|n| n == "crm.oauth2"))
        .collect();
    assert_eq!(fetches.len(), 2, "{fetches:#?}");
    for fetch in &fetches {
        assert_eq!(fetch.name, "POST oauth2 token");
        let run = by_id(&fetch.parent).expect("the fetch's parent span");
        assert_eq!(run.name, "flow order_to_crm", "{fetch:#?}");
    }
    let refused = fetches.iter().find(|f| f.status == ERROR).expect("the refused fetch");
    assert_eq!(refused.attributes["error.type"], "HTTP:INTERNAL_SERVER_ERROR");
    assert_eq!(refused.attributes["http.response.status_code"], "500");
    let issued = fetches.iter().find(|f| f.status != ERROR).expect("the fetch that got a token");
    assert_eq!(issued.attributes["http.response.status_code"], "200");
    let token_calls = token_calls.lock().unwrap().clone();
    assert_eq!(token_calls.len(), 2, "{token_calls:?}");
    for (call, fetch) in token_calls.iter().zip([refused, issued]) {
        assert_eq!(call.traceparent.as_deref(), Some(format!("00-{TRACE}-{}-01", fetch.span_id).as_str()));
    }
    for (series, expected) in [
        ("relais_outbound_requests_total{config=\"crm.oauth2\",status=\"500\"}", 1.0),
        ("relais_outbound_requests_total{config=\"crm.oauth2\",status=\"200\"}", 1.0),
        ("relais_outbound_errors_total{config=\"crm.oauth2\",type=\"HTTP:INTERNAL_SERVER_ERROR\",status=\"500\"}", 1.0),
        ("relais_outbound_request_duration_seconds_count{config=\"crm.oauth2\"}", 2.0),
        ("relais_outbound_requests_total{config=\"crm\",status=\"200\"}", 1.0),
    ] {
        assert_eq!(sample(&metrics, series), Some(expected), "{series} in\n{metrics}");
    }
    assert!(!metrics.contains("tok-90817"), "the token is no label");

    // The correlation id and the trace id appear together in every log line about the order: the access
    // log (a request no route took included), the logger step, the failures and the dead-lettering.
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "relais::access")
        .collect();
    assert_eq!(access.len(), 2, "{logs}");
    let mut about_the_order = access;
    for text in ["upserting the contact of an order", "message dead-lettered", "unhandled error"] {
        let found = lines_with(&logs, text);
        assert!(!found.is_empty(), "no `{text}` line in:\n{logs}");
        about_the_order.extend(found);
    }
    for line in &about_the_order {
        assert_eq!(line["fields"]["correlation_id"], "order-corr-2", "{line}");
        assert_eq!(line["fields"]["trace_id"], TRACE, "{line}");
    }
    assert!(lines_with(&logs, "message dead-lettered").len() >= 2, "both letters logged:\n{logs}");
}
