//! Any bytes as an HTTP connection into a running daemon: hyper's server (HTTP/1.1 or HTTP/2), the
//! connection's timers, routing, body limits and parsing, the event built from the request, a flow run
//! and the response. The bytes arrive on an in-memory stream whose sending side then ends; the daemon
//! must answer or close, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FLOWS: &str = r##"
configs:
  api:
    http.listener:
      port: 0
      max_body_size: 4096
      header_read_timeout: 200ms
      body_read_timeout: 200ms
      keep_alive: 200ms
      http2_idle_timeout: 200ms
      request_timeout: 1s
flows:
  access:
    source: { http.listener: { config: api, method: GET, path: "/access/{id}/{*rest}" } }
    steps:
      - set_payload: "#[#{ id: attributes.params.id, rest: attributes.params.rest, q: attributes.query, h: attributes.headers }]"
  orders:
    source:
      http.listener:
        config: api
        method: POST
        path: /orders
        response: { status: 201, headers: { location: "/orders/#[payload.id]" } }
        error_response: { status: 422, body: "#[#{ rejected: error.description }]" }
    steps:
      - set_variable: { name: id, value: "#[payload.id]" }
      - set_payload: "#[#{ id: vars.id, n: payload.len() }]"
"##;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    daemon: relais_engine::daemon::Daemon,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("relais-fuzz-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::fs::write(dir.join("flows.yaml"), FLOWS).expect("the flows file");
        let loaded = relais_engine::cli::check::check_paths(&[dir], None);
        assert!(!loaded.diags.has_errors(), "the fuzz flows check");
        let program = relais_engine::plan::compile_program(
            &loaded,
            relais_stdlib::Clock::system(),
            relais_engine::components::registry(),
        )
        .ok()
        .expect("the fuzz flows compile");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let daemon = runtime
            .block_on(relais_engine::daemon::start(relais_engine::components::registry(), relais_engine::runtime::Runtime::new(program)))
            .expect("the daemon starts");
        Fixture { runtime, daemon }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    fixture.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let serving = relais_engine::components::http_listener::serve_stream(&fixture.daemon, "api", server);
        let exchange = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer).await;
        };
        // Every timer of the listener is short: a connection that outlives this is a hang.
        let both = async { tokio::join!(serving, exchange) };
        if tokio::time::timeout(Duration::from_secs(20), both).await.is_err() {
            panic!("the connection did not end");
        }
    });
});
