//! The admin port: `/health` (the process answers), `/ready` (sources started and not shutting down),
//! `/metrics` (Prometheus text).

use crate::runtime::Runtime;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use tokio::sync::watch;

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    r
}

fn handle(runtime: &Runtime, draining: bool, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/health" => answer(StatusCode::OK, "application/json", "{\"status\":\"up\"}".into()),
        "/ready" if draining || runtime.is_closing() => {
            answer(StatusCode::SERVICE_UNAVAILABLE, "application/json", "{\"status\":\"draining\"}".into())
        }
        "/ready" => answer(StatusCode::OK, "application/json", "{\"status\":\"ready\"}".into()),
        "/metrics" => answer(StatusCode::OK, "text/plain; version=0.0.4", metrics(runtime)),
        _ => answer(StatusCode::NOT_FOUND, "application/json", "{\"status\":\"not found\"}".into()),
    }
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
    for queue in state.queues() {
        let _ = writeln!(text, "relais_queue_depth{{queue=\"{}\"}} {}", queue.name(), queue.depth());
    }
    text.push_str("# HELP relais_queue_in_flight Messages being processed.\n# TYPE relais_queue_in_flight gauge\n");
    for queue in state.queues() {
        let _ = writeln!(text, "relais_queue_in_flight{{queue=\"{}\"}} {}", queue.name(), queue.in_flight());
    }
    text
}

/// Serves the admin endpoints on `addr` until `stop` turns true, answering for the current runtime.
pub async fn serve(
    addr: SocketAddr,
    current: watch::Receiver<Runtime>,
    draining: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let socket = tokio::net::TcpListener::bind(addr).await?;
    let bound = socket.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = socket.accept() => a,
                _ = stop.changed() => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let (current, draining) = (current.clone(), draining.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let runtime = current.borrow().clone();
                    let response = handle(&runtime, *draining.borrow(), &req);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    Ok((bound, task))
}
