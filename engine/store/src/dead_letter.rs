//! Dead letters: messages that could not be processed, kept with everything needed to understand and replay them.

use crate::message::{Failure, Message, TraceHeaders};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::fmt;

/// Identifies a dead letter. Unique in a store and never reused, so an operator can replay "dead letter 42"
/// without the risk of it meaning another message later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeadLetterId(pub u64);

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A message that failed for good, with its error, flow, step and attempt count: kept so that nothing is lost
/// silently.
///
/// The record is what the caller hands to [`StateStore::dead_letter`](crate::StateStore::dead_letter); the store
/// assigns the [`DeadLetterId`] and returns it with the record in a [`StoredDeadLetter`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The flow that received the message (its source's flow): what an operator files the letter under
    /// and replays into, even when the step that failed is in a sub-flow it called.
    pub flow: String,
    /// The sub-flow the failing step is written in, when it is not `flow` (a `flow_ref` target): with
    /// `step` and `location`, where the failure happened.
    pub sub_flow: Option<String>,
    /// The id of the failing step, when it has one.
    pub step: Option<String>,
    /// Where the failing step is written, as `file:line:col`, when known.
    pub location: Option<String>,
    /// The message's payload as it entered the flow (raw bytes): what a replay runs again.
    pub payload: Vec<u8>,
    /// Media type of the payload.
    pub media_type: String,
    /// The attributes of the event.
    pub attributes: Json,
    /// The correlation id of the event.
    pub correlation_id: String,
    /// The typed error of the last attempt, `NAMESPACE:NAME`.
    pub error_type: String,
    /// The description of the last error.
    pub error_description: String,
    /// How many attempts were made (deliveries, for a queued message).
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failure: Timestamp,
    /// When the last attempt failed.
    pub last_failure: Timestamp,
    /// The queue the message came from, if it came from one (replay puts it back there).
    pub queue: Option<String>,
    /// The payload when the error happened, when it is not the message's (`dead_letter.write` after steps
    /// replaced it): for reading only, never replayed. The engine stores it scrubbed of the sensitive values
    /// the event carried.
    pub payload_at_failure: Option<Vec<u8>>,
    /// The media type of `payload_at_failure`.
    pub media_type_at_failure: Option<String>,
    /// The W3C trace context of the message or of the flow run that failed (`None`: it was in no trace,
    /// or was stored before letters kept one): a replay sends the message on with it, so the replayed run
    /// joins the trace the failure is in and an operator follows the order across the replay.
    pub trace: Option<TraceHeaders>,
}

impl DeadLetter {
    /// The dead letter of an event (`message`) that failed for good with `failure`. `queue` is left empty; set it
    /// when the message came from a queue.
    pub fn new(
        message: Message,
        failure: &Failure,
        attempts: u32,
        first_failure: Timestamp,
        last_failure: Timestamp,
    ) -> Self {
        DeadLetter {
            flow: failure.flow.clone(),
            sub_flow: failure.sub_flow.clone(),
            step: failure.step.clone(),
            location: failure.location.clone(),
            payload: message.payload,
            media_type: message.media_type,
            attributes: message.attributes,
            correlation_id: message.correlation_id,
            error_type: failure.error_type.clone(),
            error_description: failure.error_description.clone(),
            attempts,
            first_failure,
            last_failure,
            queue: None,
            payload_at_failure: None,
            media_type_at_failure: None,
            trace: message.trace,
        }
    }

    /// The message to enqueue again when the dead letter is replayed.
    pub fn to_message(&self) -> Message {
        Message {
            payload: self.payload.clone(),
            media_type: self.media_type.clone(),
            attributes: self.attributes.clone(),
            correlation_id: self.correlation_id.clone(),
            // The replayed run continues the trace the letter was written in.
            trace: self.trace.clone(),
        }
    }
}

/// A dead letter as stored, with the id the store gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeadLetter {
    /// The id to get, take or purge it by.
    pub id: DeadLetterId,
    /// The record.
    pub letter: DeadLetter,
}

/// Which dead letters a list or a purge applies to. The default matches every dead letter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only dead letters of this flow.
    pub flow: Option<String>,
    /// Only dead letters that came from this queue.
    pub queue: Option<String>,
    /// Only dead letters whose error is of this type (`NAMESPACE:NAME`, exactly).
    pub error_type: Option<String>,
    /// Only ids strictly greater than this one: the cursor of the next page, for listings.
    pub after: Option<DeadLetterId>,
    /// At most this many (listings only; a purge ignores it and removes every match).
    pub limit: Option<usize>,
}

impl DeadLetterFilter {
    /// Every dead letter of one flow.
    pub fn flow(flow: impl Into<String>) -> Self {
        DeadLetterFilter { flow: Some(flow.into()), ..Self::default() }
    }

    /// Whether a dead letter matches the flow and queue conditions (`after` and `limit` are applied by the
    /// iteration, in id order).
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.flow.as_deref().is_none_or(|flow| flow == letter.flow)
            && self.queue.as_deref().is_none_or(|queue| letter.queue.as_deref() == Some(queue))
            && self.error_type.as_deref().is_none_or(|t| t == letter.error_type)
    }
}
