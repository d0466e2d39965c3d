//! Sensitive data cannot reach a partner: a flow whose mapping slips a passport number (renamed) into a
//! call to a partner-zone system is refused with `SENSITIVE:LEAK` before anything is sent, the message is
//! dead-lettered without the value, the refusal is counted, and the partner (a real server on loopback)
//! receives nothing, while the same call without the value goes through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::runtime::Runtime;
use std::net::SocketAddr;
use support::partner::server;
use support::request;

const ACCREDITATION: &str =
    r#"{"accreditation_id":"ACC-7","person":{"given_name":"Ana","passport_number":"P7654321X"},"category":"athlete"}"#;

fn flows(private: SocketAddr, leaky_partner: SocketAddr, clean_partner: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  private_data: {{ sensitive_data: {{ fields: [passport_number, date_of_birth] }} }}
  accreditation: {{ http.client: {{ base_url: "http://{private}", zone: private }} }}
  guarded_transport: {{ http.client: {{ base_url: "http://{leaky_partner}", zone: partner }} }}
  clean_transport: {{ http.client: {{ base_url: "http://{clean_partner}", zone: partner }} }}
flows:
  changes:
    source: {{ http.listener: {{ config: api, method: POST, path: /changes, response: {{ status: 202 }} }} }}
    steps:
      - queue.publish: {{ queue: leaky, persistent: true }}
      - queue.publish: {{ queue: clean }}
  leaky_sync:
    # Persistent: the state store dead-letters what the consumer nacks. Five deliveries allowed, yet a leak is dead-lettered at the first: it would fail the same way again.
    source: {{ queue.listener: {{ queue: leaky, persistent: true, max_deliveries: 5, redelivery_delay: 10ms }} }}
    steps:
      - http.request: {{ config: accreditation, method: GET, path: "/accreditations/#[payload.id]" }}
      # The leak: the passport number, renamed, goes to the partner.
      - transform: {{ code: "#{{ id: payload.accreditation_id, document: payload.person.passport_number }}" }}
      - http.request: {{ config: guarded_transport, method: PUT, path: "/rights/#[payload.id]" }}
  clean_sync:
    source: {{ queue.listener: {{ queue: clean, max_deliveries: 1 }} }}
    steps:
      - http.request: {{ config: accreditation, method: GET, path: "/accreditations/#[payload.id]" }}
      - transform: {{ code: "#{{ id: payload.accreditation_id, category: payload.category }}" }}
      - http.request: {{ config: clean_transport, method: PUT, path: "/rights/#[payload.id]" }}
"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_that_slips_a_passport_number_into_a_partner_call_is_refused_and_dead_lettered_without_it() {
    let (private, private_seen) = server(ACCREDITATION).await;
    let (leaky, leaky_seen) = server("{}").await;
    let (clean, clean_seen) = server("{}").await;
    let dir = support::write_files(&[("flows.yaml", &flows(private, leaky, clean))]);
    let (_, program) = support::compile_dir(&dir, None);
    assert!(program.tracks_sensitive);
    let runtime = Runtime::new(program);
    let daemon = relais_engine::daemon::start_with_admin_access(
        relais_engine::components::registry(),
        runtime.clone(),
        Some("127.0.0.1:0".parse().unwrap()),
        relais_engine::daemon::AdminAccess::insecure_loopback(),
    )
    .await
    .unwrap();
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    let (status, _, _) =
        request(api, "POST", "/changes", &[("content-type", "application/json")], br#"{"id":"ACC-7"}"#).await;
    assert_eq!(status, 202);
    let state = runtime.program().state.clone();
    support::eventually("the leaky message is dead-lettered", || {
        let state = state.clone();
        async move { state.dead_letter_count() >= 1 }
    })
    .await;
    support::eventually("the clean call reaches its partner", || {
        let seen = clean_seen.clone();
        async move { seen.connections() >= 1 }
    })
    .await;
    let letters = state.dead_letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.flow, "leaky_sync");
    assert_eq!(letter.error_type, "SENSITIVE:LEAK");
    assert_eq!(letter.attempts, 1, "a leak is not delivered again");
    assert!(letter.description.contains("`passport_number`"), "{}", letter.description);
    assert!(letter.description.contains("`guarded_transport`"), "{}", letter.description);
    assert!(!format!("{letter:?}").contains("P7654321X"), "the dead letter holds the value: {letter:?}");
    assert_eq!(leaky_seen.connections(), 0, "the partner received a connection");
    assert_eq!(private_seen.connections(), 2, "both flows read the accreditation");
    let (_, _, metrics) = request(admin, "GET", "/metrics", &[], b"").await;
    assert!(metrics.contains("relais_sensitive_leaks_refused_total{system=\"guarded_transport\"} 1"), "{metrics}");
    assert!(!metrics.contains("system=\"clean_transport\""), "{metrics}");
    let (_, _, listed) = request(admin, "GET", "/dead-letters", &[], b"").await;
    assert!(listed.contains("SENSITIVE:LEAK") && !listed.contains("P7654321X"), "{listed}");
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

fn written(private: SocketAddr, partner: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  private_data: {{ sensitive_data: {{ fields: [passport_number] }} }}
  accreditation: {{ http.client: {{ base_url: "http://{private}", zone: private }} }}
  transport: {{ http.client: {{ base_url: "http://{partner}", zone: partner }} }}
flows:
  push_rights:
    source: {{ http.listener: {{ config: api, method: POST, path: /push, response: {{ status: 202 }} }} }}
    steps:
      - http.request: {{ config: accreditation, method: GET, path: "/accreditations/#[payload.id]" }}
      # The leak: the passport number, renamed and cut, inside a longer string.
      - transform: {{ code: "#{{ id: payload.accreditation_id, note: \"doc \" + payload.person.passport_number.sub_string(0, 8) }}" }}
      - http.request: {{ config: transport, method: PUT, path: "/rights/#[payload.id]" }}
    on_error:
      - continue:
          steps: [ {{ dead_letter.write: {{}} }} ]
"##
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_dead_lettered_by_the_flow_keeps_the_received_message_and_the_payload_at_failure_without_the_value() {
    let (private, _) = server(ACCREDITATION).await;
    let (partner, partner_seen) = server("{}").await;
    let dir = support::write_files(&[("flows.yaml", &written(private, partner))]);
    let (_, program) = support::compile_dir(&dir, None);
    let runtime = Runtime::new(program);
    let daemon = relais_engine::daemon::start_with_admin_access(
        relais_engine::components::registry(),
        runtime.clone(),
        Some("127.0.0.1:0".parse().unwrap()),
        relais_engine::daemon::AdminAccess::insecure_loopback(),
    )
    .await
    .unwrap();
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    let (status, _, _) =
        request(api, "POST", "/push", &[("content-type", "application/json")], br#"{"id":"ACC-7"}"#).await;
    assert_eq!(status, 202);
    let state = runtime.program().state.clone();
    let stored = state.stored_dead_letters(&Default::default()).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let letter = &stored[0].letter;
    assert_eq!((letter.flow.as_str(), letter.error_type.as_str()), ("push_rights", "SENSITIVE:LEAK"));
    assert_eq!(letter.payload, br#"{"id":"ACC-7"}"#, "the message the flow received, for a replay");
    let at_failure = String::from_utf8(letter.payload_at_failure.clone().unwrap()).unwrap();
    assert_eq!(at_failure, r#"{"id":"ACC-7","note":"doc [redacted]"}"#, "stored without the value");
    assert!(!format!("{letter:?}").contains("P7654321"), "the stored letter holds the value: {letter:?}");
    let (status, _, shown) = request(admin, "GET", &format!("/dead-letters/{}", stored[0].id), &[], b"").await;
    assert_eq!(status, 200, "{shown}");
    assert!(shown.contains("SENSITIVE:LEAK") && !shown.contains("P7654321"), "{shown}");
    assert_eq!(partner_seen.connections(), 0, "the partner received a connection");
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}

const RENAMED: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
  private_data: { sensitive_data: { fields: [date_of_birth] } }
flows:
  renamed:
    source: { http.listener: { config: api, method: POST, path: /renamed } }
    steps:
      - transform: { code: "#{ birthDate: payload.person.date_of_birth }" }
      - raise_error: { type: "APP:BAD", description: "born #[payload.birthDate], cut #[payload.birthDate.sub_string(2, 8)]" }
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_value_a_mapping_renamed_or_cut_is_still_scrubbed_from_what_the_caller_is_told() {
    let dir = support::write_files(&[("flows.yaml", RENAMED)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let body = br#"{"person":{"name":"Ana","date_of_birth":"1990-04-12"}}"#;
    let (status, _, answer) = request(addr, "POST", "/renamed", &[("content-type", "application/json")], body).await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("born [redacted], cut [redacted]"), "{answer}");
    assert!(!answer.contains("1990-04-12"), "the renamed date of birth reached the caller: {answer}");
    assert!(!answer.contains("90-04-12"), "a part of the date of birth reached the caller: {answer}");
    daemon.shutdown(std::time::Duration::from_secs(1)).await;
}
