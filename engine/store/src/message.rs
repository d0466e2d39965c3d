//! What durable queues hold and hand out: messages, their ids, leases, and the outcome of a failed delivery.

use crate::dead_letter::DeadLetterId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::fmt;
use std::time::Duration;

/// Identifies a message in its queue.
///
/// Ids are unique across all queues of a store and never reused, even after a restart, so a log line that
/// names one points at exactly one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An event as it waits in a queue: enough to start the consuming flow exactly as the publisher saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The payload, as raw bytes (stored as is, never re-encoded).
    pub payload: Vec<u8>,
    /// Media type of the payload (`application/json`, `text/csv`...), so the consumer parses it the same way.
    pub media_type: String,
    /// The attributes the source recorded (HTTP method, headers, scheduler fire time...).
    pub attributes: Json,
    /// The correlation id, kept so the consumer's log lines and outbound calls carry the publisher's id.
    pub correlation_id: String,
    /// The W3C trace context of the publish (`None`: tracing was off, or the message came from a dead
    /// letter), so that the consumer's spans join the publisher's trace, across a restart too.
    pub trace: Option<TraceHeaders>,
}

/// A W3C trace context as its two headers carry it: `traceparent` (`00-<trace id>-<span id>-<flags>`) and
/// `tracestate` (vendor entries, often empty). Kept as text: the store neither reads nor checks it, the
/// consumer parses it as it would parse a request's headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHeaders {
    /// The `traceparent` header.
    pub traceparent: String,
    /// The `tracestate` header; empty when there is none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracestate: String,
}

/// A message handed to one consumer, invisible to the others until it is acked, nacked or its lease expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    /// The id to ack or nack.
    pub id: MessageId,
    /// The message itself.
    pub message: Message,
    /// How many times the message has been handed out, this delivery included (1 on the first delivery).
    /// A value above the consumer's `max_deliveries` means earlier deliveries ended without an ack or a nack,
    /// typically a crash: the consumer should dead-letter it with `nack` rather than run it again.
    pub deliveries: u32,
    /// When the lease runs out and the message becomes visible again (redelivery after a crash).
    pub lease_expires: Timestamp,
}

/// How a nacked message is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redelivery {
    /// How long the message stays invisible before its next delivery (the consumer's backoff).
    pub delay: Duration,
    /// Deliveries after which the message goes to the dead-letter store instead: a message nacked on its
    /// `max_deliveries`-th delivery (or later) is dead-lettered. Passed by the consumer because it is a setting
    /// of `queue.listener`, not of the queue.
    pub max_deliveries: u32,
}

/// Why a delivery failed: what a dead letter records about the failure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    /// The flow that received the message and failed to process it.
    pub flow: String,
    /// The sub-flow the failing step is written in, when it is not `flow`.
    pub sub_flow: Option<String>,
    /// The id of the step that raised the error, when it has one.
    pub step: Option<String>,
    /// Where the failing step is written, as `file:line:col`, when known.
    pub location: Option<String>,
    /// The typed error, `NAMESPACE:NAME` (`HTTP:TIMEOUT`).
    pub error_type: String,
    /// The error's description.
    pub error_description: String,
}

/// What `nack` did with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackOutcome {
    /// The message will be delivered again once `visible_at` has passed.
    Redelivered {
        /// When the message becomes visible again.
        visible_at: Timestamp,
    },
    /// The message reached `max_deliveries` and is now a dead letter.
    DeadLettered(DeadLetterId),
    /// The message is not leased (it waits for a delivery, e.g. after an earlier nack) or no longer exists (acked,
    /// dead-lettered): nothing was changed.
    NotLeased,
}

/// Where a queued message is in its life; both backends keep one per message and index it accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    /// Visible now (in the ready index, FIFO by id).
    Ready,
    /// Nacked; visible again at the instant (in the timer index).
    Delayed(Timestamp),
    /// Leased to a consumer until the instant (in the timer index).
    Leased(Timestamp),
}

/// How many messages a queue holds, by state, at a given instant; for metrics and for back-pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Messages a `lease` would hand out now (including those whose lease or delay has run out).
    pub ready: u64,
    /// Messages nacked and waiting for their redelivery delay to pass.
    pub delayed: u64,
    /// Messages leased to a consumer whose lease has not expired yet.
    pub in_flight: u64,
}

impl QueueStats {
    /// Messages waiting for a consumer, now or after a delay: the queue depth.
    pub fn depth(&self) -> u64 {
        self.ready + self.delayed
    }

    /// Every message the queue holds.
    pub fn total(&self) -> u64 {
        self.ready + self.delayed + self.in_flight
    }
}
