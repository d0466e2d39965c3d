//! `until_successful` with `retry_on` / `no_retry_on` against a real partner on loopback: a 422 is not
//! retried when only connectivity and 5xx are (the partner's own error goes on, not `RETRY:EXHAUSTED`), a
//! 503 is; without lists every error is retried, as before; a refused connection is retried until the
//! attempts run out.
#![allow(clippy::unwrap_used)]

mod support;

use http_body_util::Full;
use hyper::body::Bytes;
use relais_engine::plan::compile_program;
use relais_engine::runtime::{Event, Runtime};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Requests seen, by path.
type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// A partner whose `/s/{status}` answers that status to its first request and 200 to the next ones;
/// returns its address and the requests it saw by path.
async fn partner() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let counts = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let counts = counts.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let counts = counts.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let nth = {
                            let mut counts = counts.lock().unwrap();
                            let n = counts.entry(path.clone()).or_insert(0);
                            *n += 1;
                            *n
                        };
                        let first: u16 = path.strip_prefix("/s/").and_then(|s| s.parse().ok()).unwrap_or(200);
                        let status = if nth == 1 { first } else { 200 };
                        let mut response =
                            hyper::Response::new(Full::new(Bytes::from(json!({ "nth": nth }).to_string())));
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
    (addr, seen)
}

/// A flow calling `path` on `base_url` inside an `until_successful` with `rules` (YAML lines at the scope's
/// indentation).
fn runtime(base_url: &str, rules: &str, path: &str) -> Runtime {
    let flows = format!(
        "configs:\n  partner: {{ http.client: {{ base_url: \"{base_url}\", timeout: 2s, connect_timeout: 2s }} }}\n\
         flows:\n  f:\n    steps:\n      - until_successful:\n          max_retries: 2\n          backoff: {{ initial: 1ms, max: 1ms }}\n{rules}\
          \n          steps:\n            - http.request: {{ config: partner, method: PUT, path: \"{path}\" }}\n"
    );
    let loaded = support::checked(&support::write_files(&[("flows.yaml", &flows)]));
    let program =
        compile_program(&loaded, relais_stdlib::Clock::system(), relais_engine::components::registry()).ok().unwrap();
    Runtime::new(program)
}

const CONNECTIVITY_AND_5XX: &str = "          retry_on: [HTTP:CONNECTIVITY, HTTP:TIMEOUT, HTTP:SERVER_ERROR]";

fn requests(seen: &Seen, path: &str) -> usize {
    seen.lock().unwrap().get(path).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_422_is_not_retried_when_only_connectivity_and_5xx_are_and_its_own_error_goes_on() {
    let (addr, seen) = partner().await;
    let rt = runtime(&format!("http://{addr}"), CONNECTIVITY_AND_5XX, "/s/422");
    let err = rt.run_flow("f", Event::new(json!({}))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "HTTP:CLIENT_ERROR", "the partner's error, not RETRY:EXHAUSTED: {err}");
    assert_eq!(requests(&seen, "/s/422"), 1, "sent once");
}

#[tokio::test]
async fn a_503_is_retried_when_5xx_are_and_the_second_attempt_succeeds() {
    let (addr, seen) = partner().await;
    let rt = runtime(&format!("http://{addr}"), CONNECTIVITY_AND_5XX, "/s/503");
    let out = rt.run_flow("f", Event::new(json!({}))).await.unwrap();
    assert_eq!(support::payload(&out), json!({ "nth": 2 }));
    assert_eq!(requests(&seen, "/s/503"), 2);
}

#[tokio::test]
async fn without_lists_every_error_is_retried_as_before() {
    let (addr, seen) = partner().await;
    let rt = runtime(&format!("http://{addr}"), "", "/s/422");
    let out = rt.run_flow("f", Event::new(json!({}))).await.unwrap();
    assert_eq!(support::payload(&out), json!({ "nth": 2 }));
    assert_eq!(requests(&seen, "/s/422"), 2);
}

#[tokio::test]
async fn no_retry_on_takes_a_family_out_of_the_retried_errors() {
    let (addr, seen) = partner().await;
    let rules = "          retry_on: HTTP:ANY\n          no_retry_on: [HTTP:CLIENT_ERROR]";
    let rt = runtime(&format!("http://{addr}"), rules, "/s/409");
    let err = rt.run_flow("f", Event::new(json!({}))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "HTTP:CONFLICT", "HTTP:CONFLICT is a HTTP:CLIENT_ERROR: {err}");
    assert_eq!(requests(&seen, "/s/409"), 1);
    let rt = runtime(&format!("http://{addr}"), rules, "/s/502");
    assert!(rt.run_flow("f", Event::new(json!({}))).await.is_ok());
    assert_eq!(requests(&seen, "/s/502"), 2, "a 502 is still retried");
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_attempts_run_out() {
    // A port that was just free: nothing listens there.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let rt = runtime(&format!("http://{addr}"), CONNECTIVITY_AND_5XX, "/s/200");
    let err = rt.run_flow("f", Event::new(json!({}))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "RETRY:EXHAUSTED", "{err}");
    assert!(err.description.contains("gave up after 3 attempt(s)"), "{}", err.description);
    assert_eq!(err.cause.map(|c| c.error_type.to_string()), Some("HTTP:CONNECTIVITY".to_string()));
}
