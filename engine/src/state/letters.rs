//! Dead letters as an operator sees them: one JSON shape, with the same fields under the same names on the
//! admin port (`GET /dead-letters`, `GET /dead-letters/ID`) and in `relais dlq show`, and the filter of a
//! bulk replay (`POST /dead-letters/replay?flow=F&error_type=T`, `relais dlq replay --all --flow F
//! --error-type T`). Shown after scrubbing (`Scrubber::json` with the letter's `Scrubber::for_message`):
//! this is the record, not what may leave.

use relais_store::{DeadLetterFilter, StoredDeadLetter};
use serde_json::{json, Value as Json};

/// A dead letter's fields: where it failed (`flow` that received the message, `sub_flow`, `step`,
/// `location`), why (`error_type`, `error_description`, `attempts`, `first_failure`, `last_failure`), and
/// what it holds (the message to replay: `payload`, `media_type`, `attributes`, `correlation_id`,
/// `queue`; the payload when it failed, if the steps had replaced it: `payload_at_failure`,
/// `media_type_at_failure`), and the trace it was written in (`trace_id`, null when none), to find its
/// spans in the collector.
pub fn to_json(stored: &StoredDeadLetter) -> Json {
    let l = &stored.letter;
    json!({
        "id": stored.id.0,
        "flow": l.flow,
        "sub_flow": l.sub_flow,
        "step": l.step,
        "location": l.location,
        "queue": l.queue,
        "error_type": l.error_type,
        "error_description": l.error_description,
        "attempts": l.attempts,
        "first_failure": super::rfc3339(l.first_failure),
        "last_failure": super::rfc3339(l.last_failure),
        "correlation_id": l.correlation_id,
        "media_type": l.media_type,
        "attributes": l.attributes,
        "payload": String::from_utf8_lossy(&l.payload),
        "payload_at_failure": l.payload_at_failure.as_deref().map(String::from_utf8_lossy),
        "media_type_at_failure": l.media_type_at_failure,
        "trace_id": l.trace.as_ref().and_then(|t| crate::trace::w3c::trace_id(&t.traceparent)),
    })
}

/// The filter of a listing or bulk replay from its two conditions, either optional: every dead letter of
/// `flow` (the flow that received the message), of `error_type` (exactly, `NAMESPACE:NAME`), or both.
pub fn filter(flow: Option<String>, error_type: Option<String>) -> DeadLetterFilter {
    DeadLetterFilter { flow, error_type, ..DeadLetterFilter::default() }
}

/// Reads `flow` and `error_type` from a query string (`flow=orders&error_type=HTTP%3ATIMEOUT`); any other
/// parameter is an error naming it, so that a misspelt condition never widens a bulk replay to everything.
pub fn filter_from_query(query: Option<&str>) -> Result<DeadLetterFilter, String> {
    let (mut flow, mut error_type) = (None, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned();
        match name {
            "flow" => flow = Some(value),
            "error_type" => error_type = Some(value),
            other => {
                return Err(format!("unknown parameter `{other}`: dead letters are chosen by `flow` and `error_type`"))
            }
        }
    }
    Ok(filter(flow, error_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_chooses_letters_by_flow_and_error_type_and_refuses_any_other_parameter() {
        let f = filter_from_query(Some("flow=order_to_crm&error_type=HTTP%3ATIMEOUT")).unwrap();
        assert_eq!((f.flow.as_deref(), f.error_type.as_deref()), (Some("order_to_crm"), Some("HTTP:TIMEOUT")));
        assert_eq!(filter_from_query(None).unwrap(), DeadLetterFilter::default());
        let err = filter_from_query(Some("flows=x")).unwrap_err();
        assert!(err.contains("`flows`"), "{err}");
    }
}
