//! The node a step component builds, and the [`Context`] through which it reaches the runtime.

use crate::event::{Event, FlowError, Payload};
use crate::script::{TemplatePlan, ValuePlan};
use crate::state::State;
use serde_json::Value as Json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future a component returns.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Event, FlowError>> + Send + 'a>>;

/// A component step, built once per program and shared by every event.
pub trait ComponentNode: Send + Sync {
    /// Processes one event.
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a>;
}

/// Which message a dead letter written by a flow (`dead_letter.write`) keeps for a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    /// The message the flow started with, as it came (the payload at the failure is kept beside it, for
    /// reading): a replay runs the flow again from the start.
    #[default]
    Original,
    /// The payload at the failure (a scheduled job's item, which no message carried): scrubbed of the
    /// sensitive values the event carried before it is stored, so a replay sends `[redacted]` in their
    /// place.
    AtFailure,
}

/// What a node may ask of the runtime running it: evaluating its templated settings on the event (under
/// the event's script budget and deadline), reading the payload, the state, the dead letters. Implemented by
/// the runtime; nodes never see its internals.
pub trait Context: Send + Sync {
    /// A template rendered on `event`.
    fn render(&self, template: &TemplatePlan, event: &Event) -> Result<String, FlowError>;
    /// A value computed on `event`.
    fn value(&self, plan: &ValuePlan, event: &Event) -> Result<Json, FlowError>;
    /// The payload as a value, parsed by its media type.
    fn read<'p>(&self, payload: &'p Payload) -> Result<&'p Json, FlowError>;
    /// Queues, stores and dead letters.
    fn state(&self) -> &Arc<State>;
    /// Keeps `event`, which failed with `error`, as a dead letter (scrubbed and logged), replayable into
    /// `queue`; `replay` says which payload a replay runs again.
    fn dead_letter(&self, flow: &str, event: &Event, error: &FlowError, queue: Option<String>, replay: Replay);
    /// The daemon's counters, for what a node knows best (an outbound call's status and latency).
    fn metrics(&self) -> &crate::metrics::Metrics;
}
