//! The `queue.listener` source: takes messages from a queue and runs its flow for each, with up to
//! `consumers` at once. A failed message is delivered again after a growing delay; after `max_deliveries`
//! attempts it goes to the dead letters with its last error. Nothing is dropped silently.
//!
//! In-memory queues hand messages over in the process. Persistent queues (`persistent: true`) lease them
//! from the state store: a message is acknowledged only once its flow succeeded, so a crash during
//! processing delivers it again after the visibility timeout (at least once).

use super::ListenerParams;
use crate::event::{Event, FlowError};
use crate::runtime::dead_letter::failure;
use crate::runtime::Runtime;
use crate::source::{InFlight, Working};
use crate::state::queue::{Message, Queue};
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
    /// Read from the state store rather than from memory.
    pub persistent: bool,
    /// How long a leased persistent message stays hidden.
    pub visibility_timeout: Duration,
}

impl QueueListener {
    /// The consumer of a `queue.listener` source.
    pub fn new(flow: &str, settings: &ListenerParams, runtime: &Runtime) -> QueueListener {
        let state = &runtime.program().state;
        if settings.persistent {
            state.signal(&settings.queue);
        }
        QueueListener {
            flow: flow.to_string(),
            queue: state.queue_or_default(&settings.queue),
            consumers: (settings.consumers as usize).max(1),
            max_deliveries: settings.max_deliveries.max(1),
            redelivery_delay: settings.redelivery_delay.0,
            persistent: settings.persistent,
            visibility_timeout: settings.visibility_timeout.0,
        }
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
                attributes: json!({
                    "queue": self.queue.name(),
                    "published_by": message.published_by,
                    "published_at": message.published_at,
                    "delivery": attempt,
                })
                .into(),
                vars: Arc::default(),
                correlation_id: message.correlation_id.clone(),
                error: None,
                claims: Arc::default(),
                deadline: None,
            };
            let error = match runtime.run_flow(&self.flow, event.clone()).await {
                Ok(_) => return,
                Err(e) => e,
            };
            let first_failure = *first_failure.get_or_insert_with(crate::state::now);
            if attempt >= self.max_deliveries || runtime.is_closing() {
                let queue = Some(self.queue.name().to_string());
                crate::runtime::dead_letter::keep(runtime, &self.flow, &event, &error, attempt, first_failure, queue);
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

impl QueueListener {
    /// Runs the flow on one leased persistent message, then acknowledges it, or reports the failure (the
    /// store redelivers it later, or dead-letters it after the last delivery).
    async fn deliver_leased(&self, runtime: &Runtime, leased: relais_store::Leased) {
        let state = runtime.program().state.clone();
        let name = self.queue.name().to_string();
        let mut attributes = match &leased.message.attributes {
            serde_json::Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        attributes.insert("queue".into(), json!(name));
        attributes.insert("delivery".into(), json!(leased.deliveries));
        let event = Event {
            payload: Arc::new(crate::event::Payload::bytes(leased.message.payload.clone(), &leased.message.media_type)),
            attributes: serde_json::Value::Object(attributes).into(),
            vars: Arc::default(),
            correlation_id: leased.message.correlation_id.as_str().into(),
            error: None,
            claims: Arc::default(),
            deadline: None,
        };
        // A message whose consumer died more often than it may be delivered: never run it again.
        let outcome = if leased.deliveries > self.max_deliveries {
            Err(FlowError::new(
                "QUEUE:REDELIVERY_EXHAUSTED",
                format!(
                    "delivered {} times without an answer (the process stopped while processing it)",
                    leased.deliveries
                ),
            ))
        } else {
            runtime.run_flow(&self.flow, event.clone()).await
        };
        let store = state.durable().clone();
        let now = crate::state::now();
        let result = match &outcome {
            Ok(_) => crate::state::object_store::blocking(|| store.ack(&name, leased.id)).map(|_| None),
            Err(error) => {
                let redelivery = relais_store::Redelivery {
                    delay: self.delay(leased.deliveries),
                    max_deliveries: self.max_deliveries,
                };
                let failure = failure(&self.flow, error);
                crate::state::object_store::blocking(|| store.nack(&name, leased.id, redelivery, &failure, now))
                    .map(Some)
            }
        };
        match (result, outcome) {
            (Err(e), _) => tracing::error!(
                correlation_id = %leased.message.correlation_id,
                queue = %name,
                "cannot record the outcome of a delivery ({e}); the message will be delivered again"
            ),
            (Ok(Some(relais_store::NackOutcome::DeadLettered(id))), Err(error)) => {
                state.count_dead_letter();
                tracing::error!(
                    correlation_id = %leased.message.correlation_id,
                    flow = %self.flow,
                    queue = %name,
                    error_type = %error.error_type,
                    attempts = leased.deliveries,
                    dead_letter = id.0,
                    "message dead-lettered: {}",
                    runtime.scrub(&error.description, &event)
                );
            }
            (Ok(Some(_)), Err(error)) => tracing::warn!(
                correlation_id = %leased.message.correlation_id,
                flow = %self.flow,
                queue = %name,
                error_type = %error.error_type,
                "delivery {} of {} failed; trying again",
                leased.deliveries,
                self.max_deliveries
            ),
            _ => {}
        }
    }
}

/// Consumes a persistent queue: leases a message whenever a consumer is free, waits for a publish in this
/// process (or polls every 250 ms, for messages another process or a replay put there) when it is empty.
async fn consume_persistent(
    listener: Arc<QueueListener>,
    runtime: Runtime,
    mut stop: watch::Receiver<bool>,
    in_flight: InFlight,
) {
    let state = runtime.program().state.clone();
    let name = listener.queue.name().to_string();
    let signal = state.signal(&name);
    let consumers = Arc::new(Semaphore::new(listener.consumers));
    loop {
        let permit = tokio::select! {
            p = consumers.clone().acquire_owned() => p,
            _ = stop.changed() => break,
        };
        let Ok(permit) = permit else { break };
        let store = state.durable().clone();
        let visibility = listener.visibility_timeout;
        let leased = crate::state::object_store::blocking(|| store.lease(&name, visibility, crate::state::now()));
        match leased {
            Ok(Some(leased)) => {
                let working = Working::start(&in_flight);
                let (listener, runtime) = (listener.clone(), runtime.clone());
                tokio::spawn(async move {
                    listener.deliver_leased(&runtime, leased).await;
                    drop((working, permit));
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = signal.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop.changed() => break,
                }
            }
            Err(e) => {
                drop(permit);
                tracing::error!(queue = %name, "cannot read the persistent queue: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => break,
                }
            }
        }
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
    if listener.persistent {
        return tokio::spawn(consume_persistent(listener, runtime, stop, in_flight));
    }
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
