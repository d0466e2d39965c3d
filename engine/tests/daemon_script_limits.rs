//! Runaway scripts against a real daemon on loopback: each ends with `EXPRESSION:LIMIT` within its budget or at
//! the request's deadline, and while eight of them run, a healthy endpoint and the admin port still answer.
#![allow(clippy::unwrap_used)]

mod support;

use relais_engine::runtime::Runtime;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::request;

/// Runaway scripts of every kind; each would run for minutes without the sandbox's bounds, and they stay
/// within the operation limit so that only time or metered work stops them. `big` is a 100 000-item array:
/// copying it is one operation and a millisecond of work.
const RUNAWAYS: [(&str, &str); 8] = [
    ("closure-map", "let a = []; a.pad(100000, 0); let c = a; a.map(|x| { let b = c; x }).len()"),
    ("closure-filter", "let a = []; a.pad(100000, 0); let c = a; a.filter(|x| { let b = c; true }).len()"),
    ("closure-reduce", "let a = []; a.pad(100000, 0); let c = a; a.reduce(|s, x| { let b = c; s + x }, 0)"),
    ("loop", "let a = []; a.pad(100000, 0); let n = 0; loop { let b = a; n += 1; }"),
    ("while", "let a = []; a.pad(100000, 0); let n = 0; while n < 100000 { let b = a; n += 1; } n"),
    ("recursion", "fn f(n, a) { if n == 0 { 0 } else { let b = a; f(n - 1, a) + f(n - 1, a) } } let a = []; a.pad(100000, 0); f(40, a)"),
    ("sort", "let a = []; for i in 0..100000 { a.push(100000 - i) } for r in 0..100000 { a.reverse(); a.sort(); } a.len()"),
    ("costly-native", "let s = pad_left(\"\", 1000000, \"x\"); let n = 0; for i in 0..400000 { n += sha256(s).len(); } n"),
];

fn flows(request_timeout: &str) -> String {
    let mut text = format!(
        "configs:\n  api: {{ http.listener: {{ port: 0, request_timeout: {request_timeout} }} }}\nflows:\n  healthy:\n    \
         source: {{ http.listener: {{ config: api, method: GET, path: /healthy }} }}\n    steps:\n      - set_payload: \
         \"#[#{{ ok: true }}]\"\n"
    );
    for (name, code) in RUNAWAYS {
        text.push_str(&format!(
            "  {name}:\n    source: {{ http.listener: {{ config: api, method: GET, path: /{name} }} }}\n    steps:\n      \
             - set_payload: '#[{code}]'\n"
        ));
    }
    text
}

struct Running {
    _daemon: relais_engine::daemon::Daemon,
    addr: std::net::SocketAddr,
    admin: std::net::SocketAddr,
}

async fn start(request_timeout: &str, script_budget: Duration) -> Running {
    let dir = support::write_files(&[("flows.yaml", &flows(request_timeout))]);
    let (_, mut program) = support::compile_dir(&dir, None);
    program.script_budget = script_budget;
    let admin = Some("127.0.0.1:0".parse().unwrap());
    let daemon =
        relais_engine::daemon::start_with_admin(relais_engine::components::registry(), Runtime::new(program), admin)
            .await
            .unwrap();
    let addr = daemon.listeners[0].1;
    let admin = daemon.admin.unwrap();
    Running { _daemon: daemon, addr, admin }
}

fn error_type(body: &str) -> String {
    let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    problem["error_type"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_script_is_answered_expression_limit_within_its_budget() {
    let r = start("60s", Duration::from_secs(2)).await;
    for name in ["costly-native", "closure-map"] {
        let (status, _, body) =
            tokio::time::timeout(Duration::from_secs(50), request(r.addr, "GET", &format!("/{name}"), &[], b""))
                .await
                .unwrap_or_else(|_| panic!("{name}: no answer after 50 s"));
        assert_eq!(status, 500, "{name}: {body}");
        assert_eq!(error_type(&body), "EXPRESSION:LIMIT", "{name}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_still_running_at_the_request_deadline_is_interrupted() {
    let r = start("1s", Duration::from_secs(600)).await;
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(50), request(r.addr, "GET", "/while", &[], b""))
        .await
        .expect("no answer after 50 s: the script kept running past the request's deadline");
    assert_eq!(status, 500, "{body}");
    assert_eq!(error_type(&body), "EXPRESSION:LIMIT", "{body}");
    // The script itself was stopped at the deadline (the answer is written once it returned): nothing is left
    // burning a thread.
    assert!(body.contains("deadline of the event"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_endpoint_and_the_admin_port_answer_while_eight_runaways_run() {
    let r = start("60s", Duration::from_secs(20)).await;
    let finished = Arc::new(AtomicUsize::new(0));
    let mut runaways = Vec::new();
    for (name, _) in RUNAWAYS {
        let finished = finished.clone();
        let addr = r.addr;
        runaways.push(tokio::spawn(async move {
            let answer = request(addr, "GET", &format!("/{name}"), &[], b"").await;
            finished.fetch_add(1, Ordering::SeqCst);
            (name, answer)
        }));
    }
    let healthy = async {
        for _ in 0..5 {
            let (status, _, body) = request(r.addr, "GET", "/healthy", &[], b"").await;
            assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));
            let (status, _, _) = request(r.admin, "GET", "/health", &[], b"").await;
            assert_eq!(status, 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), healthy)
        .await
        .expect("the healthy endpoint or the admin port did not answer within a minute");
    assert_eq!(finished.load(Ordering::SeqCst), 0, "a runaway finished before the healthy answers arrived");
    for runaway in runaways {
        let (name, (status, _, body)) = runaway.await.unwrap();
        assert_eq!(status, 500, "{name}: {body}");
        assert_eq!(error_type(&body), "EXPRESSION:LIMIT", "{name}: {body}");
    }
}
