//! The local upstream of the HTTP benchmark's scenarios (c) and (e): answers a `GET` at once with a small
//! fixed JSON document, and a `POST` with the body it received (a partner answering the record it stored), so
//! that what those scenarios measure is the forwarding server, not the partner it calls.
//! Run: `http_upstream --port 9103` (the default port).

use http_body_util::{BodyExt, Limited};
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use relais_bench::http::{answer, port, serve};

/// Largest body echoed back, as relais's listener default (10 MiB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// The partner's answer: a quote of the size a price or availability lookup returns.
const QUOTE: &[u8] = br#"{"quote_id":"Q-2024-000123","session_id":"SWM-0728-F","category":"A","price":{"amount":125.0,"currency":"EUR"},"available":true}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port(9103)?;
    serve(port, |req| async move {
        if req.method() != Method::POST {
            return answer(StatusCode::OK, "application/json", Bytes::from_static(QUOTE));
        }
        match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => answer(StatusCode::OK, "application/json", body.to_bytes()),
            Err(_) => answer(StatusCode::BAD_REQUEST, "text/plain", Bytes::new()),
        }
    })
    .await?;
    Ok(())
}
