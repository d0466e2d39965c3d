//! What listener flows answer: `response` and `error_response` with computed status, headers and body.
#![allow(clippy::unwrap_used)]

mod support;

use support::request;

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  orders:
    source:
      http.listener:
        config: api
        method: POST
        path: /orders
        response:
          status: "#[if payload.created { 201 } else { 200 }]"
          headers: { location: "/orders/#[payload.id]", x-handled-by: orders }
        error_response:
          status: 422
          headers: { x-error-type: "#[error.type]" }
          body: "#[#{ rejected: error.description, order: attributes.path }]"
    steps:
      - choice:
          - when: "#[payload.id == \"\"]"
            steps: [ { raise_error: { type: "ORDER:INVALID", description: "the order has no id" } } ]
  text:
    source:
      http.listener: { config: api, method: GET, path: "/hello/{name}", response: { body: "Hello #[attributes.params.name]!" } }
    steps: []
  bad_status:
    source:
      http.listener: { config: api, method: GET, path: /bad, response: { status: "#[999]" } }
    steps: []
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_headers_are_computed_from_the_event_the_flow_returns() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let (status, head, body) = request(addr, "POST", "/orders", &[], br#"{"id":"A1","created":true}"#).await;
    assert_eq!(status, 201, "{head}{body}");
    assert!(head.contains("location: /orders/a1"), "{head}");
    assert!(head.contains("x-handled-by: orders"), "{head}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"], "A1");
    let (status, ..) = request(addr, "POST", "/orders", &[], br#"{"id":"A2","created":false}"#).await;
    assert_eq!(status, 200);
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_response_reads_the_error_and_the_request() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let (status, head, body) = request(addr, "POST", "/orders", &[], br#"{"id":""}"#).await;
    assert_eq!(status, 422, "{head}{body}");
    assert!(head.contains("x-error-type: order:invalid"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({ "rejected": "the order has no id", "order": "/orders" })
    );
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_body_template_is_sent_as_text() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let (status, head, body) = request(addr, "GET", "/hello/Marie", &[], b"").await;
    assert_eq!((status, body.as_str()), (200, "Hello Marie!"));
    assert!(head.contains("content-type: text/plain"), "{head}");
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_expression_outside_the_http_range_gives_a_problem_500() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let (status, head, body) = request(addr, "GET", "/bad", &[], b"").await;
    assert_eq!(status, 500, "{head}{body}");
    assert!(head.contains("application/problem+json"), "{head}");
    assert!(body.contains("response status must be 100-599, got 999"), "{body}");
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}
