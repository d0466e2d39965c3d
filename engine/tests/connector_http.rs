//! `http.request` against a real upstream server on loopback: success, templating, auth and correlation
//! headers, status mapping, retries, timeouts, unreachable hosts, targets.
#![allow(clippy::unwrap_used)]

mod support;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use relais_engine::plan::compile_program;
use relais_engine::runtime::{Event, Runtime};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An upstream partner: `/echo` echoes the request, `/missing` is 404, `/slow` answers after 500 ms,
/// `/flaky` answers 503 twice then 200.
async fn upstream() -> SocketAddr {
    upstream_with_tokens().await.0
}

/// The same partner, with an OAuth2 token endpoint `/token` issuing `t1`, `t2`... (valid 1 s) and a `/secure`
/// path that only accepts `t2`; returns how many tokens were issued.
async fn upstream_with_tokens() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flaky = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(AtomicUsize::new(0));
    let issued = tokens.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let (flaky, tokens) = (flaky.clone(), tokens.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (flaky, tokens) = (flaky.clone(), tokens.clone());
                    async move {
                        let path = req.uri().path().to_string();
                        let query = req.uri().query().unwrap_or("").to_string();
                        let header =
                            |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        let (auth, cid, method) =
                            (header("authorization"), header("x-correlation-id"), req.method().to_string());
                        let content_types: Vec<String> = req
                            .headers()
                            .get_all("content-type")
                            .iter()
                            .map(|v| v.to_str().unwrap_or("").to_string())
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let (status, text) = match path.as_str() {
                            "/token" if String::from_utf8_lossy(&body).contains("grant_type=client_credentials") => {
                                let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
                                (200, json!({ "access_token": format!("t{n}"), "expires_in": 1 }).to_string())
                            }
                            "/secure" if auth != "Bearer t2" => (401, "token revoked".to_string()),
                            "/missing" => (404, "no such contact".to_string()),
                            "/slow" => {
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                (200, "{}".to_string())
                            }
                            "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => (503, "busy".to_string()),
                            _ => (
                                200,
                                json!({ "method": method, "path": path, "query": query, "auth": auth, "cid": cid,
                                        "content_types": content_types, "body": String::from_utf8_lossy(&body) })
                                .to_string(),
                            ),
                        };
                        let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
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
    (addr, issued)
}

fn runtime(base_url: &str, steps: &str) -> Runtime {
    std::env::set_var("RELAIS_TEST_CRM_PASSWORD", "pw");
    runtime_with(base_url, "{ basic: { username: relais, password: \"${secret:RELAIS_TEST_CRM_PASSWORD}\" } }", steps)
}

fn runtime_with(base_url: &str, auth: &str, steps: &str) -> Runtime {
    let flows = format!(
        "configs:\n  crm:\n    http.client:\n      base_url: \"{base_url}\"\n      timeout: 200ms\n      connect_timeout: 200ms\n      auth: {auth}\nflows:\n  f:\n    steps:\n{steps}"
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    assert!(!loaded.diags.has_errors(), "{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program =
        compile_program(&loaded, relais_stdlib::Clock::system(), relais_engine::components::registry()).ok().unwrap();
    Runtime::new(program)
}

#[tokio::test]
async fn a_request_is_templated_authenticated_and_its_json_answer_becomes_the_payload() {
    let addr = upstream().await;
    let rt = runtime(
        &format!("http://{addr}"),
        "      - http.request: { config: crm, method: PUT, path: \"/echo/#[payload.id]\", query: { q: \"a b&c\" } }\n",
    );
    let mut ev = Event::new(json!({ "id": "c-1" }));
    ev.correlation_id = "cid-42".into();
    let out = rt.run_flow("f", ev).await.unwrap();
    let answer = support::payload(&out);
    assert_eq!(answer["method"], "PUT");
    assert_eq!(answer["path"], "/echo/c-1");
    assert_eq!(answer["query"], "q=a%20b%26c");
    assert_eq!(answer["auth"], "Basic cmVsYWlzOnB3");
    assert_eq!(answer["cid"], "cid-42");
    assert_eq!(answer["body"], "{\"id\":\"c-1\"}");
    assert_eq!(out.attributes["status"], 200);
    // The answer's headers are built into the attributes only when read, and read as they were sent.
    assert_eq!(out.attributes["headers"]["content-type"], "application/json");
    assert!(out.attributes["headers"]["content-length"].as_str().is_some_and(|n| n.parse::<usize>().is_ok()));
}

#[tokio::test]
async fn statuses_become_typed_errors() {
    let addr = upstream().await;
    let rt = runtime(&format!("http://{addr}"), "      - http.request: { config: crm, method: GET, path: /missing }\n");
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "HTTP:NOT_FOUND");
    assert!(err.description.contains("no such contact"), "{}", err.description);
}

#[tokio::test]
async fn a_flaky_partner_is_retried_until_it_answers() {
    let addr = upstream().await;
    let rt = runtime(
        &format!("http://{addr}"),
        "      - until_successful:\n          max_retries: 3\n          backoff: { initial: 5ms, max: 5ms }\n          steps:\n            - http.request: { config: crm, method: GET, path: /flaky, target: answer }\n",
    );
    let out = rt.run_flow("f", Event::new(json!("kept"))).await.unwrap();
    assert_eq!(support::payload(&out), json!("kept"), "with a target the payload is kept");
    assert_eq!(out.vars["answer"]["path"], "/flaky");
}

#[tokio::test]
async fn slow_partners_time_out_and_unreachable_ones_are_connectivity_errors() {
    let addr = upstream().await;
    let rt = runtime(&format!("http://{addr}"), "      - http.request: { config: crm, method: GET, path: /slow }\n");
    assert_eq!(rt.run_flow("f", Event::new(json!(null))).await.unwrap_err().error_type.to_string(), "HTTP:TIMEOUT");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let rt = runtime(&format!("http://{closed}"), "      - http.request: { config: crm, method: GET, path: /x }\n");
    assert_eq!(
        rt.run_flow("f", Event::new(json!(null))).await.unwrap_err().error_type.to_string(),
        "HTTP:CONNECTIVITY"
    );
}

#[tokio::test]
async fn oauth2_tokens_are_reused_refreshed_on_expiry_and_after_a_401() {
    let (addr, issued) = upstream_with_tokens().await;
    let auth =
        format!("{{ oauth2: {{ token_url: \"http://{addr}/token\", client_id: relais, client_secret: s3cret }} }}");
    let rt = runtime_with(
        &format!("http://{addr}"),
        &auth,
        "      - http.request: { config: crm, method: GET, path: /echo }\n",
    );
    let call = || async { support::payload(&rt.run_flow("f", Event::new(json!(null))).await.unwrap())["auth"].clone() };
    assert_eq!(call().await, "Bearer t1");
    assert_eq!(call().await, "Bearer t1", "the token is reused while valid");
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    // The token lives 1 s: once it has expired, the next call fetches t2 (polled, up to 30 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while call().await == "Bearer t1" {
        assert!(std::time::Instant::now() < deadline, "the 1 s token was never refreshed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(call().await, "Bearer t2", "an expired token is refreshed");
    assert_eq!(issued.load(Ordering::SeqCst), 2);

    let (addr, issued) = upstream_with_tokens().await;
    let auth =
        format!("{{ oauth2: {{ token_url: \"http://{addr}/token\", client_id: relais, client_secret: s3cret }} }}");
    let rt = runtime_with(
        &format!("http://{addr}"),
        &auth,
        "      - http.request: { config: crm, method: GET, path: /secure }\n",
    );
    assert!(rt.run_flow("f", Event::new(json!(null))).await.is_ok(), "a 401 fetches a new token and retries once");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn values_in_a_path_are_one_segment_and_cannot_change_the_partner_path_or_query() {
    let addr = upstream().await;
    let rt = runtime(
        &format!("http://{addr}"),
        "      - http.request: { config: crm, method: GET, path: \"/echo/#[payload.id]/info\", query: { \"a key\": \"#[payload.q]\" } }\n",
    );
    let call = |id: &str, q: &str| {
        let ev = Event::new(json!({ "id": id, "q": q }));
        let rt = &rt;
        async move { support::payload(&rt.run_flow("f", ev).await.unwrap()) }
    };
    let answer = call("../../admin", "x").await;
    assert_eq!(answer["path"], "/echo/..%2F..%2Fadmin/info");
    let answer = call("a/b?x=1#frag", "1+1=2 & é").await;
    assert_eq!(answer["path"], "/echo/a%2Fb%3Fx%3D1%23frag/info");
    assert_eq!(answer["query"], "a%20key=1%2B1%3D2%20%26%20%C3%A9");
    assert_eq!(call("..", "x").await["path"], "/echo/%2E%2E/info", "a dot segment stays a value");
}

#[tokio::test]
async fn a_content_type_header_replaces_the_default_one() {
    let addr = upstream().await;
    let rt = runtime(
        &format!("http://{addr}"),
        "      - http.request: { config: crm, method: POST, path: /echo, headers: { Content-Type: application/vnd.api+json } }\n",
    );
    let answer = support::payload(&rt.run_flow("f", Event::new(json!({ "id": 1 }))).await.unwrap());
    assert_eq!(answer["content_types"], json!(["application/vnd.api+json"]));
}

#[tokio::test]
async fn with_a_target_the_answer_status_and_headers_are_kept_in_the_attributes() {
    let addr = upstream().await;
    let rt = runtime(
        &format!("http://{addr}"),
        "      - http.request: { config: crm, method: GET, path: /echo, target: answer }\n",
    );
    let mut ev = Event::new(json!("kept"));
    ev.attributes = json!({ "method": "POST", "headers": { "x-from": "listener" } }).into();
    let out = rt.run_flow("f", ev).await.unwrap();
    assert_eq!(support::payload(&out), json!("kept"));
    assert_eq!(out.vars["answer"]["path"], "/echo");
    assert_eq!(out.attributes["response"]["status"], 200);
    assert_eq!(out.attributes["response"]["headers"]["content-type"], "application/json");
    assert_eq!(out.attributes["headers"]["x-from"], "listener", "the source's attributes are kept");
    assert_eq!(out.attributes["method"], "POST");
}

/// An OAuth2 token endpoint (a real hyper server) that takes requests and never answers them.
async fn silent_token_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                    std::future::pending::<()>().await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_never_answers_times_out_and_blocks_no_other_request() {
    let partner = upstream().await;
    let tokens = silent_token_server().await;
    let auth =
        format!("{{ oauth2: {{ token_url: \"http://{tokens}/token\", client_id: relais, client_secret: s3cret }} }}");
    let rt = Arc::new(runtime_with(
        &format!("http://{partner}"),
        &auth,
        "      - http.request: { config: crm, method: GET, path: /echo }\n",
    ));
    // Two requests at once: one fetches the token, the other waits for that fetch; both must end with the
    // client's timeout (200 ms), not hang. The 30 s bound only keeps a regression from hanging the suite.
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.run_flow("f", Event::new(json!(null))).await })
        })
        .collect();
    for call in calls {
        let outcome = tokio::time::timeout(Duration::from_secs(30), call).await;
        let err = outcome.expect("the request ended instead of waiting forever").unwrap().unwrap_err();
        assert_eq!(err.error_type.to_string(), "HTTP:TIMEOUT", "{}", err.description);
    }
    // And a later request is not stuck behind the earlier fetch either.
    let later = tokio::time::timeout(Duration::from_secs(30), rt.run_flow("f", Event::new(json!(null)))).await;
    assert_eq!(later.expect("a later request ends too").unwrap_err().error_type.to_string(), "HTTP:TIMEOUT");
    // Each fetch that timed out is counted apart from the partner's calls, under `crm.oauth2`: sent, no answer.
    let metrics = rt.metrics().render();
    let value = |series: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
    };
    let timed_out = value("relais_outbound_errors_total{config=\"crm.oauth2\",type=\"HTTP:TIMEOUT\",status=\"none\"}");
    assert!(timed_out.is_some_and(|n| n >= 2), "the first and the later fetch at least:\n{metrics}");
    assert_eq!(value("relais_outbound_requests_total{config=\"crm.oauth2\",status=\"none\"}"), timed_out, "{metrics}");
    assert_eq!(value("relais_outbound_request_duration_seconds_count{config=\"crm.oauth2\"}"), timed_out, "{metrics}");
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_a_connectivity_error_of_its_own_system_and_no_token_for_the_call() {
    let partner = upstream().await;
    // A port nothing listens on (bound, then closed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let auth =
        format!("{{ oauth2: {{ token_url: \"http://{closed}/token\", client_id: relais, client_secret: s3cret }} }}");
    let rt = runtime_with(
        &format!("http://{partner}"),
        &auth,
        "      - http.request: { config: crm, method: GET, path: /echo }\n",
    );
    let err = rt.run_flow("f", Event::new(json!(null))).await.unwrap_err();
    assert_eq!(err.error_type.to_string(), "HTTP:UNAUTHORIZED", "{}", err.description);
    let metrics = rt.metrics().render();
    for line in [
        "relais_outbound_errors_total{config=\"crm.oauth2\",type=\"HTTP:CONNECTIVITY\",status=\"none\"} 1\n",
        "relais_outbound_requests_total{config=\"crm.oauth2\",status=\"none\"} 1\n",
        "relais_outbound_errors_total{config=\"crm\",type=\"HTTP:UNAUTHORIZED\",status=\"none\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line}in\n{metrics}");
    }
    assert!(
        !metrics.contains("relais_outbound_requests_total{config=\"crm\""),
        "the partner was never called:\n{metrics}"
    );
}
