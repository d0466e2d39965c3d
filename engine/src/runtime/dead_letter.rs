//! Dead-lettering: an event that failed for good kept in the state store, logged and replayable. Shared by
//! queue consumers and `dead_letter.write` (through [`crate::component::Context::dead_letter`]).

use super::{Event, FlowError, Runtime};

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
        trace_id = crate::trace::log_id(&event.trace),
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
        // A replayed letter starts a trace of its own (its first one ended here, with the error).
        trace: None,
    };
    // The stored error is scrubbed (a replay needs the message, not the secrets an error quoted); what is
    // shown of the message is scrubbed when it is shown (`daemon::admin`, `relais dlq`).
    let error = runtime.scrub_error(error.clone(), event);
    let mut letter =
        relais_store::DeadLetter::new(message, &failure(flow, &error), attempts, first_failure, crate::state::now());
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
