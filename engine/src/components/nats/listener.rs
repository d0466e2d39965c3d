//! `nats.listener`: runs its flow for each message of a JetStream stream, read through a durable pull
//! consumer with explicit acks (the server keeps the consumer's position, so a restart resumes where the
//! last acknowledged message left off).
//!
//! Up to `consumers` messages run at once; the server hands out at most `max_ack_pending` unacknowledged
//! messages, pulled `batch` at a time. A message is acknowledged once its flow succeeded; while the flow
//! runs, the listener tells the server it is still working every half `ack_wait` (so a long flow is not
//! delivered a second time). A failed message is negatively acknowledged with a delay (`redelivery_delay`,
//! doubled at each delivery, at most 30 s); after its `max_deliveries`-th failure it is kept in the relais
//! dead letters with its last error and terminated on the server (`AckKind::Term`), which never delivers
//! it again; the letter is filed under the flow's replay queue ([`crate::state::replays`]), from which a
//! replay runs the flow again on the message as it was delivered. The server's own bound is one delivery
//! more: a message whose process stopped during its last run is dead-lettered (`NATS:REDELIVERY_EXHAUSTED`)
//! without running again. Nothing is dropped: at least once, a message being run twice only when its
//! acknowledgement was lost (the connection went away between the flow's end and the ack).
//!
//! Each run is a consumer span under the span the message's `traceparent` header names (the publisher's:
//! `nats.publish` writes it); a message without one, or with a malformed one, starts a trace of its own.
//!
//! The connection is the config's ([`super::Nats`]): when the server goes away the client reconnects and
//! the pull resumes; when the consumer cannot be made or read (the stream does not exist yet), the
//! listener says so once and tries again every second.

use super::check::check_listener;
use super::Nats;
use crate::component::ConfigRef;
use crate::components::types::DurationText;
use crate::event::{Event, FlowError, Payload};
use crate::runtime::Runtime;
use crate::source::{InFlight, Planned, Source, SourceUse, Stage, TaskPlanned, Working};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Longest delay before a failed message is delivered again.
const MAX_REDELIVERY_DELAY: Duration = Duration::from_secs(30);

/// Time between two attempts to make or read the consumer while that fails.
const RETRY: Duration = Duration::from_secs(1);

/// `nats.listener`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerParams {
    /// The stream read (default: the stream the config declares, else the one keeping `subject`).
    pub stream: Option<String>,
    /// The durable consumer's name, kept by the server (default: the flow's name).
    pub durable: Option<String>,
    /// Only messages of these subjects (`orders.created`, `orders.>`; default: every subject of the stream).
    pub subject: Option<String>,
    /// Where a new consumer starts: `all` the stream keeps, or only `new` messages.
    #[serde(default = "all")]
    pub deliver: Deliver,
    /// Time the server waits for an acknowledgement before delivering a message again (the listener
    /// extends it while the flow runs).
    #[serde(default = "ack_wait")]
    pub ack_wait: DurationText,
    /// Runs of a message's flow before it is kept as a dead letter and terminated on the server.
    #[serde(default = "max_deliveries")]
    #[schemars(range(min = 1))]
    pub max_deliveries: u32,
    /// Delay before a failed message is delivered again, doubled at each delivery (at most 30 s).
    #[serde(default = "redelivery_delay")]
    pub redelivery_delay: DurationText,
    /// Messages processed at once.
    #[serde(default = "consumers")]
    #[schemars(range(min = 1))]
    pub consumers: u32,
    /// Messages the server hands out without an acknowledgement, at most.
    #[serde(default = "max_ack_pending")]
    #[schemars(range(min = 1))]
    pub max_ack_pending: u32,
    /// Messages asked for in one pull.
    #[serde(default = "batch")]
    #[schemars(range(min = 1))]
    pub batch: u32,
}

/// Where a new consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Deliver {
    /// Every message the stream keeps.
    All,
    /// Messages stored after the consumer was made.
    New,
}

fn all() -> Deliver {
    Deliver::All
}

fn ack_wait() -> DurationText {
    DurationText::secs(30)
}

fn max_deliveries() -> u32 {
    5
}

fn redelivery_delay() -> DurationText {
    DurationText::secs(1)
}

fn consumers() -> u32 {
    4
}

fn max_ack_pending() -> u32 {
    256
}

fn batch() -> u32 {
    32
}

impl Source for ListenerParams {
    const NAME: &'static str = "nats.listener";
    const SUMMARY: &'static str =
        "Starts the flow for each message of a JetStream stream (durable consumer, acked after the flow).";
    const CONFIG: Option<ConfigRef> = Some(ConfigRef { kind: "nats", required: true });

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check_listener(self, at, diags);
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        let mut planned = Vec::new();
        for u in uses {
            let name = u.config_name.clone().unwrap_or_default();
            let nats = runtime
                .program()
                .resources
                .get_as::<Nats>(&name)
                .ok_or_else(|| format!("flow `{}`: no `nats` config named `{name}`", u.flow))?;
            let stream = u.settings.stream.clone().or_else(|| nats.stream.as_ref().map(|s| s.name.clone()));
            let consumer = Consumer {
                durable: u.settings.durable.clone().unwrap_or_else(|| u.flow.clone()),
                flow: u.flow.clone(),
                stream,
                settings: u.settings.clone(),
                nats,
            };
            let key = format!("nats.listener:{}", u.flow);
            let (max, delay) = (u.settings.max_deliveries, u.settings.redelivery_delay.0);
            planned.push(crate::components::queue::replays_planned(&key, &u.flow, max, delay, runtime));
            let runtime = runtime.clone();
            planned.push(TaskPlanned::planned(
                key,
                Stage::Intake,
                Box::new(move |stop, in_flight| tokio::spawn(Arc::new(consumer).run(runtime, stop, in_flight))),
            ));
        }
        Ok(planned)
    }
}

/// One flow's consumer.
struct Consumer {
    flow: String,
    /// The stream named or declared; `None`: the one keeping `subject`, asked of the server.
    stream: Option<String>,
    durable: String,
    settings: Arc<ListenerParams>,
    nats: Arc<Nats>,
}

/// Waits until `stop` is set; `true` when it is (the loop should end).
async fn stopped_within(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

impl Consumer {
    /// The consumer's settings on the server.
    fn config(&self) -> pull::Config {
        let s = &self.settings;
        pull::Config {
            durable_name: Some(self.durable.clone()),
            description: Some(format!("relais flow `{}`", self.flow)),
            deliver_policy: match s.deliver {
                Deliver::All => DeliverPolicy::All,
                Deliver::New => DeliverPolicy::New,
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: s.ack_wait.0,
            // One more than relais runs a message: the extra delivery is the one that dead-letters a
            // message whose process stopped during its last run (see the module's comment).
            max_deliver: i64::from(s.max_deliveries.max(1)) + 1,
            filter_subject: s.subject.clone().unwrap_or_default(),
            max_ack_pending: i64::from(s.max_ack_pending.max(1)),
            ..Default::default()
        }
    }

    /// Makes (or updates) the consumer and opens its message stream.
    async fn open(&self, link: &super::client::Link) -> Result<pull::Stream, String> {
        let name = match (&self.stream, &self.settings.subject) {
            (Some(name), _) => name.clone(),
            (None, Some(subject)) => link
                .jetstream
                .stream_by_subject(subject.clone())
                .await
                .map_err(|e| format!("no stream found for subject `{subject}`: {}", super::client::chain(&e)))?,
            (None, None) => {
                return Err(format!(
                    "no stream: name one with `stream:` (or `subject:`), or declare one in config `{}`",
                    self.nats.name
                ))
            }
        };
        let stream = link
            .jetstream
            .get_stream(&name)
            .await
            .map_err(|e| format!("stream `{name}`: {}", super::client::chain(&e)))?;
        let consumer = stream
            .create_consumer(self.config())
            .await
            .map_err(|e| format!("consumer `{}` on stream `{name}`: {}", self.durable, super::client::chain(&e)))?;
        consumer
            .stream()
            .max_messages_per_batch(self.settings.batch.max(1) as usize)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| format!("pulling from consumer `{}`: {}", self.durable, super::client::chain(&e)))
    }

    /// Consumes until stopped, then waits for the messages still running. Their tasks belong to this one,
    /// so aborting it (the drain deadline passed) ends them too, their messages unacknowledged (delivered
    /// again after `ack_wait`).
    async fn run(self: Arc<Self>, runtime: Runtime, stop: watch::Receiver<bool>, in_flight: InFlight) {
        let mut tasks = JoinSet::new();
        self.consume(&runtime, stop, &in_flight, &mut tasks).await;
        while tasks.join_next().await.is_some() {}
    }

    async fn consume(
        self: &Arc<Self>,
        runtime: &Runtime,
        mut stop: watch::Receiver<bool>,
        in_flight: &InFlight,
        tasks: &mut JoinSet<()>,
    ) {
        let slots = Arc::new(Semaphore::new(self.settings.consumers.max(1) as usize));
        let mut failing: Option<String> = None;
        let mut report = |now: Option<String>| {
            match (&now, &failing) {
                (Some(why), last) if last.as_ref() != Some(why) => {
                    tracing::error!(flow = %self.flow, stream = self.stream.as_deref().unwrap_or(""), "nats.listener cannot read: {why}")
                }
                (None, Some(_)) => {
                    tracing::info!(flow = %self.flow, stream = self.stream.as_deref().unwrap_or(""), "nats.listener reads again")
                }
                _ => {}
            }
            failing = now;
        };
        loop {
            if *stop.borrow() {
                return;
            }
            let link = tokio::select! {
                link = self.nats.link() => link,
                _ = stop.changed() => return,
            };
            let mut messages = match link {
                Ok(link) => match self.open(&link).await {
                    Ok(messages) => messages,
                    Err(why) => {
                        report(Some(why));
                        if stopped_within(&mut stop, RETRY).await {
                            return;
                        }
                        continue;
                    }
                },
                Err(e) => {
                    report(Some(e.description));
                    if stopped_within(&mut stop, RETRY).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                // A free slot first: messages wait on the server (or in the pull's buffer), not here.
                let slot = tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot { Ok(slot) => slot, Err(_) => return },
                    _ = stop.changed() => return,
                };
                let next = tokio::select! {
                    next = messages.next() => next,
                    _ = stop.changed() => return,
                };
                match next {
                    Some(Ok(message)) => {
                        report(None);
                        let working = Working::start(in_flight);
                        let (this, runtime) = (self.clone(), runtime.clone());
                        while tasks.try_join_next().is_some() {}
                        tasks.spawn(async move {
                            this.deliver(&runtime, message).await;
                            drop((slot, working));
                        });
                    }
                    // A missed heartbeat or a failed pull while the server is away: the stream keeps
                    // pulling once the client has reconnected.
                    Some(Err(e)) => report(Some(super::client::chain(&e))),
                    None => break,
                }
            }
            if stopped_within(&mut stop, RETRY).await {
                return;
            }
        }
    }

    /// Runs the flow on one message, then acknowledges it, delivers it again later, or dead-letters it.
    async fn deliver(&self, runtime: &Runtime, message: Message) {
        let (mut event, delivery, parent) = match self.event(&message) {
            Ok(found) => found,
            Err(why) => {
                tracing::error!(flow = %self.flow, stream = self.stream.as_deref().unwrap_or(""), "nats.listener: a message without JetStream metadata ({why}); terminated");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let max = self.settings.max_deliveries.max(1);
        let outcome = if delivery > max {
            Err(FlowError::new(
                "NATS:REDELIVERY_EXHAUSTED",
                format!("delivered {delivery} times without an outcome (the process stopped while running it)"),
            ))
        } else {
            // A consumer span under the publisher's, named by the message's `traceparent` header.
            let span = crate::trace::inbound_message(parent.as_ref(), super::publish::SYSTEM, self.destination());
            event.trace = span.as_ref().map(|s| s.context().clone());
            let outcome = self.run_flow(runtime, &message, event.clone()).await;
            crate::trace::end(span, outcome.as_ref().err().map(|e| e.error_type.to_string()).as_deref());
            outcome
        };
        let error = match outcome {
            Ok(()) => {
                if let Err(e) = message.ack().await {
                    tracing::warn!(correlation_id = %event.correlation_id, flow = %self.flow, "nats.listener could not acknowledge a message ({e}); it will be delivered again");
                }
                return;
            }
            Err(error) => error,
        };
        if delivery >= max {
            // Replayable: a replay runs this flow again on the message, from its replay queue.
            let replays = Some(crate::state::replays::queue_of(&self.flow));
            crate::runtime::dead_letter::keep(
                runtime,
                &self.flow,
                &event,
                &error,
                delivery,
                crate::state::now(),
                replays,
            );
            if let Err(e) = message.double_ack_with(AckKind::Term).await {
                tracing::warn!(correlation_id = %event.correlation_id, flow = %self.flow, "nats.listener could not terminate a dead-lettered message ({e}); it will be dead-lettered again on its next delivery");
            }
            return;
        }
        tracing::warn!(
            correlation_id = %event.correlation_id,
            flow = %self.flow,
            stream = self.stream.as_deref().unwrap_or(""),
            error_type = %error.error_type,
            "delivery {delivery} of {max} failed; trying again"
        );
        let factor = 2u32.saturating_pow(delivery.saturating_sub(1));
        let delay = self.settings.redelivery_delay.0.saturating_mul(factor).min(MAX_REDELIVERY_DELAY);
        if let Err(e) = message.ack_with(AckKind::Nak(Some(delay))).await {
            tracing::warn!(correlation_id = %event.correlation_id, flow = %self.flow, "nats.listener could not refuse a message ({e}); it comes back after ack_wait");
        }
    }

    /// What the consumer span names as its destination: the stream (or the subject filter, or the durable
    /// consumer), as the flow files write them; never the message's subject, which its publisher may have
    /// filled from a payload.
    fn destination(&self) -> &str {
        self.stream.as_deref().or(self.settings.subject.as_deref()).unwrap_or(&self.durable)
    }

    /// Runs the flow, telling the server every half `ack_wait` that the message is still being worked on.
    async fn run_flow(&self, runtime: &Runtime, message: &Message, event: Event) -> Result<(), FlowError> {
        let flow = runtime.run_flow(&self.flow, event);
        tokio::pin!(flow);
        let every = (self.settings.ack_wait.0 / 2).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                outcome = &mut flow => return outcome.map(|_| ()),
                _ = tokio::time::sleep(every) => {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    }

    /// The event of a message: its payload, its attributes, its correlation id; its delivery count; and
    /// the remote parent its `traceparent` and `tracestate` headers name (none when tracing is off, the
    /// header absent or malformed: the run starts a trace of its own).
    fn event(&self, message: &Message) -> Result<(Event, u32, Option<crate::trace::TraceContext>), String> {
        let info = message.info().map_err(|e| e.to_string())?;
        let mut headers = Map::new();
        let mut content_type = None;
        let mut correlation_id = None;
        let (mut traceparent, mut tracestate) = (None, None);
        if let Some(map) = &message.headers {
            for (name, values) in map.iter() {
                let name: &str = name.as_ref();
                let values: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
                if name.eq_ignore_ascii_case("content-type") {
                    content_type = values.first().map(|v| v.to_string());
                }
                if name.eq_ignore_ascii_case(crate::trace::w3c::TRACEPARENT) {
                    traceparent = values.first().map(|v| v.to_string());
                }
                if name.eq_ignore_ascii_case(crate::trace::w3c::TRACESTATE) {
                    tracestate = values.first().map(|v| v.to_string());
                }
                if name.eq_ignore_ascii_case("x-correlation-id") {
                    correlation_id = values
                        .first()
                        .and_then(|v| crate::event::given_correlation_id(v.as_bytes()))
                        .map(Arc::<str>::from);
                }
                let value = match values.as_slice() {
                    [one] => json!(one),
                    many => json!(many),
                };
                headers.insert(name.to_string(), value);
            }
        }
        let published = chrono::DateTime::from_timestamp_nanos(
            i64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(i64::MAX),
        )
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let delivery = u32::try_from(info.delivered.max(1)).unwrap_or(u32::MAX);
        let media_type = content_type.unwrap_or_else(|| sniff(&message.payload).to_string());
        let mut event = Event::with_payload(Payload::bytes(message.payload.clone(), &media_type));
        if let Some(id) = correlation_id {
            event.correlation_id = id;
        }
        event.attributes = json!({
            "subject": message.subject.as_str(),
            "headers": headers,
            "stream": info.stream,
            "consumer": info.consumer,
            "stream_sequence": info.stream_sequence,
            "consumer_sequence": info.consumer_sequence,
            "delivery": delivery,
            "published": published,
            "config": self.nats.name,
        })
        .into();
        let parent =
            crate::trace::incoming(traceparent.as_deref().map(str::as_bytes), tracestate.as_deref().map(str::as_bytes));
        Ok((event, delivery, parent))
    }
}

/// The media type of a message that does not say (no `Content-Type` header): JSON when it parses, text
/// when it is UTF-8, bytes otherwise.
fn sniff(body: &[u8]) -> &'static str {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        "application/json"
    } else if std::str::from_utf8(body).is_ok() {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}
