//! The `queue.listener` source: takes messages from a queue and runs its flow for each, with up to
//! `consumers` at once. A failed message is delivered again after a growing delay; after `max_deliveries`
//! attempts it goes to the dead letters with its last error, and at once when the error is permanent
//! (`SENSITIVE:LEAK`, `CONTRACT:VIOLATION`: the same message would fail the same way). Nothing is dropped
//! silently.
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
use relais_store::MessageId;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};

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
    /// What the queue holds: messages published to it, or a broker listener's replays.
    pub feed: Feed,
}

/// What a persistent queue's messages are, and so what their events look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Messages `queue.publish` (or a replay of one of its letters) put there: the event's attributes are
    /// the publisher's with `queue` and `delivery`; its trace is the one stored with the message.
    Published,
    /// Dead letters of a broker listener's flow, replayed into its replay queue
    /// ([`crate::state::replays`]): the event is the broker's delivery again (its attributes as they were,
    /// `delivery` counting the replay's runs, `replayed: true`), in the trace its `traceparent` header
    /// names.
    Replays,
}

/// How often a persistent consumer with an empty queue looks for messages another replica, or `relais dlq`
/// on a shared state, put there (a publish or a replay in this process wakes it at once).
const POLL: Duration = Duration::from_millis(250);

/// [`POLL`] for a replay queue, which is empty but for an operator's replays: looked at less often, since
/// a replay through this process's admin port wakes it at once.
const REPLAYS_POLL: Duration = Duration::from_secs(1);

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
            feed: Feed::Published,
        }
    }

    /// The consumer of the replay queue of a broker listener's `flow` ([`crate::state::replays`]): its
    /// flow run again on each replayed letter, up to `max_deliveries` times `redelivery_delay` apart
    /// (doubling), then dead-lettered again (into the same replay queue, so replayable again).
    pub fn replays(
        flow: &str,
        max_deliveries: u32,
        redelivery_delay: Duration,
        visibility_timeout: Duration,
        runtime: &Runtime,
    ) -> QueueListener {
        let state = &runtime.program().state;
        let name = crate::state::replays::queue_of(flow);
        state.signal(&name);
        QueueListener {
            flow: flow.to_string(),
            queue: state.queue_or_default(&name),
            consumers: 1,
            max_deliveries: max_deliveries.max(1),
            redelivery_delay,
            persistent: true,
            visibility_timeout,
            feed: Feed::Replays,
        }
    }

    fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.redelivery_delay.saturating_mul(factor).min(super::MAX_REDELIVERY_DELAY)
    }

    /// Runs the flow on one message until it succeeds or its deliveries are exhausted.
    async fn deliver(&self, runtime: &Runtime, message: Message) {
        let mut attempt = 1;
        let mut first_failure = None;
        loop {
            // One consumer span per delivery, under the publish's span.
            let mut span = crate::trace::inbound_message(message.trace.as_ref(), "relais", self.queue.name());
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
                carried: None,
                origin: None,
                trace: span.as_ref().map(|s| s.context().clone()),
            };
            let counters = runtime.program().state.metrics().queue(self.queue.name());
            let outcome = runtime.run_flow(&self.flow, event.clone()).await;
            end_delivery(span.take(), &outcome);
            let error = match outcome {
                Ok(_) => return counters.acked(1),
                Err(e) => e,
            };
            let first_failure = *first_failure.get_or_insert_with(crate::state::now);
            // A leak or a contract violation would fail the same way on every delivery: dead-lettered at once.
            if attempt >= self.max_deliveries || runtime.is_closing() || error.is_permanent() {
                counters.dead_lettered();
                let queue = Some(self.queue.name().to_string());
                crate::runtime::dead_letter::keep(runtime, &self.flow, &event, &error, attempt, first_failure, queue);
                return;
            }
            tracing::warn!(
                correlation_id = %message.correlation_id,
                trace_id = crate::trace::log_id(&event.trace),
                flow = %self.flow,
                queue = %self.queue.name(),
                error_type = %error.error_type,
                "delivery {attempt} of {} failed; trying again",
                self.max_deliveries
            );
            counters.redelivered();
            tokio::time::sleep(self.delay(attempt)).await;
            attempt += 1;
        }
    }
}

impl QueueListener {
    /// Runs the flow on one leased persistent message. On success it returns the id for the consumer loop to
    /// acknowledge (with the other finished messages and the next lease, in one commit); on failure it
    /// reports the failure itself (the store redelivers the message later, or dead-letters it after the last
    /// delivery) and returns `None`.
    async fn deliver_leased(&self, runtime: &Runtime, leased: relais_store::Leased) -> Option<MessageId> {
        let state = runtime.program().state.clone();
        let name = self.queue.name().to_string();
        let mut attributes = match &leased.message.attributes {
            serde_json::Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        let parent = match self.feed {
            Feed::Published => {
                attributes.insert("queue".into(), json!(name));
                // The publish's span, as stored with the message (the same after a restart).
                crate::trace::stored(leased.message.trace.as_ref())
            }
            Feed::Replays => {
                attributes.insert("replayed".into(), json!(true));
                // The broker message's own trace: the replay joins the trace its publisher started.
                crate::trace::stored(leased.message.trace.as_ref())
                    .or_else(|| crate::trace::in_headers(attributes.get("headers")))
            }
        };
        attributes.insert("delivery".into(), json!(leased.deliveries));
        let span = crate::trace::inbound_message(parent.as_ref(), "relais", &name);
        let event = Event {
            payload: Arc::new(crate::event::Payload::bytes(leased.message.payload.clone(), &leased.message.media_type)),
            attributes: serde_json::Value::Object(attributes).into(),
            vars: Arc::default(),
            correlation_id: leased.message.correlation_id.as_str().into(),
            error: None,
            claims: Arc::default(),
            deadline: None,
            carried: None,
            origin: None,
            trace: span.as_ref().map(|s| s.context().clone()),
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
        end_delivery(span, &outcome);
        let error = match outcome {
            Ok(_) => return Some(leased.id),
            Err(error) => error,
        };
        let store = state.durable().clone();
        let now = crate::state::now();
        // A leak or a contract violation would fail the same way on every delivery: the store dead-letters a
        // message nacked with `max_deliveries: 1` at once.
        let max_deliveries = if error.is_permanent() { 1 } else { self.max_deliveries };
        let redelivery = relais_store::Redelivery { delay: self.delay(leased.deliveries), max_deliveries };
        let failure = failure(&self.flow, &error);
        match crate::state::object_store::blocking(|| store.nack(&name, leased.id, redelivery, &failure, now)) {
            Err(e) => tracing::error!(
                correlation_id = %leased.message.correlation_id,
                trace_id = crate::trace::log_id(&event.trace),
                queue = %name,
                "cannot record the outcome of a delivery ({e}); the message will be delivered again"
            ),
            Ok(relais_store::NackOutcome::DeadLettered(id)) => {
                state.metrics().queue(&name).dead_lettered();
                state.count_dead_letter(&failure.flow, &failure.error_type);
                tracing::error!(
                    correlation_id = %leased.message.correlation_id,
                    trace_id = crate::trace::log_id(&event.trace),
                    flow = %self.flow,
                    queue = %name,
                    error_type = %error.error_type,
                    attempts = leased.deliveries,
                    dead_letter = id.0,
                    "message dead-lettered: {}",
                    runtime.scrub(&error.description, &event)
                );
            }
            Ok(_) => {
                state.metrics().queue(&name).redelivered();
                tracing::warn!(
                    correlation_id = %leased.message.correlation_id,
                    trace_id = crate::trace::log_id(&event.trace),
                    flow = %self.flow,
                    queue = %name,
                    error_type = %error.error_type,
                    "delivery {} of {} failed; trying again",
                    leased.deliveries,
                    self.max_deliveries
                )
            }
        }
        None
    }

    /// How many messages the consumer loop holds leased at most, running or waiting for a free consumer.
    /// Leasing ahead is what lets one commit carry many leases: with one lease per free consumer, a queue
    /// drains at `consumers` messages per commit, and a commit is an fsync (milliseconds). Messages leased
    /// ahead wait at most until a consumer is free, which must stay well inside their visibility timeout,
    /// so a short timeout (under [`LEASE_AHEAD_MIN_VISIBILITY`]) leases only for free consumers.
    fn lease_bound(&self) -> usize {
        if self.visibility_timeout >= LEASE_AHEAD_MIN_VISIBILITY {
            self.consumers + LEASE_AHEAD
        } else {
            self.consumers
        }
    }
}

/// Ends the consumer span of one delivery, failed with the error's type when the flow failed.
fn end_delivery<T>(span: Option<crate::trace::Span>, outcome: &Result<T, FlowError>) {
    if let Some(mut span) = span {
        if let Err(error) = outcome {
            span.fail(&error.error_type.to_string());
        }
        span.end();
    }
}

/// Messages a persistent consumer leases beyond its consumers (see [`QueueListener::lease_bound`]).
const LEASE_AHEAD: usize = 64;

/// The shortest visibility timeout with which a consumer leases ahead of its free consumers.
const LEASE_AHEAD_MIN_VISIBILITY: Duration = Duration::from_secs(10);

/// How long a persistent consumer waits after a failed store call before the next, doubling up to
/// [`MAX_BACKOFF`] while the store stays out of reach, back to this after a call that succeeds.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between two store calls of a consumer whose store is out of reach.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A delivery that ended: the message to acknowledge (its flow succeeded) or `None` (it was nacked), and the
/// in-flight mark that lasts until the acknowledgement is durable.
type Finished = (Option<MessageId>, Working);

/// Consumes a persistent queue. One loop owns the store calls of the listener: each turn acknowledges every
/// message whose flow finished since the last turn and leases what the free consumers (and the lease-ahead
/// buffer) can take, in one call, so one commit (one fsync) settles and hands out a batch. A message is done
/// (out of the in-flight count) only once its ack is durable. When the queue is empty, the loop waits for a
/// publish in this process (or polls every 250 ms, 1 s for a replay queue, for messages another replica or
/// a replay put there). A failed store call is retried with a backoff (250 ms doubling to 5 s), its acks
/// kept for the next turn. On stop, messages leased ahead and not started are given back without counting
/// a delivery.
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
    let (finished_tx, mut finished_rx) = mpsc::unbounded_channel::<Finished>();
    let mut ahead: VecDeque<relais_store::Leased> = VecDeque::new();
    let mut acks: Vec<Finished> = Vec::new();
    // The last lease found fewer messages than it asked for: wait for a publish before asking again.
    let mut drained = false;
    let bound = listener.lease_bound();
    let poll = if listener.feed == Feed::Replays { REPLAYS_POLL } else { POLL };
    let mut backoff = FIRST_BACKOFF;
    loop {
        while !ahead.is_empty() {
            let Ok(permit) = consumers.clone().try_acquire_owned() else { break };
            let Some(leased) = ahead.pop_front() else { break };
            let working = Working::start(&in_flight);
            let (listener, runtime, finished) = (listener.clone(), runtime.clone(), finished_tx.clone());
            tokio::spawn(async move {
                let ack = listener.deliver_leased(&runtime, leased).await;
                drop(permit);
                // The loop outlives its deliveries unless aborted, and then the message comes back anyway.
                let _ = finished.send((ack, working));
            });
        }
        while let Ok(done) = finished_rx.try_recv() {
            acks.push(done);
        }
        let running = listener.consumers - consumers.available_permits();
        let want = if drained { 0 } else { bound.saturating_sub(running + ahead.len()) };
        if want > 0 || acks.iter().any(|(id, _)| id.is_some()) {
            let ids: Vec<MessageId> = acks.iter().filter_map(|(id, _)| *id).collect();
            let store = state.durable().clone();
            let visibility = listener.visibility_timeout;
            let result = crate::state::object_store::blocking(|| {
                store.ack_and_lease(&name, &ids, want, visibility, crate::state::now())
            });
            match result {
                Ok(leased) => {
                    state.metrics().queue(&name).acked(ids.len() as u64);
                    drained = leased.len() < want;
                    ahead.extend(leased);
                }
                Err(e) => {
                    // Kept, and acknowledged by the next turn that reaches the store: a store out of reach
                    // for a while (PostgreSQL restarting) redelivers nothing that was processed, unless the
                    // outage outlasts the visibility timeout.
                    tracing::error!(
                        queue = %name,
                        acks = ids.len(),
                        "cannot reach the persistent queue: {e}; trying again in {backoff:?} (messages processed \
                         and not acknowledged are delivered again if it stays out of reach past their \
                         visibility timeout)"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            backoff = FIRST_BACKOFF;
            acks.clear();
            continue;
        }
        // Nacked deliveries have nothing to acknowledge; their in-flight marks end here.
        acks.clear();
        tokio::select! {
            done = finished_rx.recv() => acks.extend(done),
            _ = signal.notified(), if drained => drained = false,
            _ = tokio::time::sleep(poll), if drained => drained = false,
            _ = stop.changed() => break,
        }
    }
    give_back(&state, &name, ahead);
    // Deliveries still running finish and are acknowledged (until the daemon's drain deadline aborts this).
    drop(finished_tx);
    while let Some(done) = finished_rx.recv().await {
        acks.push(done);
        while let Ok(done) = finished_rx.try_recv() {
            acks.push(done);
        }
        let ids: Vec<MessageId> = acks.iter().filter_map(|(id, _)| *id).collect();
        let store = state.durable().clone();
        let visibility = listener.visibility_timeout;
        let acked = crate::state::object_store::blocking(|| {
            store.ack_and_lease(&name, &ids, 0, visibility, crate::state::now())
        });
        if acked.is_ok() {
            state.metrics().queue(&name).acked(ids.len() as u64);
        }
        if let Err(e) = acked {
            tracing::error!(queue = %name, "cannot acknowledge {} messages ({e}); they will be delivered again", ids.len());
        }
        acks.clear();
    }
}

/// Gives back the messages a stopping consumer leased ahead and never started.
fn give_back(state: &crate::state::State, name: &str, ahead: VecDeque<relais_store::Leased>) {
    if ahead.is_empty() {
        return;
    }
    let ids: Vec<MessageId> = ahead.iter().map(|leased| leased.id).collect();
    let store = state.durable().clone();
    if let Err(e) = crate::state::object_store::blocking(|| store.unlease(name, &ids)) {
        tracing::warn!(
            queue = %name,
            "cannot give back {} messages leased ahead ({e}); they are delivered again after their visibility \
             timeout or at the next start",
            ids.len()
        );
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
