//! Unhandled flow errors as HTTP answers: a status per error type and an RFC 9457 problem+json body.
//!
//! Every problem body is built here, and every text in it is scrubbed of the secrets known before it is
//! serialised: the only way to make one ([`problem`], [`for_error`]) goes through [`Scrub`]. An error made
//! from a partner's answer (its body, its address) is summarised for the caller ("the upstream call to
//! config `crm` failed with status 500") unless the flow's listener sets `expose_upstream_errors: true`.

use crate::event::error::matches;
use crate::runtime::FlowError;
use crate::scrub::Scrub;
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
    // The state store failed (PostgreSQL out of reach, a full disk): nothing was committed, try again later.
    ("QUEUE:UNAVAILABLE", 503),
    ("OBJECT_STORE:UNAVAILABLE", 503),
    ("DB:NO_ROWS", 404),
    ("DB:CONSTRAINT", 409),
    ("DB:TIMEOUT", 504),
    ("DB:CONNECTIVITY", 503),
    ("SFTP:CONNECTIVITY", 503),
    ("SFTP:EXISTS", 409),
    ("SFTP:ANY", 502),
    ("AMQP:CONNECTIVITY", 503),
    ("AMQP:TIMEOUT", 504),
    ("AMQP:NACKED", 503),
    ("NATS:CONNECTIVITY", 503),
    ("NATS:TIMEOUT", 504),
];

/// The HTTP status for an error type (500 when nothing more precise applies).
pub fn status_for(error_type: &ErrorType) -> u16 {
    STATUS
        .iter()
        .find(|(family, _)| ErrorType::parse(family).is_some_and(|f| matches(&f, error_type)))
        .map_or(500, |(_, status)| *status)
}

/// The summaries of the partner failures inside `error` (itself, its causes, its routes), outermost first.
fn upstream_summaries<'e>(error: &'e FlowError, out: &mut Vec<&'e str>) {
    if let Some(summary) = &error.upstream_summary {
        if !out.contains(&summary.as_str()) {
            out.push(summary);
        }
        return;
    }
    if let Some(cause) = &error.cause {
        upstream_summaries(cause, out);
    }
    for (_, child) in &error.children {
        upstream_summaries(child, out);
    }
}

/// What a caller is told of `error`: its description, unless the error is or wraps a partner's failure
/// and the flow does not expose those, then the partner failures' summaries.
pub fn caller_detail(error: &FlowError, expose_upstream: bool) -> String {
    if expose_upstream {
        return error.description.clone();
    }
    let mut summaries = Vec::new();
    upstream_summaries(error, &mut summaries);
    if summaries.is_empty() {
        error.description.clone()
    } else {
        summaries.join("; ")
    }
}

/// An RFC 9457 problem document, every text in it scrubbed of the secrets known.
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
    serde_json::to_vec(&Scrub::secrets().json(&body)).unwrap_or_default()
}

/// The answer to an unhandled flow error (already scrubbed of its event's sensitive values by the runtime):
/// its status and problem document, with the detail [`caller_detail`] gives.
pub fn for_error(error: &FlowError, correlation_id: &str, expose_upstream: bool) -> (u16, Vec<u8>) {
    let status = status_for(&error.error_type);
    let title = hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    (status, problem(status, title, &caller_detail(error, expose_upstream), correlation_id, Some(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::error::error_type;

    #[test]
    fn error_families_map_to_statuses() {
        assert_eq!(status_for(&error_type("VALIDATION:INVALID")), 400);
        assert_eq!(status_for(&error_type("HTTP:TIMEOUT")), 504);
        assert_eq!(status_for(&error_type("HTTP:SERVICE_UNAVAILABLE")), 502);
        assert_eq!(status_for(&error_type("APP:BROKEN")), 500);
    }

    #[test]
    fn a_partner_failure_is_summarised_for_the_caller_even_when_wrapped_unless_exposed() {
        let partner = FlowError::new("HTTP:INTERNAL_SERVER_ERROR", "POST http://crm/x answered 500: stack trace")
            .from_upstream("the upstream call to config `crm` failed with status 500");
        let retried = FlowError::new("RETRY:EXHAUSTED", "gave up after 2 attempt(s): stack trace").caused_by(partner);
        assert_eq!(caller_detail(&retried, false), "the upstream call to config `crm` failed with status 500");
        assert_eq!(caller_detail(&retried, true), "gave up after 2 attempt(s): stack trace");
        assert_eq!(caller_detail(&FlowError::new("APP:X", "own words"), false), "own words");
    }

    #[test]
    fn a_problem_carries_no_known_secret() {
        crate::scrub::known::remember_secret("problem-secret-31");
        let body = problem(500, "Internal Server Error", "token problem-secret-31 refused", "c1", None);
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("token [redacted] refused") && !text.contains("problem-secret-31"), "{text}");
    }
}
