//! Unhandled flow errors as HTTP answers: a status per error type and an RFC 9457 problem+json body.

use crate::runtime::error::matches;
use crate::runtime::FlowError;
use relais_dsl::ir::ErrorType;
use serde_json::json;

/// The status for an unhandled error: the first family in this table that the error belongs to.
const STATUS: &[(&str, u16)] = &[
    ("VALIDATION:ANY", 400),
    ("PAYLOAD:ANY", 400),
    ("HTTP:NOT_FOUND", 502),
    ("HTTP:TIMEOUT", 504),
    ("HTTP:CONNECTIVITY", 502),
    ("HTTP:ANY", 502),
    ("RETRY:EXHAUSTED", 502),
    ("ROUTING:TIMEOUT", 504),
    ("OBJECT_STORE:KEY_NOT_FOUND", 404),
    ("IDEMPOTENCY:DUPLICATE", 409),
    ("IDEMPOTENCY:IN_PROGRESS", 409),
    ("RUNTIME:SHUTTING_DOWN", 503),
    ("QUEUE:TIMEOUT", 503),
];

/// The HTTP status for an error type (500 when nothing more precise applies).
pub fn status_for(error_type: &ErrorType) -> u16 {
    STATUS
        .iter()
        .find(|(family, _)| ErrorType::parse(family).is_some_and(|f| matches(&f, error_type)))
        .map_or(500, |(_, status)| *status)
}

/// An RFC 9457 problem document.
pub fn problem(status: u16, title: &str, detail: &str, correlation_id: &str, error: Option<&FlowError>) -> Vec<u8> {
    let mut body = json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "correlation_id": correlation_id,
    });
    if let Some(e) = error {
        body["error_type"] = json!(e.error_type.to_string());
        body["flow"] = json!(e.flow);
        body["step"] = json!(e.step);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::error::error_type;

    #[test]
    fn error_families_map_to_statuses() {
        assert_eq!(status_for(&error_type("VALIDATION:INVALID")), 400);
        assert_eq!(status_for(&error_type("HTTP:TIMEOUT")), 504);
        assert_eq!(status_for(&error_type("HTTP:SERVICE_UNAVAILABLE")), 502);
        assert_eq!(status_for(&error_type("APP:BROKEN")), 500);
    }
}
