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

fn handle(runtime: &Runtime, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/health" => answer(StatusCode::OK, "application/json", "{\"status\":\"up\"}".into()),
        "/ready" if runtime.is_closing() => {
            answer(StatusCode::SERVICE_UNAVAILABLE, "application/json", "{\"status\":\"draining\"}".into())
        }
        "/ready" => answer(StatusCode::OK, "application/json", "{\"status\":\"ready\"}".into()),
        "/metrics" => {
            let mut text = runtime.metrics().render();
            text.push_str(&format!(
                "# HELP relais_async_errors_total Errors inside async scopes.\n# TYPE relais_async_errors_total counter\nrelais_async_errors_total {}\n",
                runtime.async_errors()
            ));
            answer(StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        _ => answer(StatusCode::NOT_FOUND, "application/json", "{\"status\":\"not found\"}".into()),
    }
}

/// Serves the admin endpoints on `addr` until `stop` turns true.
pub async fn serve(
    addr: SocketAddr,
    runtime: Runtime,
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
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = handle(&runtime, &req);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    Ok((bound, task))
}
