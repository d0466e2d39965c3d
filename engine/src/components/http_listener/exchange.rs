//! One request answered without a socket: what a flow test (`request:` in a `*.test.yaml` case) sends
//! through its flow's listener. The request goes through the same table and the same `serve::handle` a
//! socket's connections use (route matching, admission, body reading and checking, the `attributes` a flow
//! reads, `response` and `error_response`, problem+json for unhandled errors), so what a test asserts is
//! what a caller gets; only the socket and the connection's timers are left out.

use super::serve::{self, Seen};
use super::source::tables;
use super::ListenerSource;
use crate::runtime::{Event, FlowError, Runtime};
use crate::source::{Source, SourceUse};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::sync::Arc;

/// A request to send: what a caller would put on the wire.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// The method (`POST`).
    pub method: String,
    /// The request target: the path with its query, as sent (`/orders/A%201?expand=true`).
    pub target: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

/// What the caller got, and what the flow returned when the request reached it.
#[derive(Debug)]
pub struct Exchanged {
    /// The status.
    pub status: u16,
    /// The headers, names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The flow's own result: `None` when the listener answered without running it (404, 405, 413, a
    /// body that is not what its media type says, a timeout).
    pub outcome: Option<Result<Event, FlowError>>,
}

/// Sends `request` to the listener flow `flow` of `runtime`'s program listens on, routed among every flow of
/// the same listener config. An error when `flow` has no `http.listener` source or the request cannot be
/// built (a header that is not one).
pub async fn exchange(runtime: &Runtime, flow: &str, request: TestRequest) -> Result<Exchanged, String> {
    let program = runtime.program();
    let is_listener = |kind: &str| kind == ListenerSource::NAME;
    let Some(decl) = program.sources.iter().find(|d| d.flow == flow && is_listener(&d.kind)) else {
        return Err(format!("flow `{flow}` has no `http.listener` source"));
    };
    let mut uses = Vec::new();
    for d in program.sources.iter().filter(|d| is_listener(&d.kind) && d.config_name == decl.config_name) {
        let settings = d
            .settings
            .clone()
            .downcast::<ListenerSource>()
            .map_err(|_| format!("flow `{}`: settings of another type than `{}`", d.flow, ListenerSource::NAME))?;
        uses.push(SourceUse { flow: d.flow.clone(), settings, config_name: d.config_name.clone() });
    }
    let name = decl.config_name.clone().unwrap_or_default();
    let Some((_, table)) = tables(uses, runtime)?.remove(&name) else {
        return Err(format!("flow `{flow}`: listener `{name}` has no table"));
    };
    let mut builder = hyper::Request::builder().method(request.method.as_str()).uri(request.target.as_str());
    for (header, value) in &request.headers {
        builder = builder.header(header.as_str(), value.as_str());
    }
    let req = builder.body(Full::new(request.body)).map_err(|e| format!("the request cannot be built: {e}"))?;
    let cid = serve::correlation_id(&req);
    let mut seen = Seen::default();
    seen.keep_outcome = true;
    let response = serve::handle(Arc::new(table), req, cid, &mut seen).await;
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    Ok(Exchanged { status: parts.status.as_u16(), headers, body, outcome: seen.outcome })
}
