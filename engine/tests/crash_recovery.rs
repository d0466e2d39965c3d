//! `relais run` killed with SIGKILL again and again while 10,000 messages go through a persistent queue: every
//! message reaches the sink exactly once, none is lost, none is dead-lettered.
//!
//! The flows are `tests/fixtures/crash/flows.yaml`: a webhook publishes each message to a persistent queue
//! before answering 202; four consumers apply it to a sink (a partner this test runs and that counts what it
//! receives), guarded by an idempotent step on the message id. The publisher acts like a webhook sender:
//! it sends each message until it gets a 202, so a message whose answer a kill cut off is sent again.
//! The kills land at random points (seed printed; `CRASH_SEED=N` replays a run).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MESSAGES: usize = 10_000;
const KILLS: usize = 5;
const PUBLISHERS: usize = 16;

/// What the sink received: applications per message id.
#[derive(Default)]
struct Sink {
    applied: Mutex<HashMap<String, u32>>,
    posts: AtomicUsize,
}

impl Sink {
    fn distinct(&self) -> usize {
        self.applied.lock().unwrap().len()
    }
}

/// The partner: `POST /apply` records the message's id, `GET /applied/ID` answers 200 if it was recorded
/// and 404 if not.
async fn start_sink() -> (SocketAddr, Arc<Sink>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = Arc::new(Sink::default());
    let shared = sink.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let sink = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        let (method, path) = (req.method().clone(), req.uri().path().to_string());
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let status = if method == hyper::Method::POST && path == "/apply" {
                            let message: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                            match message["id"].as_str() {
                                Some(id) => {
                                    sink.posts.fetch_add(1, Ordering::SeqCst);
                                    *sink.applied.lock().unwrap().entry(id.to_string()).or_default() += 1;
                                    200
                                }
                                None => 400,
                            }
                        } else if let Some(id) = path.strip_prefix("/applied/") {
                            if sink.applied.lock().unwrap().contains_key(id) {
                                200
                            } else {
                                404
                            }
                        } else {
                            404
                        };
                        let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"{}")));
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
    (addr, sink)
}

/// A port free right now, for the daemon's listener (the same on every restart, like a real deployment's).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One `relais run` process and what it logged.
struct Relais {
    child: Child,
    /// Takeovers of claims left pending by a killed process, counted from the log.
    recovered: Arc<AtomicUsize>,
    ready: std::sync::mpsc::Receiver<()>,
}

fn start_relais(state: &Path, port: u16, admin: u16, sink: SocketAddr) -> Relais {
    let flows = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/crash");
    let mut child = Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("run")
        .arg(flows)
        .arg("--state")
        .arg(state)
        .args(["--admin", &format!("127.0.0.1:{admin}"), "--no-watch"])
        .env("RELAIS_HTTP_PORT", port.to_string())
        .env("RELAIS_SINK_URL", format!("http://{sink}"))
        .env("RELAIS_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let recovered = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let counter = recovered.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("taking it over") {
                counter.fetch_add(1, Ordering::SeqCst);
            } else if line.contains("cannot") || line.contains("damaged") || line.contains("panicked") {
                eprintln!("relais: {line}");
            }
            if line.contains("listening on http://") {
                let _ = ready_tx.send(());
            }
        }
    });
    Relais { child, recovered, ready }
}

impl Relais {
    /// Waits until the listener is up (the process logs "listening on http://").
    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            match self.ready.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => return,
                Err(_) => {
                    if let Some(status) = self.child.try_wait().unwrap() {
                        panic!("relais exited while starting: {status}");
                    }
                    assert!(Instant::now() < until, "relais did not start listening within 60 s");
                }
            }
        }
    }
}

/// A tiny deterministic generator, so that a failing run can be replayed with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

/// Sends one message; true on a 202.
async fn publish(addr: SocketAddr, body: &[u8]) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await
    else {
        return false;
    };
    let head = format!(
        "POST /messages HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(body).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => answer.starts_with(b"HTTP/1.1 202"),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_survive_repeated_kill_9_each_applied_exactly_once() {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    println!("CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let state = std::env::temp_dir().join(format!("relais-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let (sink_addr, sink) = start_sink().await;
    let (port, admin) = (free_port(), free_port());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // Publishers: each message until it is accepted, whatever the daemon is going through.
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let resent = Arc::new(AtomicUsize::new(0));
    let publishing_done = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for _ in 0..PUBLISHERS {
        let (next, accepted, resent) = (next.clone(), accepted.clone(), resent.clone());
        publishers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= MESSAGES {
                    break;
                }
                let body =
                    serde_json::json!({ "id": format!("m-{i:05}"), "data": "x".repeat(1000) }).to_string().into_bytes();
                while !publish(addr, &body).await {
                    resent.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    {
        let publishing_done = publishing_done.clone();
        let publishers = std::mem::take(&mut publishers);
        tokio::spawn(async move {
            for p in publishers {
                p.await.unwrap();
            }
            publishing_done.store(true, Ordering::SeqCst);
        });
    }

    // Kill the daemon KILLS times at random points, restarting it at once: the first kills while the webhook
    // is taking messages (when a random number of them has been accepted), the others while the consumers
    // work through the queue (when the sink has seen a random number of them).
    let mut kill_points: Vec<(&str, usize)> = (0..KILLS)
        .map(|k| {
            let at = rng.between(500, MESSAGES as u64 - 500) as usize;
            (if k < 2 { "accepted" } else { "applied" }, at)
        })
        .collect();
    kill_points.sort_unstable();
    let mut recovered = 0;
    let mut kills_in_flight = 0;
    let started = Instant::now();
    let mut relais = start_relais(&state, port, admin, sink_addr);
    relais.wait_ready();
    for (counter, point) in &kill_points {
        let count = || if *counter == "accepted" { accepted.load(Ordering::SeqCst) } else { sink.distinct() };
        let until = Instant::now() + Duration::from_secs(300);
        while count() < *point {
            assert!(
                Instant::now() < until,
                "stalled at {} applied, {} accepted",
                sink.distinct(),
                accepted.load(Ordering::SeqCst)
            );
            assert!(relais.child.try_wait().unwrap().is_none(), "relais exited by itself");
            tokio::time::sleep(Duration::from_millis(rng.between(1, 30))).await;
        }
        relais.child.kill().unwrap();
        relais.child.wait().unwrap();
        kills_in_flight += usize::from(sink.distinct() < MESSAGES);
        recovered += relais.recovered.load(Ordering::SeqCst);
        println!(
            "killed at {} applied, {} accepted, after {:.1}s",
            sink.distinct(),
            accepted.load(Ordering::SeqCst),
            started.elapsed().as_secs_f64()
        );
        relais = start_relais(&state, port, admin, sink_addr);
        relais.wait_ready();
    }

    // Let the last run finish everything: all messages accepted, applied, and the queue empty.
    let until = Instant::now() + Duration::from_secs(300);
    while !(publishing_done.load(Ordering::SeqCst) && sink.distinct() == MESSAGES && queue_is_empty(admin).await) {
        assert!(
            Instant::now() < until,
            "not done after the last restart: {} of {MESSAGES} applied, {} accepted",
            sink.distinct(),
            accepted.load(Ordering::SeqCst)
        );
        assert!(relais.child.try_wait().unwrap().is_none(), "relais exited by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigterm(&relais.child);
    let status = relais.child.wait().unwrap();
    recovered += relais.recovered.load(Ordering::SeqCst);
    assert!(status.success(), "relais did not stop cleanly after SIGTERM: {status}");

    let applied = sink.applied.lock().unwrap();
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n > 1).map(|(id, n)| format!("{id}×{n}")).collect();
    let missing = (0..MESSAGES).filter(|i| !applied.contains_key(&format!("m-{i:05}"))).count();
    println!(
        "{MESSAGES} messages, {KILLS} kills ({kills_in_flight} with messages in flight), {} resends by the \
         publishers, {} claims recovered from killed processes, {} posts to the sink, {:.1}s",
        resent.load(Ordering::SeqCst),
        recovered,
        sink.posts.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(missing, 0, "messages lost");
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    assert_eq!(kills_in_flight, KILLS, "every kill must interrupt work");

    // Nothing was dead-lettered: `relais dlq list` on the stopped daemon's state says so.
    let out = Command::new(env!("CARGO_BIN_EXE_relais")).args(["dlq", "list", "--state"]).arg(&state).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}{}", String::from_utf8_lossy(&out.stderr));
    assert!(listing.starts_with("0 dead letter(s)"), "{listing}");
    let _ = std::fs::remove_dir_all(&state);
}

/// Whether the admin port reports the `work` queue empty with nothing in flight.
async fn queue_is_empty(admin: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", admin)).await else { return false };
    let request = "GET /metrics HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut text = String::new();
    if stream.read_to_string(&mut text).await.is_err() {
        return false;
    }
    let gauge = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{queue=\"work\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .map(|v| v.trim() == "0")
    };
    gauge("relais_queue_depth") == Some(true) && gauge("relais_queue_in_flight") == Some(true)
}

/// SIGTERM, the way an orchestrator stops the daemon.
fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}
