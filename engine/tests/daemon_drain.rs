//! The shutdown drain of the HTTP listeners on loopback, with real sockets: connections are told to close
//! as soon as the drain starts (idle HTTP/1.1 ones at once, busy ones after their answer with
//! `Connection: close`, HTTP/2 ones with a GOAWAY), requests still running at the drain deadline are
//! answered 503 problem+json, and `relais run` exits 3 after a drain cut short, 0 after a clean one.
//!
//! Every keep-alive and idle timeout here is an hour: a connection that closes within a test's deadline
//! was closed by the drain, not by a timer.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use relais_engine::daemon::Daemon;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any condition is waited for before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// An hour-long keep-alive and HTTP/2 idle timeout, a `/ping`, a `/slow` flow held until the test
/// releases it (through the store, or by running the `release` flow on the admin port), and a `/stuck`
/// flow that sleeps for a minute; both say in the `seen` store and the log that they started.
const FLOWS: &str = r##"
configs:
  api:
    http.listener:
      port: 0
      keep_alive: 3600s
      http2_idle_timeout: 3600s
      header_read_timeout: 3600s
      request_timeout: 600s
  seen: { object_store: {} }
flows:
  ping:
    source: { http.listener: { config: api, method: GET, path: /ping } }
    steps:
      - set_payload: pong
  slow:
    source: { http.listener: { config: api, method: GET, path: /slow } }
    steps:
      - object_store.put: { config: seen, key: slow, value: true }
      - logger: "slow request started"
      - until_successful:
          max_retries: 6000
          backoff: { initial: 10ms, max: 10ms, jitter: false }
          steps:
            - object_store.get: { config: seen, key: released, default: false, target: released }
            - choice:
                - when: "#[!vars.released]"
                  steps: [ { raise_error: TEST:WAIT } ]
      - set_payload: done
  stuck:
    source: { http.listener: { config: api, method: GET, path: /stuck } }
    steps:
      - object_store.put: { config: seen, key: stuck, value: true }
      - logger: "stuck request started"
      - time.delay: { duration: 60s }
      - set_payload: finally
  release:
    steps:
      - object_store.put: { config: seen, key: released, value: true }
"##;

/// A daemon on [`FLOWS`], its listener's address and its `seen` store.
struct Running {
    daemon: Daemon,
    addr: SocketAddr,
    seen: Arc<relais_engine::runtime::object_store::ObjectStore>,
}

async fn start() -> Running {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (daemon, addr) = support::daemon(&dir).await;
    let seen = daemon.state().existing_store("seen").expect("the flows have the `seen` store");
    Running { daemon, addr, seen }
}

impl Running {
    /// Waits until the flow that writes `key` has started.
    async fn started(&self, key: &str) {
        let what = format!("the `{key}` request to start");
        support::eventually(&what, || std::future::ready(self.seen.get(key).unwrap().is_some())).await;
    }
}

/// Lets the `/slow` request finish.
fn release(seen: &relais_engine::runtime::object_store::ObjectStore) {
    seen.put("released", serde_json::json!(true), None).unwrap();
}

/// A response read off a raw connection: status, lower-case head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads one response (headers and a `content-length` body) from `stream`, waiting up to [`DEADLINE`].
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body = String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).to_string();
                return Answer { status, head, body };
            }
        }
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!("closed before a whole answer: {:?}", String::from_utf8_lossy(&raw)),
            Ok(Ok(n)) => raw.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer within {DEADLINE:?}; read so far: {:?}", String::from_utf8_lossy(&raw)),
        }
    }
}

/// Waits until the server closes `stream` (end of stream or reset), up to [`DEADLINE`]; returns what was
/// read meanwhile.
async fn wait_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("{what} was not closed within {DEADLINE:?}"),
        }
    }
}

/// A keep-alive connection that has been answered once and now waits for its next request.
async fn idle_connection(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "pong"));
    assert!(!answer.head.contains("connection: close"), "kept alive before the drain: {}", answer.head);
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_as_soon_as_the_drain_starts() {
    let r = start().await;
    let mut idle = idle_connection(r.addr).await;
    // A request in flight keeps the drain going while the idle connection is watched.
    let mut busy = TcpStream::connect(r.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    r.started("slow").await;
    let seen = r.seen.clone();
    let shutdown = tokio::spawn(r.daemon.shutdown(Duration::from_secs(600)));
    assert!(wait_closed(&mut idle, "the idle keep-alive connection").await.is_empty(), "closed without a word");
    assert!(!shutdown.is_finished(), "the drain is still waiting for the busy request");
    release(&seen);
    assert_eq!(read_answer(&mut busy).await.status, 200);
    assert!(shutdown.await.unwrap(), "everything finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_finishing_during_the_drain_is_answered_with_connection_close_and_its_connection_closes() {
    let r = start().await;
    let mut idle = idle_connection(r.addr).await;
    let mut busy = TcpStream::connect(r.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    r.started("slow").await;
    // The request is let go once the drain has reached the connections (the idle one closed): the shutdown
    // call starts it, but the listener's connections hear of it on their own tasks, later on a loaded
    // machine.
    let (drained, answer) = tokio::join!(r.daemon.shutdown(Duration::from_secs(600)), async {
        wait_closed(&mut idle, "the idle connection, once the drain started").await;
        release(&r.seen);
        let answer = read_answer(&mut busy).await;
        wait_closed(&mut busy, "the busy connection after its answer").await;
        answer
    });
    assert_eq!((answer.status, answer.body.as_str()), (200, "done"));
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    assert!(drained);
}

/// The client preface and an empty SETTINGS frame: prior-knowledge HTTP/2.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// A HEADERS frame opening stream 1 with `GET /slow` (HPACK literals, no Huffman), ending the stream.
fn get_slow() -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http (static table)
    block.extend_from_slice(&[0x04, 5]); // :path, literal value without indexing
    block.extend_from_slice(b"/slow");
    block.extend_from_slice(&[0x01, 1, b'x']); // :authority x
    let mut frame = vec![0, 0, block.len() as u8, 1, 0x4 | 0x1, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    frame
}

/// One HTTP/2 frame: type, flags, stream and payload.
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
}

/// Reads HTTP/2 frames, acknowledging PINGs as a client does, until `until_frame` holds for one (returned)
/// or the connection closes (`None`); fails past [`DEADLINE`].
async fn read_frames(stream: &mut TcpStream, seen: &mut Vec<u8>, until_frame: impl Fn(&Frame) -> bool) -> Option<()> {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut header = [0u8; 9];
        match tokio::time::timeout_at(until, stream.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return None,
            Err(_) => panic!("no awaited HTTP/2 frame within {DEADLINE:?} (frame types seen: {seen:?})"),
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        if tokio::time::timeout_at(until, stream.read_exact(&mut payload)).await.map_or(true, |r| r.is_err()) {
            return None;
        }
        let frame = Frame {
            kind: header[3],
            flags: header[4],
            stream: u32::from_be_bytes([header[5] & 0x7f, header[6], header[7], header[8]]),
        };
        if frame.kind == 6 && frame.flags & 1 == 0 {
            let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
            ack.extend_from_slice(&payload);
            let _ = stream.write_all(&ack).await;
        }
        seen.push(frame.kind);
        if until_frame(&frame) {
            return Some(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_gets_goaway_when_the_drain_starts_and_its_open_stream_still_gets_its_answer() {
    let r = start().await;
    let mut h2 = TcpStream::connect(r.addr).await.unwrap();
    h2.write_all(PREFACE).await.unwrap();
    h2.write_all(&get_slow()).await.unwrap();
    r.started("slow").await;
    let seen = r.seen.clone();
    let shutdown = tokio::spawn(r.daemon.shutdown(Duration::from_secs(600)));
    let mut kinds = Vec::new();
    let goaway = read_frames(&mut h2, &mut kinds, |f| f.kind == 7).await;
    assert!(goaway.is_some(), "a GOAWAY while the stream is open, not a close: {kinds:?}");
    assert!(!kinds.contains(&1), "GOAWAY came before the answer: {kinds:?}");
    release(&seen);
    let answered = read_frames(&mut h2, &mut kinds, |f| f.kind == 0 && f.stream == 1 && f.flags & 1 == 1).await;
    assert!(answered.is_some(), "the open stream was answered to its end: {kinds:?}");
    assert!(kinds.contains(&1), "with its HEADERS: {kinds:?}");
    assert!(read_frames(&mut h2, &mut kinds, |_| false).await.is_none(), "then the connection closes");
    assert!(shutdown.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_finishes_its_request_during_the_drain_and_its_connection_ends_cleanly() {
    let r = start().await;
    let io = hyper_util::rt::TokioIo::new(TcpStream::connect(r.addr).await.unwrap());
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://{}/slow", r.addr)).body(Empty::<Bytes>::new()).unwrap();
    let response = tokio::spawn(sender.send_request(request));
    r.started("slow").await;
    let seen = r.seen.clone();
    let shutdown = tokio::spawn(r.daemon.shutdown(Duration::from_secs(600)));
    // The drain has started once new connections are refused (the listener stops accepting first).
    let addr = r.addr;
    support::eventually("the listener to stop accepting", || async move { TcpStream::connect(addr).await.is_err() })
        .await;
    release(&seen);
    let response = response.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"done");
    let ended = tokio::time::timeout(DEADLINE, connection).await.expect("the server closed the HTTP/2 connection");
    assert!(ended.unwrap().is_ok(), "a graceful end (GOAWAY), not an error");
    assert!(shutdown.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_running_at_the_drain_deadline_is_answered_503_problem_json_saying_the_server_is_shutting_down()
{
    let r = start().await;
    let mut stuck = TcpStream::connect(r.addr).await.unwrap();
    stuck.write_all(b"GET /stuck HTTP/1.1\r\nhost: x\r\nx-correlation-id: cut-1\r\n\r\n").await.unwrap();
    r.started("stuck").await;
    let (drained, answer) = tokio::join!(r.daemon.shutdown(Duration::from_millis(200)), read_answer(&mut stuck));
    assert!(!drained, "the drain was cut short");
    assert_eq!(answer.status, 503, "{}\n{}", answer.head, answer.body);
    assert!(answer.head.contains("content-type: application/problem+json"), "{}", answer.head);
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    assert!(answer.head.contains("x-correlation-id: cut-1"), "{}", answer.head);
    let problem: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["correlation_id"], "cut-1");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("shutting down"), "{detail}");
    wait_closed(&mut stuck, "the connection of the request cut short").await;
}

/// `relais run` on [`FLOWS`] with `--drain drain`, its listener's address and its admin address.
fn relais_run(drain: &str) -> (support::process::RelaisProcess, SocketAddr, SocketAddr) {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let process = support::process::RelaisProcess::start(
        &dir,
        &["--admin", "127.0.0.1:0", "--admin-insecure", "--state", "memory", "--no-watch", "--drain", drain],
        "info",
        &[],
    );
    let addr = process.wait_for_address("listening on http://");
    let admin = process.wait_for_address("admin endpoints on http://");
    (process, addr, admin)
}

/// Waits for the process to exit; returns it (for its logs) and its exit code.
async fn exit_code(mut process: support::process::RelaisProcess) -> (support::process::RelaisProcess, Option<i32>) {
    tokio::task::spawn_blocking(move || {
        let code = process.child.wait().unwrap().code();
        (process, code)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relais_run_exits_3_and_logs_the_request_it_answered_503_when_the_drain_deadline_cuts_it_short() {
    let (process, addr, _) = relais_run("1s");
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck.write_all(b"GET /stuck HTTP/1.1\r\nhost: x\r\nx-correlation-id: cut-in-run\r\n\r\n").await.unwrap();
    process.wait_for_log("stuck request started");
    process.signal("TERM");
    let answer = read_answer(&mut stuck).await;
    assert_eq!(answer.status, 503, "{}\n{}", answer.head, answer.body);
    assert!(answer.body.contains("shutting down"), "{}", answer.body);
    let (process, code) = exit_code(process).await;
    let logs = process.drain_logs(Duration::from_secs(5));
    assert_eq!(code, Some(3), "{logs}");
    let cut = logs
        .lines()
        .find(|l| l.contains("drain deadline passed before the request finished"))
        .unwrap_or_else(|| panic!("the request cut short is logged: {logs}"));
    assert!(cut.contains("\"level\":\"ERROR\""), "{cut}");
    assert!(cut.contains("cut-in-run") && cut.contains("\"flow\":\"stuck\""), "{cut}");
    let summary = logs
        .lines()
        .find(|l| l.contains("passed before all work finished"))
        .unwrap_or_else(|| panic!("what was cut short is summed up: {logs}"));
    assert!(summary.contains("1 request(s) answered 503"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relais_run_exits_0_after_a_clean_drain_in_which_a_busy_request_finishes_with_connection_close() {
    let (process, addr, admin) = relais_run("600s");
    let mut idle = idle_connection(addr).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    process.wait_for_log("slow request started");
    process.signal("TERM");
    // The admin port answers until the end of the drain: `/ready` says it started, and running the
    // `release` flow there lets the busy request finish.
    support::eventually("/ready to say the daemon is draining", || async move {
        support::request(admin, "GET", "/ready", &[], b"").await.0 == 503
    })
    .await;
    assert!(wait_closed(&mut idle, "the idle keep-alive connection").await.is_empty());
    assert_eq!(support::request(admin, "POST", "/flows/release/run", &[], b"").await.0, 200);
    let answer = read_answer(&mut busy).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "done"));
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    let (process, code) = exit_code(process).await;
    let logs = process.drain_logs(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{logs}");
    assert!(!logs.contains("before all work finished"), "{logs}");
}

#[test]
fn relais_run_help_says_what_exit_code_3_means() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais")).args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("3 the drain deadline (--drain) passed with work still running"), "{text}");
    assert!(text.contains("answered 503 and relais run exits 3"), "the --drain option says it: {text}");
}
