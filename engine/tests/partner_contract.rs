//! An `http.request`'s outbound contract, against a real partner on loopback: a body the contract
//! accepts is sent; one it refuses fails with `CONTRACT:VIOLATION` naming the path and the rule but not
//! the value, and the partner accepts no connection. Neither a violation nor a leak is retried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use support::partner::server;
use support::request;

const RIGHTS: &str = r#"{
  "type": "object",
  "required": ["id", "name"],
  "additionalProperties": false,
  "properties": { "id": { "type": "string" }, "name": { "type": "string" }, "level": { "type": "integer" } }
}"#;

fn flows(partner: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  transport: {{ http.client: {{ base_url: "http://{partner}", zone: partner }} }}
flows:
  rights:
    source:
      http.listener:
        config: api
        method: POST
        path: /rights
        error_response:
          status: 422
          body: "#[#{{ type: error.type, description: error.description }}]"
    steps:
      - http.request: {{ config: transport, method: PUT, path: /rights, contract: rights.schema.json }}
"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_its_contract_refuses_never_reaches_the_partner_and_the_error_names_the_path_not_the_value() {
    let (partner, seen) = server("{}").await;
    let dir = support::write_files(&[("flows.yaml", &flows(partner)), ("rights.schema.json", RIGHTS)]);
    let (daemon, api) = support::daemon(&dir).await;
    let json = [("content-type", "application/json")];

    let (status, _, body) =
        request(api, "POST", "/rights", &json, br#"{"id":"A-1","name":"Ana","level":"LVL-SECRET-9"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("CONTRACT:VIOLATION"), "{body}");
    assert!(body.contains("`/level` breaks the rule `type`"), "{body}");
    assert!(body.contains("`rights.schema.json`") && body.contains("`transport`"), "{body}");
    assert!(!body.contains("LVL-SECRET-9"), "the answer quotes the value: {body}");

    let (status, _, body) =
        request(api, "POST", "/rights", &json, br#"{"id":"A-1","name":"Ana","note":"NOTE-SECRET-3"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("does not allow: `note`") && !body.contains("NOTE-SECRET-3"), "{body}");

    let (status, _, body) = request(api, "POST", "/rights", &json, b"not json at all").await;
    assert_eq!(status, 400, "a body that is not JSON is refused at arrival: {body}");
    assert_eq!(seen.connections(), 0, "the partner received a connection");

    let (status, _, body) = request(api, "POST", "/rights", &json, br#"{"id":"A-2","name":"Bo","level":3}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(seen.connections(), 1);
    let requests = seen.requests.lock().unwrap().clone();
    assert!(requests[0].starts_with("PUT /rights ") && requests[0].ends_with(r#"{"id":"A-2","name":"Bo","level":3}"#));
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

fn retried_flows(partner: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  private_data: {{ sensitive_data: {{ fields: [passport_number] }} }}
  transport: {{ http.client: {{ base_url: "http://{partner}", zone: partner }} }}
flows:
  contract_in_a_retry:
    source:
      http.listener:
        config: api
        method: POST
        path: /contract
        error_response: {{ status: 422, body: "#[#{{ type: error.type, description: error.description }}]" }}
    steps:
      - until_successful:
          max_retries: 3
          backoff: {{ initial: 1ms, max: 1ms }}
          steps:
            - http.request: {{ config: transport, method: PUT, path: /rights, contract: rights.schema.json }}
  leak_in_a_retry:
    source:
      http.listener:
        config: api
        method: POST
        path: /leak
        error_response: {{ status: 422, body: "#[#{{ type: error.type, description: error.description }}]" }}
    steps:
      - transform: {{ code: "#{{ id: payload.id, document: payload.passport_number }}" }}
      - until_successful:
          max_retries: 3
          backoff: {{ initial: 1ms, max: 1ms }}
          steps:
            - http.request: {{ config: transport, method: PUT, path: /rights }}
"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_successful_does_not_retry_a_contract_violation_or_a_leak_and_passes_the_error_on_as_it_is() {
    let (partner, seen) = server("{}").await;
    let dir = support::write_files(&[("flows.yaml", &retried_flows(partner)), ("rights.schema.json", RIGHTS)]);
    let (daemon, api) = support::daemon(&dir).await;
    let json = [("content-type", "application/json")];

    // Retried, either error would end as RETRY:EXHAUSTED after 4 attempts.
    let (status, _, body) = request(api, "POST", "/contract", &json, br#"{"id":"A-1"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains(r#""type":"CONTRACT:VIOLATION""#), "{body}");
    assert!(!body.contains("RETRY:EXHAUSTED") && !body.contains("attempt"), "{body}");

    let (status, _, body) =
        request(api, "POST", "/leak", &json, br#"{"id":"A-1","passport_number":"P7654321X"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains(r#""type":"SENSITIVE:LEAK""#), "{body}");
    assert!(!body.contains("RETRY:EXHAUSTED") && !body.contains("P7654321X"), "{body}");
    assert_eq!(seen.connections(), 0, "the partner received a connection");
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}
