//! The `http.listener` source: one hyper server per listener config, routing requests to flows.
//!
//! The socket and its settings live as long as the listener config is unchanged; what a request is routed
//! to (the [`Table`]: runtime, routes, responses) is swapped by a hot reload. Each request takes the table
//! current when it arrives and finishes on it.
//!
//! A request is admitted before its body is read: a slot of the listener's `max_requests_in_flight`, then
//! a permit of its flow's `max_concurrency` (refused at once with 503). So at most that many bodies are
//! in memory at a time, and a refused client is not made to upload first. Connection limits, timeouts and
//! the accept loop are in [`connection`], [`accept`] and [`limits`]; body reading and parsing in [`body`];
//! the shutdown drain of the connections, and the 503 for requests still running at its deadline, in
//! [`drain`] and [`cut_short`].

use super::body;
use super::response::ResponsePlan;
use super::routes::{query_map, Routed, Router};
use crate::http_server::problem::problem;
use crate::http_server::{accept, connection, drain, limits};
use crate::runtime::{Event, FlowError, Payload, Runtime};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use serde_json::{Map, Value as Json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// The responses of one listener flow.
#[derive(Default)]
pub struct Responses {
    /// On success.
    pub ok: Option<ResponsePlan>,
    /// On an unhandled error.
    pub error: Option<ResponsePlan>,
    /// Whether problem bodies quote a partner's failure in full (`expose_upstream_errors`).
    pub expose_upstream_errors: bool,
    /// The route, as the access log and the metrics know it.
    pub route: Arc<RouteInfo>,
}

/// A route as the access log and the metrics name it: its template (never the path as sent) and its
/// request counters.
#[derive(Default)]
pub struct RouteInfo {
    /// The path template (`/orders/{id}`).
    pub template: String,
    /// Requests by status.
    pub counters: Arc<crate::metrics::RouteCounters>,
}

/// What the access log and the metrics need to know of a request, filled in while it is handled; and,
/// for a flow test (`keep_outcome`), what the flow itself returned.
#[derive(Default)]
pub(super) struct Seen {
    /// The route it took (`None`: none, a 404 or 405).
    route: Option<Arc<RouteInfo>>,
    /// Flow it ran.
    flow: Option<String>,
    /// Body bytes read.
    received: usize,
    /// Whether to keep the flow's result in `outcome` (a served request does not need it).
    pub keep_outcome: bool,
    /// The flow's result, when the request reached the flow and `keep_outcome` is set.
    pub outcome: Option<Result<Event, FlowError>>,
    /// The trace the request is in (its server span's, or for a request no route took the caller's), set
    /// once it is known: shared, so that the 503 of a request cut short by the drain deadline (whose
    /// handling still holds `Seen`) names it too. Empty when tracing is off.
    trace: Arc<std::sync::OnceLock<crate::trace::TraceContext>>,
}

impl Seen {
    /// The `trace_id` field of the request's log lines (see [`crate::trace::log_id`]).
    fn trace_id(&self) -> Option<tracing::field::DisplayValue<opentelemetry::trace::TraceId>> {
        crate::trace::log_id_of(self.trace.get())
    }
}

/// What requests on one socket are routed to, and under which limits: replaced as a whole by a hot reload
/// (only a new address needs a new socket).
pub struct Table {
    /// The listener config's name (`""`: the default listener).
    pub listener: String,
    /// Whether each request is logged on `relais::access` (`access_log`).
    pub access_log: bool,
    /// Counters of the requests no route took (404, 405).
    pub unmatched: Arc<crate::metrics::RouteCounters>,
    /// Largest accepted body.
    pub max_body_size: usize,
    /// Time allowed per request.
    pub request_timeout: Duration,
    /// Connection limits and timeouts, read for each new connection (the cap before each accept).
    pub limits: limits::Limits,
    /// Slots of `limits.max_requests_in_flight`, taken before a body is read.
    pub requests: Arc<Semaphore>,
    /// TLS, when the listener serves HTTPS; read for each new connection, so a reload can change it.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The runtime of the program the routes belong to.
    pub runtime: Runtime,
    /// Routes, matched by specificity.
    pub routes: Router,
    /// Responses, by flow.
    pub responses: crate::event::NameMap<Responses>,
}

pub use crate::source::{InFlight, Working};

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(v) = crate::http_headers::content_type_value(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

fn problem_response(status: u16, title: &str, detail: &str, cid: &str) -> Response<Full<Bytes>> {
    let mut r = respond(status, "application/problem+json", problem(status, title, detail, cid, None));
    if let Ok(v) = cid.parse() {
        r.headers_mut().insert(crate::http_headers::X_CORRELATION_ID, v);
    }
    r
}

/// `response`, telling the client the connection closes: what the answers given before or instead of
/// reading the whole body say (the rest of the body is discarded while the connection closes).
fn closing(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
    response
}

/// A 503 with `Retry-After: 1`, closing the connection.
fn unavailable(detail: &str, cid: &str) -> Response<Full<Bytes>> {
    let mut r = problem_response(503, "Service Unavailable", detail, cid);
    r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
    closing(r)
}

fn finish(
    mut response: Response<Full<Bytes>>,
    rendered: Result<super::response::Rendered, FlowError>,
    cid: &str,
    seen: &Seen,
) -> Response<Full<Bytes>> {
    match rendered {
        Ok(r) => {
            if let Some((body, media_type)) = r.body {
                response = respond(r.status, media_type, body);
            }
            *response.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (name, value) in r.headers {
                response.headers_mut().insert(name, value);
            }
            response
        }
        Err(e) => {
            tracing::error!(
                correlation_id = %cid,
                trace_id = seen.trace_id(),
                "the response could not be built: {}",
                e.description
            );
            problem_response(
                500,
                "Internal Server Error",
                &format!("the response could not be built: {}", e.description),
                cid,
            )
        }
    }
}

/// The request's correlation id: the client's `x-correlation-id` when it is 1 to 128 visible ASCII
/// characters, or a new one.
pub(super) fn correlation_id<B>(req: &Request<B>) -> Arc<str> {
    let given = req.headers().get(crate::http_headers::X_CORRELATION_ID).map(|v| v.as_bytes());
    match given.and_then(crate::event::given_correlation_id) {
        Some(id) => id.into(),
        None => {
            let id = crate::event::new_shared_correlation_id();
            if given.is_some() {
                tracing::debug!(correlation_id = %id, "the request's X-Correlation-ID is not 1 to 128 visible ASCII characters; replaced");
            }
            id
        }
    }
}

/// What the answer to a request cut short needs of it, kept before the request is handed over.
struct Asked {
    method: Method,
    uri: Uri,
    version: Version,
}

/// The answer to a request still running when the drain deadline passed (its work is dropped): a 503
/// saying the server is shutting down, closing an HTTP/1 connection (HTTP/2 has its GOAWAY already), and
/// an error log line naming the flow and the correlation id, so that no request is cut silently.
fn cut_short(
    table: &Table,
    asked: &Asked,
    cid: &str,
    trace: Option<&crate::trace::TraceContext>,
) -> Response<Full<Bytes>> {
    let flow = match table.routes.route(asked.method.as_str(), asked.uri.path()) {
        Routed::Found(route, _) => route.flow.as_str(),
        Routed::MethodNotAllowed(_) | Routed::NotFound => "",
    };
    tracing::error!(
        correlation_id = %cid,
        trace_id = crate::trace::log_id_of(trace),
        flow,
        "the drain deadline passed before the request finished: answered 503, its work is dropped"
    );
    let detail = "the server is shutting down and the request did not finish before the drain deadline";
    let mut r = problem_response(503, "Service Unavailable", detail, cid);
    r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
    // `Connection` is illegal in HTTP/2 (hyper strips it with a warning).
    if asked.version < Version::HTTP_2 {
        closing(r)
    } else {
        r
    }
}

/// What a flow reads of the request in `attributes`: method, path, path parameters, query and headers. Built
/// as one map (not serialised and copied as `json!` would), when the flow first reads it.
fn attributes(request: &hyper::http::request::Parts, params: &Map<String, Json>) -> Json {
    let mut attributes = Map::with_capacity(5);
    attributes.insert("method".into(), Json::String(request.method.as_str().to_string()));
    attributes.insert("path".into(), Json::String(request.uri.path().to_string()));
    attributes.insert("params".into(), Json::Object(params.clone()));
    attributes.insert("query".into(), Json::Object(query_map(request.uri.query())));
    attributes.insert("headers".into(), Json::Object(crate::http_headers::to_json(&request.headers)));
    Json::Object(attributes)
}

/// Answers one request on `table`: the route, the admission, the body, the flow, the response mapping. A
/// socket's connections call it with hyper's bodies, a flow test (`super::exchange`) with one it built.
pub(super) async fn handle<B>(
    table: Arc<Table>,
    req: Request<B>,
    cid: Arc<str>,
    seen: &mut Seen,
) -> Response<Full<Bytes>>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let runtime = &table.runtime;
    let (method, path) = (req.method().as_str(), req.uri().path());
    let routed = table.routes.route(method, path);
    if !matches!(routed, Routed::Found(..)) {
        // No server span for a request no route took: its log lines name the caller's trace, if any.
        let header = |name: &str| req.headers().get(name).map(|v| v.as_bytes());
        let caller =
            crate::trace::incoming(header(crate::trace::w3c::TRACEPARENT), header(crate::trace::w3c::TRACESTATE));
        if let Some(caller) = caller {
            let _ = seen.trace.set(caller);
        }
    }
    let (route, params) = match routed {
        Routed::Found(r, p) => {
            if let Some(responses) = table.responses.get(&r.flow) {
                seen.route = Some(responses.route.clone());
            }
            if table.access_log {
                seen.flow = Some(r.flow.clone());
            }
            (r, p)
        }
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
    // Admitted before the body is read (see the module comment). A refusal closes the connection; the
    // connection discards what the client still sends while it closes, so the client reads this answer
    // rather than a reset.
    // A free slot is taken at once; only a full listener arms a timer to wait for one.
    let _request_slot = match table.requests.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            let Ok(Ok(slot)) =
                tokio::time::timeout(table.request_timeout, table.requests.clone().acquire_owned()).await
            else {
                return unavailable("the listener has too many requests in flight", &cid);
            };
            slot
        }
    };
    let plan = runtime.program().flow(&route.flow).cloned();
    let permit = match plan.as_ref().and_then(|f| f.concurrency.clone()) {
        Some(semaphore) => match semaphore.try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return unavailable(&format!("flow `{}` is at capacity", route.flow), &cid),
        },
        None => None,
    };
    let (request, body) = req.into_parts();
    let body = match body::read(body, table.max_body_size, table.limits.body_read_timeout).await {
        Ok(b) => b,
        Err(body::Unread::TooLarge(max)) => {
            let detail = format!("the body is larger than {max} bytes");
            return closing(problem_response(413, "Content Too Large", &detail, &cid));
        }
        Err(body::Unread::TooSlow(limit)) => {
            let detail = format!("the body did not arrive within {limit:?}");
            return closing(problem_response(408, "Request Timeout", &detail, &cid));
        }
        Err(body::Unread::Broken(detail)) => return closing(problem_response(400, "Bad Request", &detail, &cid)),
    };
    let received = body.len();
    seen.received = received;
    // hyper's buffer itself: a flow answering or forwarding the body sends these bytes without a copy.
    let media_type = request.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let payload = Arc::new(Payload::bytes(body, media_type.unwrap_or("application/json")));
    if received > 0 {
        if let Err(e) = body::check(runtime, &payload, received).await {
            return problem_response(400, "Bad Request", &e.description, &cid);
        }
    }
    // One clock read for both the flow's deadline and the timer that enforces it.
    let deadline = std::time::Instant::now() + table.request_timeout;
    let mut span = server_span(&request, route);
    if let Some(span) = &span {
        let _ = seen.trace.set(span.context().clone());
    }
    // Built field by field: `Event::with_payload` would generate a correlation id (a call to the OS
    // generator and formatting) only for the request's to replace it.
    let event = Event {
        payload,
        // Built only if something reads them: most flows never look at the request's head.
        attributes: crate::event::Attributes::lazy(move || attributes(&request, &params)),
        vars: crate::event::no_vars(),
        correlation_id: cid.clone(),
        error: None,
        claims: crate::event::no_claims(),
        deadline: Some(deadline),
        carried: None,
        origin: None,
        trace: span.as_ref().map(|s| s.context().clone()),
    };
    let responses = table.responses.get(&route.flow);
    // The request's event, for an `error_response` to read (cheap: shared payload and attributes).
    let request_event = responses.and_then(|r| r.error.as_ref()).map(|_| event.clone());
    let run = async {
        match plan {
            Some(plan) => runtime.run_plan_admitted(plan, event, permit).await,
            None => runtime.run_flow_admitted(&route.flow, event, permit).await,
        }
    };
    let result = tokio::time::timeout_at(deadline.into(), run).await;
    let mut response = match result {
        Ok(Ok(done)) => {
            let bytes = done.payload.to_body();
            runtime.metrics().bytes(&route.flow, received, bytes.len());
            let response = respond(200, done.payload.media_type(), bytes);
            let response = match responses.and_then(|r| r.ok.as_ref()) {
                Some(plan) => finish(response, plan.render(runtime, &done, 200), &cid, seen),
                None => response,
            };
            if seen.keep_outcome {
                seen.outcome = Some(Ok(done));
            }
            response
        }
        Ok(Err(error)) => {
            if seen.keep_outcome {
                seen.outcome = Some(Err(error.clone()));
            }
            let expose = responses.is_some_and(|r| r.expose_upstream_errors);
            let (status, body) = crate::http_server::problem::for_error(&error, &cid, expose);
            let response = respond(status, "application/problem+json", body);
            match (responses.and_then(|r| r.error.as_ref()), request_event) {
                (Some(plan), Some(mut event)) => {
                    event.error = Some(Arc::new(error));
                    finish(response, plan.render_error(runtime, &event, status), &cid, seen)
                }
                _ => response,
            }
        }
        Err(_) => problem_response(504, "Gateway Timeout", "the flow did not answer in time", &cid),
    };
    if let Ok(v) = cid.parse() {
        response.headers_mut().insert(crate::http_headers::X_CORRELATION_ID, v);
    }
    if let Some(span) = span.take() {
        end_server_span(span, response.status().as_u16());
    }
    response
}

/// The server span of a request that reached its flow (`None` when tracing is off), under the span the
/// caller's `traceparent` names when it is well formed (a malformed one is ignored: a new trace). Named
/// by the route template, never by the path as sent.
fn server_span(request: &hyper::http::request::Parts, route: &super::routes::Route) -> Option<crate::trace::Span> {
    use crate::trace::{w3c, KeyValue};
    if !crate::trace::is_on() {
        return None;
    }
    let header = |name: &str| request.headers.get(name).map(|v| v.as_bytes());
    let parent = crate::trace::incoming(header(w3c::TRACEPARENT), header(w3c::TRACESTATE));
    let attributes = vec![
        KeyValue::new("http.request.method", request.method.as_str().to_string()),
        KeyValue::new("http.route", route.template.clone()),
        KeyValue::new("relais.flow", route.flow.clone()),
    ];
    let name = format!("{} {}", request.method, route.template);
    crate::trace::Span::start(name, crate::trace::SpanKind::Server, parent.as_ref(), attributes)
}

/// Ends a request's server span with the status answered (a 5xx marks it failed, as a server span is).
fn end_server_span(mut span: crate::trace::Span, status: u16) {
    span.set(crate::trace::KeyValue::new("http.response.status_code", i64::from(status)));
    if status >= 500 {
        span.fail(&status.to_string());
    }
    span.end();
}

/// The tracing target of access log lines, so that they can be routed on their own
/// (`RELAIS_LOG=info,relais::access=off`, or a collector filtering on the target).
pub const ACCESS_TARGET: &str = "relais::access";

/// Counts a request's answer for its route and, when the listener has `access_log: true`, logs it: method,
/// route template (`-` when no route took it), status, duration, body bytes in and out, correlation id
/// and, when the request is in a trace, its trace id.
fn account(
    table: &Table,
    asked: &Asked,
    seen: &Seen,
    response: &Response<Full<Bytes>>,
    started: std::time::Instant,
    cid: &str,
) {
    let status = response.status().as_u16();
    match &seen.route {
        Some(route) => route.counters.answered(status),
        None => table.unmatched.answered(status),
    }
    if !table.access_log {
        return;
    }
    let sent = hyper::body::Body::size_hint(response.body()).exact().unwrap_or(0);
    let route = seen.route.as_ref().map_or("-", |r| r.template.as_str());
    tracing::info!(
        target: ACCESS_TARGET,
        listener = %table.listener,
        method = %asked.method,
        route,
        flow = seen.flow.as_deref().unwrap_or("-"),
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        bytes_in = seen.received,
        bytes_out = sent,
        correlation_id = %cid,
        trace_id = seen.trace_id(),
        "{} {route} {status}",
        asked.method
    );
}

/// Time allowed for a TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one listener connection (plain or TLS) with the table current for each of its requests, under
/// its socket's `drain`.
pub(crate) async fn serve_connection<I>(
    io: I,
    table: watch::Receiver<Arc<Table>>,
    in_flight: InFlight,
    drain: drain::Drain,
    limits: &limits::Limits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection_drain = drain.clone();
    connection::serve(io, limits, Some(&connection_drain), move |tracker| {
        hyper::service::service_fn(move |req| {
            let (in_flight, drain) = (in_flight.clone(), drain.clone());
            // The table current when the request arrives: a reload during the request does not change the
            // program it runs on.
            let table = table.borrow().clone();
            let open = tracker.open(&req);
            async move {
                let _open = open;
                let _working = Working::start(&in_flight);
                let _request = drain.request();
                let cid = correlation_id(&req);
                let asked = Asked { method: req.method().clone(), uri: req.uri().clone(), version: req.version() };
                let started = std::time::Instant::now();
                let mut seen = Seen::default();
                let trace = seen.trace.clone();
                let response = tokio::select! {
                    // A request that finishes as the deadline passes keeps its own answer.
                    biased;
                    response = handle(table.clone(), req, cid.clone(), &mut seen) => response,
                    () = drain.deadline_passed() => {
                        drain.note_cut();
                        cut_short(&table, &asked, &cid, trace.get())
                    }
                };
                account(&table, &asked, &seen, &response, started, &cid);
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    })
    .await;
}

/// Serves a bound socket until `stop` turns true, routing each request with the table current at its
/// arrival; its connections follow `drain`.
pub fn serve(
    socket: tokio::net::TcpListener,
    table: watch::Receiver<Arc<Table>>,
    stop: watch::Receiver<bool>,
    in_flight: InFlight,
    drain: drain::Drain,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let cap = {
            let table = table.clone();
            move || table.borrow().limits.max_connections
        };
        accept::accept_loop(socket, stop, cap, move |stream, slot| {
            let _ = stream.set_nodelay(true);
            let (tls, limits) = {
                let current = table.borrow();
                (current.tls.clone(), current.limits.clone())
            };
            let (table, in_flight, drain) = (table.clone(), in_flight.clone(), drain.clone());
            tokio::spawn(async move {
                // Held until the connection is closed.
                let _slot = slot;
                match tls {
                    None => serve_connection(stream, table, in_flight, drain, &limits).await,
                    Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls_stream)) => serve_connection(tls_stream, table, in_flight, drain, &limits).await,
                        // A client speaking plain HTTP to the TLS port, a bad certificate on its side, a scan:
                        // the connection ends, the listener goes on.
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    },
                }
            });
        })
        .await;
    })
}
