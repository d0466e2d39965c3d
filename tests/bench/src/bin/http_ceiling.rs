//! The ceiling of the HTTP benchmark (`tests/bench/http.sh`): a minimal hand-written hyper server doing the
//! work of the relais flows in `tests/bench/flows/http/`, on the same crates and the same accept loop, so
//! the ratio between the two is what relais's routing, events, flows and scripts cost on top of HTTP.
//!
//! - `GET /a`: a fixed JSON body (flow `bench_respond`);
//! - `POST /b`: the posted ticketing order parsed, mapped to a CRM contact in plain Rust, the contact
//!   answered as JSON (flow `bench_mapping`, which runs the Rhai mapping);
//! - `GET /c`: `GET {upstream}/quote` through a pooled keep-alive client, its body answered (flow
//!   `bench_forward`, an `http.request` step);
//! - `POST /d`: the posted 2.6 KB order mapped with a loop, a helper, a sort and a sum
//!   ([`relais_bench::order_to_crm`]; flow `bench_mapping_loop`, the Rhai mapping `order_to_crm.rhai`);
//! - `POST /e`: the posted body sent as is to `POST {upstream}/orders`, the upstream's body answered (flow
//!   `bench_forward_body`);
//! - `POST /f`: the posted order parsed as JSON (a malformed body is a 400) and answered back (flow
//!   `bench_echo`, whose one logger step logs at trace level, below the daemon's level).
//!
//! Run: `http_ceiling --port 9101 --upstream http://127.0.0.1:9103` (the defaults).

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use relais_bench::http::{answer, flag, port, serve};
use std::sync::Arc;

/// The fixed answer of `/a`: the same document flow `bench_respond` sets as its payload.
const FIXED: &[u8] = br#"{"status":"ok","service":"relais-bench","version":1}"#;

/// Largest accepted body, as relais's listener default (10 MiB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// What every request shares: the upstream client and address.
struct State {
    client: Client<HttpConnector, Full<Bytes>>,
    quote: hyper::Uri,
    orders: hyper::Uri,
}

/// The request's body, at most [`MAX_BODY`] bytes.
async fn body(req: Request<Incoming>) -> Option<Bytes> {
    Limited::new(req.into_body(), MAX_BODY).collect().await.ok().map(|b| b.to_bytes())
}

/// The posted JSON document mapped by `map` and answered as JSON.
async fn mapped(req: Request<Incoming>, map: fn(&serde_json::Value) -> serde_json::Value) -> Response<Full<Bytes>> {
    let Some(body) = body(req).await else {
        return problem(StatusCode::BAD_REQUEST);
    };
    let Ok(order) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return problem(StatusCode::BAD_REQUEST);
    };
    match serde_json::to_vec(&map(&order)) {
        Ok(json) => answer(StatusCode::OK, "application/json", Bytes::from(json)),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// `request` sent to the upstream, its body answered.
async fn forward(state: &State, request: Request<Full<Bytes>>) -> Response<Full<Bytes>> {
    let Ok(response) = state.client.request(request).await else {
        return problem(StatusCode::BAD_GATEWAY);
    };
    match Limited::new(response.into_body(), MAX_BODY).collect().await {
        Ok(body) => answer(StatusCode::OK, "application/json", body.to_bytes()),
        Err(_) => problem(StatusCode::BAD_GATEWAY),
    }
}

fn problem(status: StatusCode) -> Response<Full<Bytes>> {
    answer(status, "text/plain", Bytes::new())
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/a") => answer(StatusCode::OK, "application/json", Bytes::from_static(FIXED)),
        (&Method::POST, "/b") => mapped(req, relais_bench::order_to_contact).await,
        (&Method::GET, "/c") => match Request::get(state.quote.clone()).body(Full::new(Bytes::new())) {
            Ok(request) => forward(&state, request).await,
            Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR),
        },
        (&Method::POST, "/d") => mapped(req, relais_bench::order_to_crm).await,
        (&Method::POST, "/e") => {
            let Some(body) = body(req).await else {
                return problem(StatusCode::BAD_REQUEST);
            };
            let request = Request::post(state.orders.clone())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body));
            match request {
                Ok(request) => forward(&state, request).await,
                Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        (&Method::POST, "/f") => {
            let Some(body) = body(req).await else {
                return problem(StatusCode::BAD_REQUEST);
            };
            match serde_json::from_slice::<serde_json::Value>(&body).and_then(|v| serde_json::to_vec(&v)) {
                Ok(json) => answer(StatusCode::OK, "application/json", Bytes::from(json)),
                Err(_) => problem(StatusCode::BAD_REQUEST),
            }
        }
        _ => problem(StatusCode::NOT_FOUND),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port(9101)?;
    let upstream = flag("--upstream").unwrap_or_else(|| "http://127.0.0.1:9103".into());
    let quote = format!("{}/quote", upstream.trim_end_matches('/')).parse()?;
    let orders = format!("{}/orders", upstream.trim_end_matches('/')).parse()?;
    // The client relais's `http.request` builds: no Nagle delay, up to 32 idle keep-alive connections.
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(32).build(connector);
    let state = Arc::new(State { client, quote, orders });
    serve(port, move |req| handle(state.clone(), req)).await?;
    Ok(())
}
