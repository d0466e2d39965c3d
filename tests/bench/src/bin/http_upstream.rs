//! The local upstream of the HTTP benchmark's scenario (c): answers every request at once with a small fixed
//! JSON document, so that what scenario (c) measures is the forwarding server, not the partner it calls.
//! Run: `http_upstream --port 9103` (the default port).

use hyper::body::Bytes;
use hyper::StatusCode;
use relais_bench::http::{answer, port, serve};

/// The partner's answer: a quote of the size a price or availability lookup returns.
const QUOTE: &[u8] = br#"{"quote_id":"Q-2024-000123","session_id":"SWM-0728-F","category":"A","price":{"amount":125.0,"currency":"EUR"},"available":true}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = port(9103)?;
    serve(port, |_req| async { answer(StatusCode::OK, "application/json", Bytes::from_static(QUOTE)) }).await?;
    Ok(())
}
