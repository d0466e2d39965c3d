//! The daemon on loopback: a real hyper server started by the test, real TCP clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::plan::compile_program;
use relais_engine::runtime::Runtime;
use std::net::SocketAddr;
use std::time::Duration;
use support::request;

struct Running {
    daemon: relais_engine::daemon::Daemon,
    addr: SocketAddr,
}

async fn start(flows: &str) -> Running {
    let dir = support::write_files(&[("flows.yaml", flows)]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program =
        compile_program(&loaded, relais_stdlib::Clock::system(), relais_engine::components::registry()).ok().unwrap();
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    let addr = daemon.listeners[0].1;
    Running { daemon, addr }
}

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0, max_body_size: 64, request_timeout: 30s } }
  seen: { object_store: {} }
flows:
  access:
    source: { http.listener: { config: api, method: GET, path: "/access/{id}/{service}" } }
    steps:
      - set_payload: "#[#{ id: attributes.params.id, service: attributes.params.service, q: attributes.query.verbose }]"
  orders:
    source: { http.listener: { config: api, method: POST, path: /orders, response: { status: 202 } } }
    steps:
      - validate: { schema: order.schema.json }
      - set_payload: "#[#{ accepted: payload.order_id }]"
  broken:
    source: { http.listener: { config: api, method: GET, path: /broken } }
    steps:
      - raise_error: { type: APP:BROKEN, description: "something broke" }
  slow:
    max_concurrency: 1
    source: { http.listener: { config: api, method: GET, path: /slow } }
    steps:
      # Held until the test releases it: `started` says it is in flight, `released` lets it finish (at most 30 s).
      - object_store.put: { config: seen, key: started, value: true }
      - until_successful:
          max_retries: 3000
          backoff: { initial: 10ms, max: 10ms, jitter: false }
          steps:
            - object_store.get: { config: seen, key: released, default: false, target: released }
            - choice:
                - when: "#[!vars.released]"
                  steps: [ { raise_error: TEST:WAIT } ]
      - set_payload: done
"##;

/// Waits (polling, up to 30 s) until `condition` holds.
async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(std::time::Instant::now() < deadline, "{what} did not happen within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `seen` store of the default flows, where the `/slow` flow says it started and waits to be let go.
fn seen(daemon: &relais_engine::daemon::Daemon) -> std::sync::Arc<relais_engine::runtime::object_store::ObjectStore> {
    daemon.state().existing_store("seen").expect("the default flows have the `seen` store")
}

/// Waits until the `/slow` request is in flight.
async fn slow_started(daemon: &relais_engine::daemon::Daemon) {
    let seen = seen(daemon);
    wait_until("the slow request starting", async || seen.get("started").unwrap().is_some()).await;
}

/// Lets the `/slow` request finish.
fn release_slow(daemon: &relais_engine::daemon::Daemon) {
    seen(daemon).put("released", serde_json::json!(true), None).unwrap();
}

async fn start_default() -> Running {
    let dir = support::write_files(&[
        ("flows.yaml", FLOWS),
        ("order.schema.json", r#"{ "type": "object", "required": ["order_id"] }"#),
    ]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program =
        compile_program(&loaded, relais_stdlib::Clock::system(), relais_engine::components::registry()).ok().unwrap();
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    let addr = daemon.listeners[0].1;
    Running { daemon, addr }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_routed_with_path_and_query_parameters() {
    let r = start_default().await;
    let (status, head, body) =
        request(r.addr, "GET", "/access/ACC%2042/transport?verbose=yes", &[("x-correlation-id", "abc-1")], b"").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({ "id": "ACC 42", "service": "transport", "q": "yes" })
    );
    assert!(head.contains("x-correlation-id: abc-1"), "{head}");
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correlation_id_too_long_or_with_spaces_is_replaced_with_a_fresh_uuid() {
    let r = start_default().await;
    let returned = |head: &str| {
        head.lines().find_map(|l| l.strip_prefix("x-correlation-id: ")).map(str::to_string).unwrap_or_default()
    };
    let longest = "c".repeat(128);
    let (status, head, _) = request(r.addr, "GET", "/access/1/transport", &[("x-correlation-id", &longest)], b"").await;
    assert_eq!((status, returned(&head)), (200, longest), "128 visible characters are kept");
    for given in ["c".repeat(129), "two words".into(), String::new()] {
        let (status, head, body) =
            request(r.addr, "GET", "/broken", &[("x-correlation-id", given.as_str())], b"").await;
        assert_eq!(status, 500);
        let id = returned(&head);
        assert_eq!(id.len(), 36, "{given:?} gave {id:?}");
        assert_eq!(id.as_bytes()[14], b'4', "a UUID v4: {id}");
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["correlation_id"], id.as_str(), "the problem body names the same id");
    }
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_key_given_several_times_keeps_all_its_values_in_order() {
    let r = start(
        r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  search:
    source: { http.listener: { config: api, method: GET, path: /search } }
    steps:
      - set_payload: "#[attributes.query]"
"##,
    )
    .await;
    let (status, _, body) = request(r.addr, "GET", "/search?tag=a&one=1&tag=b+c&tag=%2B&empty", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({ "tag": ["a", "b c", "+"], "one": "1", "empty": "" })
    );
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_route_declared_after_a_parameter_route_is_reached() {
    let r = start(
        r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  order:
    source: { http.listener: { config: api, method: GET, path: "/orders/{id}" } }
    steps:
      - set_payload: "#[#{ order: attributes.params.id }]"
  export:
    source: { http.listener: { config: api, method: GET, path: /orders/export } }
    steps:
      - set_payload: "#[#{ listing: true }]"
  files:
    source: { http.listener: { config: api, path: "/orders/{id}/{*rest}" } }
    steps:
      - set_payload: "#[#{ id: attributes.params.id, rest: attributes.params.rest }]"
"##,
    )
    .await;
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
    let (status, _, body) = request(r.addr, "GET", "/orders/export", &[], b"").await;
    assert_eq!((status, json(&body)), (200, serde_json::json!({ "listing": true })));
    let (status, _, body) = request(r.addr, "GET", "/orders/A%2F7", &[], b"").await;
    assert_eq!((status, json(&body)), (200, serde_json::json!({ "order": "A/7" })));
    let (status, _, body) = request(r.addr, "DELETE", "/orders/7/a%2Fb/c", &[], b"").await;
    assert_eq!((status, json(&body)), (200, serde_json::json!({ "id": "7", "rest": "a%2Fb/c" })));
    let (status, head, _) = request(r.addr, "POST", "/orders/export", &[], b"").await;
    assert_eq!(status, 405);
    assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let r = start_default().await;
    assert_eq!(request(r.addr, "GET", "/nowhere", &[], b"").await.0, 404);
    let (status, head, body) = request(r.addr, "DELETE", "/orders", &[], b"").await;
    assert_eq!(status, 405);
    assert!(head.contains("allow: post"), "{head}");
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    assert!(body.contains("\"status\":405"));
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_and_malformed_ones_400() {
    let r = start_default().await;
    let big = vec![b'x'; 200];
    assert_eq!(request(r.addr, "POST", "/orders", &[("content-type", "application/json")], &big).await.0, 413);
    let (status, _, body) = request(r.addr, "POST", "/orders", &[("content-type", "application/json")], b"{oops").await;
    assert_eq!(status, 400);
    assert!(body.contains("not valid application/json"), "{body}");
    let (status, _, body) =
        request(r.addr, "POST", "/orders", &[("content-type", "application/json")], b"{\"x\":1}").await;
    assert_eq!(status, 400, "validation errors are 400: {body}");
    let (status, _, body) =
        request(r.addr, "POST", "/orders", &[("content-type", "application/json")], b"{\"order_id\":\"O1\"}").await;
    assert_eq!((status, body.as_str()), (202, "{\"accepted\":\"O1\"}"));
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhandled_errors_answer_problem_json_with_the_correlation_id() {
    let r = start_default().await;
    let (status, _, body) = request(r.addr, "GET", "/broken", &[("x-correlation-id", "cid-9")], b"").await;
    assert_eq!(status, 500);
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["error_type"], "APP:BROKEN");
    assert_eq!(problem["detail"], "something broke");
    assert_eq!(problem["correlation_id"], "cid-9");
    assert_eq!(problem["flow"], "broken");
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_flow_answers_503_with_retry_after() {
    let r = start_default().await;
    let addr = r.addr;
    let first = tokio::spawn(async move { request(addr, "GET", "/slow", &[], b"").await });
    slow_started(&r.daemon).await;
    let (status, head, _) = request(addr, "GET", "/slow", &[], b"").await;
    assert_eq!(status, 503);
    assert!(head.contains("retry-after: 1"), "{head}");
    release_slow(&r.daemon);
    assert_eq!(first.await.unwrap().0, 200);
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight_and_refuses_new_connections() {
    let r = start_default().await;
    let addr = r.addr;
    let in_flight = tokio::spawn(async move { request(addr, "GET", "/slow", &[], b"").await });
    slow_started(&r.daemon).await;
    let seen = seen(&r.daemon);
    // `join!` polls the shutdown first, so it has begun (stopped the listener, started draining) before the
    // request is let go.
    let (drained, ()) = tokio::join!(r.daemon.shutdown(Duration::from_secs(30)), async {
        seen.put("released", serde_json::json!(true), None).unwrap();
    });
    assert!(drained, "the in-flight request finished within the deadline");
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "done"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err() || request(addr, "GET", "/slow", &[], b"").await.0 == 0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frequency_scheduler_runs_its_flow_on_every_tick() {
    let r = start(
        r##"
configs:
  api: { http.listener: { port: 0 } }
  ticks: { object_store: {} }
flows:
  tick:
    source: { scheduler: { frequency: 30ms } }
    steps:
      - object_store.get: { config: ticks, key: n, default: 0, target: n }
      - object_store.put: { config: ticks, key: n, value: "#[vars.n + 1]" }
  count:
    source: { http.listener: { config: api, method: GET, path: /count } }
    steps:
      - object_store.get: { config: ticks, key: n, default: 0 }
"##,
    )
    .await;
    // The counter is a number (`#[vars.n + 1]` keeps its type), so it counts 1, 2, 3 rather than growing a
    // string "1", "11", "111".
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let count = loop {
        let (status, _, body) = request(r.addr, "GET", "/count", &[], b"").await;
        assert_eq!(status, 200);
        let count: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(count.is_i64(), "the counter is a number, not {body}");
        if count.as_i64() >= Some(3) || std::time::Instant::now() > deadline {
            break count;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(count.as_i64() >= Some(3), "the scheduler ticked only {count} times in 30 s at 30 ms");
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_report_health_readiness_and_metrics() {
    let dir = support::write_files(&[
        ("flows.yaml", FLOWS),
        ("order.schema.json", r#"{ "type": "object", "required": ["order_id"] }"#),
    ]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    let program =
        compile_program(&loaded, relais_stdlib::Clock::system(), relais_engine::components::registry()).ok().unwrap();
    let daemon = support::daemon_with_admin(program).await;
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    assert_eq!(request(admin, "GET", "/health", &[], b"").await.0, 200);
    assert_eq!(request(admin, "GET", "/ready", &[], b"").await.0, 200);
    request(api, "GET", "/access/A/transport", &[], b"").await;
    request(api, "GET", "/broken", &[], b"").await;
    let (status, _, metrics) = request(admin, "GET", "/metrics", &[], b"").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("relais_flow_events_total{flow=\"access\"} 1"), "{metrics}");
    assert!(metrics.contains("relais_flow_errors_total{flow=\"broken\",type=\"APP:BROKEN\"} 1"), "{metrics}");
    assert!(metrics.contains("relais_flow_latency_seconds_count{flow=\"access\"} 1"), "{metrics}");
    assert!(metrics.contains("relais_flow_bytes_out_total{flow=\"access\"} "), "{metrics}");
    let slow = tokio::spawn(async move { request(api, "GET", "/slow", &[], b"").await });
    slow_started(&daemon).await;
    let seen = seen(&daemon);
    let shutdown = tokio::spawn(daemon.shutdown(Duration::from_secs(30)));
    wait_until("/ready turning 503 while draining", async || request(admin, "GET", "/ready", &[], b"").await.0 == 503)
        .await;
    seen.put("released", serde_json::json!(true), None).unwrap();
    assert!(shutdown.await.unwrap());
    assert_eq!(slow.await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_runs_a_scheduled_flow_now_and_lists_dead_letters() {
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  api: { http.listener: { port: 0 } }
  runs: { object_store: {} }
flows:
  reminders:
    source: { scheduler: { cron: "0 10 * * *", time_zone: Europe/Paris } }
    steps:
      - object_store.put: { config: runs, key: last, value: "#[attributes.trigger]" }
  failing:
    source: { scheduler: { cron: "0 10 1 1 *" } }
    steps:
      - raise_error: { type: SMS:DOWN, description: gateway down }
  read:
    source: { http.listener: { config: api, method: GET, path: /last } }
    steps:
      - object_store.get: { config: runs, key: last }
"##,
    )]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = relais_engine::daemon::start_with_admin_access(
        relais_engine::components::registry(),
        Runtime::new(program),
        Some("127.0.0.1:0".parse().unwrap()),
        relais_engine::daemon::AdminAccess::insecure_loopback(),
    )
    .await
    .unwrap();
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    assert_eq!(request(api, "GET", "/last", &[], b"").await.0, 404, "the 10:00 schedule has not run");
    let (status, _, body) = request(admin, "POST", "/flows/reminders/run", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"done\""), "{body}");
    assert_eq!(request(api, "GET", "/last", &[], b"").await.2, "\"admin\"");
    let (status, _, body) = request(admin, "POST", "/flows/failing/run", &[], b"").await;
    assert_eq!(status, 500);
    assert!(body.contains("SMS:DOWN") && body.contains("gateway down"), "{body}");
    assert_eq!(request(admin, "POST", "/flows/nope/run", &[], b"").await.0, 404);
    let (status, head, _) = request(admin, "GET", "/flows/reminders/run", &[], b"").await;
    assert_eq!(status, 405);
    assert!(head.contains("allow: post"), "{head}");
    let (status, _, body) = request(admin, "GET", "/dead-letters", &[], b"").await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_times_out_releases_its_idempotency_key_at_once() {
    let r = start(
        r##"
configs:
  api: { http.listener: { port: 0, request_timeout: 200ms } }
  seen: { object_store: { ttl: 1h } }
flows:
  orders:
    source: { http.listener: { config: api, method: POST, path: /orders } }
    steps:
      - idempotent: { key: "#[payload.id]", store: seen }
      - choice:
          - when: "#[payload.slow]"
            steps: [ { time.delay: { duration: 1h } } ]
      - set_payload: accepted
"##,
    )
    .await;
    let headers = [("content-type", "application/json")];
    let slow = request(r.addr, "POST", "/orders", &headers, br#"{ "id": "O1", "slow": true }"#).await;
    assert_eq!(slow.0, 504, "{slow:?}");
    let again = request(r.addr, "POST", "/orders", &headers, br#"{ "id": "O1", "slow": false }"#).await;
    assert_eq!((again.0, again.2.as_str()), (200, "accepted"), "the cancelled event's key was released: {again:?}");
    let duplicate = request(r.addr, "POST", "/orders", &headers, br#"{ "id": "O1", "slow": false }"#).await;
    assert_eq!(duplicate.0, 409, "the completed event's key is done");
    r.daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_async_scopes_still_running() {
    let r = start(
        r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  audit:
    source: { http.listener: { config: api, method: GET, path: /audit } }
    steps:
      - async:
          steps:
            - time.delay: { duration: 300ms }
            - raise_error: AUDIT:DONE
      - set_payload: answered
"##,
    )
    .await;
    let (status, _, body) = request(r.addr, "GET", "/audit", &[], b"").await;
    assert_eq!((status, body.as_str()), (200, "answered"));
    let runtime = r.daemon.runtime();
    assert!(r.daemon.shutdown(Duration::from_secs(30)).await, "drained within the deadline");
    assert_eq!(runtime.async_errors(), 1, "the async scope ran to its end before shutdown returned");
}
