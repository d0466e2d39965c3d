//! Builds a runtime from flow text through the real pipeline: files on disk, `check`, plan compiler.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed setup should stop the test loudly

use relais_engine::cli::check::check_paths;
use relais_engine::plan::compile_program;
use relais_engine::runtime::{Event, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};

#[allow(dead_code)]
pub mod otlp;
#[allow(dead_code)]
pub mod partner;
#[allow(dead_code)]
pub mod process;

#[allow(dead_code)]
pub mod postgres;

#[allow(dead_code)]
pub mod proxy;

#[allow(dead_code)]
pub mod sftp;

/// Writes `files` (name, text) to a fresh directory and returns it.
pub fn write_files(files: &[(&str, &str)]) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir =
        std::env::temp_dir().join(format!("relais-rt-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// The errors among `diags`, as `CODE: message`.
#[allow(dead_code)]
pub fn errors<'d>(diags: impl IntoIterator<Item = &'d relais_dsl::Diagnostic>) -> Vec<String> {
    diags
        .into_iter()
        .filter(|d| d.severity == relais_dsl::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect()
}

/// The flows in `dir` through `relais check`'s path, panicking with the diagnostics if any is an error.
#[allow(dead_code)]
pub fn checked(dir: &std::path::Path) -> relais_engine::load::Loaded {
    let loaded = check_paths(&[dir.to_path_buf()], None);
    let errors = errors(loaded.diags.iter());
    assert!(errors.is_empty(), "flows do not check: {errors:?}");
    loaded
}

/// How long a test waits for something that should happen: generous, so that a loaded 2-core CI does
/// not fail a test that is only slow.
#[allow(dead_code)]
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until `done()` answers true, asking again every few milliseconds, for up to [`PATIENCE`], then
/// panics naming `what`: the tests' one polling loop, so that a test waits for a condition, never for a
/// fixed time.
#[allow(dead_code)]
pub async fn eventually(what: &str, done: impl AsyncFnMut() -> bool) {
    eventually_within(PATIENCE, what, done).await
}

/// [`eventually`] with its own patience, for conditions that take minutes by design (thousands of messages
/// through replicas on a loaded machine).
#[allow(dead_code)]
pub async fn eventually_within(patience: std::time::Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + patience;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "waited {patience:?} for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Writes `files` to a fresh directory, checks them (panicking with the diagnostics if any error), and
/// compiles a runtime.
#[allow(dead_code)]
pub fn runtime(files: &[(&str, &str)]) -> Runtime {
    let loaded = checked(&write_files(files));
    let clock = relais_stdlib::Clock::system();
    let program = compile_program(&loaded, clock, relais_engine::components::registry())
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()));
    Runtime::new(program)
}

/// A runtime for one YAML file.
#[allow(dead_code)]
pub fn yaml(text: &str) -> Runtime {
    runtime(&[("flows.yaml", text)])
}

/// The payload of an event as JSON.
#[allow(dead_code)]
pub fn payload(ev: &Event) -> serde_json::Value {
    struct Raw;
    impl relais_engine::runtime::payload::FormatReader for Raw {
        fn read(&self, _: relais_engine::runtime::payload::Format, t: &str) -> Result<serde_json::Value, String> {
            Ok(serde_json::Value::String(t.to_string()))
        }
    }
    ev.payload.read(&Raw).unwrap().clone()
}

/// One HTTP/1.1 exchange over a fresh connection; returns status, headers (lower-case) and body.
#[allow(dead_code)]
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// Checks the flows in `dir` and compiles them against `state` (a fresh one when `None`).
#[allow(dead_code)]
pub fn compile_dir(
    dir: &std::path::Path,
    state: Option<std::sync::Arc<relais_engine::runtime::state::State>>,
) -> (relais_engine::load::Loaded, relais_engine::plan::Program) {
    let loaded = check_paths(&[dir.to_path_buf()], None);
    let errors: Vec<String> = loaded
        .diags
        .iter()
        .filter(|d| d.severity == relais_dsl::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "flows do not check: {errors:?}");
    let state = state.unwrap_or_default();
    let program = relais_engine::plan::compile_program_in(
        &state,
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
        None,
    )
    .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()));
    (loaded, program)
}

/// Starts a daemon on the flows in `dir`; returns it and the address of its first listener.
#[allow(dead_code)]
pub async fn daemon(dir: &std::path::Path) -> (relais_engine::daemon::Daemon, std::net::SocketAddr) {
    let (_, program) = compile_dir(dir, None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    let addr = daemon.listeners.first().map(|l| l.1).expect("the flows have an HTTP listener");
    (daemon, addr)
}

/// Starts a daemon running `program` with its admin port on a free loopback port (dead letters and actions
/// closed, as `relais run` without a token); the admin address is `daemon.admin`.
#[allow(dead_code)]
pub async fn daemon_with_admin(program: relais_engine::plan::Program) -> relais_engine::daemon::Daemon {
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    relais_engine::daemon::start_with_admin(relais_engine::components::registry(), Runtime::new(program), Some(admin))
        .await
        .unwrap_or_else(|e| panic!("the daemon does not start: {e}"))
}
