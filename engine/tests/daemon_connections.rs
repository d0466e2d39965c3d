//! Connection limits against a real daemon on loopback: slow and endless bodies and heads (408), idle
//! HTTP/1.1 and HTTP/2 connections, a connection cap, `max_concurrency` claimed before the body is read,
//! large bodies parsed off the async workers, the admin port under a flood, and descriptor exhaustion.
//! Raw `TcpStream` clients express what a well-behaved HTTP client cannot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any condition is waited for before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

async fn start(flows: &str) -> (relais_engine::daemon::Daemon, SocketAddr) {
    let dir = support::write_files(&[("flows.yaml", flows)]);
    support::daemon(&dir).await
}

/// A response read off a raw connection: status, lower-case head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads one response (headers and a `content-length` body) from `stream`, waiting up to [`DEADLINE`];
/// `None` when the connection closed before a whole response.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
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
                return Some(Answer { status, head, body });
            }
        }
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => raw.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer within {DEADLINE:?}; read so far: {:?}", String::from_utf8_lossy(&raw)),
        }
    }
}

/// Waits until the server closes `stream` (end of stream or reset), up to [`DEADLINE`]; returns what
/// was read meanwhile.
async fn wait_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("the connection was not closed within {DEADLINE:?}"),
        }
    }
}

const PING: &str = r##"
  ping:
    source: { http.listener: { config: api, method: GET, path: /ping } }
    steps:
      - set_payload: pong
  echo:
    source: { http.listener: { config: api, method: POST, path: /echo } }
    steps:
      - set_payload: received
"##;

fn flows(listener: &str) -> String {
    format!("configs:\n  api: {{ http.listener: {{ port: 0, {listener} }} }}\nflows:{PING}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_one_byte_per_second_is_answered_408_and_the_connection_closes() {
    let (daemon, addr) = start(&flows("body_read_timeout: 1s, keep_alive: 60s")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let until = Instant::now() + DEADLINE;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    // One byte a second until the server answers.
    while !String::from_utf8_lossy(&raw).contains("\r\n\r\n") {
        assert!(Instant::now() < until, "no answer while the body trickled in");
        let _ = stream.write_all(b"x").await;
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut chunk)).await {
            assert!(n > 0, "closed without an answer");
            raw.extend_from_slice(&chunk[..n]);
        }
    }
    let text = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    wait_closed(&mut stream).await;
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_that_never_ends_is_answered_408_and_the_connection_closes() {
    let (daemon, addr) = start(&flows("body_read_timeout: 1s")).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
    writer.write_all(head.as_bytes()).await.unwrap();
    // A chunk every 50 ms, forever (until the server stops reading).
    let feeder = tokio::spawn(async move {
        while writer.write_all(b"4\r\nmore\r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(until, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("the endless body outlived the body read timeout: {:?}", String::from_utf8_lossy(&raw)),
        }
    }
    let text = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(text.contains("\"status\":408"), "{text}");
    feeder.abort();
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_slowly_are_answered_408_and_the_connection_closes() {
    let (daemon, addr) = start(&flows("header_read_timeout: 1s, keep_alive: 60s")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let until = Instant::now() + DEADLINE;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        assert!(Instant::now() < until, "no answer while the headers trickled in");
        if stream.write_all(b"x").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(text.starts_with("http/1.1 408"), "answered: {text:?}");
    assert!(text.contains("application/problem+json"), "{text}");
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout_without_an_answer() {
    let (daemon, addr) = start(&flows("header_read_timeout: 1s, keep_alive: 60s")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert!(wait_closed(&mut stream).await.is_empty(), "nothing is answered to a connection that asked nothing");
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let (daemon, addr) = start(&flows("keep_alive: 1s, header_read_timeout: 60s")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let answer = read_answer(&mut stream).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "pong"));
    assert!(!answer.head.contains("connection: close"), "{}", answer.head);
    assert!(wait_closed(&mut stream).await.is_empty());
    daemon.shutdown(Duration::from_secs(1)).await;
}

/// Reads HTTP/2 frames until the connection closes, acknowledging PINGs; returns the frames seen (type
/// and payload).
async fn http2_frames_until_closed(stream: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut types = Vec::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut header = [0u8; 9];
        match tokio::time::timeout_at(until, stream.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return types,
            Err(_) => panic!("the idle HTTP/2 connection was not closed (frames seen: {types:?})"),
        }
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; length];
        if tokio::time::timeout_at(until, stream.read_exact(&mut payload)).await.map_or(true, |r| r.is_err()) {
            return types;
        }
        // PING without ACK: answer it, as a client does, so a graceful GOAWAY can complete.
        if header[3] == 6 && header[4] & 1 == 0 {
            let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
            ack.extend_from_slice(&payload);
            let _ = stream.write_all(&ack).await;
        }
        types.push((header[3], payload));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_gets_goaway_and_is_closed_and_its_stream_limit_is_announced() {
    let (daemon, addr) = start(&flows("http2_idle_timeout: 1s, http2_max_concurrent_streams: 7")).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Prior-knowledge HTTP/2: the preface and an empty SETTINGS frame, then nothing.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let frames = http2_frames_until_closed(&mut stream).await;
    assert!(frames.iter().any(|(t, _)| *t == 7), "a GOAWAY frame before the close: {frames:?}");
    let settings = &frames.iter().find(|(t, _)| *t == 4).expect("the server's SETTINGS").1;
    let max_streams =
        settings.chunks(6).find(|s| s[..2] == [0, 3]).map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
    assert_eq!(max_streams, Some(7), "SETTINGS_MAX_CONCURRENT_STREAMS: {settings:?}");
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_connections_4_a_fifth_connection_is_served_only_once_one_closes() {
    let (daemon, addr) = start(&flows("max_connections: 4, keep_alive: 60s, header_read_timeout: 60s")).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        assert_eq!(read_answer(&mut stream).await.unwrap().status, 200);
        held.push(stream);
    }
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    fifth.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    // The server keeps answering on the connections it holds, and still not the fifth.
    for _ in 0..5 {
        held[0].write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        assert_eq!(read_answer(&mut held[0]).await.unwrap().status, 200);
    }
    let mut probe = [0u8; 1];
    assert!(
        matches!(fifth.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the fifth connection was served while four were open"
    );
    drop(held.pop());
    let answer = read_answer(&mut fifth).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "pong"));
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_requests_in_flight_a_request_waits_up_to_the_request_timeout_then_gets_503() {
    let (daemon, addr) = start(&flows("max_requests_in_flight: 1, request_timeout: 1s")).await;
    // Holds the listener's only slot: its head is in, its body never comes.
    let mut holder = TcpStream::connect(addr).await.unwrap();
    let head = "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n";
    holder.write_all(head.as_bytes()).await.unwrap();
    let until = Instant::now() + DEADLINE;
    loop {
        let (status, head, _) = support::request(addr, "GET", "/ping", &[], b"").await;
        if status == 503 {
            assert!(head.contains("retry-after: 1"), "{head}");
            break;
        }
        assert_eq!(status, 200, "{head}");
        assert!(Instant::now() < until, "a second request was always served while the only slot was held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(holder);
    let until = Instant::now() + DEADLINE;
    while support::request(addr, "GET", "/ping", &[], b"").await.0 != 200 {
        assert!(Instant::now() < until, "the slot was never released");
    }
    daemon.shutdown(Duration::from_secs(1)).await;
}

/// A flow that holds its `max_concurrency` permit for long (marking itself as started), a probe flow that
/// reads the marks, and the ping and echo flows.
fn held_flows(max_concurrency: u32) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  marks: {{ object_store: {{}} }}
flows:
  held:
    max_concurrency: {max_concurrency}
    source: {{ http.listener: {{ config: api, method: POST, path: /held }} }}
    steps:
      - object_store.get: {{ config: marks, key: started, default: 0, target: n }}
      - object_store.put: {{ config: marks, key: started, value: "#[vars.n + 1]" }}
      - time.delay: {{ duration: 60s }}
      - set_payload: done
  probe:
    source: {{ http.listener: {{ config: api, method: GET, path: /probe }} }}
    steps:
      - object_store.get: {{ config: marks, key: started, default: 0, target: n }}
      - set_payload: "#[vars.n]"
{PING}"##
    )
}

/// Waits until `/probe` says `n` held runs started.
async fn wait_started(addr: SocketAddr, n: u32) {
    let until = Instant::now() + DEADLINE;
    loop {
        let (_, _, body) = support::request(addr, "GET", "/probe", &[], b"").await;
        if body.trim_matches('"') == n.to_string() {
            return;
        }
        assert!(Instant::now() < until, "{n} held runs never started (probe says {body})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_by_max_concurrency_is_answered_503_before_its_body_is_sent() {
    let (daemon, addr) = start(&held_flows(1)).await;
    let first = tokio::spawn(async move { support::request(addr, "POST", "/held", &[], b"{}").await });
    wait_started(addr, 1).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /held HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b' '; 1024]).await.unwrap();
    let answer = read_answer(&mut stream).await.expect("an answer, not a reset");
    assert_eq!(answer.status, 503, "{}", answer.head);
    assert!(answer.head.contains("retry-after: 1"), "{}", answer.head);
    assert!(answer.head.contains("connection: close"), "{}", answer.head);
    first.abort();
    daemon.shutdown(Duration::from_secs(1)).await;
}

/// A JSON object of about 9 MB with a million keys.
fn million_keys() -> Bytes {
    let mut text = String::with_capacity(9_500_000);
    text.push('{');
    for i in 0..1_000_000u32 {
        if i > 0 {
            text.push(',');
        }
        let key: String = (0..4).map(|d| char::from(b'a' + ((i / 26u32.pow(d)) % 26) as u8)).collect();
        text.push_str(&format!("\"{key}{}\":1", i / 456_976));
    }
    text.push('}');
    Bytes::from(text)
}

type Client = hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn post(client: &Client, url: String, body: Bytes) -> Result<u16, String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_large_bodies_to_a_flow_with_max_concurrency_2_get_fourteen_503s_while_others_answer() {
    let dir = support::write_files(&[("flows.yaml", &held_flows(2))]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    let (addr, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    let body = million_keys();
    let (tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let mut uploads = Vec::new();
    for _ in 0..16 {
        let (tx, body) = (tx.clone(), body.clone());
        uploads.push(tokio::spawn(async move {
            let _ = tx.send(post(&client(), format!("http://{addr}/held"), body).await);
        }));
    }
    let mut refused = 0;
    while refused < 14 {
        let answer = tokio::time::timeout(DEADLINE, answers.recv()).await.expect("fourteen answers").unwrap();
        assert_eq!(answer, Ok(503), "a refused upload gets its 503 (a real client, not a reset)");
        refused += 1;
        // Meanwhile the other flow and the admin port answer.
        assert_eq!(support::request(addr, "GET", "/ping", &[], b"").await.0, 200);
        assert_eq!(support::request(admin, "GET", "/health", &[], b"").await.0, 200);
    }
    assert!(answers.try_recv().is_err(), "the two admitted uploads are still running");
    for upload in uploads {
        upload.abort();
    }
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn million_key_bodies_are_parsed_without_stalling_other_requests() {
    let (daemon, addr) = start(&flows("keep_alive: 60s")).await;
    let body = million_keys();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut sent = Vec::new();
    let mut big = Vec::new();
    for i in 0..2 {
        let (order, body) = (order.clone(), body.clone());
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        sent.push(sent_rx);
        big.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(&body).await.unwrap();
            let _ = sent_tx.send(());
            let answer = read_answer(&mut stream).await.unwrap();
            order.lock().unwrap().push(format!("big {i}: {}", answer.status));
        }));
    }
    for s in sent {
        s.await.unwrap();
    }
    let (status, _, _) = support::request(addr, "GET", "/ping", &[], b"").await;
    order.lock().unwrap().push(format!("ping: {status}"));
    for b in big {
        b.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order[0], "ping: 200", "the small request is answered while the large bodies parse: {order:?}");
    assert!(order[1..].iter().all(|o| o.ends_with(": 200")), "{order:?}");
    daemon.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_closes_a_flood_of_idle_connections_and_answers_health_after_it() {
    let dir = support::write_files(&[("flows.yaml", &flows("keep_alive: 60s"))]);
    let (_, program) = support::compile_dir(&dir, None);
    let limits = relais_engine::daemon::Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(1),
        ..relais_engine::daemon::Limits::admin()
    };
    let daemon = relais_engine::daemon::start_with_admin_limits(
        relais_engine::components::registry(),
        relais_engine::runtime::Runtime::new(program),
        Some("127.0.0.1:0".parse().unwrap()),
        limits,
    )
    .await
    .unwrap();
    let admin = daemon.admin.unwrap();
    let mut flood = Vec::new();
    for _ in 0..10 {
        flood.push(TcpStream::connect(admin).await.unwrap());
    }
    let health = tokio::spawn(async move { support::request(admin, "GET", "/health", &[], b"").await });
    for stream in &mut flood {
        assert!(wait_closed(stream).await.is_empty(), "an idle admin connection is closed without an answer");
    }
    let (status, _, body) = tokio::time::timeout(DEADLINE, health).await.expect("/health answers").unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"up\"}"));
    daemon.shutdown(Duration::from_secs(1)).await;
}

/// CPU time (user + system) of process `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15).
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_daemon_backs_off_without_spinning_and_serves_again_once_they_are_released() {
    use std::io::BufRead;
    let dir = support::write_files(&[("flows.yaml", &flows("keep_alive: 60s"))]);
    /// Kills the daemon even when an assertion fails first.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" run \"$1\" --admin 127.0.0.1:0 --state memory --no-watch")
        .arg(env!("CARGO_BIN_EXE_relais"))
        .arg(&dir)
        .env("RELAIS_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Killed(child);
    let pid = child.0.id();
    let (tx, logs) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let address_after = |line: &str, marker: &str| -> Option<SocketAddr> {
        let at = line.find(marker)? + marker.len();
        line[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect::<String>().parse().ok()
    };
    let (mut listener, mut admin) = (None, None);
    let until = Instant::now() + DEADLINE;
    while listener.is_none() || admin.is_none() {
        assert!(Instant::now() < until, "the daemon did not start");
        if let Ok(line) = logs.recv_timeout(Duration::from_millis(100)) {
            if line.contains("listening on") {
                listener = address_after(&line, "http://");
            }
            if line.contains("admin endpoints") {
                admin = address_after(&line, "http://");
            }
        }
    }
    let (listener, admin) = (listener.unwrap(), admin.unwrap());
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(limits.lines().any(|l| l.starts_with("Max open files") && l.contains(" 64 ")), "{limits}");

    // More connections than descriptors: the daemon accepts what it can, then accepting fails.
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(TcpStream::connect(listener).await.unwrap());
    }
    let until = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < until, "accepting never failed");
        if let Ok(line) = logs.recv_timeout(Duration::from_millis(100)) {
            if line.contains("accepting a connection failed") {
                break;
            }
        }
    }
    // Out of descriptors now: the admin port's accept fails too.
    for _ in 0..3 {
        flood.push(TcpStream::connect(admin).await.unwrap());
    }
    let (ticks_before, wall_before) = (cpu_ticks(pid), Instant::now());
    while wall_before.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = Duration::from_millis((cpu_ticks(pid) - ticks_before) * 10); // 100 ticks a second on Linux
    let wall = wall_before.elapsed();
    eprintln!("CPU while out of descriptors: {cpu:?} in {wall:?}");
    // A loop that retries at once gets a whole core on an idle machine (and still 40 % of the wall time on
    // a shared machine with a load of 13); one that backs off uses under a clock tick here.
    assert!(cpu < wall / 10, "out of descriptors the daemon used {cpu:?} of CPU in {wall:?}: it spins");

    drop(flood);
    let until = Instant::now() + DEADLINE;
    loop {
        let served = tokio::time::timeout(Duration::from_secs(5), async {
            let health = support::request(admin, "GET", "/health", &[], b"").await.0;
            let ping = support::request(listener, "GET", "/ping", &[], b"").await.0;
            (health, ping)
        })
        .await;
        if served == Ok((200, 200)) {
            break;
        }
        assert!(Instant::now() < until, "the daemon does not serve again: {served:?}");
    }
    drop(child);
}
