//! How free-form records are encoded in redb values.
//!
//! JSON through serde_json, already in the tree: the attributes are arbitrary JSON (`serde_json::Value`), which
//! compact non-self-describing formats such as postcard or bincode cannot decode, and a JSON record can be read
//! with any redb tool when an operator inspects a state file. Payloads never go through JSON: they are stored as
//! raw bytes beside the record, so a 1 KB payload costs 1 KB, not the 3-4 KB of a JSON array of numbers.

use crate::dead_letter::DeadLetter;
use crate::error::StoreError;
use crate::message::{Message, TraceHeaders, Visibility};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::borrow::Cow;

/// The part of a queued message that never changes: everything but the payload.
#[derive(Serialize, Deserialize)]
pub(super) struct MessageHeader<'a> {
    pub media_type: Cow<'a, str>,
    pub attributes: Cow<'a, Json>,
    pub correlation_id: Cow<'a, str>,
    pub enqueued_at: Timestamp,
    /// Absent in records written before traces were kept (and when tracing was off): read as `None`, and
    /// an older relais reading a record that has it ignores the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Cow<'a, TraceHeaders>>,
}

impl<'a> MessageHeader<'a> {
    pub(super) fn of(message: &'a Message, now: Timestamp) -> Self {
        MessageHeader {
            media_type: Cow::Borrowed(&message.media_type),
            attributes: Cow::Borrowed(&message.attributes),
            correlation_id: Cow::Borrowed(&message.correlation_id),
            enqueued_at: now,
            trace: message.trace.as_ref().map(Cow::Borrowed),
        }
    }

    pub(super) fn into_message(self, payload: &[u8]) -> Message {
        Message {
            payload: payload.to_vec(),
            media_type: self.media_type.into_owned(),
            attributes: self.attributes.into_owned(),
            correlation_id: self.correlation_id.into_owned(),
            trace: self.trace.map(Cow::into_owned),
        }
    }
}

/// A dead letter without its payload. Fields added after layout 1 are optional (`serde(default)`), so
/// records written before them read as having none, and no layout change is needed.
#[derive(Serialize, Deserialize)]
pub(super) struct DeadLetterRecord<'a> {
    pub flow: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_flow: Option<Cow<'a, str>>,
    pub step: Option<Cow<'a, str>>,
    pub location: Option<Cow<'a, str>>,
    pub media_type: Cow<'a, str>,
    pub attributes: Cow<'a, Json>,
    pub correlation_id: Cow<'a, str>,
    pub error_type: Cow<'a, str>,
    pub error_description: Cow<'a, str>,
    pub attempts: u32,
    pub first_failure: Timestamp,
    pub last_failure: Timestamp,
    pub queue: Option<Cow<'a, str>>,
    /// The payload at the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_at_failure: Option<PayloadText<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type_at_failure: Option<Cow<'a, str>>,
    /// The trace context the letter was written in: absent in records written before letters kept one
    /// (read as `None`), and ignored by an older relais reading a record that has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Cow<'a, TraceHeaders>>,
}

/// Bytes inside a JSON record: as text when they are UTF-8 (the common case, JSON), so a record stays
/// readable with any redb tool, else as an array of numbers (rare: a binary payload replaced mid-flow).
#[derive(Serialize, Deserialize)]
pub(super) enum PayloadText<'a> {
    /// UTF-8 bytes.
    #[serde(rename = "text")]
    Text(Cow<'a, str>),
    /// Other bytes.
    #[serde(rename = "bytes")]
    Bytes(Vec<u8>),
}

impl<'a> PayloadText<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => PayloadText::Text(Cow::Borrowed(text)),
            Err(_) => PayloadText::Bytes(bytes.to_vec()),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            PayloadText::Text(text) => text.into_owned().into_bytes(),
            PayloadText::Bytes(bytes) => bytes,
        }
    }
}

impl<'a> DeadLetterRecord<'a> {
    pub(super) fn of(letter: &'a DeadLetter) -> Self {
        DeadLetterRecord {
            flow: Cow::Borrowed(&letter.flow),
            sub_flow: letter.sub_flow.as_deref().map(Cow::Borrowed),
            step: letter.step.as_deref().map(Cow::Borrowed),
            location: letter.location.as_deref().map(Cow::Borrowed),
            media_type: Cow::Borrowed(&letter.media_type),
            attributes: Cow::Borrowed(&letter.attributes),
            correlation_id: Cow::Borrowed(&letter.correlation_id),
            error_type: Cow::Borrowed(&letter.error_type),
            error_description: Cow::Borrowed(&letter.error_description),
            attempts: letter.attempts,
            first_failure: letter.first_failure,
            last_failure: letter.last_failure,
            queue: letter.queue.as_deref().map(Cow::Borrowed),
            payload_at_failure: letter.payload_at_failure.as_deref().map(PayloadText::of),
            media_type_at_failure: letter.media_type_at_failure.as_deref().map(Cow::Borrowed),
            trace: letter.trace.as_ref().map(Cow::Borrowed),
        }
    }

    pub(super) fn into_dead_letter(self, payload: &[u8]) -> DeadLetter {
        DeadLetter {
            flow: self.flow.into_owned(),
            sub_flow: self.sub_flow.map(Cow::into_owned),
            step: self.step.map(Cow::into_owned),
            location: self.location.map(Cow::into_owned),
            payload: payload.to_vec(),
            media_type: self.media_type.into_owned(),
            attributes: self.attributes.into_owned(),
            correlation_id: self.correlation_id.into_owned(),
            error_type: self.error_type.into_owned(),
            error_description: self.error_description.into_owned(),
            attempts: self.attempts,
            first_failure: self.first_failure,
            last_failure: self.last_failure,
            queue: self.queue.map(Cow::into_owned),
            payload_at_failure: self.payload_at_failure.map(PayloadText::into_bytes),
            media_type_at_failure: self.media_type_at_failure.map(Cow::into_owned),
            trace: self.trace.map(Cow::into_owned),
        }
    }
}

/// The mutable state of a queued message, as stored in `MESSAGE_STATES`.
#[derive(Debug, Clone, Copy)]
pub(super) struct MessageState {
    pub deliveries: u32,
    pub first_failure: Option<Timestamp>,
    pub visibility: Visibility,
}

/// The stored tuple of a [`MessageState`].
pub(super) type MessageStateTuple = (u32, Option<u64>, u8, u64);

const READY: u8 = 0;
const DELAYED: u8 = 1;
const LEASED: u8 = 2;

impl MessageState {
    /// Layout 1 wrote these; only the migration test writes them now.
    #[cfg(test)]
    pub(super) fn to_tuple(self) -> MessageStateTuple {
        let (kind, at) = match self.visibility {
            Visibility::Ready => (READY, 0),
            Visibility::Delayed(at) => (DELAYED, at.as_millis()),
            Visibility::Leased(at) => (LEASED, at.as_millis()),
        };
        (self.deliveries, self.first_failure.map(Timestamp::as_millis), kind, at)
    }

    pub(super) fn from_tuple(tuple: MessageStateTuple, what: impl FnOnce() -> String) -> Result<Self, StoreError> {
        let (deliveries, first_failure, kind, at) = tuple;
        let at = Timestamp::from_millis(at);
        let visibility = match kind {
            READY => Visibility::Ready,
            DELAYED => Visibility::Delayed(at),
            LEASED => Visibility::Leased(at),
            other => {
                return Err(StoreError::Record { what: what(), detail: format!("unknown visibility kind {other}") })
            }
        };
        Ok(MessageState { deliveries, first_failure: first_failure.map(Timestamp::from_millis), visibility })
    }
}

/// Encodes a record as JSON. Serialising these types cannot fail (string keys, no custom serialisers), but the
/// error is still reported rather than unwrapped.
pub(super) fn encode<T: Serialize>(record: &T, what: &str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Record { what: what.to_string(), detail: e.to_string() })
}

/// Decodes a JSON record; `what` names it in the error (computed only on failure).
pub(super) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: impl FnOnce() -> String) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Record { what: what(), detail: e.to_string() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed decode is a failed test
mod tests {
    use super::*;

    /// A dead letter record as relais wrote it before letters kept their trace context.
    const BEFORE_TRACES: &str = r#"{"flow":"orders","step":null,"location":null,"media_type":"application/json",
        "attributes":{},"correlation_id":"c-1","error_type":"HTTP:TIMEOUT","error_description":"no answer",
        "attempts":3,"first_failure":5,"last_failure":9,"queue":"orders"}"#;

    #[test]
    fn a_dead_letter_record_written_before_traces_reads_as_in_no_trace() {
        let record: DeadLetterRecord<'_> = decode(BEFORE_TRACES.as_bytes(), || "old letter".into()).unwrap();
        let letter = record.into_dead_letter(b"{}");
        assert_eq!(letter.trace, None);
        assert_eq!((letter.correlation_id.as_str(), letter.attempts), ("c-1", 3));
    }

    #[test]
    fn a_dead_letter_record_keeps_its_trace_context_and_omits_it_when_there_is_none() {
        let record: DeadLetterRecord<'_> = decode(BEFORE_TRACES.as_bytes(), || "old letter".into()).unwrap();
        let mut letter = record.into_dead_letter(b"{}");
        let untraced = encode(&DeadLetterRecord::of(&letter), "letter").unwrap();
        assert!(!String::from_utf8_lossy(&untraced).contains("trace"), "no field written without a trace");
        letter.trace = Some(TraceHeaders {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
            tracestate: "vendor=abc".to_string(),
        });
        let bytes = encode(&DeadLetterRecord::of(&letter), "letter").unwrap();
        let read: DeadLetterRecord<'_> = decode(&bytes, || "letter".into()).unwrap();
        assert_eq!(read.into_dead_letter(b"{}"), letter);
    }
}
