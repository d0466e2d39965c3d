//! The `http.listener` source: one hyper server per listener config, routing requests to flows.

use super::problem::{problem, status_for};
use super::routes::{query_map, route, Route, Routed};
use crate::runtime::{Event, Payload, Runtime};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value as Json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Settings of one listening socket and the routes it serves.
pub struct Listener {
    /// Where to bind.
    pub addr: SocketAddr,
    /// Largest accepted body.
    pub max_body_size: usize,
    /// Time allowed per request.
    pub request_timeout: Duration,
    /// Routes.
    pub routes: Vec<Route>,
    /// Status of successful answers, per flow.
    pub statuses: std::collections::HashMap<String, u16>,
}

/// Requests being processed, for graceful shutdown.
pub type InFlight = Arc<AtomicUsize>;

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

fn problem_response(status: u16, title: &str, detail: &str, cid: &str) -> Response<Full<Bytes>> {
    let mut r = respond(status, "application/problem+json", problem(status, title, detail, cid, None));
    if let Ok(v) = cid.parse() {
        r.headers_mut().insert("x-correlation-id", v);
    }
    r
}

async fn handle(listener: Arc<Listener>, runtime: Runtime, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let cid = req
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(crate::runtime::event::new_correlation_id, String::from);
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let (route, params) = match route(&listener.routes, &method, &path) {
        Routed::Found(r, p) => (r.clone(), p),
        Routed::MethodNotAllowed(allowed) => {
            let mut r =
                problem_response(405, "Method Not Allowed", &format!("{method} is not allowed on {path}"), &cid);
            if let Ok(v) = allowed.join(", ").parse() {
                r.headers_mut().insert(hyper::header::ALLOW, v);
            }
            return r;
        }
        Routed::NotFound => return problem_response(404, "Not Found", &format!("no flow listens on {path}"), &cid),
    };
    if let Some(flow) = runtime.program().flow(&route.flow) {
        if flow.concurrency.as_ref().is_some_and(|s| s.available_permits() == 0) {
            let mut r =
                problem_response(503, "Service Unavailable", &format!("flow `{}` is at capacity", route.flow), &cid);
            r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
            return r;
        }
    }
    let media_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let headers: Map<String, Json> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), Json::String(v.to_str().unwrap_or("").to_string())))
        .collect();
    let query = query_map(req.uri().query());
    let body = match Limited::new(req.into_body(), listener.max_body_size).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            let detail = format!("the body is larger than {} bytes", listener.max_body_size);
            return problem_response(413, "Content Too Large", &detail, &cid);
        }
        Err(e) => return problem_response(400, "Bad Request", &format!("cannot read the body: {e}"), &cid),
    };
    let payload = Payload::bytes(body.to_vec(), &media_type);
    if !body.is_empty() {
        if let Err(e) = payload.read(&runtime.program().readers) {
            return problem_response(400, "Bad Request", &e.description, &cid);
        }
    }
    // Built field by field: `Event::with_payload` would generate a correlation id (clock read, mixing,
    // formatting; a few per cent of a small request's CPU) only for the request's to replace it.
    let event = Event {
        payload: Arc::new(payload),
        attributes: Arc::new(
            json!({ "method": method, "path": path, "params": params, "query": query, "headers": headers }),
        ),
        vars: Arc::default(),
        correlation_id: cid.as_str().into(),
        error: None,
    };
    let result = tokio::time::timeout(listener.request_timeout, runtime.run_flow(&route.flow, event)).await;
    let received = body.len();
    let mut response = match result {
        Ok(Ok(done)) => {
            let status = listener.statuses.get(&route.flow).copied().unwrap_or(200);
            let bytes = done.payload.to_bytes();
            runtime.metrics().bytes(&route.flow, received, bytes.len());
            respond(status, done.payload.media_type(), bytes)
        }
        Ok(Err(error)) => {
            let status = status_for(&error.error_type);
            let title = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
            respond(status, "application/problem+json", problem(status, title, &error.description, &cid, Some(&error)))
        }
        Err(_) => problem_response(504, "Gateway Timeout", "the flow did not answer in time", &cid),
    };
    if let Ok(v) = cid.parse() {
        response.headers_mut().insert("x-correlation-id", v);
    }
    response
}

/// Binds the listener and serves until `stop` turns true; returns the bound address at once.
pub async fn serve(
    listener: Listener,
    runtime: Runtime,
    mut stop: watch::Receiver<bool>,
    in_flight: InFlight,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let socket = tokio::net::TcpListener::bind(listener.addr).await?;
    let addr = socket.local_addr()?;
    let listener = Arc::new(listener);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = socket.accept() => a,
                _ = stop.changed() => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let (listener, runtime, in_flight) = (listener.clone(), runtime.clone(), in_flight.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let (listener, runtime, in_flight) = (listener.clone(), runtime.clone(), in_flight.clone());
                    async move {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let response = handle(listener, runtime, req).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    Ok((addr, task))
}
