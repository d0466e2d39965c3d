//! `dead_letter.write`: a flow's own way into the dead-letter store, for events that do not come from a
//! queue (a scheduled job's item, a webhook accepted and then failing for good): the same records, listed,
//! shown, replayed and purged with `relais dlq` and the admin endpoints, as Camel's dead letter channel.

use crate::component::{CallFuture, ComponentNode, Context, Step, StepContext};
use crate::event::{Event, FlowError};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// Parameters of `dead_letter.write`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterParams {
    /// Queue a replay publishes the letter to (`relais dlq replay`, `POST /dead-letters/ID/replay`); without
    /// it the letter is kept for inspection and purging only.
    pub queue: Option<String>,
    /// The message a replay runs again: `original`, the message the flow started with (the payload at the
    /// failure is kept beside it, for reading, scrubbed of sensitive values), or `at_failure`, the payload
    /// at the failure (a scheduled job's item, which no message carried; scrubbed of sensitive values too).
    #[serde(default)]
    pub replay: crate::component::Replay,
}

impl Step for DeadLetterParams {
    const NAME: &'static str = "dead_letter.write";
    const SUMMARY: &'static str =
        "Keeps the received message, the payload at the failure and the error in the dead-letter store (in on_error).";

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn reaches(&self) -> Option<crate::component::Reach> {
        Some(crate::component::Reach { kind: "dead_letters", name: "dead letters".into() })
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        Ok(Arc::new(DeadLetterWrite { flow: cx.flow.to_string(), queue: self.queue.clone(), replay: self.replay }))
    }
}

/// A built `dead_letter.write` step.
struct DeadLetterWrite {
    flow: String,
    queue: Option<String>,
    replay: crate::component::Replay,
}

impl ComponentNode for DeadLetterWrite {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let Some(error) = event.error.clone() else {
                return Err(FlowError::new(
                    "DEAD_LETTER:NO_ERROR",
                    "`dead_letter.write` records the error being handled: use it in an `on_error` handler",
                ));
            };
            cx.dead_letter(&self.flow, &event, &error, self.queue.clone(), self.replay);
            Ok(event)
        })
    }
}
