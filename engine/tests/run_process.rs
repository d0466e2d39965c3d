//! `relais run` as a process: reload on file change and on SIGHUP, a broken change keeps the running flows,
//! SIGTERM drains requests in flight and exits 0.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};
use support::process::RelaisProcess;
use support::request;

fn flow(answer: &str) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
flows:
  version:
    source: {{ http.listener: {{ config: api, method: GET, path: /version }} }}
    steps:
      - set_payload: "{answer}"
  slow:
    source: {{ http.listener: {{ config: api, method: GET, path: /slow }} }}
    steps:
      - logger: "slow request started"
      - try:
          steps:
            - until_successful:
                max_retries: 2
                backoff: {{ initial: 300ms, max: 300ms, jitter: false }}
                steps: [ {{ raise_error: TEST:WAIT }} ]
          on_error:
            - continue: {{ steps: [] }}
      - set_payload: slow done
"##
    )
}

/// The daemon and the address of its listener.
struct Relais {
    process: RelaisProcess,
    addr: std::net::SocketAddr,
}

impl std::ops::Deref for Relais {
    type Target = RelaisProcess;
    fn deref(&self) -> &RelaisProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Relais {
    fn deref_mut(&mut self) -> &mut RelaisProcess {
        &mut self.process
    }
}

impl Relais {
    fn start(dir: &std::path::Path, extra: &[&str]) -> Relais {
        let args = [&["--admin", "off", "--state", "memory"], extra].concat();
        let process = RelaisProcess::start(dir, &args, "info", &[]);
        let addr = process.wait_for_address("listening on http://");
        Relais { process, addr }
    }

    async fn version(&self) -> String {
        request(self.addr, "GET", "/version", &[], b"").await.2
    }

    async fn wait_for_version(&self, expected: &str) {
        let what = format!("the daemon to answer `{expected}`");
        support::eventually(&what, || async { self.version().await == expected }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_flow_is_reloaded_and_a_broken_edit_keeps_the_last_good_flows() {
    let dir = support::write_files(&[("flows.yaml", &flow("v1"))]);
    let relais = Relais::start(&dir, &["--watch-interval", "100ms"]);
    assert_eq!(relais.version().await, "v1");
    std::fs::write(dir.join("flows.yaml"), flow("v2")).unwrap();
    relais.wait_for_version("v2").await;
    std::fs::write(dir.join("flows.yaml"), flow("v3").replace("set_payload", "set_paylod")).unwrap();
    let refused = relais.wait_for_log("reload refused");
    assert!(refused.contains("set_paylod"), "the diagnostics are logged: {refused}");
    assert_eq!(relais.version().await, "v2", "the previous flows keep running");
    std::fs::write(dir.join("flows.yaml"), flow("v3")).unwrap();
    relais.wait_for_version("v3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_file_replaced_by_renaming_a_new_file_over_it_is_reloaded() {
    let dir = support::write_files(&[("flows.yaml", &flow("v1"))]);
    let relais = Relais::start(&dir, &["--watch-interval", "100ms"]);
    assert_eq!(relais.version().await, "v1");
    // As editors save: the new text in a hidden temporary file, renamed over the original.
    std::fs::write(dir.join(".flows.yaml.tmp"), flow("v2")).unwrap();
    std::fs::rename(dir.join(".flows.yaml.tmp"), dir.join("flows.yaml")).unwrap();
    relais.wait_for_version("v2").await;
    // The file given itself rather than its directory: watched through the directory, so the rename is seen.
    let file = dir.join("flows.yaml");
    let args = ["--admin", "off", "--state", "memory", "--watch-interval", "100ms"];
    let single = RelaisProcess::start(&file, &args, "info", &[]);
    let addr = single.wait_for_address("listening on http://");
    std::fs::write(dir.join(".flows.yaml.tmp"), flow("v3")).unwrap();
    std::fs::rename(dir.join(".flows.yaml.tmp"), &file).unwrap();
    support::eventually("the daemon given the file to answer v3", || async move {
        request(addr, "GET", "/version", &[], b"").await.2 == "v3"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_inside_a_hidden_directory_does_not_reload() {
    // The state directory is there before the run, as it is on every start after the first.
    let dir = support::write_files(&[("flows.yaml", &flow("v1")), (".relais/state/state.redb", "")]);
    let args = ["--admin", "off", "--state", "memory", "--watch-interval", "100ms"];
    let relais = RelaisProcess::start(&dir, &args, "info,relais_engine::cli::watch=trace", &[]);
    let addr = relais.wait_for_address("listening on http://");
    std::fs::write(dir.join(".relais/state/state.redb"), "not flows").unwrap();
    // The watcher says it looked at the change and set it aside; only then is a real edit made.
    while !relais.wait_for_log("file events ignored").contains("state.redb") {}
    std::fs::write(dir.join("flows.yaml"), flow("v2")).unwrap();
    relais.wait_for_log("files changed: reloading");
    support::eventually("the edit to be served", || async move {
        request(addr, "GET", "/version", &[], b"").await.2 == "v2"
    })
    .await;
    let logged = relais.drain_logs(Duration::from_millis(300));
    let reloads = logged.lines().filter(|l| l.contains("files changed: reloading")).count();
    assert_eq!(reloads, 1, "one reload, for the edit alone:\n{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_when_file_watching_is_off() {
    let dir = support::write_files(&[("flows.yaml", &flow("v1"))]);
    let relais = Relais::start(&dir, &["--no-watch"]);
    std::fs::write(dir.join("flows.yaml"), flow("v2")).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(relais.version().await, "v1", "without --watch, only SIGHUP reloads");
    relais.signal("HUP");
    relais.wait_for_version("v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_exits_zero() {
    let dir = support::write_files(&[("flows.yaml", &flow("v1"))]);
    let mut relais = Relais::start(&dir, &["--no-watch"]);
    let addr = relais.addr;
    let slow = tokio::spawn(async move { request(addr, "GET", "/slow", &[], b"").await });
    // SIGTERM once the request is in its flow (it logs as its first step), not after a fixed wait.
    tokio::task::block_in_place(|| relais.wait_for_log("slow request started"));
    relais.signal("TERM");
    let (status, _, body) = slow.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "slow done"));
    let exit = tokio::task::spawn_blocking(move || relais.child.wait().map(|s| s.code())).await.unwrap().unwrap();
    assert_eq!(exit, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_and_secrets_never_reach_a_log_line() {
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  api: { http.listener: { port: 0 } }
  private: { sensitive_data: { fields: [passport_number, medical_notes] } }
  crm: { http.client: { base_url: "http://127.0.0.1:1", auth: { bearer: { token: "${secret:RELAIS_TEST_CRM_TOKEN}" } } } }
flows:
  version:
    source: { http.listener: { config: api, method: GET, path: /version } }
    steps:
      - set_payload: v1
  intake:
    source: { http.listener: { config: api, method: POST, path: /people } }
    steps:
      - logger: "received #[payload]"
      - logger: { level: warn, message: "passport #[payload.person.passport_number], token #[payload.token]" }
      - raise_error: { type: "APP:REJECTED", description: "notes were #[payload.person.medical_notes]" }
sub_flows:
  push:
    steps:
      - http.request: { config: crm, method: POST, path: /contacts }
"##,
    )]);
    let relais = {
        std::env::set_var("RELAIS_TEST_CRM_TOKEN", "tok-5ecret-value");
        Relais::start(&dir, &["--no-watch"])
    };
    let body = br#"{"person":{"name":"Ana","passport_number":"P9988776","medical_notes":"asthma"},"token":"tok-5ecret-value"}"#;
    let (status, ..) = request(relais.addr, "POST", "/people", &[], body).await;
    assert_eq!(status, 500);
    let line = relais.wait_for_log("unhandled error");
    assert!(line.contains("notes were [redacted]"), "{line}");
    relais.signal("TERM");
    let all = relais.drain_logs(Duration::from_secs(2));
    assert!(all.contains("received {") && all.contains("passport [redacted], token [redacted]"), "{all}");
    for secret in ["P9988776", "asthma", "tok-5ecret-value"] {
        assert!(!all.contains(secret), "`{secret}` reached the logs:\n{all}");
    }
}

#[test]
fn an_invalid_relais_log_is_refused_at_start_with_exit_2() {
    let dir = support::write_files(&[("flows.yaml", &flow("v1"))]);
    let mut relais = RelaisProcess::start(&dir, &["--admin", "off", "--state", "memory"], "nonsense!", &[]);
    let line = relais.wait_for_log("RELAIS_LOG");
    assert!(line.contains("`nonsense!`"), "the bad value is named: {line}");
    let rest = relais.drain_logs(Duration::from_secs(30));
    assert!(rest.contains("relais_engine=debug,hyper=warn"), "valid examples are shown: {rest}");
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = relais.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "relais kept running with RELAIS_LOG=nonsense!");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(2));
}

#[test]
fn relais_log_takes_per_crate_directives() {
    let dir = support::write_files(&[("flows.yaml", &flow("v1"))]);
    let relais = RelaisProcess::start(&dir, &["--admin", "off", "--state", "memory"], "relais_engine=debug", &[]);
    // Logged at debug level by relais_engine at start: seen only if the directive applied.
    relais.wait_for_log("descriptor limit");
}
