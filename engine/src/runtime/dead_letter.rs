//! The `dead_letter.write` step: records the event and the error its handler is handling as a dead letter.

use super::components::{CallFuture, ComponentNode, Spec};
use super::{Event, FlowError, Runtime};
use serde_json::Value as Json;
use std::sync::Arc;

/// A built `dead_letter.write` step.
pub struct DeadLetterWrite {
    flow: String,
    queue: Option<String>,
}

impl ComponentNode for DeadLetterWrite {
    fn call<'a>(&'a self, runtime: &'a Runtime, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let Some(error) = event.error.clone() else {
                return Err(FlowError::new(
                    "DEAD_LETTER:NO_ERROR",
                    "`dead_letter.write` records the error being handled: use it in an `on_error` handler",
                ));
            };
            let attempts = event.attributes.get("delivery").and_then(Json::as_u64).and_then(|d| u32::try_from(d).ok());
            let now = super::state::now();
            keep(runtime, &self.flow, &event, &error, attempts.unwrap_or(1), now, self.queue.clone());
            Ok(event)
        })
    }
}

/// Dead-letters `event`, which failed for good with `error` after `attempts` since `first_failure`: logged
/// at error level (scrubbed) with its correlation id, then kept in the state store, replayable into `queue`.
/// Shared by in-memory queue consumers and `dead_letter.write`.
pub(crate) fn keep(
    runtime: &Runtime,
    flow: &str,
    event: &Event,
    error: &FlowError,
    attempts: u32,
    first_failure: relais_store::Timestamp,
    queue: Option<String>,
) {
    tracing::error!(
        correlation_id = %event.correlation_id,
        flow = %flow,
        queue = queue.as_deref().unwrap_or(""),
        error_type = %error.error_type,
        attempts,
        "message dead-lettered: {}",
        runtime.scrub(&error.description, event)
    );
    let message = relais_store::Message {
        payload: event.payload.to_bytes(),
        media_type: event.payload.media_type().to_string(),
        attributes: (*event.attributes).clone(),
        correlation_id: event.correlation_id.to_string(),
    };
    // The stored error is scrubbed (a replay needs the message, not the secrets an error quoted); what is
    // shown of the message is scrubbed when it is shown (`daemon::admin`, `relais dlq`).
    let error = runtime.scrub_error(error.clone(), event);
    let mut letter =
        relais_store::DeadLetter::new(message, &failure(flow, &error), attempts, first_failure, super::state::now());
    letter.queue = queue;
    runtime.program().state.dead_letter(letter);
}

/// What a dead letter records of the error that ended a message.
pub(crate) fn failure(flow: &str, error: &FlowError) -> relais_store::Failure {
    relais_store::Failure {
        flow: if error.flow.is_empty() { flow.to_string() } else { error.flow.clone() },
        step: error.step.clone(),
        location: error.location.clone(),
        error_type: error.error_type.to_string(),
        error_description: error.description.clone(),
    }
}

/// The factory of `dead_letter.write`.
pub fn dead_letter(spec: Spec) -> Arc<dyn ComponentNode> {
    let queue = spec.params.get("queue").and_then(Json::as_str).map(String::from);
    Arc::new(DeadLetterWrite { flow: spec.flow.clone(), queue })
}
