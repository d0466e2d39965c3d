//! `http.listener`: the config kind (socket settings) and the source (route and response); [`source`]
//! plans one server socket per listener config.

mod body;
mod exchange;
mod response;
pub mod routes;
mod serve;
mod source;

pub use exchange::{exchange, Exchanged, TestRequest};
pub use source::serve_stream;

use super::types::{DurationText, IntOrExpr, Method, TlsFiles};
use crate::component::{Config, ConfigContext, ConfigRef, Resource};
use crate::http_server::limits::Limits;
use crate::runtime::Runtime;
use crate::source::{Planned, Source, SourceUse};
use relais_dsl::codes;
use relais_dsl::syntax::Node;
use relais_dsl::{Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Socket settings shared by the flows listening on one port. Defaults are the README's ("Limits and what
/// a caller gets"), chosen in line with nginx and Envoy's edge recommendations.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Interface to bind (`0.0.0.0` for every interface).
    #[serde(default = "defaults::host")]
    pub host: String,
    /// TCP port (0: any free port).
    #[schemars(range(min = 0, max = 65535))]
    pub port: u32,
    /// Serve HTTPS with these certificate files.
    pub tls: Option<TlsFiles>,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[serde(default = "defaults::max_body_size")]
    #[schemars(range(min = 1))]
    pub max_body_size: u64,
    /// Time allowed to receive a request and produce its response; then 504.
    #[serde(default = "defaults::request_timeout")]
    pub request_timeout: DurationText,
    /// Idle time an HTTP/1.1 keep-alive connection may wait for its next request; then it is closed.
    #[serde(default = "defaults::keep_alive")]
    pub keep_alive: DurationText,
    /// Connections served at once; at the cap new connections wait until one closes.
    #[serde(default = "defaults::max_connections")]
    #[schemars(range(min = 1))]
    pub max_connections: u32,
    /// Time for a request's headers to arrive; then 408 and the connection closes.
    #[serde(default = "defaults::header_read_timeout")]
    pub header_read_timeout: DurationText,
    /// Time for a whole request body to arrive; then 408 and the connection closes.
    #[serde(default = "defaults::body_read_timeout")]
    pub body_read_timeout: DurationText,
    /// Time an HTTP/2 connection may stay without an open stream; then GOAWAY and close.
    #[serde(default = "defaults::http2_idle_timeout")]
    pub http2_idle_timeout: DurationText,
    /// Streams one HTTP/2 connection may have open at once.
    #[serde(default = "defaults::http2_max_concurrent_streams")]
    #[schemars(range(min = 1))]
    pub http2_max_concurrent_streams: u32,
    /// Requests read or processed at once on this listener; one more waits up to `request_timeout` for a
    /// slot, then gets 503.
    #[serde(default = "defaults::max_requests_in_flight")]
    #[schemars(range(min = 1))]
    pub max_requests_in_flight: u32,
    /// Log one line per request (method, route template, status, duration, bytes in and out, correlation
    /// id) on the tracing target `relais::access`.
    #[serde(default)]
    pub access_log: bool,
}

/// The defaults of [`ListenerConfig`], each said once.
mod defaults {
    use super::DurationText;

    pub fn host() -> String {
        "127.0.0.1".into()
    }
    pub fn max_body_size() -> u64 {
        10 * 1024 * 1024
    }
    pub fn request_timeout() -> DurationText {
        DurationText::secs(30)
    }
    pub fn keep_alive() -> DurationText {
        DurationText::secs(60)
    }
    /// Far above what one engine instance serves usefully, and low enough that the raised descriptor limit
    /// (see [`crate::daemon::descriptors`]) is never reached first.
    pub fn max_connections() -> u32 {
        10_000
    }
    /// Any real client sends its headers in well under a second.
    pub fn header_read_timeout() -> DurationText {
        DurationText::secs(10)
    }
    /// A 10 MiB body at 175 KB/s.
    pub fn body_read_timeout() -> DurationText {
        DurationText::secs(60)
    }
    /// The same as HTTP/1.1 keep-alive, as nginx does.
    pub fn http2_idle_timeout() -> DurationText {
        DurationText::secs(60)
    }
    /// RFC 9113's recommended minimum, Envoy's edge value.
    pub fn http2_max_concurrent_streams() -> u32 {
        100
    }
    /// With the default 10 MiB body limit, at most 2.5 GiB of bodies.
    pub fn max_requests_in_flight() -> u32 {
        256
    }
}

impl ListenerConfig {
    /// The listener flows use when their source names no config: port 8080, every other setting default.
    pub fn default_listener() -> ListenerConfig {
        ListenerConfig {
            host: defaults::host(),
            port: 8080,
            tls: None,
            max_body_size: defaults::max_body_size(),
            request_timeout: defaults::request_timeout(),
            keep_alive: defaults::keep_alive(),
            max_connections: defaults::max_connections(),
            header_read_timeout: defaults::header_read_timeout(),
            body_read_timeout: defaults::body_read_timeout(),
            http2_idle_timeout: defaults::http2_idle_timeout(),
            http2_max_concurrent_streams: defaults::http2_max_concurrent_streams(),
            max_requests_in_flight: defaults::max_requests_in_flight(),
            access_log: false,
        }
    }
}

impl ListenerConfig {
    /// The connection limits of the listener's socket.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: (self.max_connections as usize).max(1),
            header_read_timeout: self.header_read_timeout.0,
            body_read_timeout: self.body_read_timeout.0,
            keep_alive: self.keep_alive.0,
            http2_idle_timeout: self.http2_idle_timeout.0,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            max_requests_in_flight: (self.max_requests_in_flight as usize).max(1),
        }
    }
}

/// The settings themselves: the listener's socket is the source's to open, at start.
impl Resource for ListenerConfig {}

impl Config for ListenerConfig {
    const NAME: &'static str = "http.listener";
    const SUMMARY: &'static str = "HTTP server socket shared by listener flows.";

    fn build(&self, _: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(self.clone()))
    }
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
    #[serde(default)]
    pub expose_upstream_errors: bool,
}

/// Why a path template is refused: what to say, where inside the template (a byte range) and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// What is wrong (the diagnostic's label).
    pub why: String,
    /// The bytes of the template at fault.
    pub at: std::ops::Range<usize>,
    /// The fix.
    pub help: String,
}

impl PathError {
    fn new(why: impl Into<String>, at: std::ops::Range<usize>, help: impl Into<String>) -> Self {
        PathError { why: why.into(), at, help: help.into() }
    }
}

const PATH_HELP: &str = "write `/orders/{order_id}`: literal segments and whole-segment `{name}` parameters";

/// Checks a path template: leading `/`, balanced `{name}` segments with unique identifier names, a
/// `{*rest}` remainder only as the last segment, no Express-style `:name` segment (taken literally, it
/// would match only the text `:name`).
pub fn check_path_template(path: &str) -> Result<Vec<String>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::new("paths start with `/`", 0..path.len().min(1), format!("write `/{path}`")));
    }
    let mut names = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut start = 1;
    for (i, segment) in segments.iter().enumerate() {
        let whole = start..start + segment.len();
        let at = start;
        start += segment.len() + 1;
        if segment.starts_with("{*") && i + 1 < segments.len() {
            return Err(PathError::new(
                format!("`{segment}` takes the rest of the path, so it must be the last segment"),
                whole,
                PATH_HELP,
            ));
        }
        if let Some(name) = segment.strip_prefix(':').filter(|n| relais_dsl::lower::is_identifier(n)) {
            return Err(PathError::new(
                format!("`{segment}` is Express syntax: here it matches only the literal text `{segment}`"),
                whole,
                format!("parameters are written in braces: `{{{name}}}`, read as `attributes.params.{name}`"),
            ));
        }
        if segment.contains(['{', '}']) {
            let inner = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            let Some(inner) = inner.filter(|i| !i.contains(['{', '}'])) else {
                return Err(brace_error(segment, at));
            };
            let name = inner.strip_prefix('*').unwrap_or(inner);
            if !relais_dsl::lower::is_identifier(name) {
                return Err(PathError::new(format!("`{inner}` is not a valid parameter name"), whole, PATH_HELP));
            }
            if names.iter().any(|n| n == name) {
                return Err(PathError::new(
                    format!("parameter `{name}` appears twice"),
                    whole,
                    "give each parameter its own name",
                ));
            }
            names.push(name.to_string());
        } else if segment.contains(char::is_whitespace) {
            return Err(PathError::new(format!("segment `{segment}` contains whitespace"), whole, PATH_HELP));
        }
    }
    Ok(names)
}

/// A segment whose braces do not make one whole `{name}`: the label goes on the brace at fault (an unclosed
/// `{`, a stray `}`), or on the whole segment when the braces balance but do not span it (`x{id}`).
fn brace_error(segment: &str, at: usize) -> PathError {
    let mut open = None;
    for (i, c) in segment.char_indices() {
        match c {
            '{' if open.is_none() => open = Some(i),
            '{' => break,
            '}' if open.is_none() => {
                return PathError::new("this `}` closes no `{`", at + i..at + i + 1, PATH_HELP);
            }
            '}' => open = None,
            _ => {}
        }
    }
    match open {
        Some(i) if !segment[i..].contains('}') => {
            let name = &segment[i + 1..];
            let fix = if relais_dsl::lower::is_identifier(name) {
                format!("close it: `{{{name}}}`")
            } else {
                "close it with `}` before the next `/`".to_string()
            };
            PathError::new("this `{` is never closed in its segment", at + i..at + i + 1, fix)
        }
        _ => PathError::new(
            format!("segment `{segment}`: a parameter must be a whole segment `{{name}}`"),
            at..at + segment.len(),
            PATH_HELP,
        ),
    }
}

impl Source for ListenerSource {
    const NAME: &'static str = "http.listener";
    const SUMMARY: &'static str = "Starts the flow for each matching HTTP request.";
    const CONFIG: Option<ConfigRef> = Some(ConfigRef { kind: "http.listener", required: false });

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        if let Err(error) = check_path_template(&self.path) {
            let span = at.get("path").map_or(at.span, |n| n.sub_span(error.at.clone()));
            diags.push(
                Diagnostic::error(codes::BAD_PATH_TEMPLATE, span, format!("invalid path template `{}`", self.path))
                    .label(error.why)
                    .help(error.help),
            );
        }
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        source::plan(uses, runtime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_config_sets_its_limits_and_the_rest_keep_the_defaults_of_its_type() {
        let config: ListenerConfig = serde_json::from_value(serde_json::json!({
            "port": 0, "max_connections": 4, "header_read_timeout": "1s", "http2_max_concurrent_streams": 8
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let limits = config.limits();
        assert_eq!(limits.max_connections, 4);
        assert_eq!(limits.header_read_timeout, std::time::Duration::from_secs(1));
        assert_eq!(limits.http2_max_concurrent_streams, 8);
        let defaults = ListenerConfig::default_listener().limits();
        assert_eq!(limits.body_read_timeout, defaults.body_read_timeout);
        assert_eq!(limits.keep_alive, defaults.keep_alive);
        assert_eq!(limits.http2_idle_timeout, defaults.http2_idle_timeout);
        assert_eq!(limits.max_requests_in_flight, defaults.max_requests_in_flight);
        assert_eq!((defaults.max_connections, defaults.max_requests_in_flight), (10_000, 256));
        assert_eq!(defaults.body_read_timeout, std::time::Duration::from_secs(60));
    }

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

    #[test]
    fn an_unclosed_brace_is_located_on_the_brace_and_an_express_segment_names_the_braces() {
        let unclosed = check_path_template("/orders/{id/items").err();
        assert_eq!(unclosed.as_ref().map(|e| e.at.clone()), Some(8..9));
        assert_eq!(unclosed.map(|e| e.help), Some("close it: `{id}`".to_string()));
        let express = check_path_template("/orders/:id").err();
        assert_eq!(express.as_ref().map(|e| e.at.clone()), Some(8..11));
        assert!(express.is_some_and(|e| e.help.contains("`{id}`")));
    }
}
