//! The W3C Trace Context headers (`traceparent`, `tracestate`), read strictly and written by one function.
//!
//! A header that does not parse is ignored, never an error: the caller's request runs in a fresh trace,
//! as the recommendation asks of a receiver (<https://www.w3.org/TR/trace-context/>, "Processing model").

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use std::str::FromStr;

/// The `traceparent` header's name.
pub const TRACEPARENT: &str = "traceparent";

/// The `tracestate` header's name.
pub const TRACESTATE: &str = "tracestate";

/// The longest `tracestate` kept (the recommendation's 32 entries of at most 256 characters fit in 8 KiB;
/// propagators must pass on at least 512 characters). A longer one is dropped, the `traceparent` kept.
const MAX_TRACESTATE: usize = 8192;

/// The remote span a `traceparent` (and `tracestate`) names, or `None` when the `traceparent` is absent or
/// malformed: a version other than two lowercase hex digits, the version `ff`, a version-00 header of any
/// length but 55, a trace id or parent id that is not lowercase hex or is all zeros, flags that are not hex.
/// A later version's header is read by its first four fields, as the recommendation says. A malformed
/// `tracestate` is dropped alone.
pub fn parse(traceparent: &[u8], tracestate: Option<&[u8]>) -> Option<SpanContext> {
    let text = std::str::from_utf8(traceparent).ok()?.trim_matches([' ', '\t']);
    let version = text.get(0..2)?;
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    match (version, text.len()) {
        ("00", 55) => {}
        ("00", _) => return None,
        // A future version: at least the four fields of version 00, then `-` and more.
        (_, n) if n == 55 || (n > 55 && text.as_bytes()[55] == b'-') => {}
        _ => return None,
    }
    let bytes = text.as_bytes();
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let (trace_id, span_id, flags) = (&text[3..35], &text[36..52], &text[53..55]);
    if !is_lower_hex(trace_id) || !is_lower_hex(span_id) || !is_lower_hex(flags) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok().filter(|id| *id != TraceId::INVALID)?;
    let span_id = SpanId::from_hex(span_id).ok().filter(|id| *id != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    // Only the sampled bit means something to us; the others are passed on as zero (version 00's rule).
    let flags = TraceFlags::new(flags & TraceFlags::SAMPLED.to_u8());
    let state = tracestate.and_then(state).unwrap_or_default();
    Some(SpanContext::new(trace_id, span_id, flags, true, state))
}

/// A `tracestate` header, when it fits the limit and every entry is well formed.
fn state(header: &[u8]) -> Option<TraceState> {
    if header.len() > MAX_TRACESTATE {
        return None;
    }
    let text = std::str::from_utf8(header).ok()?.trim();
    let members: Vec<&str> = text.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
    if members.is_empty() || members.len() > MAX_MEMBERS || !members.iter().all(|m| is_member(m)) {
        return None;
    }
    TraceState::from_str(&members.join(",")).ok()
}

/// The most list members a `tracestate` may hold.
const MAX_MEMBERS: usize = 32;

/// A `key=value` list member: the key lowercase letters, digits and `_-*/` (a `tenant@system` form
/// allowed), starting with a letter or digit, at most 256 characters; the value 1 to 256 printable ASCII
/// characters but `,` and `=`, not ending with a space.
fn is_member(member: &str) -> bool {
    let Some((key, value)) = member.split_once('=') else { return false };
    let key_ok = !key.is_empty()
        && key.len() <= 256
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b))
        && key.matches('@').count() <= 1;
    let value_ok = !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=');
    key_ok && value_ok
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `traceparent` header naming `span` as the parent: version 00, the trace id, the span id, the flags.
pub fn traceparent(span: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", span.trace_id(), span.span_id(), span.trace_flags().to_u8())
}

/// The trace id a stored `traceparent` names (32 lowercase hex digits), or `None` when it does not parse:
/// what log lines and the dead letters' listing show of a trace context kept in the state store.
pub fn trace_id(traceparent: &str) -> Option<String> {
    parse(traceparent.as_bytes(), None).map(|span| span.trace_id().to_string())
}

/// The `tracestate` header of `span`; empty when it has none (then no header is sent).
pub fn tracestate(span: &SpanContext) -> String {
    span.trace_state().header()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_well_formed_traceparent_names_its_trace_span_and_sampled_flag() {
        let span = parse(GOOD.as_bytes(), Some(b"vendor=abc, other=x1")).unwrap_or_else(SpanContext::empty_context);
        assert_eq!(span.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.span_id().to_string(), "00f067aa0ba902b7");
        assert!(span.is_sampled() && span.is_remote());
        assert_eq!(tracestate(&span), "vendor=abc,other=x1");
        assert_eq!(traceparent(&span), GOOD, "written back as it came");
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        let zero_trace = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        let zero_span = "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01";
        let upper = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        let long_00 = format!("{GOOD}-extra");
        let version_ff = GOOD.replacen("00", "ff", 1);
        for bad in [
            "",
            "garbage",
            zero_trace,
            zero_span,
            upper,
            &long_00,
            &version_ff,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad.as_bytes(), None).is_none(), "{bad:?}");
        }
        assert!(parse(b"\xff\xfe", None).is_none());
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever";
        let span = parse(later.as_bytes(), None).map(|s| s.trace_id().to_string());
        assert_eq!(span.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        let glued = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01whatever";
        assert!(parse(glued.as_bytes(), None).is_none());
    }

    #[test]
    fn a_malformed_or_oversized_tracestate_is_dropped_and_the_traceparent_kept() {
        let oversized = "a=b,".repeat(3000);
        let too_many = (0..33).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
        for bad in ["no equals sign", "=x", "Upper=x", "k=a=b", "k=", "k=v,=w", &oversized, &too_many] {
            let span = parse(GOOD.as_bytes(), Some(bad.as_bytes()));
            assert_eq!(span.as_ref().map(tracestate).as_deref(), Some(""), "{bad:?}");
        }
    }

    #[test]
    fn a_stored_traceparent_names_its_trace_id_and_a_damaged_one_none() {
        assert_eq!(trace_id(GOOD).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736"), None);
    }

    #[test]
    fn flags_other_than_sampled_are_not_passed_on() {
        let span = parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", None);
        assert_eq!(span.map(|s| traceparent(&s)).as_deref(), Some(GOOD));
    }
}
