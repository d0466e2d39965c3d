//! The admin port: `/health` (the process answers), `/ready` (sources started and not shutting down),
//! `/metrics` (Prometheus text), `POST /flows/{name}/run` (run a scheduled flow now, as its next tick would:
//! what an operator needs after an outage, and what a demo needs instead of waiting for 10:00), and
//! `/dead-letters` (what the queues gave up on).

use crate::http_server::accept::accept_loop;
use crate::http_server::connection;
use crate::http_server::limits::Limits;
use crate::runtime::{Event, Runtime};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use tokio::sync::watch;

/// Every admin answer: its body scrubbed of every secret known (metrics labels included), whatever built it.
fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let body = crate::scrub::Scrub::secrets().text(&body).into_owned();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    r
}

/// Runs a flow once with what a scheduler tick gives it (a null payload, `attributes.fired_at`), plus
/// `attributes.trigger: "admin"`; answers when the run ends.
async fn run_now(runtime: &Runtime, flow: &str) -> Response<Full<Bytes>> {
    if runtime.program().flow(flow).is_none() {
        let body = json!({ "status": "not found", "detail": format!("no flow named `{flow}`") });
        return answer(StatusCode::NOT_FOUND, "application/json", body.to_string());
    }
    let mut event = Event::new(serde_json::Value::Null);
    event.attributes = json!({ "fired_at": chrono::Utc::now().to_rfc3339(), "trigger": "admin" }).into();
    let correlation_id = event.correlation_id.to_string();
    tracing::info!(correlation_id = %correlation_id, flow, "run requested on the admin port");
    match runtime.run_flow(flow, event).await {
        Ok(_) => answer(
            StatusCode::OK,
            "application/json",
            json!({ "status": "done", "flow": flow, "correlation_id": correlation_id }).to_string(),
        ),
        Err(e) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            json!({ "status": "failed", "flow": flow, "correlation_id": correlation_id, "error": e.to_json() })
                .to_string(),
        ),
    }
}

/// A dead letter as the admin port shows it: scrubbed of every secret and of the sensitive values of its
/// message (the stored record keeps the message whole, for a replay).
fn shown(runtime: &Runtime, d: &crate::state::DeadLetter) -> serde_json::Value {
    let program = runtime.program();
    let scrub = program.redactor.for_message(&d.payload, &d.media_type, &serde_json::Value::Null, &program.readers);
    let letter = json!({
        "id": d.id, "queue": d.queue, "flow": d.flow, "correlation_id": d.correlation_id,
        "error_type": d.error_type, "description": d.description, "attempts": d.attempts,
        "failed_at": d.failed_at, "media_type": d.media_type,
        "payload": String::from_utf8_lossy(&d.payload),
    });
    program.redactor.json(&letter, &scrub)
}

fn dead_letters(runtime: &Runtime) -> String {
    let letters: Vec<_> = runtime.program().state.dead_letters().iter().map(|d| shown(runtime, d)).collect();
    serde_json::Value::Array(letters).to_string()
}

/// `GET /dead-letters/ID`, `POST /dead-letters/ID/replay`, `DELETE /dead-letters/ID`.
async fn dead_letter(runtime: &Runtime, method: &hyper::Method, rest: &str) -> Response<Full<Bytes>> {
    let state = &runtime.program().state;
    let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(id) = id.parse::<u64>() else {
        return answer(StatusCode::NOT_FOUND, "application/json", json!({ "status": "not found" }).to_string());
    };
    let reply = |status: StatusCode, body: serde_json::Value| answer(status, "application/json", body.to_string());
    match (method.as_str(), action) {
        ("GET", "") => match state.dead_letters().into_iter().find(|d| d.id == id) {
            Some(d) => reply(StatusCode::OK, shown(runtime, &d)),
            None => reply(StatusCode::NOT_FOUND, json!({ "status": "not found" })),
        },
        ("POST", "replay") => match state.replay(id).await {
            Ok(queue) => reply(StatusCode::OK, json!({ "status": "replayed", "queue": queue })),
            Err(e) => reply(StatusCode::CONFLICT, json!({ "status": "not replayed", "detail": e })),
        },
        ("DELETE", "") => match state.purge(id) {
            Ok(true) => reply(StatusCode::OK, json!({ "status": "purged" })),
            Ok(false) => reply(StatusCode::NOT_FOUND, json!({ "status": "not found" })),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({ "status": "failed", "detail": e })),
        },
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, json!({ "status": "method not allowed" })),
    }
}

async fn handle(runtime: Runtime, draining: bool, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if let Some(flow) = path.strip_prefix("/flows/").and_then(|p| p.strip_suffix("/run")) {
        if req.method() != hyper::Method::POST {
            let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, "application/json", "{\"status\":\"use POST\"}".into());
            r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
            return r;
        }
        return run_now(&runtime, &percent_encoding::percent_decode_str(flow).decode_utf8_lossy()).await;
    }
    if let Some(rest) = path.strip_prefix("/dead-letters/") {
        return dead_letter(&runtime, req.method(), rest).await;
    }
    let runtime = &runtime;
    match path {
        "/dead-letters" => answer(StatusCode::OK, "application/json", dead_letters(runtime)),
        "/health" => answer(StatusCode::OK, "application/json", "{\"status\":\"up\"}".into()),
        "/ready" if draining || runtime.is_closing() => {
            answer(StatusCode::SERVICE_UNAVAILABLE, "application/json", "{\"status\":\"draining\"}".into())
        }
        "/ready" => ready(runtime),
        "/metrics" => answer(StatusCode::OK, "text/plain; version=0.0.4", metrics(runtime)),
        _ => answer(StatusCode::NOT_FOUND, "application/json", "{\"status\":\"not found\"}".into()),
    }
}

/// `/ready`: 200 when every resource of the running program (client pools, stores) can serve, else 503
/// naming each that cannot and why, so that a load balancer stops sending work this replica would fail.
fn ready(runtime: &Runtime) -> Response<Full<Bytes>> {
    let not_ready = runtime.program().resources.not_ready();
    if not_ready.is_empty() {
        return answer(StatusCode::OK, "application/json", "{\"status\":\"ready\"}".into());
    }
    let configs: serde_json::Map<String, serde_json::Value> =
        not_ready.into_iter().map(|(name, why)| (name, serde_json::Value::String(why))).collect();
    let body = serde_json::json!({ "status": "not ready", "configs": configs });
    answer(StatusCode::SERVICE_UNAVAILABLE, "application/json", body.to_string())
}

/// Prometheus text: per-flow metrics, async errors, queue depths and dead letters.
fn metrics(runtime: &Runtime) -> String {
    use std::fmt::Write;
    let mut text = runtime.metrics().render();
    let state = &runtime.program().state;
    let _ = write!(
        text,
        "# HELP relais_async_errors_total Errors inside async scopes.\n# TYPE relais_async_errors_total counter\n\
         relais_async_errors_total {}\n\
         # HELP relais_dead_letters_total Messages dead-lettered since start.\n# TYPE relais_dead_letters_total counter\n\
         relais_dead_letters_total {}\n\
         # HELP relais_queue_depth Messages waiting in a queue.\n# TYPE relais_queue_depth gauge\n",
        runtime.async_errors(),
        state.dead_letter_count()
    );
    // In-memory queues from the process, persistent ones from the state store (which counts their delayed
    // redeliveries as waiting).
    let mut gauges: Vec<(String, u64, u64)> = state
        .queues()
        .iter()
        .filter(|q| !state.is_persistent(q.name()))
        .map(|q| (q.name().to_string(), q.depth() as u64, q.in_flight() as u64))
        .collect();
    for name in state.persistent_queues() {
        if let Ok(stats) = state.durable().queue_stats(&name, crate::state::now()) {
            gauges.push((name, stats.depth(), stats.in_flight));
        }
    }
    gauges.sort();
    for (name, depth, _) in &gauges {
        let _ = writeln!(text, "relais_queue_depth{{queue=\"{}\"}} {depth}", crate::runtime::metrics::label(name));
    }
    text.push_str("# HELP relais_sensitive_leaks_refused_total Calls to partner-zone systems refused because they held a sensitive value.\n# TYPE relais_sensitive_leaks_refused_total counter\n");
    for (system, n) in crate::scrub::guard::refusals() {
        let _ = writeln!(
            text,
            "relais_sensitive_leaks_refused_total{{system=\"{}\"}} {n}",
            crate::runtime::metrics::label(&system)
        );
    }
    text.push_str("# HELP relais_queue_in_flight Messages being processed.\n# TYPE relais_queue_in_flight gauge\n");
    for (name, _, in_flight) in &gauges {
        let _ =
            writeln!(text, "relais_queue_in_flight{{queue=\"{}\"}} {in_flight}", crate::runtime::metrics::label(name));
    }
    text
}

/// Serves the admin endpoints on `addr` until `stop` turns true, answering for the current runtime, under
/// `limits` (the same cap, timeouts and accept back-off as a listener).
pub async fn serve(
    addr: SocketAddr,
    limits: Limits,
    current: watch::Receiver<Runtime>,
    draining: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let socket = tokio::net::TcpListener::bind(addr).await?;
    let bound = socket.local_addr()?;
    let cap = limits.max_connections;
    let task = tokio::spawn(accept_loop(
        socket,
        stop,
        move || cap,
        move |stream, slot| {
            let (current, draining, limits) = (current.clone(), draining.clone(), limits.clone());
            tokio::spawn(async move {
                // Held until the connection is closed.
                let _slot = slot;
                // Not drained: the admin port answers `/ready` (draining) until shutdown ends.
                connection::serve(stream, &limits, None, move |tracker| {
                    hyper::service::service_fn(move |req| {
                        let runtime = current.borrow().clone();
                        let draining = *draining.borrow();
                        let open = tracker.open(&req);
                        async move {
                            let _open = open;
                            Ok::<_, std::convert::Infallible>(handle(runtime, draining, req).await)
                        }
                    })
                })
                .await;
            });
        },
    ));
    Ok((bound, task))
}
