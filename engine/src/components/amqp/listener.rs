//! `amqp.listener`: consumes a queue on the config's connection and runs the flow for each message, at
//! most `prefetch` at once (the broker's QoS bound). A message is acknowledged after its flow succeeded;
//! a failure runs it again after a growing delay, holding it (unacknowledged) in the meantime, until
//! `max_deliveries` runs failed. Then it is rejected to the queue's dead-letter exchange when the config
//! declares one for the queue, or kept as a relais dead letter and acknowledged. Such a letter is filed
//! under the flow's replay queue ([`crate::state::replays`]): replayed, it runs the flow again from there,
//! on the message as it was delivered.
//!
//! Each run is a consumer span under the span the message's `traceparent` header names (the publisher's,
//! `amqp.publish` writes it); a message without one, or with a malformed one, starts a trace of its own.
//!
//! At least once: a message whose flow was running when the connection went away is delivered again by
//! the broker once the listener consumes on the next connection (its `redelivered` attribute is then
//! true); a message is acknowledged at most once per delivery, never before its flow ended. A failure
//! on a channel that is gone is neither retried nor dead-lettered here: the broker's redelivery is the copy. On a quorum
//! queue the broker's `x-delivery-count` counts the earlier deliveries too. Stopping cancels the consumer
//! (messages prefetched and not started go back to the queue) and lets the running flows finish and ack;
//! a failure while stopping gives the message back to the broker instead of dead-lettering it.

use super::broker::{Broker, Session};
use super::topology::json_of_table;
use crate::component::ConfigRef;
use crate::components::types::DurationText;
use crate::event::{given_correlation_id, Event, Payload};
use crate::runtime::Runtime;
use crate::source::{InFlight, Planned, Source, SourceUse, Stage, TaskPlanned, Working};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// `amqp.listener`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerParams {
    /// The queue consumed (declare it under the config's `queues`).
    pub queue: String,
    /// Messages the broker hands over before one is acknowledged: the flows running at once.
    #[serde(default = "prefetch")]
    #[schemars(range(min = 1))]
    pub prefetch: u16,
    /// Runs of a message's flow before it is dead-lettered.
    #[serde(default = "max_deliveries")]
    #[schemars(range(min = 1))]
    pub max_deliveries: u32,
    /// Delay before a failed message is run again, doubled on each attempt (at most 30 s).
    #[serde(default = "redelivery_delay")]
    pub redelivery_delay: DurationText,
    /// The payload's media type when a message has no `content_type` property.
    #[serde(default = "content_type")]
    pub content_type: String,
}

fn prefetch() -> u16 {
    16
}

fn max_deliveries() -> u32 {
    5
}

fn redelivery_delay() -> DurationText {
    DurationText::millis(200)
}

fn content_type() -> String {
    "application/json".into()
}

impl Source for ListenerParams {
    const NAME: &'static str = "amqp.listener";
    const SUMMARY: &'static str =
        "Starts the flow for each message of a RabbitMQ queue; acknowledges it once the flow succeeded.";
    const CONFIG: Option<ConfigRef> = Some(ConfigRef { kind: "amqp", required: true });

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        let mut planned = Vec::new();
        for u in uses {
            let name = u.config_name.clone().unwrap_or_default();
            let broker = runtime
                .program()
                .resources
                .get_as::<Broker>(&name)
                .ok_or_else(|| format!("flow `{}`: no `amqp` config named `{name}`", u.flow))?;
            let dead_letter_exchange = broker
                .config
                .queues
                .iter()
                .find(|q| q.name == u.settings.queue)
                .is_some_and(|q| q.dead_letter_exchange.is_some());
            let consumer =
                Arc::new(Consumer { flow: u.flow.clone(), settings: u.settings.clone(), broker, dead_letter_exchange });
            let key = format!("amqp.listener:{}", u.flow);
            let (max, delay) = (u.settings.max_deliveries, u.settings.redelivery_delay.0);
            planned.push(crate::components::queue::replays_planned(&key, &u.flow, max, delay, runtime));
            let runtime = runtime.clone();
            planned.push(TaskPlanned::planned(
                key,
                Stage::Intake,
                Box::new(move |stop, in_flight| tokio::spawn(consumer.run(runtime, stop, in_flight))),
            ));
        }
        Ok(planned)
    }
}

/// One flow's consumer.
struct Consumer {
    flow: String,
    settings: Arc<ListenerParams>,
    broker: Arc<Broker>,
    /// Whether the config declares a dead-letter exchange for the queue (then the broker dead-letters).
    dead_letter_exchange: bool,
}

/// How consuming on one session ended.
enum Ended {
    /// Told to stop.
    Stopped,
    /// The session failed (its connection was lost, or the queue cannot be consumed): why, and whether
    /// it had been consuming.
    Lost(String, bool),
}

impl Consumer {
    /// Consumes on each session the broker's supervisor opens, until stopped. A session on which the
    /// queue cannot be consumed (it does not exist, another consumer holds it exclusively) is tried again
    /// after a pause growing to 30 s, the reason logged when it changes.
    async fn run(self: Arc<Self>, runtime: Runtime, mut stop: watch::Receiver<bool>, in_flight: InFlight) {
        let mut sessions = self.broker.sessions();
        let mut pause = Duration::from_millis(500);
        let mut last = String::new();
        loop {
            let session = tokio::select! {
                found = sessions.wait_for(Option::is_some) => match found {
                    Ok(session) => session.clone(),
                    Err(_) => return,
                },
                _ = stop.changed() => return,
            };
            let Some(session) = session else { continue };
            let why = match self.clone().consume(&runtime, &session, &mut stop, &in_flight).await {
                Ended::Stopped => return,
                Ended::Lost(why, consumed) => {
                    if consumed {
                        last.clear();
                        pause = Duration::from_millis(500);
                    }
                    why
                }
            };
            if why != last {
                tracing::warn!(
                    flow = %self.flow,
                    queue = %self.settings.queue,
                    "amqp.listener stopped consuming: {why}; it consumes again on the next connection"
                );
                last = why;
            }
            // The next session, or the same one after a pause when only the channel failed.
            let replaced = |s: &Option<Arc<Session>>| !s.as_ref().is_some_and(|s| Arc::ptr_eq(s, &session));
            tokio::select! {
                _ = sessions.wait_for(replaced) => pause = Duration::from_millis(500),
                _ = tokio::time::sleep(pause) => pause = (pause * 2).min(Duration::from_secs(30)),
                _ = stop.changed() => return,
            }
        }
    }

    /// Consumes the queue on `session` until stopped or lost, each delivery handled on its own task.
    async fn consume(
        self: Arc<Self>,
        runtime: &Runtime,
        session: &Session,
        stop: &mut watch::Receiver<bool>,
        in_flight: &InFlight,
    ) -> Ended {
        let describe = super::broker::describe;
        let channel = match session.connection.create_channel().await {
            Ok(channel) => channel,
            Err(e) => return Ended::Lost(describe(&e), false),
        };
        if let Err(e) = channel.basic_qos(self.settings.prefetch.max(1), BasicQosOptions::default()).await {
            return Ended::Lost(describe(&e), false);
        }
        let tag = format!("relais/{}", self.flow);
        let consumer = channel
            .basic_consume(
                self.settings.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await;
        let mut consumer = match consumer {
            Ok(consumer) => consumer,
            Err(e) => {
                return Ended::Lost(format!("cannot consume queue `{}`: {}", self.settings.queue, describe(&e)), false)
            }
        };
        loop {
            tokio::select! {
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        let working = Working::start(in_flight);
                        // Each delivery holds the channel: lapin closes a channel when its last handle goes,
                        // and a closed channel can no longer acknowledge (the broker would deliver the
                        // message again although its flow succeeded).
                        let (me, runtime, held) = (self.clone(), runtime.clone(), channel.clone());
                        tokio::spawn(async move {
                            me.handle(&runtime, &held, delivery).await;
                            drop((working, held));
                        });
                    }
                    Some(Err(e)) => return Ended::Lost(describe(&e), true),
                    None => return Ended::Lost("the broker cancelled the consumer".into(), true),
                },
                _ = stop.changed() => {
                    let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                    return Ended::Stopped;
                }
            }
        }
    }

    /// The event of a delivery, on its `attempt`-th run.
    fn event(&self, delivery: &Delivery, attempt: u32) -> Event {
        let properties = &delivery.properties;
        let media_type = properties.content_type().as_ref().map_or(self.settings.content_type.as_str(), |c| c.as_str());
        let mut event = Event::with_payload(Payload::bytes(delivery.data.clone(), media_type));
        let headers = properties.headers().as_ref().map_or_else(|| json!({}), json_of_table);
        let given = properties
            .correlation_id()
            .as_ref()
            .and_then(|c| given_correlation_id(c.as_str().as_bytes()).map(str::to_string))
            .or_else(|| {
                headers
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("x-correlation-id"))?
                    .1
                    .as_str()
                    .and_then(|c| given_correlation_id(c.as_bytes()).map(str::to_string))
            });
        if let Some(id) = given {
            event.correlation_id = id.into();
        }
        event.attributes = json!({
            "config": self.broker.name,
            "queue": self.settings.queue,
            "exchange": delivery.exchange.as_str(),
            "routing_key": delivery.routing_key.as_str(),
            "headers": headers,
            "delivery_tag": delivery.delivery_tag,
            "redelivered": delivery.redelivered,
            "delivery": attempt,
            "message_id": properties.message_id().as_ref().map(|m| m.as_str().to_string()),
            "content_type": media_type,
        })
        .into();
        event
    }

    /// Runs the flow on one delivery until it succeeds or its deliveries are exhausted, then settles it
    /// with the broker.
    async fn handle(&self, runtime: &Runtime, channel: &lapin::Channel, delivery: Delivery) {
        let earlier = earlier_deliveries(&delivery);
        let mut attempt = earlier + 1;
        let mut delay = self.settings.redelivery_delay.0;
        let mut first_failure = None;
        // The publisher's span, from the message's `traceparent` header (none, or a malformed one: each run
        // starts a trace of its own).
        let parent = trace_parent(&delivery);
        loop {
            let mut event = self.event(&delivery, attempt);
            // One consumer span per run, under the publisher's span.
            let span = crate::trace::inbound_message(parent.as_ref(), SYSTEM, &self.settings.queue);
            event.trace = span.as_ref().map(|s| s.context().clone());
            let outcome = runtime.run_flow(&self.flow, event.clone()).await;
            let failed = outcome.as_ref().err().map(|e| e.error_type.to_string());
            crate::trace::end(span, failed.as_deref());
            let error = match outcome {
                Ok(_) => return self.ack(&delivery, &event).await,
                Err(error) => error,
            };
            let first_failure = *first_failure.get_or_insert_with(crate::state::now);
            if !channel.status().connected() {
                // The channel is gone (a lost connection): the broker delivers the message again, so
                // neither a retry here nor a dead letter would be the only copy.
                tracing::warn!(
                    correlation_id = %event.correlation_id,
                    flow = %self.flow,
                    queue = %self.settings.queue,
                    error_type = %error.error_type,
                    "delivery {attempt} failed and its channel is gone; the broker delivers it again"
                );
                return;
            }
            if runtime.is_closing() && attempt < self.settings.max_deliveries {
                // Stopping: the broker keeps the message for the next consumer rather than a dead letter.
                let requeue = BasicNackOptions { requeue: true, ..Default::default() };
                if let Err(e) = delivery.acker.nack(requeue).await {
                    tracing::warn!(flow = %self.flow, "amqp.listener could not give a message back ({e}); the broker redelivers it");
                }
                return;
            }
            if attempt >= self.settings.max_deliveries {
                return self.dead_letter(runtime, &delivery, &event, &error, attempt, first_failure).await;
            }
            tracing::warn!(
                correlation_id = %event.correlation_id,
                flow = %self.flow,
                queue = %self.settings.queue,
                error_type = %error.error_type,
                "delivery {attempt} of {} failed; trying again",
                self.settings.max_deliveries
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
            attempt += 1;
        }
    }

    async fn ack(&self, delivery: &Delivery, event: &Event) {
        if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
            tracing::warn!(
                correlation_id = %event.correlation_id,
                flow = %self.flow,
                queue = %self.settings.queue,
                "amqp.listener could not acknowledge a message whose flow succeeded ({}); the broker will deliver \
                 it again",
                super::broker::describe(&e)
            );
        }
    }

    /// A message whose flow failed `attempts` times: rejected to the dead-letter exchange, or kept as a
    /// relais dead letter (then acknowledged, since the dead letter holds it).
    async fn dead_letter(
        &self,
        runtime: &Runtime,
        delivery: &Delivery,
        event: &Event,
        error: &crate::event::FlowError,
        attempts: u32,
        first_failure: relais_store::Timestamp,
    ) {
        if self.dead_letter_exchange {
            tracing::error!(
                correlation_id = %event.correlation_id,
                flow = %self.flow,
                queue = %self.settings.queue,
                error_type = %error.error_type,
                attempts,
                "message rejected to the dead-letter exchange: {}",
                runtime.scrub(&error.description, event)
            );
            let reject = BasicNackOptions { requeue: false, ..Default::default() };
            if let Err(e) = delivery.acker.nack(reject).await {
                tracing::warn!(flow = %self.flow, "amqp.listener could not reject a message ({e}); the broker redelivers it");
            }
            return;
        }
        // Replayable: a replay runs this flow again on the message, from its replay queue.
        let replays = Some(crate::state::replays::queue_of(&self.flow));
        crate::runtime::dead_letter::keep(runtime, &self.flow, event, error, attempts, first_failure, replays);
        self.ack(delivery, event).await;
    }
}

/// The messaging system, as the spans name it.
pub(super) const SYSTEM: &str = "rabbitmq";

/// The remote parent a delivery's `traceparent` and `tracestate` headers name (a long or short string, its
/// name in any case), or `None`: tracing off, no header, a malformed one.
fn trace_parent(delivery: &Delivery) -> Option<crate::trace::TraceContext> {
    if !crate::trace::is_on() {
        return None;
    }
    let headers = delivery.properties.headers().as_ref()?;
    let header = |name: &str| {
        let (_, value) = headers.inner().iter().find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))?;
        match value {
            AMQPValue::LongString(text) => Some(text.as_bytes()),
            AMQPValue::ShortString(text) => Some(text.as_str().as_bytes()),
            _ => None,
        }
    };
    crate::trace::incoming(header(crate::trace::w3c::TRACEPARENT), header(crate::trace::w3c::TRACESTATE))
}

/// Deliveries of the message before this one, as a quorum queue counts them (`x-delivery-count`); 0 on a
/// classic queue, which does not count.
fn earlier_deliveries(delivery: &Delivery) -> u32 {
    let Some(headers) = delivery.properties.headers() else { return 0 };
    let count = headers.inner().iter().find(|(k, _)| k.as_str() == "x-delivery-count").map(|(_, v)| v);
    match count {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}
