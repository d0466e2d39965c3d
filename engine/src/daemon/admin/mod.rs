//! The admin port: `/health` (the process answers), `/ready` (sources started and not shutting down),
//! `/metrics` (Prometheus text), `POST /flows/{name}/run` (run a scheduled flow now, as its next tick would:
//! what an operator needs after an outage, and what a demo needs instead of waiting for 10:00),
//! `/dead-letters` (what the queues and flows gave up on: listed and replayed in bulk by flow and error
//! type, shown, replayed and purged one by one), `/incidents` (the open incidents, JSON) and the status
//! page (`/status`, reading `/status.json`).
//!
//! Only `/health`, `/ready`, `/metrics`, `/incidents` and the status page are open; dead letters and
//! actions need what [`access`] says (a bearer token, or the loopback-only insecure opt-in), and each such
//! request is an audit line.

pub mod access;
mod status;

use crate::http_server::accept::accept_loop;
use crate::http_server::connection;
use crate::http_server::limits::Limits;
use crate::runtime::{Event, Runtime};
use access::{audit, AdminAccess, Refusal};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// What every admin request may read besides the runtime: the access rules and the daemon's incidents.
pub struct Shared {
    /// Who may see dead letters and act.
    pub access: AdminAccess,
    /// The incidents graded against the flows' objectives.
    pub incidents: Arc<crate::incidents::Incidents>,
}

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

/// A dead letter as the admin port shows it (the fields and names of `relais dlq show`,
/// `state::letters::to_json`): scrubbed of every secret and of the sensitive values of its message (the
/// stored record keeps the message whole, for a replay).
fn shown(runtime: &Runtime, stored: &relais_store::StoredDeadLetter) -> serde_json::Value {
    let program = runtime.program();
    let l = &stored.letter;
    let scrub = program.redactor.for_message(&l.payload, &l.media_type, &l.attributes, &program.readers);
    program.redactor.json(&crate::state::letters::to_json(stored), &scrub)
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    answer(status, "application/json", body.to_string())
}

/// `GET /dead-letters[?flow=F&error_type=T]`: the dead letters, oldest first (at most 10 000).
fn dead_letters(runtime: &Runtime, query: Option<&str>) -> Response<Full<Bytes>> {
    let filter = match crate::state::letters::filter_from_query(query) {
        Ok(filter) => relais_store::DeadLetterFilter { limit: Some(10_000), ..filter },
        Err(why) => return reply(StatusCode::BAD_REQUEST, json!({ "status": "refused", "detail": why })),
    };
    match runtime.program().state.stored_dead_letters(&filter) {
        Ok(letters) => {
            reply(StatusCode::OK, serde_json::Value::Array(letters.iter().map(|l| shown(runtime, l)).collect()))
        }
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({ "status": "failed", "detail": e })),
    }
}

/// `POST /dead-letters/replay[?flow=F&error_type=T]`: every dead letter (of the flow, of the error type)
/// put back on its queue, oldest first; 200 when all were, 409 when some were not (the answer says which
/// and why), the same outcome lines as `relais dlq replay --all`.
async fn replay_matching(runtime: &Runtime, query: Option<&str>) -> Response<Full<Bytes>> {
    let filter = match crate::state::letters::filter_from_query(query) {
        Ok(filter) => filter,
        Err(why) => return reply(StatusCode::BAD_REQUEST, json!({ "status": "refused", "detail": why })),
    };
    let outcomes = match runtime.program().state.replay_matching(&filter).await {
        Ok(outcomes) => outcomes,
        Err(e) => return reply(StatusCode::INTERNAL_SERVER_ERROR, json!({ "status": "failed", "detail": e })),
    };
    let (mut replayed, mut not_replayed) = (Vec::new(), Vec::new());
    for (id, outcome) in outcomes {
        match outcome {
            Ok(queue) => replayed.push(json!({ "id": id, "queue": queue })),
            Err(why) => not_replayed.push(json!({ "id": id, "detail": why })),
        }
    }
    let status = if not_replayed.is_empty() { StatusCode::OK } else { StatusCode::CONFLICT };
    let word = if not_replayed.is_empty() { "replayed" } else { "partly replayed" };
    reply(status, json!({ "status": word, "replayed": replayed, "not_replayed": not_replayed }))
}

/// `GET /dead-letters/ID`, `POST /dead-letters/ID/replay`, `DELETE /dead-letters/ID`.
async fn dead_letter(runtime: &Runtime, method: &hyper::Method, rest: &str) -> Response<Full<Bytes>> {
    let state = &runtime.program().state;
    let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(id) = id.parse::<u64>() else {
        return reply(StatusCode::NOT_FOUND, json!({ "status": "not found" }));
    };
    match (method.as_str(), action) {
        ("GET", "") => match state.stored_dead_letter(id) {
            Ok(Some(d)) => reply(StatusCode::OK, shown(runtime, &d)),
            Ok(None) => reply(StatusCode::NOT_FOUND, json!({ "status": "not found" })),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({ "status": "failed", "detail": e })),
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

/// What a protected request does, for its audit line: the action and what it acts on.
fn action(method: &hyper::Method, path: &str) -> (&'static str, String) {
    let decoded = |p: &str| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned();
    if let Some(flow) = path.strip_prefix("/flows/").and_then(|p| p.strip_suffix("/run")) {
        return ("run flow", decoded(flow));
    }
    if path == "/dead-letters" {
        return ("list dead letters", String::new());
    }
    if path == "/dead-letters/replay" {
        return ("replay dead letters", String::new());
    }
    if let Some(rest) = path.strip_prefix("/dead-letters/") {
        let (id, verb) = rest.split_once('/').unwrap_or((rest, ""));
        let action = match (method.as_str(), verb) {
            ("GET", "") => "show dead letter",
            ("POST", "replay") => "replay dead letter",
            ("DELETE", "") => "purge dead letter",
            _ => "dead letter request",
        };
        return (action, decoded(id));
    }
    ("request", decoded(path))
}

/// How a protected request ended, in a word, for its audit line.
fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "done",
        404 => "not found",
        405 => "method not allowed",
        409 => "conflict",
        400..=499 => "refused",
        _ => "failed",
    }
}

/// The answer to a request the access rules refuse: problem+json, with `WWW-Authenticate` on a 401.
fn refused(refusal: &Refusal) -> Response<Full<Bytes>> {
    let status = refusal.status();
    let title = if status == 401 { "Unauthorized" } else { "Forbidden" };
    let cid = crate::event::new_correlation_id();
    let body = crate::http_server::problem::problem(status, title, &refusal.detail(), &cid, None);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    let mut r = answer(code, "application/problem+json", String::from_utf8_lossy(&body).into_owned());
    if status == 401 {
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer realm=\"relais admin\""),
        );
    }
    r
}

/// One admin request: the open endpoints answer anyone; the rest are let through by `access` or refused,
/// and audited either way.
async fn handle(
    runtime: Runtime,
    draining: bool,
    shared: &Shared,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let runtime = &runtime;
    let access = &shared.access;
    match path {
        "/health" => return answer(StatusCode::OK, "application/json", "{\"status\":\"up\"}".into()),
        "/ready" if draining || runtime.is_closing() => {
            return answer(StatusCode::SERVICE_UNAVAILABLE, "application/json", "{\"status\":\"draining\"}".into())
        }
        "/ready" => return ready(runtime),
        "/metrics" => return answer(StatusCode::OK, "text/plain; version=0.0.4", metrics(runtime, &shared.incidents)),
        "/incidents" => {
            let open: Vec<_> = shared.incidents.open().iter().map(crate::incidents::incident_json).collect();
            return answer(StatusCode::OK, "application/json", json!({ "incidents": open }).to_string());
        }
        "/status" => return answer(StatusCode::OK, "text/html; charset=utf-8", status::PAGE.to_string()),
        "/status.json" => {
            let body = status::status(runtime, &shared.incidents, access.token_count() > 0, &queue_gauges(runtime));
            return answer(StatusCode::OK, "application/json", body.to_string());
        }
        _ => {}
    }
    let (what, mut object) = action(req.method(), path);
    if path == "/dead-letters/replay" {
        // What a bulk replay chose (`flow=...&error_type=...`), as sent: the audit line says what was asked.
        object = req.uri().query().unwrap_or("all").to_string();
    }
    let who = match access.authorize(req.headers()) {
        Ok(who) => who,
        Err(refusal) => {
            audit(None, peer, what, &object, refusal.status(), "refused");
            return refused(&refusal);
        }
    };
    let response = protected(runtime, &req).await;
    audit(Some(&who), peer, what, &object, response.status().as_u16(), outcome(response.status()));
    response
}

/// The endpoints behind the access rules: dead letters and actions.
async fn protected(runtime: &Runtime, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if let Some(flow) = path.strip_prefix("/flows/").and_then(|p| p.strip_suffix("/run")) {
        if req.method() != hyper::Method::POST {
            let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, "application/json", "{\"status\":\"use POST\"}".into());
            r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
            return r;
        }
        return run_now(runtime, &percent_encoding::percent_decode_str(flow).decode_utf8_lossy()).await;
    }
    if path == "/dead-letters/replay" && req.method() == hyper::Method::POST {
        return replay_matching(runtime, req.uri().query()).await;
    }
    if let Some(rest) = path.strip_prefix("/dead-letters/") {
        return dead_letter(runtime, req.method(), rest).await;
    }
    match path {
        "/dead-letters" => dead_letters(runtime, req.uri().query()),
        _ => answer(StatusCode::NOT_FOUND, "application/json", "{\"status\":\"not found\"}".into()),
    }
}

/// `/ready`: 200 when every resource of the running program (client pools, stores) can serve, else 503
/// naming each that cannot and why, so that a load balancer stops sending work this replica would fail.
/// A shared state (PostgreSQL) out of reach makes the replica not ready too: nothing it accepts could be
/// committed.
fn ready(runtime: &Runtime) -> Response<Full<Bytes>> {
    let not_ready = runtime.program().resources.not_ready();
    let state_available = runtime.program().state.durable().is_available();
    if not_ready.is_empty() && state_available {
        return answer(StatusCode::OK, "application/json", "{\"status\":\"ready\"}".into());
    }
    let configs: serde_json::Map<String, serde_json::Value> =
        not_ready.into_iter().map(|(name, why)| (name, serde_json::Value::String(why))).collect();
    let mut body = serde_json::json!({ "status": "not ready", "configs": configs });
    if !state_available {
        body["state"] = serde_json::Value::String("the state store cannot be reached".to_string());
    }
    answer(StatusCode::SERVICE_UNAVAILABLE, "application/json", body.to_string())
}

/// Prometheus text: the runtime's counters (flows, outbound systems, listener routes), the state's (queues,
/// dead letters by flow and type), async errors, and the queue gauges read now.
fn metrics(runtime: &Runtime, incidents: &crate::incidents::Incidents) -> String {
    use crate::metrics::{header, label};
    use std::fmt::Write;
    let mut text = runtime.metrics().render();
    let state = &runtime.program().state;
    state.metrics().render(&mut text);
    incidents.render(&mut text);
    header(&mut text, "relais_async_errors_total", "counter", "Errors inside async scopes.");
    let _ = writeln!(text, "relais_async_errors_total {}", runtime.async_errors());
    let gauges = queue_gauges(runtime);
    header(&mut text, "relais_queue_depth", "gauge", "Messages waiting in a queue.");
    for g in &gauges {
        let _ = writeln!(text, "relais_queue_depth{{queue=\"{}\"}} {}", label(&g.name), g.depth);
    }
    let help = "Calls to partner-zone systems refused because they held a sensitive value.";
    header(&mut text, "relais_sensitive_leaks_refused_total", "counter", help);
    for (system, n) in crate::scrub::guard::refusals() {
        let _ = writeln!(text, "relais_sensitive_leaks_refused_total{{system=\"{}\"}} {n}", label(&system));
    }
    header(&mut text, "relais_queue_in_flight", "gauge", "Messages being processed.");
    for g in &gauges {
        let _ = writeln!(text, "relais_queue_in_flight{{queue=\"{}\"}} {}", label(&g.name), g.in_flight);
    }
    let help = "How long the oldest message ready for delivery has waited (0 when none waits).";
    header(&mut text, "relais_queue_oldest_message_age_seconds", "gauge", help);
    for g in &gauges {
        let _ = writeln!(
            text,
            "relais_queue_oldest_message_age_seconds{{queue=\"{}\"}} {}",
            label(&g.name),
            g.oldest_age.unwrap_or(0.0)
        );
    }
    text
}

/// One queue's gauges, read now.
pub(crate) struct QueueGauge {
    /// The queue.
    pub name: String,
    /// Messages waiting.
    pub depth: u64,
    /// Messages being processed.
    pub in_flight: u64,
    /// Seconds the oldest ready message has waited.
    pub oldest_age: Option<f64>,
}

/// The gauges of every queue, by name: in-memory queues from the process, persistent ones from the state
/// store (which counts their delayed redeliveries as waiting). `/metrics` and the status page read the same.
fn queue_gauges(runtime: &Runtime) -> Vec<QueueGauge> {
    let state = &runtime.program().state;
    let mut gauges: Vec<QueueGauge> = state
        .queues()
        .iter()
        .filter(|q| !state.is_persistent(q.name()))
        .map(|q| QueueGauge {
            name: q.name().to_string(),
            depth: q.depth() as u64,
            in_flight: q.in_flight() as u64,
            oldest_age: q.oldest_age().map(|a| a.as_secs_f64()),
        })
        .collect();
    let now = crate::state::now();
    for name in state.persistent_queues() {
        if let Ok(stats) = state.durable().queue_stats(&name, now) {
            let oldest = state.durable().oldest_ready(&name).ok().flatten();
            let oldest_age = oldest.map(|t| now.as_millis().saturating_sub(t.as_millis()) as f64 / 1000.0);
            gauges.push(QueueGauge { name, depth: stats.depth(), in_flight: stats.in_flight, oldest_age });
        }
    }
    gauges.sort_by(|a, b| a.name.cmp(&b.name));
    gauges
}

/// Serves the admin endpoints on `addr` until `stop` turns true, answering for the current runtime, under
/// `limits` (the same cap, timeouts and accept back-off as a listener) and the `access` rules (refused at
/// once when they would open a non-loopback address to anyone).
pub async fn serve(
    addr: SocketAddr,
    limits: Limits,
    shared: Shared,
    current: watch::Receiver<Runtime>,
    draining: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    shared.access.check_bind(addr).map_err(|why| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why))?;
    let access = Arc::new(shared);
    let socket = tokio::net::TcpListener::bind(addr).await?;
    let bound = socket.local_addr()?;
    let cap = limits.max_connections;
    let task = tokio::spawn(accept_loop(
        socket,
        stop,
        move || cap,
        move |stream, slot| {
            let (current, draining, limits, access) =
                (current.clone(), draining.clone(), limits.clone(), access.clone());
            // An accepted TCP stream has a peer; the unspecified address stands in if the OS lost it already.
            let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            tokio::spawn(async move {
                // Held until the connection is closed.
                let _slot = slot;
                // Not drained: the admin port answers `/ready` (draining) until shutdown ends.
                connection::serve(stream, &limits, None, move |tracker| {
                    hyper::service::service_fn(move |req| {
                        let runtime = current.borrow().clone();
                        let draining = *draining.borrow();
                        let open = tracker.open(&req);
                        let access = access.clone();
                        async move {
                            let _open = open;
                            Ok::<_, std::convert::Infallible>(handle(runtime, draining, &access, peer, req).await)
                        }
                    })
                })
                .await;
            });
        },
    ));
    Ok((bound, task))
}
