//! Dead-lettering: an event that failed for good kept in the state store, logged and replayable. Shared by
//! queue consumers and `dead_letter.write` (through [`crate::component::Context::dead_letter`]).
//!
//! A letter is filed under the flow that received the message (`Event::origin`), with the sub-flow, step
//! and location of the failure. It keeps the message the flow started with, whole (a replay runs it
//! again, byte for byte; it is scrubbed when shown), and, when the steps had replaced the payload, the
//! payload at the failure, scrubbed before it is stored of every sensitive value the event carried (a
//! mapping may have renamed the field that holds one, which nothing could recognise later).

use super::{Event, FlowError, Runtime};
use crate::component::Replay;
use crate::event::payload::Format;
use crate::event::Payload;

/// Dead-letters `event`, which failed for good with `error` after `attempts` since `first_failure`: logged
/// at error level (scrubbed) with its correlation id, then kept in the state store, replayable into `queue`
/// with the message the event's flow started with. Shared by the in-memory consumers of queues, files and
/// rows.
pub(crate) fn keep(
    runtime: &Runtime,
    flow: &str,
    event: &Event,
    error: &FlowError,
    attempts: u32,
    first_failure: relais_store::Timestamp,
    queue: Option<String>,
) {
    keep_as(runtime, flow, event, error, attempts, first_failure, queue, Replay::Original)
}

/// [`keep`], with the message a replay runs again chosen by `replay` (`dead_letter.write`'s setting).
#[allow(clippy::too_many_arguments)]
pub(crate) fn keep_as(
    runtime: &Runtime,
    flow: &str,
    event: &Event,
    error: &FlowError,
    attempts: u32,
    first_failure: relais_store::Timestamp,
    queue: Option<String>,
    replay: Replay,
) {
    let flow = event.origin.as_ref().map_or(flow, |origin| &*origin.flow);
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
    let correlation_id = event.correlation_id.to_string();
    // The span the event failed in: a replay sends the message on under it, so the replayed run is in the
    // same trace as the failure (`relais_store::DeadLetter::trace`).
    let trace = event.trace.as_ref().map(crate::trace::TraceContext::to_stored);
    let (message, at_failure) = match (replay, &event.origin) {
        (Replay::Original, Some(origin)) => {
            let message = relais_store::Message {
                payload: origin.payload.to_bytes(),
                media_type: origin.payload.media_type().to_string(),
                attributes: (*origin.attributes).clone(),
                correlation_id,
                trace,
            };
            let replaced = !std::sync::Arc::ptr_eq(&origin.payload, &event.payload);
            (message, replaced.then(|| scrubbed_payload(runtime, event)))
        }
        // A queue consumer's delivery: the event is the message as it was delivered.
        (Replay::Original, None) => {
            let message = relais_store::Message {
                payload: event.payload.to_bytes(),
                media_type: event.payload.media_type().to_string(),
                attributes: (*event.attributes).clone(),
                correlation_id,
                trace,
            };
            (message, None)
        }
        (Replay::AtFailure, _) => {
            let (payload, media_type) = scrubbed_payload(runtime, event);
            let attributes = (*event.attributes).clone();
            (relais_store::Message { payload, media_type, attributes, correlation_id, trace }, None)
        }
    };
    // The stored error is scrubbed (a replay needs the message, not the secrets an error quoted); what is
    // shown of the message is scrubbed when it is shown (`daemon::admin`, `relais dlq`).
    let error = runtime.scrub_error(error.clone(), event);
    let mut letter =
        relais_store::DeadLetter::new(message, &failure(flow, &error), attempts, first_failure, crate::state::now());
    letter.queue = queue;
    if let Some((payload, media_type)) = at_failure {
        letter.payload_at_failure = Some(payload);
        letter.media_type_at_failure = Some(media_type);
    }
    runtime.program().state.dead_letter(letter);
}

/// The event's payload without any secret or sensitive value it carried: a JSON payload stays JSON (each
/// sensitive field's value replaced whole, other strings scrubbed), any other is scrubbed as text.
fn scrubbed_payload(runtime: &Runtime, event: &Event) -> (Vec<u8>, String) {
    let program = runtime.program();
    let scrub = program.redactor.for_event(event, &program.readers);
    let media_type = event.payload.media_type().to_string();
    let payload: &Payload = &event.payload;
    if Format::of(&media_type) == Format::Json {
        if let Ok(value) = payload.read(&program.readers) {
            if let Ok(bytes) = serde_json::to_vec(&program.redactor.json(value, &scrub)) {
                return (bytes, media_type);
            }
        }
    }
    let text = String::from_utf8_lossy(&payload.to_bytes()).into_owned();
    (scrub.text(&text).into_owned().into_bytes(), media_type)
}

/// What a dead letter records of the error that ended a message received by `flow`: the sub-flow the
/// failing step is in, when it is another.
pub(crate) fn failure(flow: &str, error: &FlowError) -> relais_store::Failure {
    relais_store::Failure {
        flow: flow.to_string(),
        sub_flow: (!error.flow.is_empty() && error.flow != flow).then(|| error.flow.clone()),
        step: error.step.clone(),
        location: error.location.clone(),
        error_type: error.error_type.to_string(),
        error_description: error.description.clone(),
    }
}
