//! The long-runner pool against a real daemon on loopback: with a pool of one, three runaway scripts in flight
//! make one long-runner and two waiting for its slot, a healthy endpoint still answers, and all three end with
//! `EXPRESSION:LIMIT`. Its own test binary: the pool is process-wide, and other tests' runaways would share it.
#![allow(clippy::unwrap_used)]

mod support;

use relais_engine::runtime::Runtime;
use std::time::{Duration, Instant};
use support::request;

const FLOWS: &str = "configs:\n  api: { http.listener: { port: 0, request_timeout: 60s } }\nflows:\n  healthy:\n    \
    source: { http.listener: { config: api, method: GET, path: /healthy } }\n    steps:\n      - set_payload: \
    \"#[#{ ok: true }]\"\n  runaway:\n    source: { http.listener: { config: api, method: GET, path: /runaway } }\n    \
    steps:\n      - set_payload: '#[let a = []; a.pad(100000, 0); let n = 0; loop { let b = a; n += 1; }]'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_pool_of_one_a_single_runaway_runs_and_the_others_wait_for_its_slot() {
    relais_stdlib::set_long_script_slots(1);
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (_, mut program) = support::compile_dir(&dir, None);
    program.script_budget = Duration::from_secs(10);
    let daemon =
        relais_engine::daemon::start_with_admin(relais_engine::components::registry(), Runtime::new(program), None)
            .await
            .unwrap();
    let addr = daemon.listeners[0].1;

    let runaways: Vec<_> =
        (0..3).map(|_| tokio::spawn(async move { request(addr, "GET", "/runaway", &[], b"").await })).collect();
    let until = Instant::now() + Duration::from_secs(30);
    while relais_stdlib::long_scripts_now() != (1, 2) {
        let now = relais_stdlib::long_scripts_now();
        assert!(now.0 <= 1, "{} long-running scripts at once with a pool of one", now.0);
        assert!(Instant::now() < until, "never saw one long-runner and two waiting: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(30), request(addr, "GET", "/healthy", &[], b""))
        .await
        .expect("the healthy endpoint did not answer while the runaways ran");
    assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));
    for runaway in runaways {
        let (status, _, body) = runaway.await.unwrap();
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("EXPRESSION:LIMIT"), "{body}");
    }
    assert_eq!(relais_stdlib::long_scripts_now(), (0, 0), "a slot was not given back");
}
