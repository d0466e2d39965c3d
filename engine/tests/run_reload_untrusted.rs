//! `relais run` as a process, fed a hostile edit while it runs: a minified file whose diagnostic starts past
//! column 65,535 is refused on reload, its diagnostic is logged, and the daemon keeps answering.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::process::RelaisProcess;
use support::request;

const FLOW: &str = r#"
configs:
  api: { http.listener: { port: 0 } }
flows:
  version:
    source: { http.listener: { config: api, method: GET, path: /version } }
    steps:
      - set_payload: "v1"
"#;

/// One line of ~80 KB with an unknown step past column 65,535.
fn minified_broken_flow() -> String {
    let steps = vec!["{\"set_payload\": \"x\"}"; 4000].join(",");
    format!("{{\"flows\": {{\"b\": {{\"steps\": [{steps},{{\"transfrom\": {{\"code\": \"payload\"}}}}]}}}}}}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minified_broken_file_is_refused_on_reload_and_the_daemon_keeps_answering() {
    let dir = support::write_files(&[("flows.yaml", FLOW)]);
    let daemon =
        RelaisProcess::start(&dir, &["--admin", "off", "--state", "memory", "--watch-interval", "100ms"], "info", &[]);
    let addr = daemon.wait_for_address("listening on http://");
    assert_eq!(request(addr, "GET", "/version", &[], b"").await.2, "v1");
    std::fs::write(dir.join("min.yaml"), minified_broken_flow()).unwrap();
    let refused = daemon.wait_for_log("reload refused");
    assert!(refused.contains("transfrom"), "the diagnostic is logged: {refused}");
    assert_eq!(request(addr, "GET", "/version", &[], b"").await.2, "v1", "the daemon still answers");
}

#[test]
fn a_fifo_among_the_flow_files_stops_run_from_starting_without_blocking_it() {
    let dir = support::write_files(&[("flows.yaml", FLOW)]);
    let status = Command::new("mkfifo").arg(dir.join("pipe.yaml")).status().unwrap();
    assert!(status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("run")
        .arg(&dir)
        .args(["--admin", "off", "--state", "memory"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("relais run blocked on the FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // `relais run` writes its diagnostics to standard error.
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("RL0006") && out.contains("pipe.yaml"), "{out}");
}
