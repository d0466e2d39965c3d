//! Pieces shared by the HTTP benchmark's hand-written servers (`http_ceiling`, `http_upstream`): the accept
//! loop relais's own listener runs (one task per connection, hyper-util's auto builder for HTTP/1.1 and
//! HTTP/2), so that the servers differ from relais only in what they do per request.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;

/// The value following `name` on the command line (`--port 9101`), if any.
pub fn flag(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next();
        }
    }
    None
}

/// The port given with `--port`, or `default`; a value that is not a port is an error rather than a silent
/// default, as the benchmark script would then load the wrong server.
pub fn port(default: u16) -> Result<u16, String> {
    match flag("--port") {
        Some(p) => p.parse().map_err(|e| format!("--port `{p}`: {e}")),
        None => Ok(default),
    }
}

/// A response with a body and its media type.
pub fn answer(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}

/// Serves `handle` on 127.0.0.1:`port` until the process is killed, the way relais's listener does.
pub async fn serve<H, F>(port: u16, handle: H) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://{}", socket.local_addr()?);
    loop {
        // An accept error (too many open files, say) concerns one connection; keep serving the others.
        let Ok((stream, _)) = socket.accept().await else { continue };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = handle(req);
                async move { Ok::<_, Infallible>(response.await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
        });
    }
}
