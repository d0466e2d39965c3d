//! `/metrics` answers "what is failing, and where": per outbound system (named `http.client` config)
//! requests by status, errors by type and status, latency and retries; per queue published, acked,
//! redelivered, dead-lettered, depth and age of the oldest message; dead letters by flow and error type;
//! per listener route requests by status. Against a real upstream on loopback, and with no label taken from
//! a request or a payload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_body_util::Full;
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::{eventually, request};

/// A partner whose `/flaky` answers 503 twice, then 200; `/down` always 500.
async fn partner() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flaky = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let flaky = flaky.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let flaky = flaky.clone();
                    async move {
                        let status = match req.uri().path() {
                            "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => 503,
                            "/down" => 500,
                            _ => 200,
                        };
                        let mut response = hyper::Response::new(Full::new(Bytes::from("{}")));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn flows(partner: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{partner}" }} }}
flows:
  upsert:
    source: {{ http.listener: {{ config: api, method: PUT, path: "/contacts/{{id}}" }} }}
    steps:
      - until_successful:
          max_retries: 3
          backoff: {{ initial: 1ms, max: 2ms }}
          steps:
            - http.request: {{ config: crm, method: GET, path: /flaky }}
  broken:
    source: {{ http.listener: {{ config: api, method: POST, path: /broken }} }}
    steps:
      - http.request: {{ config: crm, method: POST, path: /down }}
  accept:
    source: {{ http.listener: {{ config: api, method: POST, path: /orders }} }}
    steps:
      - queue.publish: {{ queue: orders }}
  work:
    source: {{ queue.listener: {{ queue: orders, max_deliveries: 2, redelivery_delay: 1ms }} }}
    steps:
      - choice:
          - when: "#[payload.fail == true]"
            steps:
              - raise_error: {{ type: "CRM:REFUSED", description: "refused #[payload.id]" }}
  park:
    source: {{ http.listener: {{ config: api, method: POST, path: /park }} }}
    steps:
      - queue.publish: {{ queue: parked, persistent: true }}
"##
    )
}

/// The value of the series `series` (name and labels, as exposed) in `metrics`.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_say_per_partner_queue_route_and_flow_what_happened_and_no_label_comes_from_a_request() {
    let partner = partner().await;
    let dir = support::write_files(&[("flows.yaml", &flows(partner))]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());

    assert_eq!(request(api, "PUT", "/contacts/c-1?who=ORD-SECRET-1", &[], b"{}").await.0, 200);
    assert_eq!(request(api, "POST", "/broken", &[], b"{\"id\":\"ORD-SECRET-2\"}").await.0, 502);
    assert_eq!(request(api, "GET", "/ORD-SECRET-3", &[], b"").await.0, 404);
    for body in [r#"{"id":"ORD-SECRET-4","fail":false}"#, r#"{"id":"ORD-SECRET-5","fail":true}"#] {
        assert_eq!(request(api, "POST", "/orders", &[], body.as_bytes()).await.0, 200);
    }
    assert_eq!(request(api, "POST", "/park", &[], b"{\"id\":\"ORD-SECRET-6\"}").await.0, 200);
    let metrics = || async { request(admin, "GET", "/metrics", &[], b"").await.2 };
    eventually("the failing order to be dead-lettered and the parked one to have waited", || async {
        let m = metrics().await;
        value(&m, "relais_queue_dead_lettered_total{queue=\"orders\"}") == Some(1.0)
            && value(&m, "relais_queue_oldest_message_age_seconds{queue=\"parked\"}").is_some_and(|age| age > 0.0)
    })
    .await;
    let m = metrics().await;
    for (series, expected) in [
        // The partner: two 503s retried, then a 200; a 500 not retried.
        ("relais_outbound_requests_total{config=\"crm\",status=\"503\"}", 2.0),
        ("relais_outbound_requests_total{config=\"crm\",status=\"200\"}", 1.0),
        ("relais_outbound_requests_total{config=\"crm\",status=\"500\"}", 1.0),
        ("relais_outbound_errors_total{config=\"crm\",type=\"HTTP:SERVICE_UNAVAILABLE\",status=\"503\"}", 2.0),
        ("relais_outbound_errors_total{config=\"crm\",type=\"HTTP:INTERNAL_SERVER_ERROR\",status=\"500\"}", 1.0),
        ("relais_outbound_request_duration_seconds_count{config=\"crm\"}", 4.0),
        ("relais_outbound_request_duration_seconds_bucket{config=\"crm\",le=\"+Inf\"}", 4.0),
        ("relais_outbound_retries_total{config=\"crm\"}", 2.0),
        ("relais_flow_retries_total{flow=\"upsert\"}", 2.0),
        // The routes, by template.
        ("relais_http_requests_total{listener=\"api\",flow=\"upsert\",route=\"/contacts/{id}\",status=\"200\"}", 1.0),
        ("relais_http_requests_total{listener=\"api\",flow=\"broken\",route=\"/broken\",status=\"502\"}", 1.0),
        ("relais_http_requests_total{listener=\"api\",flow=\"accept\",route=\"/orders\",status=\"200\"}", 2.0),
        ("relais_http_requests_total{listener=\"api\",flow=\"\",route=\"unmatched\",status=\"404\"}", 1.0),
        // The in-memory queue: two published, one acked, one redelivered then dead-lettered.
        ("relais_queue_published_total{queue=\"orders\"}", 2.0),
        ("relais_queue_acked_total{queue=\"orders\"}", 1.0),
        ("relais_queue_redelivered_total{queue=\"orders\"}", 1.0),
        ("relais_queue_dead_lettered_total{queue=\"orders\"}", 1.0),
        ("relais_queue_depth{queue=\"orders\"}", 0.0),
        ("relais_queue_oldest_message_age_seconds{queue=\"orders\"}", 0.0),
        // The persistent queue nobody consumes: one message, waiting.
        ("relais_queue_published_total{queue=\"parked\"}", 1.0),
        ("relais_queue_depth{queue=\"parked\"}", 1.0),
        // Dead letters, by flow and error type.
        ("relais_dead_letters_total{flow=\"work\",type=\"CRM:REFUSED\"}", 1.0),
    ] {
        assert_eq!(value(&m, series), Some(expected), "{series} in\n{m}");
    }
    assert!(!m.contains("ORD-SECRET") && !m.contains("c-1"), "a label came from a request or a payload:\n{m}");
    for line in m.lines().filter(|l| l.starts_with("# TYPE ")) {
        let (name, kind) = line["# TYPE ".len()..].split_once(' ').unwrap();
        assert!(name.starts_with("relais_"), "{line}");
        assert_eq!(name.ends_with("_total"), kind == "counter", "counters, and only they, end in _total: {line}");
        assert_eq!(m.matches(&format!("# TYPE {name} ")).count(), 1, "{name} is declared once");
    }
    daemon.shutdown(std::time::Duration::from_secs(2)).await;
}
