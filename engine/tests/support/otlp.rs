//! A local OTLP/HTTP collector for the tracing tests: a hyper server on a loopback port decoding each
//! protobuf export (`POST /v1/traces`) into the spans it holds, and the environment that points `relais
//! run` at it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed setup should stop the test loudly

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One span as the receiver decoded it.
#[derive(Debug, Clone)]
pub struct Received {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent: String,
    pub name: String,
    /// `opentelemetry.proto.trace.v1.Span.SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub attributes: BTreeMap<String, String>,
    /// `Status.StatusCode`: 0 unset, 1 ok, 2 error.
    pub status: i32,
}

pub const INTERNAL: i32 = 1;
pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;
pub const PRODUCER: i32 = 4;
pub const CONSUMER: i32 = 5;
pub const ERROR: i32 = 2;

/// A local OTLP/HTTP collector: every span of every export it was sent.
#[derive(Default)]
pub struct Collector {
    spans: Mutex<Vec<Received>>,
}

impl Collector {
    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans received so far of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<Received> {
        self.spans().into_iter().filter(|s| s.trace_id == trace_id).collect()
    }

    fn decode(&self, body: &[u8]) -> bool {
        let Ok(export) = ExportTraceServiceRequest::decode(body) else { return false };
        let mut spans = self.spans.lock().unwrap();
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                        name: span.name,
                        kind: span.kind,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|kv| (kv.key.clone(), text(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                            .collect(),
                        status: span.status.map_or(0, |s| s.code),
                    });
                }
            }
        }
        true
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(n)) => n.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Serves `answer` for every request on a fresh loopback port, each connection on its own task.
pub async fn serve<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(hyper::http::request::Parts, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = (u16, Bytes)> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let (status, body) = answer(parts, body).await;
                        let mut response = hyper::Response::new(Full::new(body));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The OTLP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
pub async fn collector() -> (SocketAddr, Arc<Collector>) {
    let collector = Arc::new(Collector::default());
    let sink = collector.clone();
    let addr = serve(move |parts, body| {
        let sink = sink.clone();
        async move {
            let protobuf = parts.headers.get("content-type").is_some_and(|v| v == "application/x-protobuf");
            if parts.uri.path() != "/v1/traces" || !protobuf || !sink.decode(&body) {
                return (400, Bytes::new());
            }
            (200, Bytes::new())
        }
    })
    .await;
    (addr, collector)
}

/// One request the simulated CRM received: its path, its `traceparent`, and what it answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub traceparent: Option<String>,
    pub status: u16,
    /// Every header, by lower-case name.
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    pub body: String,
}

/// The simulated CRM: answers 503 while `down`, 200 otherwise (a JSON body), and keeps every call with the
/// `traceparent` it came with.
pub async fn crm(down: Arc<AtomicBool>) -> (SocketAddr, Arc<Mutex<Vec<Call>>>) {
    partner(down, 503, "{\"ok\":true}").await
}

/// A simulated partner that answers `failing` while `down` and 200 with `answer` otherwise, keeping every
/// call with its path, headers, body and the status it got.
pub async fn partner(down: Arc<AtomicBool>, failing: u16, answer: &'static str) -> (SocketAddr, Arc<Mutex<Vec<Call>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let kept = calls.clone();
    let addr = serve(move |parts, body| {
        let (kept, down) = (kept.clone(), down.clone());
        async move {
            let status = if down.load(Ordering::SeqCst) { failing } else { 200 };
            let traceparent = parts.headers.get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_string);
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            let body = String::from_utf8_lossy(&body).into_owned();
            let path = parts.uri.path().to_string();
            kept.lock().unwrap().push(Call { path, traceparent, status, headers, body });
            (status, Bytes::from_static(answer.as_bytes()))
        }
    })
    .await;
    (addr, calls)
}

/// The environment of a `relais run` exporting its spans to the collector at `collector`, in batches sent
/// every 100 ms.
pub fn env(collector: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_SERVICE_NAME", "games-relais".to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ]
}

/// The one span of `spans` that `pick` chooses; panics, showing them all, when there is not exactly one.
pub fn only<'s>(spans: &'s [Received], what: &str, pick: impl Fn(&Received) -> bool) -> &'s Received {
    let found: Vec<&Received> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "one {what} expected among {spans:#?}");
    found[0]
}

/// The trace the caller of a traced webhook is in, and its span: the parent of everything relais does for it.
pub const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// See [`TRACE`].
pub const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A `relais run` exporting its spans to a collector, with its admin port open on loopback.
pub struct Traced {
    /// The process (killed on drop).
    pub relais: super::process::RelaisProcess,
    /// The webhook listener's address.
    pub addr: SocketAddr,
    /// The admin port's address.
    pub admin: SocketAddr,
    /// The directory of the flows (what `relais dlq` is pointed at).
    pub dir: std::path::PathBuf,
}

/// `relais run` on `flows` with its spans exported to `collector` and its state in `state` (`memory`, a
/// directory, a PostgreSQL URL), once `/ready` answers 200: connected, its topology declared, so that what a
/// test publishes behind its back finds the queue or stream.
pub async fn run_traced(flows: &str, collector: SocketAddr, state: &str) -> Traced {
    let dir = super::write_files(&[("flows.yaml", flows)]);
    let env = env(collector);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--admin", "127.0.0.1:0", "--admin-insecure", "--state", state, "--no-watch"];
    let relais = super::process::RelaisProcess::start(&dir, &args, "info", &env);
    let addr = relais.wait_for_address("listening on http://");
    let admin = relais.wait_for_address("admin endpoints on http://");
    super::eventually("the daemon to be ready", async || {
        super::request(admin, "GET", "/ready", &[], b"").await.0 == 200
    })
    .await;
    Traced { relais, addr, admin, dir }
}

/// Posts an order to a traced webhook's `/orders` as the ticketing system does, in [`TRACE`].
pub async fn post_order(addr: SocketAddr, order_id: &str) {
    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let headers = [("traceparent", traceparent.as_str()), ("x-correlation-id", "order-corr-1")];
    let body = format!(r#"{{"order_id":"{order_id}"}}"#);
    let (status, _, answer) = super::request(addr, "POST", "/orders", &headers, body.as_bytes()).await;
    assert_eq!(status, 202, "{answer}");
}
