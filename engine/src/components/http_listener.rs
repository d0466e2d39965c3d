//! `http.listener`: the config kind (socket settings) and the source (route and response).

use super::types::{DurationText, IntOrExpr, Method, TlsFiles};
use crate::registry::{ComponentSpec, Role};
use relais_dsl::codes;
use relais_dsl::syntax::{Node, Value};
use relais_dsl::{Diagnostic, Diagnostics, Span};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Socket settings shared by the flows listening on one port.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Interface to bind (default `127.0.0.1`; `0.0.0.0` for every interface).
    pub host: Option<String>,
    /// TCP port.
    #[schemars(range(min = 0, max = 65535))]
    pub port: u32,
    /// Serve HTTPS with these certificate files.
    pub tls: Option<TlsFiles>,
    /// Largest accepted request body in bytes (default 10 MiB); larger bodies get 413.
    #[schemars(range(min = 1))]
    pub max_body_size: Option<u64>,
    /// Time allowed to receive a request and produce its response (default 30s); then 504.
    pub request_timeout: Option<DurationText>,
    /// Idle time an HTTP/1.1 keep-alive connection may wait for its next request (default 60s); then it
    /// is closed.
    pub keep_alive: Option<DurationText>,
    /// Connections served at once (default 10000); at the cap new connections wait until one closes.
    #[schemars(range(min = 1))]
    pub max_connections: Option<u32>,
    /// Time for a request's headers to arrive (default 10s); then 408 and the connection closes.
    pub header_read_timeout: Option<DurationText>,
    /// Time for a whole request body to arrive (default 60s); then 408 and the connection closes.
    pub body_read_timeout: Option<DurationText>,
    /// Time an HTTP/2 connection may stay without an open stream (default 60s); then GOAWAY and close.
    pub http2_idle_timeout: Option<DurationText>,
    /// Streams one HTTP/2 connection may have open at once (default 100).
    #[schemars(range(min = 1))]
    pub http2_max_concurrent_streams: Option<u32>,
    /// Requests read or processed at once on this listener (default 256); one more waits up to
    /// `request_timeout` for a slot, then gets 503.
    #[schemars(range(min = 1))]
    pub max_requests_in_flight: Option<u32>,
}

/// What the listener answers when the flow completes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// Status code (default 200), fixed or `#[...]`.
    pub status: Option<IntOrExpr>,
    /// Extra headers; values may hold `#[...]`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body (default: the payload); may hold `#[...]`.
    pub body: Option<String>,
}

/// Parameters of an `http.listener` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerSource {
    /// Accepted method (any method when absent).
    pub method: Option<Method>,
    /// Path template: `/access/{accreditation_id}/{service}`.
    pub path: String,
    /// Response on success.
    pub response: Option<ResponseSpec>,
    /// Response when the flow fails with an unhandled error (default: RFC 9457 problem+json).
    pub error_response: Option<ResponseSpec>,
    /// Whether the problem+json `detail` quotes a partner's failure in full (its answer, its address). By
    /// default the caller is told only which config's call failed and how ("the upstream call to config
    /// `crm` failed with status 500"); secrets and sensitive values are taken out either way.
    pub expose_upstream_errors: Option<bool>,
}

/// Checks a path template: leading `/`, balanced `{name}` segments with unique identifier names, a
/// `{*rest}` remainder only as the last segment.
pub fn check_path_template(path: &str) -> Result<Vec<String>, String> {
    if !path.starts_with('/') {
        return Err("paths start with `/`".into());
    }
    let mut names = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.starts_with("{*") && i + 1 < segments.len() {
            return Err(format!("`{segment}` takes the rest of the path, so it must be the last segment"));
        }
        if segment.contains(['{', '}']) {
            let inner = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            let Some(inner) = inner.filter(|i| !i.contains(['{', '}'])) else {
                return Err(format!("segment `{segment}`: a parameter must be a whole segment `{{name}}`"));
            };
            let name = inner.strip_prefix('*').unwrap_or(inner);
            if !relais_dsl::lower::is_identifier(name) {
                return Err(format!("`{inner}` is not a valid parameter name"));
            }
            if names.iter().any(|n| n == name) {
                return Err(format!("parameter `{name}` appears twice"));
            }
            names.push(name.to_string());
        } else if segment.contains(char::is_whitespace) {
            return Err(format!("segment `{segment}` contains whitespace"));
        }
    }
    Ok(names)
}

fn check_source(params: &Node, diags: &mut Diagnostics) {
    if let Some(path) = params.get("path") {
        if let Value::Str(s) = &path.value {
            if let Err(why) = check_path_template(&s.text) {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_PATH_TEMPLATE,
                        path.span,
                        format!("invalid path template `{}`", s.text),
                    )
                    .label(why)
                    .help("write `/orders/{order_id}`: literal segments and whole-segment `{name}` parameters"),
                );
            }
        }
    }
}

/// The registry entries.
pub fn specs() -> Vec<ComponentSpec> {
    vec![
        ComponentSpec::new::<ListenerConfig>(
            "http.listener",
            Role::Config,
            "HTTP server socket shared by listener flows.",
        ),
        ComponentSpec::new::<ListenerSource>(
            "http.listener",
            Role::Source,
            "Starts the flow for each matching HTTP request.",
        )
        .with_config("http.listener", false)
        .with_check(check_source),
    ]
}

/// Used by route-conflict checks: the span of a source's path, if any.
pub fn path_span(params: &Node) -> Option<Span> {
    params.get("path").map(|n| n.span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_accept_whole_segment_parameters() {
        assert_eq!(
            check_path_template("/access/{id}/{service}").ok(),
            Some(vec!["id".to_string(), "service".to_string()])
        );
        assert!(check_path_template("/files/{*rest}").is_ok());
    }

    #[test]
    fn path_templates_reject_broken_braces_and_duplicates() {
        for bad in ["orders", "/a/{id", "/a/x{id}", "/a/{id}/{id}", "/a/{1x}", "/a b", "/a/{*rest}/b", "/a/{*rest}/"] {
            assert!(check_path_template(bad).is_err(), "{bad}");
        }
    }
}
