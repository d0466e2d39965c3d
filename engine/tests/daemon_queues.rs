//! In-process queues through the daemon: publish from an HTTP flow, consume in another flow, redeliver,
//! dead-letter, back-pressure, and drain on shutdown.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;
use support::request;

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
  seen: { object_store: {} }
flows:
  accept:
    source: { http.listener: { config: api, method: POST, path: /orders, response: { status: 202 } } }
    steps:
      - queue.publish: { queue: orders, timeout: 200ms }
  process:
    source: { queue.listener: { queue: orders, consumers: 2, max_deliveries: 3, redelivery_delay: 10ms } }
    steps:
      - choice:
          - when: "#[payload.fail == true]"
            steps: [ { raise_error: { type: "CRM:DOWN", description: "the CRM refused #[payload.id]" } } ]
      - object_store.put:
          config: seen
          key: "#[payload.id]"
          value: "#[correlation_id] #[attributes.queue] #[attributes.published_by] #[attributes.delivery]"
  read:
    source: { http.listener: { config: api, method: GET, path: "/seen/{id}" } }
    steps:
      - object_store.get: { config: seen, key: "#[attributes.params.id]" }
  # A consumer that never finishes in time: one message in process, one queued, the next publish waits.
  slow_accept:
    source: { http.listener: { config: api, method: POST, path: /slow } }
    steps:
      - queue.publish: { queue: slow, timeout: 100ms }
  slow_process:
    source: { queue.listener: { queue: slow, capacity: 1, consumers: 1, max_deliveries: 2, redelivery_delay: 2s } }
    steps:
      - raise_error: APP:BUSY
"##;

async fn seen(addr: std::net::SocketAddr, id: &str) -> Option<String> {
    for _ in 0..200 {
        let (status, _, body) = request(addr, "GET", &format!("/seen/{id}"), &[], b"").await;
        if status == 200 {
            return Some(body);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_message_runs_the_listening_flow_with_the_publishers_correlation_id() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let (status, ..) = request(addr, "POST", "/orders", &[("x-correlation-id", "cid-7")], br#"{"id":"A7"}"#).await;
    assert_eq!(status, 202);
    assert_eq!(seen(addr, "A7").await.as_deref(), Some("\"cid-7 orders accept 1\""));
    assert!(daemon.shutdown(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_dead_lettered_with_its_last_error_after_max_deliveries() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let (status, ..) =
        request(addr, "POST", "/orders", &[("x-correlation-id", "cid-9")], br#"{"id":"B9","fail":true}"#).await;
    assert_eq!(status, 202);
    let state = daemon.state();
    for _ in 0..300 {
        if !state.dead_letters().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dead = state.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let letter = &dead[0];
    assert_eq!((letter.queue.as_str(), letter.flow.as_str(), letter.attempts), ("orders", "process", 3));
    assert_eq!((letter.error_type.as_str(), letter.description.as_str()), ("CRM:DOWN", "the CRM refused B9"));
    assert_eq!(letter.correlation_id, "cid-9");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&letter.payload).unwrap()["id"], "B9");
    assert_eq!(seen(addr, "B9").await, None, "a failed message must not look processed");
    daemon.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_publishers_wait_then_fail_with_queue_timeout() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    // The first message is taken by the only consumer, the second fills the queue.
    assert_eq!(request(addr, "POST", "/slow", &[], b"{}").await.0, 200);
    let queue = daemon.state().queue_or_default("slow");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while queue.in_flight() == 0 {
        assert!(std::time::Instant::now() < deadline, "the consumer did not take the first message within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(request(addr, "POST", "/slow", &[], b"{}").await.0, 200);
    let (status, _, body) = request(addr, "POST", "/slow", &[], b"{}").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("QUEUE:TIMEOUT") && body.contains("stayed full"), "{body}");
    daemon.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_processes_every_queued_message_before_returning() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    for i in 0..50 {
        assert_eq!(request(addr, "POST", "/orders", &[], format!(r#"{{"id":"S{i}"}}"#).as_bytes()).await.0, 202);
    }
    let state = daemon.state();
    assert!(daemon.shutdown(Duration::from_secs(10)).await, "the drain did not finish");
    let store = state.existing_store("seen").unwrap();
    for i in 0..50 {
        assert!(store.get(&format!("S{i}")).unwrap().is_some(), "S{i} was not processed before shutdown returned");
    }
}
