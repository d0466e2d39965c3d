//! Typed flow errors (`NAMESPACE:NAME`) with Mule's hierarchy, so handlers can catch a family of errors.

use relais_dsl::ir::ErrorType;
use serde_json::{json, Value as Json};
use std::fmt;
use std::sync::Arc;

/// Explicit intermediate parents; every other `NS:NAME` has the parent `NS:ANY`, and `NS:ANY` has `ANY`.
const PARENTS: &[(&str, &str)] = &[
    ("HTTP:BAD_REQUEST", "HTTP:CLIENT_ERROR"),
    ("HTTP:UNAUTHORIZED", "HTTP:CLIENT_ERROR"),
    ("HTTP:FORBIDDEN", "HTTP:CLIENT_ERROR"),
    ("HTTP:NOT_FOUND", "HTTP:CLIENT_ERROR"),
    ("HTTP:METHOD_NOT_ALLOWED", "HTTP:CLIENT_ERROR"),
    ("HTTP:CONFLICT", "HTTP:CLIENT_ERROR"),
    ("HTTP:TOO_MANY_REQUESTS", "HTTP:CLIENT_ERROR"),
    ("HTTP:INTERNAL_SERVER_ERROR", "HTTP:SERVER_ERROR"),
    ("HTTP:BAD_GATEWAY", "HTTP:SERVER_ERROR"),
    ("HTTP:SERVICE_UNAVAILABLE", "HTTP:SERVER_ERROR"),
    ("HTTP:GATEWAY_TIMEOUT", "HTTP:SERVER_ERROR"),
    ("EXPRESSION:LIMIT", "EXPRESSION:ANY"),
    ("EXPRESSION:RUNTIME", "EXPRESSION:ANY"),
];

/// Builds an error type from its text; texts used here are known to be well formed.
pub fn error_type(text: &str) -> ErrorType {
    ErrorType::parse(text).unwrap_or_else(|| ErrorType { namespace: "APP".into(), name: "INVALID_ERROR_TYPE".into() })
}

/// The parent of an error type (`ANY` has none).
pub fn parent(t: &ErrorType) -> Option<ErrorType> {
    if t.namespace.is_empty() {
        return None;
    }
    let text = t.to_string();
    if let Some((_, p)) = PARENTS.iter().find(|(c, _)| *c == text) {
        return Some(error_type(p));
    }
    if t.name == "ANY" {
        return Some(ErrorType { namespace: String::new(), name: "ANY".into() });
    }
    Some(ErrorType { namespace: t.namespace.clone(), name: "ANY".into() })
}

/// Whether a handler for `handler` catches an error of type `error` (itself or one of its ancestors).
pub fn matches(handler: &ErrorType, error: &ErrorType) -> bool {
    let mut current = Some(error.clone());
    while let Some(t) = current {
        if &t == handler {
            return true;
        }
        current = parent(&t);
    }
    false
}

/// The error types a retry cannot cure ([`FlowError::is_permanent`]): `SENSITIVE:LEAK` (the partner
/// guard, `scrub::guard`) and `CONTRACT:VIOLATION` (an `http.request` body its contract refuses).
pub const NOT_RETRIED: &[&str] = &["SENSITIVE:LEAK", "CONTRACT:VIOLATION"];

/// An error travelling through a flow: what, why, where, and what caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowError {
    /// The typed kind.
    pub error_type: ErrorType,
    /// Human description.
    pub description: String,
    /// The error this one wraps (the last attempt's error for `RETRY:EXHAUSTED`).
    pub cause: Option<Box<FlowError>>,
    /// Flow where it was raised.
    pub flow: String,
    /// Step id or kind where it was raised.
    pub step: Option<String>,
    /// `file:line:column` of that step.
    pub location: Option<String>,
    /// Errors of the routes of a router (`scatter_gather`), by route number.
    pub children: Vec<(usize, FlowError)>,
    /// Set when `description` quotes a partner (its answer, its address): what an HTTP caller is told
    /// instead, unless its flow exposes upstream errors (`http_server::problem`). Handlers and logs see the
    /// description.
    pub upstream_summary: Option<String>,
    /// The outbound config (`http.client`) whose call raised it: what the per-system metrics count an
    /// `until_successful` retry against.
    pub upstream_config: Option<Arc<str>>,
}

impl FlowError {
    /// A new error of a type, not yet placed in a flow.
    pub fn new(kind: &str, description: impl Into<String>) -> Self {
        FlowError {
            error_type: error_type(kind),
            description: description.into(),
            cause: None,
            flow: String::new(),
            step: None,
            location: None,
            children: Vec::new(),
            upstream_summary: None,
            upstream_config: None,
        }
    }

    /// The same error with its type replaced by an already parsed one.
    pub fn typed(error_type: ErrorType, description: impl Into<String>) -> Self {
        FlowError { error_type, ..FlowError::new("ANY", description) }
    }

    /// Records where the error happened, unless it already knows (the innermost step wins).
    pub fn at(mut self, flow: &str, step: &str, location: &str) -> Self {
        if self.step.is_none() {
            self.flow = flow.to_string();
            self.step = Some(step.to_string());
            self.location = Some(location.to_string());
        }
        self
    }

    /// Marks the error as made from a partner's answer or address, with what a caller may be told instead.
    pub fn from_upstream(mut self, summary: impl Into<String>) -> Self {
        self.upstream_summary = Some(summary.into());
        self
    }

    /// Whether trying the same event through the same steps again cannot succeed: a call refused by the
    /// partner guard or by its contract is decided from the event alone. `until_successful` passes such
    /// an error on at once instead of retrying it. Named by type (see [`NOT_RETRIED`]) rather than
    /// flagged, so that an error raised with `raise_error` of one of these types is treated alike.
    pub fn is_permanent(&self) -> bool {
        let t = &self.error_type;
        NOT_RETRIED.iter().any(|n| n.split_once(':') == Some((t.namespace.as_str(), t.name.as_str())))
    }

    /// Marks the error as raised by a call through the outbound config `config`.
    pub fn through(mut self, config: &Arc<str>) -> Self {
        self.upstream_config = Some(config.clone());
        self
    }

    /// The outbound config whose call raised this error or, for a wrapping error (`RETRY:EXHAUSTED`), its
    /// cause.
    pub fn outbound_config(&self) -> Option<&str> {
        let mut at = Some(self);
        while let Some(e) = at {
            if let Some(config) = &e.upstream_config {
                return Some(config);
            }
            at = e.cause.as_deref();
        }
        None
    }

    /// Wraps a cause.
    pub fn caused_by(mut self, cause: FlowError) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// The `error` value scripts in handlers see.
    pub fn to_json(&self) -> Json {
        json!({
            "type": self.error_type.to_string(),
            "namespace": self.error_type.namespace,
            "name": self.error_type.name,
            "description": self.description,
            "cause": self.cause.as_ref().map(|c| c.to_json()),
            "flow": self.flow,
            "step": self.step,
            "location": self.location,
            "children": self.children.iter().map(|(i, e)| json!({ "route": i, "error": e.to_json() })).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.description)?;
        if let Some(location) = &self.location {
            write!(f, " (flow `{}`, step `{}` at {location})", self.flow, self.step.as_deref().unwrap_or("?"))?;
        }
        Ok(())
    }
}

impl std::error::Error for FlowError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_catch_the_error_type_and_its_ancestors() {
        let not_found = error_type("HTTP:NOT_FOUND");
        for handler in ["HTTP:NOT_FOUND", "HTTP:CLIENT_ERROR", "HTTP:ANY", "ANY"] {
            assert!(matches(&error_type(handler), &not_found), "{handler}");
        }
        for handler in ["HTTP:SERVER_ERROR", "HTTP:TIMEOUT", "APP:ANY"] {
            assert!(!matches(&error_type(handler), &not_found), "{handler}");
        }
        assert!(matches(&error_type("APP:ANY"), &error_type("APP:INVALID_ORDER")));
    }
}
