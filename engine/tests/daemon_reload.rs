//! Hot reload through the daemon API: requests in flight finish on the program they started on, new ones
//! run the new program, stores and queues keep their content, and a reload that cannot bind changes nothing.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;
use support::request;

/// A flow answering `version` after about 350 ms (three failed attempts with fixed backoff).
fn flows(version: &str, port: u16) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: {port} }} }}
  keys: {{ object_store: {{}} }}
flows:
  slow:
    source: {{ http.listener: {{ config: api, method: GET, path: /slow }} }}
    steps:
      - object_store.put: {{ config: keys, key: "started-#[correlation_id]", value: true }}
      - try:
          steps:
            - until_successful:
                max_retries: 3
                backoff: {{ initial: 50ms, max: 200ms, jitter: false }}
                steps: [ {{ raise_error: TEST:WAIT }} ]
          on_error:
            - continue: {{ steps: [] }}
      - set_payload: "{version}"
  once:
    source: {{ http.listener: {{ config: api, method: POST, path: /once }} }}
    steps:
      - idempotent: {{ key: "#[payload.id]", store: keys }}
      - set_payload: "{version}"
  publish:
    source: {{ http.listener: {{ config: api, method: POST, path: /publish, response: {{ status: 202 }} }} }}
    steps:
      - queue.publish: {{ queue: work }}
  consume:
    source: {{ queue.listener: {{ queue: work, consumers: 1 }} }}
    steps:
      - object_store.put: {{ config: keys, key: "#[payload.id]", value: "{version}" }}
  read:
    source: {{ http.listener: {{ config: api, method: GET, path: "/keys/{{id}}" }} }}
    steps:
      - object_store.get: {{ config: keys, key: "#[attributes.params.id]" }}
"##
    )
}

async fn reload(daemon: &mut relais_engine::daemon::Daemon, dir: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::write(dir.join("flows.yaml"), text).unwrap();
    let (_, program) = support::compile_dir(dir, Some(daemon.state()));
    daemon.reload(relais_engine::components::registry(), program).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_while_requests_are_in_flight_loses_none_of_them() {
    let dir = support::write_files(&[("flows.yaml", &flows("v1", 0))]);
    let (mut daemon, _) = support::daemon(&dir).await;
    let addr = daemon.listeners[0].1;
    let in_flight: Vec<_> = (0..40)
        .map(|i| {
            let cid = format!("r-{i}");
            tokio::spawn(async move { request(addr, "GET", "/slow", &[("x-correlation-id", &cid)], b"").await })
        })
        .collect();
    // Every request has started its flow (each marks `started-<correlation id>`) before the reload.
    let keys = daemon.state().existing_store("keys").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (0..40).any(|i| keys.get(&format!("started-r-{i}")).unwrap().is_none()) {
        assert!(std::time::Instant::now() < deadline, "the 40 requests did not all start within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reload(&mut daemon, &dir, &flows("v2", 0)).await.unwrap();
    assert_eq!(daemon.listeners[0].1, addr, "an unchanged listener keeps its socket");
    let after = tokio::spawn(async move { request(addr, "GET", "/slow", &[], b"").await });
    for answer in in_flight {
        let (status, _, body) = answer.await.unwrap();
        assert_eq!((status, body.as_str()), (200, "v1"), "a request in flight finishes on its program");
    }
    let (status, _, body) = after.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "v2"));
    assert!(daemon.shutdown(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_and_queue_consumers_carry_over_to_the_new_program() {
    let dir = support::write_files(&[("flows.yaml", &flows("v1", 0))]);
    let (mut daemon, addr) = support::daemon(&dir).await;
    assert_eq!(request(addr, "POST", "/once", &[], br#"{"id":"K1"}"#).await.0, 200);
    reload(&mut daemon, &dir, &flows("v2", 0)).await.unwrap();
    let (status, _, body) = request(addr, "POST", "/once", &[], br#"{"id":"K1"}"#).await;
    assert_eq!(status, 409, "the idempotency key taken before the reload still counts: {body}");
    assert_eq!(request(addr, "POST", "/publish", &[], br#"{"id":"Q1"}"#).await.0, 202);
    let mut value = String::new();
    for _ in 0..200 {
        let (status, _, body) = request(addr, "GET", "/keys/Q1", &[], b"").await;
        if status == 200 {
            value = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(value, "\"v2\"", "the consumer of the new program took the message");
    daemon.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_cannot_bind_its_new_port_keeps_the_old_program_running() {
    let dir = support::write_files(&[("flows.yaml", &flows("v1", 0))]);
    let (mut daemon, addr) = support::daemon(&dir).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = reload(&mut daemon, &dir, &flows("v2", port)).await.unwrap_err();
    assert!(error.contains(&format!("127.0.0.1:{port}")) && error.contains("api"), "{error}");
    let (status, _, body) = request(addr, "GET", "/slow", &[], b"").await;
    assert_eq!((status, body.as_str()), (200, "v1"));
    drop(taken);
    reload(&mut daemon, &dir, &flows("v3", port)).await.unwrap();
    assert_eq!(daemon.listeners[0].1.port(), port, "the listener moved to its new port");
    let (status, _, body) = request(daemon.listeners[0].1, "GET", "/slow", &[], b"").await;
    assert_eq!((status, body.as_str()), (200, "v3"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the old port is still open after 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.shutdown(Duration::from_secs(2)).await;
}
