//! Queues between flows: `queue.publish` (step, [`publish`]) and `queue.listener` (source, [`listener`]),
//! in memory or persistent in the state store.

mod listener;
mod publish;

use super::types::DurationText;
use crate::component::{ComponentNode, Step, StepContext};
use crate::runtime::Runtime;
use crate::source::{Planned, Source, SourceUse, Stage, TaskPlanned};
use crate::state::State;
use relais_dsl::ir::format_duration;
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two deliveries: the doubling of `redelivery_delay` stops here.
pub const MAX_REDELIVERY_DELAY: Duration = Duration::from_secs(30);

fn publish_timeout() -> DurationText {
    DurationText::secs(10)
}

/// Parameters of `queue.publish`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// Queue name (created on first use).
    pub queue: String,
    /// Keep messages in the state store so they survive a restart.
    #[serde(default)]
    pub persistent: bool,
    /// How long to wait for room in a full queue; then `QUEUE:TIMEOUT`.
    #[serde(default = "publish_timeout")]
    pub timeout: DurationText,
}

impl Step for PublishParams {
    const NAME: &'static str = "queue.publish";
    const SUMMARY: &'static str = "Publishes the event to a queue.";

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn reaches(&self) -> Option<crate::component::Reach> {
        Some(crate::component::Reach { kind: "queue", name: self.queue.clone() })
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        Ok(publish::build(self, cx))
    }
}

fn max_deliveries() -> u32 {
    5
}

fn consumers() -> u32 {
    4
}

fn redelivery_delay() -> DurationText {
    DurationText::millis(100)
}

fn visibility_timeout() -> DurationText {
    DurationText::secs(60)
}

/// Parameters of `queue.listener`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerParams {
    /// Queue name.
    pub queue: String,
    /// Read from the persistent queue of that name.
    #[serde(default)]
    pub persistent: bool,
    /// Deliveries before a message goes to the dead-letter store.
    #[serde(default = "max_deliveries")]
    #[schemars(range(min = 1))]
    pub max_deliveries: u32,
    /// Messages the queue holds before publishers wait (default 1000 in memory, 100,000 persistent; a
    /// persistent queue counts ready, delayed and in-flight messages).
    #[schemars(range(min = 1))]
    pub capacity: Option<u32>,
    /// Messages processed at once by this listener.
    #[serde(default = "consumers")]
    #[schemars(range(min = 1))]
    pub consumers: u32,
    /// Delay before a failed message is delivered again, doubled on each attempt (at most 30s).
    #[serde(default = "redelivery_delay")]
    pub redelivery_delay: DurationText,
    /// Persistent queues: how long a message taken by a consumer stays hidden from the others; a consumer
    /// that crashed or took longer leaves it to be delivered again.
    #[serde(default = "visibility_timeout")]
    pub visibility_timeout: DurationText,
}

impl ListenerParams {
    /// The bound of the queue: `capacity`, or the default of its kind.
    pub fn capacity(&self) -> usize {
        let default = if self.persistent {
            crate::state::PERSISTENT_DEFAULT_CAPACITY
        } else {
            crate::state::queue::DEFAULT_CAPACITY
        };
        self.capacity.map_or(default, |c| usize::try_from(c).unwrap_or(usize::MAX))
    }
}

/// How long a replayed message a replica runs stays hidden from the others: `queue.listener`'s default
/// `visibility_timeout` (a replay's flow running longer may run a second time on another replica).
pub const REPLAY_VISIBILITY: Duration = Duration::from_secs(60);

/// The unit consuming the replay queue of a broker listener's `flow` (`amqp.listener`, `nats.listener`;
/// see [`crate::state::replays`]), planned beside the listener's own under the key `KEY:replays`: it runs
/// the flow on each replayed dead letter, `max_deliveries` times at most, `redelivery_delay` apart
/// (doubling), a run hidden from other replicas for [`REPLAY_VISIBILITY`]. It stops with the queue
/// consumers, once the work in flight is done (`Stage::Internal`).
pub fn replays_planned(
    key: &str,
    flow: &str,
    max_deliveries: u32,
    redelivery_delay: Duration,
    runtime: &Runtime,
) -> Box<dyn Planned> {
    let consumer = listener::QueueListener::replays(flow, max_deliveries, redelivery_delay, REPLAY_VISIBILITY, runtime);
    let runtime = runtime.clone();
    TaskPlanned::planned(
        format!("{key}:replays"),
        Stage::Internal,
        Box::new(move |stop, in_flight| listener::start(consumer, runtime, stop, in_flight)),
    )
}

impl Source for ListenerParams {
    const NAME: &'static str = "queue.listener";
    const SUMMARY: &'static str = "Starts the flow for each queued message.";

    /// A `redelivery_delay` over [`MAX_REDELIVERY_DELAY`] would be cut to it on every redelivery: what was
    /// written is not what runs, so it is refused (RL0111) at the field.
    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        let delay = self.redelivery_delay.0;
        if delay > MAX_REDELIVERY_DELAY {
            let span = at.get("redelivery_delay").map_or(at.span, |n| n.span);
            diags.push(
                Diagnostic::error(
                    codes::DURATION_RANGE,
                    span,
                    format!("a `redelivery_delay` of {} is longer than redeliveries ever wait", format_duration(delay)),
                )
                .label(format!("out of range: allowed is 0ms to {}", format_duration(MAX_REDELIVERY_DELAY)))
                .help(format!(
                    "the delay doubles after each failure up to {}: write at most `{}`",
                    format_duration(MAX_REDELIVERY_DELAY),
                    format_duration(MAX_REDELIVERY_DELAY)
                )),
            );
        }
    }

    fn reaches(&self) -> Option<crate::component::Reach> {
        Some(crate::component::Reach { kind: "queue", name: self.queue.clone() })
    }

    /// Listeners set the bound of their queue: created before any publisher asks for it.
    fn declare(&self, state: &Arc<State>) {
        if self.persistent {
            state.bound_persistent_queue(&self.queue, self.capacity());
        } else {
            state.queue(&self.queue, self.capacity());
        }
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        Ok(uses
            .into_iter()
            .map(|u| {
                let consumer = listener::QueueListener::new(&u.flow, &u.settings, runtime);
                let runtime = runtime.clone();
                TaskPlanned::planned(
                    format!("queue.listener:{}", u.flow),
                    Stage::Internal,
                    Box::new(move |stop, in_flight| listener::start(consumer, runtime, stop, in_flight)),
                )
            })
            .collect())
    }
}
