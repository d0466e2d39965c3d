//! Several `relais run` replicas on one PostgreSQL schema (`--state postgres://...`), as a load balancer would
//! run them: orders accepted by any replica reach the simulated CRM exactly once though one replica is killed
//! with SIGKILL in the middle; a flow scheduled every second runs once per tick across three replicas, also
//! while the replica that ran it is killed; two replicas replaying the same dead letter publish it once; a
//! replica cut off from PostgreSQL is not ready, answers 503, and resumes when it is back. Plus the CLI's side:
//! an unreachable state refused at start without showing its password, `relais dlq` on a shared state.
//!
//! PostgreSQL must run on 127.0.0.1:5432 (see `support/postgres.rs`); each test has a schema of its own.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use relais_store::StateStore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::postgres::Schema;
use support::process::RelaisProcess;
use support::proxy::Proxy;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/replicas").join(name)
}

/// The simulated CRM (and schedule counter): `PUT /contacts/ID` upserts a contact and counts it, `GET
/// /contacts/ID` answers 200 once it exists and 404 before, `POST /ticks` records the tick in the body.
#[derive(Default)]
struct Crm {
    upserts: Mutex<HashMap<String, u32>>,
    /// Each run of a tick: (the tick, the replica that ran it).
    ticks: Mutex<Vec<(String, String)>>,
}

impl Crm {
    fn distinct(&self) -> usize {
        self.upserts.lock().unwrap().len()
    }

    async fn answer(&self, method: &hyper::Method, path: &str, body: &[u8]) -> u16 {
        if let Some(id) = path.strip_prefix("/contacts/") {
            if method == hyper::Method::PUT {
                *self.upserts.lock().unwrap().entry(id.to_string()).or_default() += 1;
                return 200;
            }
            return if self.upserts.lock().unwrap().contains_key(id) { 200 } else { 404 };
        }
        if path == "/ticks" && method == hyper::Method::POST {
            let tick: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let field = |name: &str| tick[name].as_str().unwrap_or("?").to_string();
            self.ticks.lock().unwrap().push((field("fired_at"), field("replica")));
            return 200;
        }
        404
    }
}

async fn start_crm() -> (SocketAddr, Arc<Crm>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let crm = Arc::new(Crm::default());
    let shared = crm.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let crm = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let crm = crm.clone();
                    async move {
                        let (method, path) = (req.method().clone(), req.uri().path().to_string());
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let status = crm.answer(&method, &path, &body).await;
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
    (addr, crm)
}

/// One request on a fresh connection; the status and body, or `None` when the replica did not answer.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connect = tokio::net::TcpStream::connect(addr);
    let mut stream = tokio::time::timeout(Duration::from_secs(5), connect).await.ok()?.ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: relais\r\nconnection: close\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// A replica: `relais run` of a fixture on the shared state, with its listener and admin addresses.
struct Replica {
    process: RelaisProcess,
    api: Option<SocketAddr>,
    admin: SocketAddr,
}

fn start_replica(flows: &str, state: &str, crm: SocketAddr, name: &str) -> Replica {
    let crm_url = format!("http://{crm}");
    let process = RelaisProcess::start(
        &fixture(flows),
        &["--state", state, "--admin", "127.0.0.1:0", "--admin-insecure", "--no-watch"],
        "info",
        &[("RELAIS_CRM_URL", &crm_url), ("RELAIS_COUNTER_URL", &crm_url), ("RELAIS_REPLICA", name)],
    );
    let api = (flows == "orders").then(|| process.wait_for_address("listening on http://"));
    let admin = process.wait_for_address("admin endpoints on http://");
    Replica { process, api, admin }
}

#[test]
fn run_refuses_an_unreachable_postgres_state_without_showing_its_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("run")
        .arg(fixture("schedule"))
        .args(["--state", "postgres://relais:hunter2@127.0.0.1:1/state?connect_timeout=2", "--admin", "off"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("cannot reach the PostgreSQL state at postgres://relais:***@127.0.0.1:1/state"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_state_url_takes_its_password_from_a_secret_and_never_shows_it() {
    let run = |secret: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_relais"));
        command.arg("run").arg(fixture("schedule")).args([
            "--state",
            "postgres://relais:${secret:RELAIS_TEST_STATE_PASSWORD}@127.0.0.1:1/state?connect_timeout=2",
            "--admin",
            "off",
        ]);
        command.env_remove("RELAIS_TEST_STATE_PASSWORD").env_remove("RELAIS_TEST_STATE_PASSWORD_FILE");
        if let Some(value) = secret {
            command.env("RELAIS_TEST_STATE_PASSWORD", value);
        }
        let out = command.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    };
    // Resolved: the connection is attempted with it (the port is closed), and the value is never printed.
    let (code, text) = run(Some("w1ndsurf-at-dawn"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("cannot reach the PostgreSQL state at postgres://relais:***@127.0.0.1:1/state"), "{text}");
    assert!(!text.contains("w1ndsurf-at-dawn"), "{text}");
    // Unset: refused before any connection, naming the secret and where it is looked for.
    let (code, text) = run(None);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("secret `RELAIS_TEST_STATE_PASSWORD` is not set"), "{text}");
}

#[test]
fn dlq_lists_and_replays_the_dead_letters_of_a_postgres_state() {
    let schema = Schema::fresh();
    let url = schema.url("relais_dlq");
    let store = relais_store::PgStore::connect(&url).unwrap();
    let letter = relais_store::DeadLetter {
        flow: "order_to_crm".to_string(),
        step: None,
        location: None,
        payload: br#"{"order_id":"o-1"}"#.to_vec(),
        media_type: "application/json".to_string(),
        attributes: serde_json::json!({}),
        correlation_id: "c-1".to_string(),
        error_type: "HTTP:BAD_GATEWAY".to_string(),
        error_description: "the CRM answered 502".to_string(),
        attempts: 5,
        first_failure: relais_store::Timestamp::from_millis(1_700_000_000_000),
        last_failure: relais_store::Timestamp::from_millis(1_700_000_060_000),
        queue: Some("orders".to_string()),
        sub_flow: None,
        payload_at_failure: None,
        media_type_at_failure: None,
        trace: None,
    };
    let id = store.dead_letter(&letter).unwrap();
    let dlq = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_relais"))
            .arg("dlq")
            .args(args)
            .args(["--state", &url, "--flows"])
            .arg(fixture("orders"))
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, listing) = dlq(&["list"]);
    assert!(ok, "{listing}");
    assert!(listing.contains(&format!("{id}\torder_to_crm\torders\tHTTP:BAD_GATEWAY\t5 attempt(s)")), "{listing}");
    assert!(listing.ends_with("1 dead letter(s)\n"), "{listing}");
    let (ok, replayed) = dlq(&["replay", &id.to_string()]);
    assert!(ok, "{replayed}");
    assert!(store.list_dead_letters(&Default::default()).unwrap().is_empty());
    assert_eq!(store.queue_stats("orders", relais_engine::state::now()).unwrap().ready, 1, "back on its queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_replaying_the_same_dead_letters_at_once_publish_each_once() {
    let schema = Schema::fresh();
    let (crm_addr, crm) = start_crm().await;
    let store = relais_store::PgStore::connect(&schema.url("relais_dlq")).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let letter = relais_store::DeadLetter {
            flow: "order_to_crm".to_string(),
            step: None,
            location: None,
            payload: format!(r#"{{"order_id":"dl-{i}"}}"#).into_bytes(),
            media_type: "application/json".to_string(),
            attributes: serde_json::json!({}),
            correlation_id: format!("c-{i}"),
            error_type: "HTTP:BAD_GATEWAY".to_string(),
            error_description: "the CRM answered 502".to_string(),
            attempts: 5,
            first_failure: relais_store::Timestamp::from_millis(1_700_000_000_000),
            last_failure: relais_store::Timestamp::from_millis(1_700_000_060_000),
            queue: Some("orders".to_string()),
            sub_flow: None,
            payload_at_failure: None,
            media_type_at_failure: None,
            trace: None,
        };
        ids.push(store.dead_letter(&letter).unwrap());
    }
    let a = start_replica("orders", &schema.url("relais_a"), crm_addr, "a");
    let b = start_replica("orders", &schema.url("relais_b"), crm_addr, "b");
    let mut replays = Vec::new();
    for id in &ids {
        for admin in [a.admin, b.admin] {
            let path = format!("/dead-letters/{id}/replay");
            replays.push(tokio::spawn(async move { http(admin, "POST", &path, b"").await.map(|(s, _)| s) }));
        }
    }
    let mut statuses = Vec::new();
    for r in replays {
        statuses.push(r.await.unwrap());
    }
    // Each letter asked twice at once (once per replica): replayed by one, refused by the other.
    for (id, pair) in ids.iter().zip(statuses.chunks(2)) {
        let mut pair = pair.to_vec();
        pair.sort();
        assert_eq!(pair, [Some(200), Some(409)], "dead letter {id}");
    }
    support::eventually_within(Duration::from_secs(60), "every replayed order reaches the CRM", async || {
        crm.distinct() == 20
    })
    .await;
    let upserts = crm.upserts.lock().unwrap().clone();
    assert!(upserts.values().all(|n| *n == 1), "published more than once: {upserts:?}");
    assert!(store.list_dead_letters(&Default::default()).unwrap().is_empty());
    drop((a, b));
}

/// Sends one order until a replica accepts it (202), trying the replicas in turn from `first`; a replica
/// being killed or restarted answers nothing or 503, and the sender tries the next, as a load balancer would.
async fn send_order(replicas: &Mutex<Vec<Option<SocketAddr>>>, first: usize, body: &[u8], resent: &AtomicUsize) {
    let mut turn = first;
    loop {
        let addr = {
            let replicas = replicas.lock().unwrap();
            replicas[turn % replicas.len()]
        };
        if let Some(addr) = addr {
            if let Some((202, _)) = http(addr, "POST", "/orders", body).await {
                return;
            }
        }
        resent.fetch_add(1, Ordering::SeqCst);
        turn += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the shared `orders` queue is empty with nothing in flight (asked of the database directly).
fn queue_is_empty(store: &relais_store::PgStore) -> bool {
    store.queue_stats("orders", relais_engine::state::now()).is_ok_and(|s| s.total() == 0)
}

const ORDERS: usize = 5_000;
const SENDERS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_orders_over_three_replicas_one_killed_reach_the_crm_exactly_once() {
    let schema = Schema::fresh();
    let (crm_addr, crm) = start_crm().await;
    let names = ["relais_a", "relais_b", "relais_c"];
    let mut replicas: Vec<Replica> =
        names.iter().map(|name| start_replica("orders", &schema.url(name), crm_addr, name)).collect();
    let addresses = Arc::new(Mutex::new(replicas.iter().map(|r| r.api).collect::<Vec<_>>()));
    let store = relais_store::PgStore::connect(&schema.url("relais_test")).unwrap();

    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let resent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (next, accepted, resent, addresses) = (next.clone(), accepted.clone(), resent.clone(), addresses.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= ORDERS {
                    break;
                }
                let body = serde_json::json!({ "order_id": format!("o-{i:05}"), "buyer": "x".repeat(200) });
                send_order(&addresses, sender + i, body.to_string().as_bytes(), &resent).await;
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    // Kill replica b with SIGKILL in the middle (orders still arriving, others being applied), restart it
    // a little later on the same state.
    let counter = accepted.clone();
    support::eventually_within(Duration::from_secs(300), "half the orders accepted", async || {
        counter.load(Ordering::SeqCst) >= ORDERS / 2
    })
    .await;
    addresses.lock().unwrap()[1] = None;
    let mut killed = replicas.remove(1);
    killed.process.child.kill().unwrap();
    killed.process.child.wait().unwrap();
    let at_kill = (accepted.load(Ordering::SeqCst), crm.distinct());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = start_replica("orders", &schema.url(names[1]), crm_addr, names[1]);
    addresses.lock().unwrap()[1] = restarted.api;
    replicas.insert(1, restarted);

    for sender in senders {
        sender.await.unwrap();
    }
    support::eventually_within(
        Duration::from_secs(300),
        "every accepted order applied and the queue empty",
        async || crm.distinct() == ORDERS && queue_is_empty(&store),
    )
    .await;
    let upserts = crm.upserts.lock().unwrap().clone();
    let twice: Vec<String> = upserts.iter().filter(|(_, n)| **n > 1).map(|(id, n)| format!("{id}×{n}")).collect();
    println!(
        "{ORDERS} orders over 3 replicas, replica b killed at {} accepted / {} applied, {} resends, {:.1}s",
        at_kill.0,
        at_kill.1,
        resent.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    assert!(at_kill.1 < ORDERS, "the kill must land while orders are being applied");
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    assert_eq!(upserts.len(), ORDERS, "orders lost");
    assert!(store.list_dead_letters(&Default::default()).unwrap().is_empty(), "dead letters left");
    for replica in replicas {
        replica.process.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_on_three_replicas_runs_once_per_tick_even_while_its_runner_is_killed() {
    let schema = Schema::fresh();
    let (crm_addr, crm) = start_crm().await;
    let names = ["relais_a", "relais_b", "relais_c"];
    let mut replicas: Vec<Replica> =
        names.iter().map(|name| start_replica("schedule", &schema.url(name), crm_addr, name)).collect();
    // Count the ticks that fire within 30 s, from a whole second on.
    let ticks_of = |crm: &Crm| crm.ticks.lock().unwrap().clone();
    support::eventually_within(Duration::from_secs(60), "a first tick", async || !crm.ticks.lock().unwrap().is_empty())
        .await;
    let from = chrono::Utc::now() + chrono::Duration::seconds(1);
    let window = from..from + chrono::Duration::seconds(30);
    // After 10 s, kill the replica that ran the last tick, and start it again 10 s later.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let runner = {
        let ticks = crm.ticks.lock().unwrap();
        let (_, by) = ticks.last().unwrap().clone();
        names.iter().position(|n| *n == by).unwrap_or_else(|| panic!("tick run by `{by}`"))
    };
    let mut killed = replicas.remove(runner);
    killed.process.child.kill().unwrap();
    killed.process.child.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    replicas.insert(runner, start_replica("schedule", &schema.url(names[runner]), crm_addr, names[runner]));
    let end = window.end;
    support::eventually_within(Duration::from_secs(60), "the window is over", async || {
        chrono::Utc::now() > end + chrono::Duration::seconds(2)
    })
    .await;
    let ticks = ticks_of(&crm);
    let in_window: Vec<&String> = ticks
        .iter()
        .map(|(tick, _)| tick)
        .filter(|t| {
            chrono::DateTime::parse_from_rfc3339(t).is_ok_and(|t| window.contains(&t.with_timezone(&chrono::Utc)))
        })
        .collect();
    let by: std::collections::BTreeSet<&str> = ticks.iter().map(|(_, by)| by.as_str()).collect();
    let mut distinct = in_window.clone();
    distinct.sort();
    distinct.dedup();
    println!(
        "{} runs of {} distinct ticks in 30 s, run by {by:?}; killed {}",
        in_window.len(),
        distinct.len(),
        names[runner]
    );
    assert!((29..=31).contains(&in_window.len()), "{} runs in 30 s: {in_window:?}", in_window.len());
    assert!(in_window.len() - distinct.len() <= 1, "ticks run more than once: {in_window:?}");
    for replica in replicas {
        replica.process.stop();
    }
}

async fn status(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    http(addr, method, path, body).await.map(|(status, _)| status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_postgres_is_not_ready_refuses_orders_with_503_and_resumes_when_it_is_back() {
    let schema = Schema::fresh();
    let (crm_addr, crm) = start_crm().await;
    let proxy = Proxy::start(&support::postgres::address()).await;
    let cut_off = start_replica("orders", &schema.url_via(&proxy.addr.to_string(), "relais_cut"), crm_addr, "cut");
    let other = start_replica("orders", &schema.url("relais_other"), crm_addr, "other");
    let (cut_api, other_api) = (cut_off.api.unwrap(), other.api.unwrap());
    let order = |id: &str| serde_json::json!({ "order_id": id }).to_string().into_bytes();
    assert_eq!(status(cut_api, "POST", "/orders", &order("before")).await, Some(202));
    assert_eq!(status(cut_off.admin, "GET", "/ready", b"").await, Some(200));

    proxy.cut();
    support::eventually_within(Duration::from_secs(30), "the cut-off replica not ready", async || {
        status(cut_off.admin, "GET", "/ready", b"").await == Some(503)
    })
    .await;
    // Nothing is accepted that is not committed: the publisher gets 503, never a 202.
    assert_eq!(status(cut_api, "POST", "/orders", &order("refused")).await, Some(503));
    assert_eq!(status(other_api, "POST", "/orders", &order("elsewhere")).await, Some(202), "the other replica");
    assert_eq!(status(other.admin, "GET", "/ready", b"").await, Some(200));

    proxy.restore();
    support::eventually_within(Duration::from_secs(30), "the replica ready again", async || {
        status(cut_off.admin, "GET", "/ready", b"").await == Some(200)
    })
    .await;
    assert_eq!(status(cut_api, "POST", "/orders", &order("after")).await, Some(202));
    // The other replica stops: what is published now is consumed by the one that was cut off, whose
    // consumers backed off while PostgreSQL was out of reach and resumed.
    other.process.stop();
    for i in 0..5 {
        assert_eq!(status(cut_api, "POST", "/orders", &order(&format!("resumed-{i}"))).await, Some(202));
    }
    support::eventually_within(Duration::from_secs(60), "every accepted order in the CRM", async || {
        crm.distinct() == 8
    })
    .await;
    let upserts = crm.upserts.lock().unwrap().clone();
    assert!(!upserts.contains_key("refused"), "a refused order was applied: {upserts:?}");
    assert!(upserts.values().all(|n| *n == 1), "{upserts:?}");
    cut_off.process.stop();
}
