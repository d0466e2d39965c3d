//! The `queue.listener` source: takes messages from an in-process queue and runs its flow for each, with up
//! to `consumers` at once. A failed message is delivered again after a growing delay; after
//! `max_deliveries` attempts it goes to the dead letters with its last error. Nothing is dropped silently.

use super::http::{InFlight, Working};
use crate::runtime::queue::{Message, Queue};
use crate::runtime::{Event, FlowError, Runtime};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// A flow consuming a queue.
pub struct QueueListener {
    /// The flow.
    pub flow: String,
    /// The queue.
    pub queue: Arc<Queue>,
    /// Messages processed at once.
    pub consumers: usize,
    /// Attempts before dead-lettering.
    pub max_deliveries: u32,
    /// Delay before the second attempt, doubled after each failure (at most 30 s).
    pub redelivery_delay: Duration,
}

impl QueueListener {
    /// The listener of a `queue.listener` source's (checked) parameters.
    pub fn from_params(flow: &str, params: &serde_json::Value, runtime: &Runtime) -> Option<QueueListener> {
        let name = params.get("queue")?.as_str()?;
        let number = |k: &str, default: u64| params.get(k).and_then(|v| v.as_u64()).unwrap_or(default);
        Some(QueueListener {
            flow: flow.to_string(),
            queue: runtime.program().state.queue_or_default(name),
            consumers: number("consumers", 4).max(1) as usize,
            max_deliveries: u32::try_from(number("max_deliveries", 5)).unwrap_or(u32::MAX).max(1),
            redelivery_delay: params
                .get("redelivery_delay")
                .and_then(|d| d.as_str())
                .and_then(relais_dsl::ir::parse_duration)
                .unwrap_or(Duration::from_millis(100)),
        })
    }

    fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.redelivery_delay.saturating_mul(factor).min(Duration::from_secs(30))
    }

    /// Runs the flow on one message until it succeeds or its deliveries are exhausted.
    async fn deliver(&self, runtime: &Runtime, message: Message) {
        let mut attempt = 1;
        let mut first_failure = None;
        loop {
            let event = Event {
                payload: message.payload.clone(),
                attributes: Arc::new(json!({
                    "queue": self.queue.name(),
                    "published_by": message.published_by,
                    "published_at": message.published_at,
                    "delivery": attempt,
                })),
                vars: Arc::default(),
                correlation_id: message.correlation_id.clone(),
                error: None,
            };
            let error = match runtime.run_flow(&self.flow, event.clone()).await {
                Ok(_) => return,
                Err(e) => e,
            };
            let first_failure = *first_failure.get_or_insert_with(crate::runtime::state::now);
            if attempt >= self.max_deliveries || runtime.is_closing() {
                let failed_at = crate::runtime::state::now();
                tracing::error!(
                    correlation_id = %message.correlation_id,
                    flow = %self.flow,
                    queue = %self.queue.name(),
                    error_type = %error.error_type,
                    attempts = attempt,
                    "message dead-lettered: {}",
                    runtime.scrub(&error.description, &event)
                );
                let stored = relais_store::Message {
                    payload: message.payload.to_bytes(),
                    media_type: message.payload.media_type().to_string(),
                    attributes: (*event.attributes).clone(),
                    correlation_id: message.correlation_id.to_string(),
                };
                let mut letter = relais_store::DeadLetter::new(
                    stored,
                    &failure(&self.flow, &error),
                    attempt,
                    first_failure,
                    failed_at,
                );
                letter.queue = Some(self.queue.name().to_string());
                runtime.program().state.dead_letter(letter);
                return;
            }
            tracing::warn!(
                correlation_id = %message.correlation_id,
                flow = %self.flow,
                queue = %self.queue.name(),
                error_type = %error.error_type,
                "delivery {attempt} of {} failed; trying again",
                self.max_deliveries
            );
            tokio::time::sleep(self.delay(attempt)).await;
            attempt += 1;
        }
    }
}

/// What a dead letter records of the error that ended a message.
pub fn failure(flow: &str, error: &FlowError) -> relais_store::Failure {
    relais_store::Failure {
        flow: if error.flow.is_empty() { flow.to_string() } else { error.flow.clone() },
        step: error.step.clone(),
        location: error.location.clone(),
        error_type: error.error_type.to_string(),
        error_description: error.description.clone(),
    }
}

/// Consumes the queue until `stop` turns true; messages already taken finish.
pub fn start(
    listener: QueueListener,
    runtime: Runtime,
    mut stop: watch::Receiver<bool>,
    in_flight: InFlight,
) -> tokio::task::JoinHandle<()> {
    let listener = Arc::new(listener);
    tokio::spawn(async move {
        let consumers = Arc::new(Semaphore::new(listener.consumers));
        loop {
            let permit = tokio::select! {
                p = consumers.clone().acquire_owned() => p,
                _ = stop.changed() => break,
            };
            let Ok(permit) = permit else { break };
            // `take` is cancel-safe: a stop while waiting leaves the next message in the queue.
            let taken = tokio::select! {
                t = listener.queue.take() => t,
                _ = stop.changed() => break,
            };
            let Some((message, queued)) = taken else { break };
            let working = Working::start(&in_flight);
            let (listener, runtime) = (listener.clone(), runtime.clone());
            tokio::spawn(async move {
                listener.deliver(&runtime, message).await;
                drop((queued, working, permit));
            });
        }
    })
}
