//! The SFTP connector against a real OpenSSH server per test (`support::sftp`: sshd on a free loopback port,
//! throwaway keys): `sftp.listener` splitting a CSV into one event per record and moving the file to
//! `processed/` or `failed/`, not reading a file still being uploaded, not running anything twice across a
//! stop (a done record, a file stopped half-way), losing nothing and running nothing twice when the server
//! is killed mid-file and comes back; `sftp.write` atomic and refusing what it must; a listener and a write
//! logging in with a password (a throwaway account of the server's own), also where the server takes it
//! through `keyboard-interactive` only; refused credentials (an unknown user, a wrong password, a key the
//! server does not authorise) and unknown or changed host keys turning `/ready` to 503 with the reason,
//! never the password, and `relais run` logging a wrong password's refusal at start; a missing key or
//! known_hosts file, or a wrong passphrase, refusing the start.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::sftp::SftpServer;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

async fn start(dir: &Path, state: Arc<State>) -> relais_engine::daemon::Daemon {
    let (_, program) = support::compile_dir(dir, Some(state));
    relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap()
}

/// `GET /ready` of a daemon started with an admin port, until `done(status, body)`; the last body.
async fn ready_until(daemon: &relais_engine::daemon::Daemon, what: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let admin = daemon.admin.unwrap();
    let body = Arc::new(std::sync::Mutex::new(String::new()));
    support::eventually(what, || {
        let body = body.clone();
        let done = &done;
        async move {
            let (status, _, text) = support::request(admin, "GET", "/ready", &[], b"").await;
            let found = done(status, &text);
            *body.lock().unwrap() = text;
            found
        }
    })
    .await;
    let body = body.lock().unwrap().clone();
    body
}

/// An `sftp.listener` flow logging each file of `inbox`, logged in to `server` as `user` with the password
/// in the secret `secret`.
fn password_intake(server: &SftpServer, user: &str, secret: &str) -> String {
    format!(
        r##"
configs:
  partner: {{ sftp: {{ host: 127.0.0.1, port: {port}, user: {user}, password: "${{secret:{secret}}}", known_hosts: "{known}" }} }}
flows:
  intake:
    source: {{ sftp.listener: {{ config: partner, directory: inbox, frequency: 50ms }} }}
    steps:
      - logger: "#[attributes.file]"
"##,
        port = server.port,
        known = server.known_hosts.display()
    )
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_write_renames_a_whole_file_into_place_and_refuses_what_it_must() {
    let server = SftpServer::start();
    let out = server.data().join("out");
    let flows = format!(
        r##"
configs:
  partner:
    sftp: {{ host: 127.0.0.1, port: {port}, user: {user}, private_key: "{key}", host_key_fingerprint: "{fingerprint}" }}
flows:
  save:
    steps:
      - sftp.write: {{ config: partner, directory: "{out}", name: "order-#[payload.id].json" }}
  once:
    steps:
      - sftp.write: {{ config: partner, directory: "{out}", name: "fixed.txt", content: "id=#[payload.id]", if_exists: fail }}
"##,
        port = server.port,
        user = server.user,
        key = server.client_key.display(),
        fingerprint = server.fingerprint,
        out = out.display()
    );
    let rt = support::yaml(&flows);
    rt.run_flow("save", Event::new(json!({ "id": 7, "total": 12 }))).await.unwrap();
    assert_eq!(names(&out), vec!["order-7.json"], "the directory is created, the file renamed into place");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("order-7.json")).unwrap()).unwrap();
    assert_eq!(written, json!({ "id": 7, "total": 12 }));
    rt.run_flow("save", Event::new(json!({ "id": 7, "total": 13 }))).await.unwrap();
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("order-7.json")).unwrap()).unwrap();
    assert_eq!(written["total"], 13, "overwrite replaces the file");
    rt.run_flow("once", Event::new(json!({ "id": 1 }))).await.unwrap();
    let again = rt.run_flow("once", Event::new(json!({ "id": 2 }))).await.unwrap_err();
    assert_eq!(again.error_type.to_string(), "SFTP:EXISTS", "{}", again.description);
    assert_eq!(std::fs::read_to_string(out.join("fixed.txt")).unwrap(), "id=1");
    let escape = rt.run_flow("save", Event::new(json!({ "id": "../x" }))).await.unwrap_err();
    assert_eq!(escape.error_type.to_string(), "SFTP:BAD_NAME");
    assert_eq!(names(&out), vec!["fixed.txt", "order-7.json"], "no temporary file is left");
    let metrics = rt.metrics().render();
    assert!(metrics.contains(r#"relais_outbound_requests_total{config="partner",status="200"} 3"#), "{metrics}");
    assert!(
        metrics.contains(r#"relais_outbound_errors_total{config="partner",type="SFTP:EXISTS",status="none"} 1"#),
        "{metrics}"
    );
}

fn listener_flows(server: &SftpServer, split: &str, extra: &str, steps: &str) -> String {
    format!(
        r##"
configs:
  partner: {{ {config} }}
flows:
  intake:
    source: {{ sftp.listener: {{ config: partner, directory: "{inbox}", pattern: "*.csv", frequency: 50ms, split: {split}{extra} }} }}
    steps:
{steps}
"##,
        config = server.config(),
        inbox = server.data().join("inbox").display(),
    )
}

/// Each record's name written to `out` as `<file>-<record>`, refusing the record named `broken` and any
/// second write of the same record (`if_exists: fail`: a record run twice would be a `FILE:EXISTS` dead
/// letter).
fn record_steps(out: &Path) -> String {
    format!(
        r##"      - choice:
          - when: "#[payload.name == \"broken\"]"
            steps:
              - raise_error: {{ type: "APP:REFUSED", description: "record refused" }}
      - file.write: {{ directory: "{out}", name: "#[attributes.file]-#[attributes.record]", content: "#[payload.name]", if_exists: fail }}"##,
        out = out.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_dropped_on_the_server_becomes_one_event_per_record_then_moves_to_processed_or_failed() {
    let server = SftpServer::start();
    let (inbox, out) = (server.data().join("inbox"), support::write_files(&[]).join("out"));
    let flows = listener_flows(&server, "csv", ", max_deliveries: 2, consumers: 2", &record_steps(&out));
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let state: Arc<State> = Arc::default();
    let daemon = start(&dir, state.clone()).await;
    support::eventually("the listener to create its directory", || std::future::ready(inbox.is_dir())).await;
    std::fs::write(inbox.join("ignored.txt"), "not a csv").unwrap();
    std::fs::write(inbox.join("good.csv"), "id,name\n1,ana\n2,\"chen, li\"\n3,dara\n").unwrap();
    support::eventually("good.csv processed", || std::future::ready(names(&inbox.join("processed")) == ["good.csv"]))
        .await;
    assert_eq!(names(&out), vec!["good.csv-1", "good.csv-2", "good.csv-3"]);
    assert_eq!(std::fs::read_to_string(out.join("good.csv-2")).unwrap(), "chen, li");

    std::fs::write(inbox.join("bad.csv"), "id,name\n4,eli\n5,broken\n").unwrap();
    support::eventually("bad.csv failed", || std::future::ready(names(&inbox.join("failed")) == ["bad.csv"])).await;
    assert!(out.join("bad.csv-1").exists());
    assert_eq!(state.dead_letter_count(), 1);
    let letter = &state.dead_letters()[0];
    assert_eq!((letter.error_type.as_str(), letter.attempts), ("APP:REFUSED", 2));
    assert_eq!(names(&inbox), vec!["failed", "ignored.txt", "processed"]);
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_being_uploaded_is_not_read_until_its_size_stays_the_same() {
    let server = SftpServer::start();
    let (inbox, out) = (server.data().join("inbox"), support::write_files(&[]).join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    let steps = format!(
        "      - file.write: {{ directory: \"{}\", name: \"line-#[attributes.record]\", if_exists: fail }}",
        out.display()
    );
    let flows = listener_flows(&server, "lines", "", &steps).replace("frequency: 50ms", "frequency: 200ms");
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let daemon = start(&dir, Arc::default()).await;
    // For about a second, lines are appended every 10 ms while the listener lists every 200 ms: each
    // listing sees another size, so the file is not taken before the last line.
    let path = inbox.join("growing.csv");
    let mut writer = std::fs::File::create(&path).unwrap();
    for i in 0..100 {
        use std::io::Write;
        writeln!(writer, "line {i}").unwrap();
        writer.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(writer);
    support::eventually("growing.csv processed", || {
        std::future::ready(names(&inbox.join("processed")) == ["growing.csv"])
    })
    .await;
    assert_eq!(names(&out).len(), 100, "every line of the finished file, read once");
    assert_eq!(std::fs::read_to_string(out.join("line-100")).unwrap(), "line 99");
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// A CSV of `n` records `i,name-i`.
fn csv(n: usize) -> String {
    let mut text = String::from("id,name\n");
    for i in 1..=n {
        text.push_str(&format!("{i},name-{i}\n"));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_the_middle_of_a_file_or_before_its_move_runs_no_record_again_after_the_restart() {
    let server = SftpServer::start();
    let (inbox, out) = (server.data().join("inbox"), support::write_files(&[]).join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    let steps = format!("      - time.delay: {{ duration: 5ms }}\n{}", record_steps(&out));
    let dir = support::write_files(&[("flows.yaml", &listener_flows(&server, "csv", ", consumers: 2", &steps))]);
    let state: Arc<State> = Arc::default();

    // Stopped half-way through a file: the file stays, its progress is kept, the next start goes on.
    std::fs::write(inbox.join("long.csv"), csv(300)).unwrap();
    let daemon = start(&dir, state.clone()).await;
    support::eventually("some records of long.csv", || std::future::ready(names(&out).len() >= 30)).await;
    daemon.shutdown(Duration::from_secs(10)).await;
    let done_before = names(&out).len();
    assert!(done_before < 300 && inbox.join("long.csv").exists(), "{done_before} records before the stop");
    let daemon = start(&dir, state.clone()).await;
    support::eventually("long.csv processed", || std::future::ready(names(&inbox.join("processed")) == ["long.csv"]))
        .await;
    assert_eq!(names(&out).len(), 300, "every record once");
    assert_eq!(state.dead_letter_count(), 0, "no record ran twice: {:?}", state.dead_letters());
    daemon.shutdown(Duration::from_secs(10)).await;

    // What a process stopped between a success and the move leaves: the done record, the file in place.
    let path = inbox.join("again.csv");
    std::fs::write(&path, "id,name\n1,ana\n").unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    let mtime = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let store = state.store("sftp.listener:intake", None, true);
    store.put(&format!("again.csv:{}:{mtime}", meta.len()), json!(true), None).unwrap();
    let daemon = start(&dir, state.clone()).await;
    support::eventually("again.csv moved", || {
        std::future::ready(names(&inbox.join("processed")) == ["again.csv", "long.csv"])
    })
    .await;
    assert!(!out.join("again.csv-1").exists(), "the flow did not run again");
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// How many of the keys `1..=n` the object store `store` holds.
fn held(state: &State, store: &str, n: usize) -> usize {
    let store = state.store(store, None, false);
    (1..=n).filter(|k| matches!(store.get(&k.to_string()), Ok(Some(_)))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_in_the_middle_of_a_file_and_started_again_loses_no_record_and_runs_none_twice() {
    let mut server = SftpServer::start();
    let inbox = server.data().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    // Each record claims its number once (`idempotent`: a record run twice would be an
    // IDEMPOTENCY:DUPLICATE dead letter); the claims say which records ran.
    let steps =
        "      - time.delay: { duration: 2ms }\n      - idempotent: { key: \"#[attributes.record]\", store: seen }";
    let flows = listener_flows(&server, "csv", ", consumers: 2", steps)
        .replace("configs:\n", "configs:\n  seen: { object_store: {} }\n");
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let state: Arc<State> = Arc::default();
    // Larger than what the listener reads ahead (about 1 MiB from the server, a 64 KiB buffer, 64
    // records), so the reading is still going when the server goes.
    let n = 8000;
    let mut text = String::from("id,name,padding\n");
    for i in 1..=n {
        text.push_str(&format!("{i},name-{i},{}\n", "x".repeat(200)));
    }
    std::fs::write(inbox.join("long.csv"), text).unwrap();
    let daemon = start(&dir, state.clone()).await;
    support::eventually("some records of long.csv", || std::future::ready(held(&state, "seen", n) >= 30)).await;
    server.kill();
    let at_kill = held(&state, "seen", n);
    // The records read before the kill are handled; then nothing moves until the server is back.
    support::eventually("the records read before the kill to be handled", {
        let (state, mut last) = (state.clone(), usize::MAX);
        move || {
            let now = held(&state, "seen", n);
            let settled = now == last;
            last = now;
            std::future::ready(settled)
        }
    })
    .await;
    let before_restart = held(&state, "seen", n);
    assert!(before_restart < n, "the server went away mid-file ({at_kill} records at the kill)");
    assert!(inbox.join("long.csv").exists(), "the file stays on the server");
    server.resume();
    support::eventually_within(Duration::from_secs(300), "long.csv processed", || {
        std::future::ready(names(&inbox.join("processed")) == ["long.csv"])
    })
    .await;
    assert_eq!(held(&state, "seen", n), n, "every record ran ({before_restart} before the restart)");
    assert_eq!(state.dead_letter_count(), 0, "no record ran twice: {:?}", state.dead_letters().first());
    daemon.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_keep_ready_at_503_with_the_reason_and_never_the_password() {
    let server = SftpServer::start();
    let flows = password_intake(&server, "relais_no_such_user", "SFTP_TEST_PASSWORD");
    std::env::set_var("SFTP_TEST_PASSWORD", "s3cr3t-never-shown");
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    let body = ready_until(&daemon, "/ready to say the password was refused", |status, text| {
        status == 503 && text.contains("SFTP:AUTH")
    })
    .await;
    assert!(body.contains("partner") && body.contains("refused the password of user `relais_no_such_user`"), "{body}");
    assert!(!body.contains("s3cr3t"), "{body}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// The owner of `path` (the uid sshd's account process wrote it as).
fn owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().uid()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_and_a_write_logging_in_with_a_password_read_and_write_as_that_account() {
    let server = SftpServer::start_with_password("relais-partner", "correct horse battery staple");
    let account = server.account.clone().unwrap();
    let (inbox, out) = (server.data().join("inbox"), server.data().join("out"));
    let flows = format!(
        r##"
configs:
  partner: {{ {config} }}
flows:
  intake:
    source: {{ sftp.listener: {{ config: partner, directory: "{inbox}", pattern: "*.csv", frequency: 50ms, split: csv }} }}
    steps:
      - sftp.write: {{ config: partner, directory: "{out}", name: "#[attributes.file]-#[attributes.record]", content: "#[payload.name]", if_exists: fail }}
"##,
        config = server.password_config("SFTP_TEST_ACCOUNT_PASSWORD"),
        inbox = inbox.display(),
        out = out.display()
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    ready_until(&daemon, "/ready to say the server is reached", |status, _| status == 200).await;
    support::eventually("the listener to create its directory", || std::future::ready(inbox.is_dir())).await;
    assert_eq!(owner(&inbox), account.uid, "the listener logged in as the password account");
    std::fs::write(inbox.join("partners.csv"), "id,name\n1,ana\n2,\"chen, li\"\n").unwrap();
    support::eventually("partners.csv processed", || {
        std::future::ready(names(&inbox.join("processed")) == ["partners.csv"])
    })
    .await;
    assert_eq!(names(&out), vec!["partners.csv-1", "partners.csv-2"]);
    assert_eq!(std::fs::read_to_string(out.join("partners.csv-2")).unwrap(), "chen, li");
    assert_eq!(owner(&out.join("partners.csv-1")), account.uid, "sftp.write logged in as the password account");
    let logged = server.logged();
    assert!(logged.contains("Accepted password for relais-partner"), "{logged}");
    assert!(!logged.contains("Accepted publickey"), "{logged}");
    assert!(
        !std::fs::read_to_string("/etc/passwd").unwrap().contains("relais-partner"),
        "the machine's users are untouched"
    );
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_an_unauthorised_key_keeps_ready_at_503_and_fails_the_steps_as_sftp_auth() {
    let server = SftpServer::start_with_password("relais-partner", "the right one");
    let stranger = server.dir.join("stranger_key");
    support::sftp::keygen(&stranger);
    std::env::set_var("SFTP_TEST_WRONG_PASSWORD", "a-wrong-one-never-shown");
    let flows = format!(
        r##"
configs:
  by_password: {{ sftp: {{ host: 127.0.0.1, port: {port}, user: relais-partner, password: "${{secret:SFTP_TEST_WRONG_PASSWORD}}", known_hosts: "{known}" }} }}
  by_key: {{ sftp: {{ host: 127.0.0.1, port: {port}, user: {user}, private_key: "{stranger}", known_hosts: "{known}" }} }}
flows:
  intake:
    source: {{ sftp.listener: {{ config: by_password, directory: inbox, frequency: 50ms }} }}
    steps:
      - logger: "#[attributes.file]"
  send:
    steps:
      - sftp.write: {{ config: by_key, directory: out, name: x.txt }}
"##,
        port = server.port,
        user = server.user,
        known = server.known_hosts.display(),
        stranger = stranger.display()
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    let body = ready_until(&daemon, "/ready to refuse both logins", |status, text| {
        status == 503 && text.matches("SFTP:AUTH").count() == 2
    })
    .await;
    assert!(body.contains("refused the password of user `relais-partner`"), "{body}");
    assert!(body.contains(&format!("refused the key of user `{}`", server.user)), "{body}");
    assert!(!body.contains("never-shown"), "{body}");
    let error = daemon.runtime().run_flow("send", Event::new(json!({}))).await.unwrap_err();
    assert_eq!(error.error_type.to_string(), "SFTP:AUTH", "{}", error.description);
    let logged = server.logged();
    assert!(logged.contains("Failed password for relais-partner"), "{logged}");
    assert!(!logged.contains("Accepted"), "{logged}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn relais_run_with_a_wrong_password_logs_the_refusal_at_start_and_never_the_password() {
    let server = SftpServer::start_with_password("relais-partner", "the right one");
    let flows = password_intake(&server, "relais-partner", "SFTP_RUN_PASSWORD");
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let relais = support::process::RelaisProcess::start(
        &dir,
        &["--admin", "off", "--state", "memory", "--no-watch"],
        "info",
        &[("SFTP_RUN_PASSWORD", "s3cr3t-in-the-environment")],
    );
    let line = relais.wait_for_log("cannot reach the SFTP server");
    assert!(line.contains("partner") && line.contains("refused the password of user `relais-partner`"), "{line}");
    let logs = relais.stop();
    assert!(!logs.contains("s3cr3t"), "{logs}");
    assert!(server.logged().contains("Failed password for relais-partner"), "{}", server.logged());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_taking_passwords_only_through_keyboard_interactive_lets_the_right_one_in_and_refuses_a_wrong_one() {
    let server = SftpServer::start_with_keyboard_interactive("relais-pam", "through PAM");
    let account = server.account.clone().unwrap();
    let out = server.data().join("out");
    std::env::set_var("SFTP_TEST_WRONG_PAM_PASSWORD", "a-wrong-one-never-shown");
    let wrong = server
        .password_config("SFTP_TEST_PAM_PASSWORD")
        .replace("SFTP_TEST_PAM_PASSWORD", "SFTP_TEST_WRONG_PAM_PASSWORD");
    let flows = format!(
        r##"
configs:
  partner: {{ {right} }}
  intruder: {{ {wrong} }}
flows:
  save:
    steps:
      - sftp.write: {{ config: partner, directory: "{out}", name: "order-#[payload.id].json" }}
  intrude:
    steps:
      - sftp.write: {{ config: intruder, directory: "{out}", name: "intruder.json" }}
"##,
        right = server.password_config("SFTP_TEST_PAM_PASSWORD"),
        out = out.display()
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    daemon.runtime().run_flow("save", Event::new(json!({ "id": 3 }))).await.unwrap();
    assert_eq!(names(&out), vec!["order-3.json"]);
    assert_eq!(owner(&out.join("order-3.json")), account.uid, "written as the account");
    let logged = server.logged();
    assert!(logged.contains("Accepted keyboard-interactive/pam for relais-pam"), "{logged}");
    let error = daemon.runtime().run_flow("intrude", Event::new(json!({}))).await.unwrap_err();
    assert_eq!(error.error_type.to_string(), "SFTP:AUTH", "{}", error.description);
    assert!(error.description.contains("refused the password of user `relais-pam`"), "{}", error.description);
    let body = ready_until(&daemon, "/ready to refuse the wrong password", |status, text| {
        status == 503 && text.contains("SFTP:AUTH") && text.contains("intruder")
    })
    .await;
    assert!(!body.contains("never-shown") && !body.contains("through PAM"), "{body}");
    assert_eq!(names(&out), vec!["order-3.json"], "nothing written with the wrong password");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_changed_host_key_is_refused_before_any_credential_is_sent() {
    let server = SftpServer::start();
    // A known_hosts file without the server, and one holding another key for it (a server reinstalled, or
    // someone in between).
    let unknown = server.dir.join("known_hosts_empty");
    std::fs::write(&unknown, "# no hosts yet\n").unwrap();
    let other = server.dir.join("other_key");
    support::sftp::keygen(&other);
    let changed = server.dir.join("known_hosts_changed");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    std::fs::write(&changed, format!("[127.0.0.1]:{} {other_pub}", server.port)).unwrap();
    let config = |known: &Path| {
        format!(
            "sftp: {{ host: 127.0.0.1, port: {}, user: {}, private_key: \"{}\", known_hosts: \"{}\" }}",
            server.port,
            server.user,
            server.client_key.display(),
            known.display()
        )
    };
    let flows = format!(
        r##"
configs:
  stranger: {{ {unknown} }}
  impostor: {{ {changed} }}
flows:
  send:
    steps:
      - sftp.write: {{ config: stranger, directory: out, name: x.txt }}
"##,
        unknown = config(&unknown),
        changed = config(&changed)
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    let body = ready_until(&daemon, "/ready to refuse both host keys", |status, text| {
        status == 503 && text.matches("SFTP:HOST_KEY").count() == 2
    })
    .await;
    assert!(body.contains("does not list it") || body.contains("does not list for it"), "{body}");
    assert!(body.contains("changed: line 1"), "{body}");
    assert!(body.contains(&server.fingerprint), "the refusal names the key the server showed: {body}");
    let error = daemon.runtime().run_flow("send", Event::new(json!({}))).await.unwrap_err();
    assert_eq!(error.error_type.to_string(), "SFTP:HOST_KEY", "{}", error.description);
    assert!(!server.logged().contains("Accepted publickey"), "no login was attempted:\n{}", server.logged());
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn a_missing_key_or_known_hosts_file_or_a_wrong_passphrase_refuses_the_start_naming_it() {
    let dir = support::write_files(&[]);
    let encrypted = dir.join("locked_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "right-passphrase", "-f"])
        .arg(&encrypted)
        .status()
        .unwrap();
    assert!(status.success());
    support::sftp::keygen(&dir.join("plain_key"));
    std::fs::write(dir.join("known_hosts"), "").unwrap();
    let known = dir.join("known_hosts");
    let cases = [
        (
            format!("private_key: \"{}/nowhere\", known_hosts: \"{}\"", dir.display(), known.display()),
            "cannot read the private key",
        ),
        (
            format!("private_key: \"{}/plain_key\", known_hosts: \"{}/nowhere\"", dir.display(), dir.display()),
            "cannot read the known_hosts file",
        ),
        (format!("private_key: \"{}\", known_hosts: \"{}\"", encrypted.display(), known.display()), "set `passphrase`"),
        (
            format!(
                "private_key: \"{}\", passphrase: \"${{secret:SFTP_TEST_WRONG_PASSPHRASE}}\", known_hosts: \"{}\"",
                encrypted.display(),
                known.display()
            ),
            "is the passphrase right?",
        ),
    ];
    std::env::set_var("SFTP_TEST_WRONG_PASSPHRASE", "wrong-passphrase-never-shown");
    for (settings, expected) in cases {
        let flows = format!(
            "configs:\n  partner: {{ sftp: {{ host: 127.0.0.1, user: relais, {settings} }} }}\nflows:\n  send:\n    steps:\n      - sftp.write: {{ config: partner, directory: out, name: x.txt }}\n"
        );
        let loaded = support::checked(&support::write_files(&[("flows.yaml", &flows)]));
        let refused = relais_engine::plan::compile_program(
            &loaded,
            relais_stdlib::Clock::system(),
            relais_engine::components::registry(),
        );
        let Err(diags) = refused else { panic!("built with {settings}") };
        let text: Vec<String> = diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
        assert!(
            text.iter().any(|d| d.starts_with("RL0512") && d.contains("`partner`") && d.contains(expected)),
            "{text:?}"
        );
        assert!(!text.iter().any(|d| d.contains("never-shown")), "{text:?}");
    }
}
