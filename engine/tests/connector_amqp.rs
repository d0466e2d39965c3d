//! The `amqp` connector against the RabbitMQ broker on 127.0.0.1:5672 (guest/guest): publishes confirmed
//! and consumed by a listener flow with their routing key, headers and correlation id; typed failures
//! (unroutable, no such exchange); a stream of messages that loses nothing while a proxy between relais
//! and the broker cuts every connection; bad credentials turning `/ready` to 503 without the password
//! shown; messages that keep failing ending in the relais dead letters or the queue's dead-letter exchange;
//! the checks of a config's topology; the W3C trace context carried in the messages' headers (one trace
//! from the webhook through the broker to the CRM, at a local OTLP collector; a message without it, or
//! with a malformed one, in a trace of its own); a poison message dead-lettered, then replayed through
//! the admin port once its cause is fixed. Each test uses exchanges and queues named after itself and the
//! process, deleted at the end, so tests run in parallel on the default vhost.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use serde_json::{json, Value as Json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::otlp::{self, post_order, run_traced, Traced, CALLER_SPAN, TRACE};
use support::proxy::Proxy;

const START: &str = "start it with `rabbitmq-server -detached` (or `.ci/services`), user guest/guest on loopback";

/// A direct connection to the broker, for the test's own setup and reading.
async fn direct() -> Connection {
    Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ at 127.0.0.1:5672 is unreachable ({e}); {START}"))
}

/// Names of the test's own, and their deletion at the end.
struct Names {
    prefix: String,
    queues: Vec<String>,
    exchanges: Vec<String>,
}

impl Names {
    fn new(test: &str) -> Names {
        Names { prefix: format!("relais_{test}_{}", std::process::id()), queues: Vec::new(), exchanges: Vec::new() }
    }

    fn queue(&mut self, name: &str) -> String {
        let full = format!("{}_{name}", self.prefix);
        self.queues.push(full.clone());
        full
    }

    fn exchange(&mut self, name: &str) -> String {
        let full = format!("{}_{name}", self.prefix);
        self.exchanges.push(full.clone());
        full
    }

    async fn delete(&self) {
        let connection = direct().await;
        let channel = connection.create_channel().await.unwrap();
        for q in &self.queues {
            let _ = channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
        }
        for x in &self.exchanges {
            let _ = channel.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()).await;
        }
    }
}

/// Every message waiting in `queue`, read (and acknowledged) directly.
async fn take_all(connection: &Connection, queue: &str) -> Vec<(Json, lapin::BasicProperties)> {
    let channel = connection.create_channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(message) = channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap() {
        let body = serde_json::from_slice(&message.delivery.data).unwrap_or(Json::Null);
        out.push((body, message.delivery.properties.clone()));
    }
    out
}

async fn run(rt: &Runtime, flow: &str, payload: Json) -> Result<Json, String> {
    rt.run_flow(flow, Event::new(payload))
        .await
        .map(|ev| support::payload(&ev))
        .map_err(|e| format!("{}: {}", e.error_type, e.description))
}

async fn start(flows: &str, state: Arc<State>) -> relais_engine::daemon::Daemon {
    let dir = support::write_files(&[("flows.yaml", flows)]);
    let (_, program) = support::compile_dir(&dir, Some(state));
    support::daemon_with_admin(program).await
}

async fn ready(daemon: &relais_engine::daemon::Daemon) -> (u16, String) {
    let (status, _, body) = support::request(daemon.admin.unwrap(), "GET", "/ready", &[], b"").await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_publishes_reach_the_listener_flow_with_their_routing_key_headers_and_correlation_id() {
    let mut names = Names::new("happy");
    let (orders, inbox, out) = (names.exchange("orders"), names.queue("inbox"), names.queue("out"));
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest:${{secret:AMQP_GUEST}}@127.0.0.1:5672/%2f"
      exchanges: [ {{ name: {orders}, type: topic }} ]
      queues: [ {{ name: {inbox} }}, {{ name: {out} }} ]
      bindings: [ {{ queue: {inbox}, exchange: {orders}, routing_key: "order.*" }} ]
flows:
  send:
    steps:
      - amqp.publish:
          config: broker
          exchange: {orders}
          routing_key: "order.#[payload.kind]"
          headers: {{ origin: "#[payload.origin]" }}
  receive:
    source: {{ amqp.listener: {{ config: broker, queue: {inbox}, prefetch: 4 }} }}
    steps:
      - set_payload: "#[ #{{ id: payload.id, key: attributes.routing_key, exchange: attributes.exchange, origin: attributes.headers.origin, correlation: correlation_id, redelivered: attributes.redelivered }} ]"
      - amqp.publish: {{ config: broker, routing_key: {out} }}
"##
    );
    std::env::set_var("AMQP_GUEST", "guest");
    let daemon = start(&flows, Arc::default()).await;
    let rt = daemon.runtime();
    for id in 0..20 {
        let mut event = Event::new(json!({ "id": id, "kind": "created", "origin": "ticketing" }));
        event.correlation_id = format!("corr-{id}").into();
        rt.run_flow("send", event).await.unwrap();
    }
    let connection = direct().await;
    let received = Arc::new(Mutex::new(Vec::new()));
    support::eventually("20 messages through the listener flow", || {
        let (connection, received, out) = (&connection, received.clone(), out.clone());
        async move {
            let mut got = received.lock().unwrap().clone();
            got.extend(take_all(connection, &out).await);
            let done = got.len() >= 20;
            *received.lock().unwrap() = got;
            done
        }
    })
    .await;
    let received = received.lock().unwrap().clone();
    let mut ids: Vec<i64> = received.iter().map(|(b, _)| b["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    for (body, properties) in &received {
        let id = body["id"].as_i64().unwrap();
        assert_eq!(body["key"], "order.created");
        assert_eq!(body["exchange"], orders.as_str());
        assert_eq!(body["origin"], "ticketing");
        assert_eq!(body["correlation"], format!("corr-{id}"), "the listener takes the correlation id over");
        assert_eq!(body["redelivered"], false);
        // The listener flow's own publish carries the correlation id on, as a property, with the media type.
        assert_eq!(properties.correlation_id().as_ref().map(|c| c.to_string()), Some(format!("corr-{id}")));
        assert_eq!(properties.content_type().as_ref().map(|c| c.to_string()).as_deref(), Some("application/json"));
        assert_eq!(*properties.delivery_mode(), Some(2), "persistent by default");
    }
    assert_eq!(ready(&daemon).await.0, 200);
    daemon.shutdown(Duration::from_secs(5)).await;
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_message_a_missing_exchange_and_a_full_queue_are_typed_failures_and_publishing_goes_on() {
    let mut names = Names::new("unroutable");
    let (events, inbox, full) = (names.exchange("events"), names.queue("inbox"), names.queue("full"));
    let missing = format!("{}_missing", names.prefix);
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest@127.0.0.1:5672"
      password: guest
      exchanges: [ {{ name: {events} }} ]
      queues:
        - {{ name: {inbox} }}
        - {{ name: {full}, arguments: {{ x-max-length: 1, x-overflow: reject-publish }} }}
      bindings: [ {{ queue: {inbox}, exchange: {events}, routing_key: bound }} ]
flows:
  send_full:
    steps:
      - amqp.publish: {{ config: broker, routing_key: {full} }}
  send:
    steps:
      - amqp.publish: {{ config: broker, exchange: {events}, routing_key: "#[payload.key]" }}
  send_missing:
    steps:
      - amqp.publish: {{ config: broker, exchange: {missing}, routing_key: any }}
  send_unchecked:
    steps:
      - amqp.publish: {{ config: broker, exchange: {events}, routing_key: nowhere, mandatory: false }}
"##
    );
    let rt = support::yaml(&flows);
    assert_eq!(run(&rt, "send", json!({ "key": "bound" })).await, Ok(json!({ "key": "bound" })));
    let unroutable = run(&rt, "send", json!({ "key": "nobody" })).await.unwrap_err();
    assert!(unroutable.starts_with("AMQP:UNROUTABLE") && unroutable.contains("NO_ROUTE"), "{unroutable}");
    let missing_exchange = run(&rt, "send_missing", json!({})).await.unwrap_err();
    assert!(
        missing_exchange.starts_with("AMQP:UNROUTABLE") && missing_exchange.contains("does not exist"),
        "{missing_exchange}"
    );
    // The broker closed the publish channel over the missing exchange; the next publish opens another.
    assert!(run(&rt, "send", json!({ "key": "bound" })).await.is_ok());
    let unchecked = run(&rt, "send_unchecked", json!({})).await;
    assert!(unchecked.is_ok(), "not mandatory: dropped by the broker, confirmed: {unchecked:?}");
    // A queue that refuses publishes once full (its declared arguments): the broker nacks the second.
    assert!(run(&rt, "send_full", json!({ "n": 1 })).await.is_ok());
    let nacked = run(&rt, "send_full", json!({ "n": 2 })).await.unwrap_err();
    assert!(nacked.starts_with("AMQP:NACKED"), "{nacked}");
    let connection = direct().await;
    assert_eq!(take_all(&connection, &inbox).await.len(), 2);
    assert_eq!(take_all(&connection, &full).await.len(), 1);
    let metrics = rt.metrics().render();
    assert!(
        metrics.contains("relais_outbound_errors_total{config=\"broker\",type=\"AMQP:UNROUTABLE\",status=\"312\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("relais_outbound_requests_total{config=\"broker\",status=\"200\"} 4"), "{metrics}");
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_messages_loses_nothing_when_the_connection_is_cut_mid_way_and_comes_back() {
    let mut names = Names::new("outage");
    let (inbox, out) = (names.queue("inbox"), names.queue("out"));
    let proxy = Proxy::start("127.0.0.1:5672").await;
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest:guest@{addr}/%2f"
      heartbeat: 2s
      connect_timeout: 2s
      publish_timeout: 2s
      queues: [ {{ name: {inbox} }}, {{ name: {out} }} ]
flows:
  send:
    steps:
      - until_successful:
          max_retries: 100
          backoff: {{ initial: 20ms, max: 300ms }}
          steps:
            - amqp.publish: {{ config: broker, routing_key: {inbox} }}
  receive:
    source: {{ amqp.listener: {{ config: broker, queue: {inbox}, prefetch: 8 }} }}
    steps:
      - until_successful:
          max_retries: 100
          backoff: {{ initial: 20ms, max: 300ms }}
          steps:
            - amqp.publish: {{ config: broker, routing_key: {out} }}
"##,
        addr = proxy.addr
    );
    let daemon = start(&flows, Arc::default()).await;
    let rt = daemon.runtime();
    support::eventually("the first connection", || async { rt.program().resources.not_ready().is_empty() }).await;
    let total = 200;
    let mut tasks = Vec::new();
    for id in 0..total {
        let sender = rt.clone();
        tasks.push(tokio::spawn(async move { run(&sender, "send", json!({ "id": id })).await }));
        if id == total / 2 {
            proxy.cut();
            support::eventually("relais to see the connection lost", || async {
                !rt.program().resources.not_ready().is_empty()
            })
            .await;
            assert_eq!(ready(&daemon).await.0, 503);
            proxy.restore();
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let connection = direct().await;
    let received = Arc::new(Mutex::new(Vec::new()));
    support::eventually("every message through the listener flow", || {
        let (connection, received, out) = (&connection, received.clone(), out.clone());
        async move {
            let mut got = received.lock().unwrap().clone();
            got.extend(take_all(connection, &out).await.into_iter().map(|(b, _)| b["id"].as_i64().unwrap()));
            let mut distinct = got.clone();
            distinct.sort_unstable();
            distinct.dedup();
            *received.lock().unwrap() = got;
            distinct.len() == total as usize
        }
    })
    .await;
    let got = received.lock().unwrap().clone();
    let mut distinct = got.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct, (0..total as i64).collect::<Vec<_>>(), "nothing lost");
    // At least once: a duplicate comes from a publish retried after its confirm was lost (counted as a
    // retry of the config) or from a delivery whose ack the cut swallowed (at most `prefetch` of them).
    let metrics = rt.metrics().render();
    let retries: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("relais_outbound_retries_total{config=\"broker\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry count for the broker: {metrics}"));
    assert!(retries > 0, "the cut made publishes fail and retry");
    let duplicates = got.len() - distinct.len();
    assert!(duplicates <= retries + 8, "{duplicates} duplicates for {retries} retries and a prefetch of 8");
    assert_eq!(ready(&daemon).await.0, 200);
    daemon.shutdown(Duration::from_secs(5)).await;
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_is_declared_again_when_the_broker_comes_back_without_it() {
    let mut names = Names::new("redeclare");
    let (changes, inbox, out) = (names.exchange("changes"), names.queue("inbox"), names.queue("out"));
    let proxy = Proxy::start("127.0.0.1:5672").await;
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest:guest@{addr}/%2f"
      exchanges: [ {{ name: {changes}, type: topic }} ]
      queues: [ {{ name: {inbox} }}, {{ name: {out} }} ]
      bindings: [ {{ queue: {inbox}, exchange: {changes}, routing_key: "change.#" }} ]
flows:
  send:
    steps:
      - amqp.publish: {{ config: broker, exchange: {changes}, routing_key: change.made }}
  receive:
    source: {{ amqp.listener: {{ config: broker, queue: {inbox} }} }}
    steps:
      - amqp.publish: {{ config: broker, routing_key: {out} }}
"##,
        addr = proxy.addr
    );
    let daemon = start(&flows, Arc::default()).await;
    let rt = daemon.runtime();
    let connection = direct().await;
    let arrived = |id: i64| {
        let (connection, out) = (&connection, out.clone());
        let seen = Arc::new(Mutex::new(false));
        move || {
            let (seen, out) = (seen.clone(), out.clone());
            async move {
                let ids: Vec<Json> =
                    take_all(connection, &out).await.into_iter().map(|(b, _)| b["id"].clone()).collect();
                let mut seen = seen.lock().unwrap();
                *seen |= ids.contains(&json!(id));
                *seen
            }
        }
    };
    support::eventually("the first connection", || async { rt.program().resources.not_ready().is_empty() }).await;
    run(&rt, "send", json!({ "id": 1 })).await.unwrap();
    support::eventually("message 1 through the listener", arrived(1)).await;

    // The broker comes back without the topology (a new node, a restart losing it): relais is cut off
    // while it is deleted, then reconnects.
    proxy.cut();
    support::eventually("relais to see the connection lost", || async {
        !rt.program().resources.not_ready().is_empty()
    })
    .await;
    let channel = connection.create_channel().await.unwrap();
    for q in [&inbox, &out] {
        channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    }
    channel.exchange_delete(changes.as_str().into(), ExchangeDeleteOptions::default()).await.unwrap();
    proxy.restore();
    support::eventually("the connection again", || async { rt.program().resources.not_ready().is_empty() }).await;
    run(&rt, "send", json!({ "id": 2 })).await.unwrap();
    support::eventually("message 2 through the re-declared exchange, binding and queues", arrived(2)).await;
    daemon.shutdown(Duration::from_secs(5)).await;
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_mid_stream_leaves_each_message_processed_once_or_back_in_its_queue() {
    let mut names = Names::new("stop");
    let (inbox, out) = (names.queue("inbox"), names.queue("out"));
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest:guest@127.0.0.1:5672"
      queues: [ {{ name: {inbox} }}, {{ name: {out} }} ]
flows:
  receive:
    source: {{ amqp.listener: {{ config: broker, queue: {inbox}, prefetch: 4 }} }}
    steps:
      - time.delay: {{ duration: 100ms }}
      - amqp.publish: {{ config: broker, routing_key: {out} }}
  send:
    steps:
      - amqp.publish: {{ config: broker, routing_key: {inbox} }}
"##
    );
    let daemon = start(&flows, Arc::default()).await;
    let rt = daemon.runtime();
    for id in 0..40 {
        run(&rt, "send", json!({ "id": id })).await.unwrap();
    }
    let connection = direct().await;
    let processed = Arc::new(Mutex::new(Vec::new()));
    support::eventually("a few messages processed", || {
        let (connection, processed, out) = (&connection, processed.clone(), out.clone());
        async move {
            let taken = take_all(connection, &out).await;
            processed.lock().unwrap().extend(taken.into_iter().map(|(b, _)| b["id"].as_i64().unwrap()));
            processed.lock().unwrap().len() >= 4
        }
    })
    .await;
    daemon.shutdown(Duration::from_secs(10)).await;
    drop(rt);
    let returned = Arc::new(Mutex::new(Vec::new()));
    support::eventually("every message processed or back in the inbox", || {
        let (connection, processed, returned) = (&connection, processed.clone(), returned.clone());
        let (inbox, out) = (inbox.clone(), out.clone());
        async move {
            let done = take_all(connection, &out).await;
            processed.lock().unwrap().extend(done.into_iter().map(|(b, _)| b["id"].as_i64().unwrap()));
            let back = take_all(connection, &inbox).await;
            returned.lock().unwrap().extend(back.into_iter().map(|(b, _)| b["id"].as_i64().unwrap()));
            processed.lock().unwrap().len() + returned.lock().unwrap().len() >= 40
        }
    })
    .await;
    let (processed, returned) = (processed.lock().unwrap().clone(), returned.lock().unwrap().clone());
    let mut all: Vec<i64> = processed.iter().chain(&returned).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..40).collect::<Vec<_>>(), "processed {processed:?}, returned {returned:?}");
    assert!(!returned.is_empty(), "the stop came before the end of the stream");
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_keep_ready_at_503_with_the_broker_s_reason_and_never_show_the_password() {
    let flows = r##"
configs:
  broker: { amqp: { url: "amqp://relais_no_such_user@127.0.0.1:5672/%2f", password: "${secret:AMQP_BAD_PASSWORD}" } }
flows:
  send:
    steps:
      - amqp.publish: { config: broker, routing_key: anywhere }
"##;
    std::env::set_var("AMQP_BAD_PASSWORD", "s3cr3t-never-shown");
    let daemon = start(flows, Arc::default()).await;
    let body = Arc::new(Mutex::new(String::new()));
    support::eventually("/ready to give the broker's reason", || {
        let body = body.clone();
        let daemon = &daemon;
        async move {
            let (status, text) = ready(daemon).await;
            let found = status == 503 && text.contains("ACCESS_REFUSED");
            *body.lock().unwrap() = text;
            found
        }
    })
    .await;
    let body = body.lock().unwrap().clone();
    assert!(body.contains("broker") && body.contains("relais_no_such_user@127.0.0.1:5672"), "{body}");
    assert!(!body.contains("s3cr3t"), "{body}");
    let failed = run(&daemon.runtime(), "send", json!({})).await.unwrap_err();
    assert!(failed.starts_with("AMQP:CONNECTIVITY") && failed.contains("ACCESS_REFUSED"), "{failed}");
    assert!(!failed.contains("s3cr3t"), "{failed}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_ends_in_the_dead_letters_or_the_queue_s_dead_letter_exchange() {
    let mut names = Names::new("dead");
    let (plain, guarded, dlx, parked) =
        (names.queue("plain"), names.queue("guarded"), names.exchange("dlx"), names.queue("parked"));
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest:guest@127.0.0.1:5672"
      exchanges: [ {{ name: {dlx}, type: fanout }} ]
      queues:
        - {{ name: {plain} }}
        - {{ name: {guarded}, dead_letter_exchange: {dlx} }}
        - {{ name: {parked} }}
      bindings: [ {{ queue: {parked}, exchange: {dlx} }} ]
flows:
  plain:
    source: {{ amqp.listener: {{ config: broker, queue: {plain}, max_deliveries: 3, redelivery_delay: 10ms }} }}
    steps:
      - raise_error: {{ type: "APP:REFUSED", description: "order #[payload.id] refused" }}
  guarded:
    source: {{ amqp.listener: {{ config: broker, queue: {guarded}, max_deliveries: 2, redelivery_delay: 10ms }} }}
    steps:
      - raise_error: {{ type: "APP:REFUSED", description: "order #[payload.id] refused" }}
  send:
    steps:
      - amqp.publish: {{ config: broker, routing_key: "#[payload.queue]" }}
"##
    );
    let state: Arc<State> = Arc::default();
    let daemon = start(&flows, state.clone()).await;
    let rt = daemon.runtime();
    run(&rt, "send", json!({ "id": 1, "queue": plain })).await.unwrap();
    run(&rt, "send", json!({ "id": 2, "queue": guarded })).await.unwrap();
    // Counted before it is stored: wait for the stored letter.
    support::eventually("the relais dead letter", || std::future::ready(state.dead_letters().len() == 1)).await;
    let letter = &state.dead_letters()[0];
    assert!(letter.error_type == "APP:REFUSED" && letter.attempts == 3 && letter.flow == "plain", "{letter:?}");
    assert_eq!(letter.queue, "relais.replay.plain", "replayable into its flow");
    assert_eq!(serde_json::from_slice::<Json>(&letter.payload).unwrap()["id"], 1);
    let connection = direct().await;
    let parked_messages = Arc::new(Mutex::new(Vec::new()));
    support::eventually("the broker's dead letter in the parked queue", || {
        let (connection, parked_messages, parked) = (&connection, parked_messages.clone(), parked.clone());
        async move {
            let taken = take_all(connection, &parked).await;
            parked_messages.lock().unwrap().extend(taken);
            !parked_messages.lock().unwrap().is_empty()
        }
    })
    .await;
    let (body, properties) = parked_messages.lock().unwrap()[0].clone();
    assert_eq!(body["id"], 2);
    let headers = properties.headers().as_ref().unwrap();
    assert!(headers.inner().keys().any(|k| k.as_str() == "x-death"), "the broker's dead-letter record");
    assert_eq!(state.dead_letters().len(), 1, "the broker's dead letter is not also a relais one");
    // Nothing is left in either queue: both messages were settled.
    assert!(take_all(&connection, &plain).await.is_empty() && take_all(&connection, &guarded).await.is_empty());
    daemon.shutdown(Duration::from_secs(5)).await;
    names.delete().await;
}

#[test]
fn check_reports_a_topology_naming_what_it_does_not_declare_tls_without_amqps_a_password_in_clear_and_an_undeclared_exchange(
) {
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  broker:
    amqp:
      url: "amqp://guest:hunter2@127.0.0.1:5672"
      exchanges: [ { name: orders, type: topic }, { name: orders } ]
      queues: [ { name: inbox, dead_letter_exchange: parking } ]
      bindings: [ { queue: inbx, exchange: orders }, { queue: inbox, exchange: "" } ]
  plain: { amqp: { url: "amqp://guest@broker.example:5672", tls: {} } }
  wrong: { amqp: { url: "http://nowhere" } }
flows:
  send:
    steps:
      - amqp.publish: { config: missing, exchange: orders }
      - amqp.publish: { config: broker, exchange: order }
"##,
    )]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    let messages: Vec<String> = loaded.diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
    let has = |text: &str| messages.iter().any(|m| m.contains(text));
    assert!(has("exchange `orders` declared twice"), "{messages:?}");
    assert!(has("exchange `parking` is not declared by this config"), "{messages:?}");
    assert!(has("queue `inbx` is not declared by this config"), "{messages:?}");
    assert!(has("a binding to the default exchange"), "{messages:?}");
    assert!(has("`tls` settings for an `amqp://` URL"), "{messages:?}");
    assert!(has("not an AMQP URL"), "{messages:?}");
    assert!(has("a password written in clear"), "{messages:?}");
    assert!(has("RL0301"), "an undefined config is reported: {messages:?}");
    assert!(has("RL0520: exchange `order` is not declared by config `broker`"), "{messages:?}");
    let inbx = loaded.diags.iter().find(|d| d.message.contains("inbx")).unwrap();
    assert!(inbx.help.as_deref().is_some_and(|h| h.contains("inbox")), "{:?}", inbx.help);
}

#[test]
fn relais_run_with_bad_credentials_logs_the_broker_s_reason_at_start_and_never_the_password() {
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  broker: { amqp: { url: "amqp://relais_no_such_user:${secret:AMQP_RUN_PASSWORD}@127.0.0.1:5672/%2f" } }
flows:
  send:
    steps:
      - amqp.publish: { config: broker, routing_key: anywhere }
"##,
    )]);
    let relais = support::process::RelaisProcess::start(
        &dir,
        &["--admin", "off", "--state", "memory", "--no-watch"],
        "info",
        &[("AMQP_RUN_PASSWORD", "s3cr3t-in-the-environment")],
    );
    let line = relais.wait_for_log("cannot connect to RabbitMQ");
    assert!(line.contains("ACCESS_REFUSED") && line.contains("broker"), "{line}");
    let logs = relais.stop();
    assert!(!logs.contains("s3cr3t"), "{logs}");
}

/// A TLS front for the broker (what an `amqps://` listener of RabbitMQ is): a certificate for `localhost`
/// signed by a CA of the test's own, each TLS connection forwarded in clear to 127.0.0.1:5672. Returns
/// the port and the CA file.
async fn tls_front(dir: &std::path::Path) -> (u16, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let chain = vec![cert.der().clone()];
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((inbound, _)) = listener.accept().await else { break };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(inbound).await else { return };
                if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5672").await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                }
            });
        }
    });
    (port, ca_path.to_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_connects_trusting_the_configured_ca_and_refuses_a_broker_it_cannot_verify() {
    let mut names = Names::new("tls");
    let (inbox, out) = (names.queue("inbox"), names.queue("out"));
    let dir = support::write_files(&[]);
    let (port, ca) = tls_front(&dir).await;
    let flows = format!(
        r##"
configs:
  broker:
    amqp:
      url: "amqps://guest:guest@localhost:{port}/%2f"
      tls: {{ ca: "{ca}" }}
      queues: [ {{ name: {inbox} }}, {{ name: {out} }} ]
  untrusted: {{ amqp: {{ url: "amqps://guest:guest@localhost:{port}/%2f" }} }}
flows:
  send:
    steps:
      - amqp.publish: {{ config: broker, routing_key: {inbox} }}
  receive:
    source: {{ amqp.listener: {{ config: broker, queue: {inbox} }} }}
    steps:
      - amqp.publish: {{ config: broker, routing_key: {out} }}
"##
    );
    let daemon = start(&flows, Arc::default()).await;
    let rt = daemon.runtime();
    run(&rt, "send", json!({ "id": 7 })).await.unwrap();
    let connection = direct().await;
    let got = Arc::new(Mutex::new(Vec::new()));
    support::eventually("the message through TLS both ways", || {
        let (connection, got, out) = (&connection, got.clone(), out.clone());
        async move {
            let taken = take_all(connection, &out).await;
            got.lock().unwrap().extend(taken.into_iter().map(|(b, _)| b["id"].clone()));
            !got.lock().unwrap().is_empty()
        }
    })
    .await;
    assert_eq!(*got.lock().unwrap(), vec![json!(7)]);
    // The config trusting only Mozilla's roots cannot verify the test CA's certificate.
    let body = Arc::new(Mutex::new(String::new()));
    support::eventually("/ready to name the untrusted broker", || {
        let (body, daemon) = (body.clone(), &daemon);
        async move {
            let (status, text) = ready(daemon).await;
            let found = status == 503 && text.contains("untrusted") && !text.contains("\"broker\"");
            *body.lock().unwrap() = text;
            found
        }
    })
    .await;
    let body = body.lock().unwrap().clone();
    assert!(body.to_lowercase().contains("certificate"), "{body}");
    daemon.shutdown(Duration::from_secs(5)).await;
    names.delete().await;
}

/// A webhook publishing orders to a topic exchange, and a listener flow sending each to the CRM with the
/// message's `origin` header and whether it is a replay.
fn traced_flows(names: &mut Names, crm: SocketAddr) -> (String, String) {
    let (orders, inbox) = (names.exchange("orders"), names.queue("inbox"));
    let flows = format!(
        r##"
configs:
  hooks: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{crm}", timeout: 5s }} }}
  broker:
    amqp:
      url: "amqp://guest@127.0.0.1:5672"
      password: guest
      exchanges: [ {{ name: {orders}, type: topic }} ]
      queues: [ {{ name: {inbox} }} ]
      bindings: [ {{ queue: {inbox}, exchange: {orders}, routing_key: "order.*" }} ]
flows:
  webhook:
    source: {{ http.listener: {{ config: hooks, method: POST, path: /orders, response: {{ status: 202 }} }} }}
    steps:
      - amqp.publish: {{ config: broker, exchange: {orders}, routing_key: order.created, headers: {{ origin: ticketing }} }}
  receive:
    source: {{ amqp.listener: {{ config: broker, queue: {inbox}, max_deliveries: 2, redelivery_delay: 10ms }} }}
    steps:
      - http.request:
          config: crm
          method: PUT
          path: "/contacts/#[payload.order_id]"
          headers: {{ x-origin: "#[attributes.headers.origin]", x-replayed: "#[attributes.replayed]" }}
"##
    );
    (flows, inbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_followed_by_its_consumption_is_one_trace_at_the_collector() {
    let mut names = Names::new("traced");
    let (collector_addr, collector) = support::otlp::collector().await;
    let (crm_addr, calls) = support::otlp::crm(Arc::default()).await;
    let (flows, inbox) = traced_flows(&mut names, crm_addr);
    let Traced { relais, addr, .. } = run_traced(&flows, collector_addr, "memory").await;
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
    let server = otlp::only(&spans, "server span", |s| s.kind == otlp::SERVER);
    assert_eq!(server.parent, CALLER_SPAN);
    let webhook = otlp::only(&spans, "webhook flow span", |s| s.name == "flow webhook");
    assert_eq!(webhook.parent, server.span_id);
    let orders = names.exchanges[0].clone();
    let publish = otlp::only(&spans, "producer span", |s| s.kind == otlp::PRODUCER);
    assert_eq!(
        (publish.name.clone(), publish.parent.as_str()),
        (format!("{orders} publish"), webhook.span_id.as_str())
    );
    assert_eq!(publish.attributes["messaging.system"], "rabbitmq");
    assert_eq!(publish.attributes["messaging.destination.name"], orders);
    // The consumer's span is the publisher's child: the context crossed the broker in the message's headers.
    let consumer = otlp::only(&spans, "consumer span", |s| s.kind == otlp::CONSUMER);
    assert_eq!(
        (consumer.name.clone(), consumer.parent.as_str()),
        (format!("{inbox} process"), publish.span_id.as_str())
    );
    let run = otlp::only(&spans, "listener flow span", |s| s.name == "flow receive");
    assert_eq!(run.parent, consumer.span_id);
    let call = otlp::only(&spans, "CRM call span", |s| s.kind == otlp::CLIENT);
    assert_eq!(call.parent, run.span_id);
    let received = calls.lock().unwrap()[0].clone();
    assert_eq!(received.traceparent, Some(format!("00-{TRACE}-{}-01", call.span_id)));
    assert_eq!(received.headers.get("x-origin").map(String::as_str), Some("ticketing"));
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_without_trace_headers_or_with_a_malformed_traceparent_starts_a_trace_of_its_own() {
    let mut names = Names::new("untraced");
    let (collector_addr, collector) = support::otlp::collector().await;
    let (crm_addr, calls) = support::otlp::crm(Arc::default()).await;
    let (flows, inbox) = traced_flows(&mut names, crm_addr);
    let Traced { relais, .. } = run_traced(&flows, collector_addr, "memory").await;
    let connection = direct().await;
    let channel = connection.create_channel().await.unwrap();
    let malformed = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    for (order, headers) in [("none", None), ("malformed", Some(malformed)), ("garbage", Some("garbage"))] {
        let mut properties = lapin::BasicProperties::default();
        if let Some(traceparent) = headers {
            let mut table = lapin::types::FieldTable::default();
            table.insert("traceparent".into(), lapin::types::AMQPValue::LongString(traceparent.into()));
            properties = properties.with_headers(table);
        }
        let body = format!(r#"{{"order_id":"{order}"}}"#);
        let options = lapin::options::BasicPublishOptions::default();
        channel.basic_publish("".into(), inbox.as_str().into(), options, body.as_bytes(), properties).await.unwrap();
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
    // The CRM was called in those traces.
    for call in calls.lock().unwrap().iter() {
        assert_eq!(call.status, 200);
        let sent = call.traceparent.as_deref().unwrap_or_default();
        assert!(traces.iter().any(|t| sent.starts_with(&format!("00-{t}-"))), "{sent}");
    }
    names.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_dead_lettered_is_replayed_through_the_admin_port_once_its_cause_is_fixed() {
    let mut names = Names::new("poison");
    let (collector_addr, collector) = support::otlp::collector().await;
    let down = Arc::new(AtomicBool::new(true));
    let (crm_addr, calls) = support::otlp::crm(down.clone()).await;
    let (flows, inbox) = traced_flows(&mut names, crm_addr);
    let state = support::write_files(&[]).join("state");
    let Traced { relais, addr, admin, .. } = run_traced(&flows, collector_addr, state.to_str().unwrap()).await;
    post_order(addr, "A-7").await;
    support::eventually("the CRM refused both deliveries", async || calls.lock().unwrap().len() == 2).await;
    let letters = Arc::new(Mutex::new(Json::Null));
    support::eventually("the dead letter", || {
        let letters = letters.clone();
        async move {
            let (_, _, body) = support::request(admin, "GET", "/dead-letters", &[], b"").await;
            let listed: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            let found = listed.as_array().is_some_and(|l| l.len() == 1);
            *letters.lock().unwrap() = listed;
            found
        }
    })
    .await;
    let letter = letters.lock().unwrap()[0].clone();
    assert_eq!(letter["flow"], "receive");
    assert_eq!(letter["queue"], "relais.replay.receive", "replayable: the flow's replay queue");
    assert_eq!(
        (letter["error_type"].as_str(), letter["attempts"].as_u64()),
        (Some("HTTP:SERVICE_UNAVAILABLE"), Some(2)),
        "{letter}"
    );
    assert_eq!(letter["correlation_id"], "order-corr-1");
    assert_eq!(letter["attributes"]["queue"], inbox.as_str());
    assert_eq!(letter["attributes"]["headers"]["origin"], "ticketing");
    let payload: Json = serde_json::from_str(letter["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, json!({ "order_id": "A-7" }));

    // The CRM is back: the replay runs the flow again on the message as it was delivered.
    down.store(false, Ordering::SeqCst);
    let id = letter["id"].as_u64().unwrap();
    let (status, _, body) = support::request(admin, "POST", &format!("/dead-letters/{id}/replay"), &[], b"").await;
    assert_eq!(status, 200, "{body}");
    support::eventually("the CRM accepted the replayed order", async || {
        calls.lock().unwrap().iter().any(|c| c.status == 200)
    })
    .await;
    let accepted = calls.lock().unwrap().iter().find(|c| c.status == 200).cloned().unwrap();
    assert_eq!(accepted.path, "/contacts/A-7");
    assert_eq!(accepted.headers.get("x-origin").map(String::as_str), Some("ticketing"), "the message's headers");
    assert_eq!(accepted.headers.get("x-replayed").map(String::as_str), Some("true"));
    assert_eq!(accepted.headers.get("x-correlation-id").map(String::as_str), Some("order-corr-1"));
    assert_eq!(serde_json::from_str::<Json>(&accepted.body).unwrap(), json!({ "order_id": "A-7" }));
    // In the trace the message was published in.
    let sent = accepted.traceparent.as_deref().unwrap_or_default();
    assert!(sent.starts_with(&format!("00-{TRACE}-")), "{sent}");
    let (_, _, body) = support::request(admin, "GET", "/dead-letters", &[], b"").await;
    assert_eq!(body, "[]", "the letter is gone once replayed");
    let (status, ..) = support::request(admin, "POST", &format!("/dead-letters/{id}/replay"), &[], b"").await;
    assert_eq!(status, 409, "a dead letter is replayed once");
    support::eventually("the replay's consumer span was exported", async || {
        collector.trace(TRACE).iter().any(|s| s.kind == otlp::CONSUMER && s.name == "relais.replay.receive process")
    })
    .await;
    let spans = collector.trace(TRACE);
    otlp::only(&spans, "producer span", |s| s.kind == otlp::PRODUCER);
    let replay = otlp::only(&spans, "replay's consumer span", |s| s.name == "relais.replay.receive process");
    // A letter keeps the span its message failed in (as a queue.listener's letter does), so the replay runs
    // under the delivery that failed: the trace shows the failure and what fixed it, one after the other.
    let failed: Vec<&str> = spans
        .iter()
        .filter(|s| s.kind == otlp::CONSUMER && s.span_id != replay.span_id)
        .map(|s| s.span_id.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "two refused deliveries: {spans:#?}");
    assert!(failed.contains(&replay.parent.as_str()), "the replay runs under a failed delivery: {spans:#?}");
    assert_eq!(calls.lock().unwrap().len(), 3, "two refused deliveries and the replay");
    drop(relais);
    names.delete().await;
}
