//! In-process queues between flows: `queue.publish` (step) and `queue.listener` (source).

use super::types::DurationText;
use crate::registry::{ComponentSpec, Role};
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `queue.publish`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// Queue name (created on first use).
    pub queue: String,
    /// Keep messages in the state store so they survive a restart.
    #[serde(default)]
    pub persistent: bool,
    /// How long to wait for room in a full queue (default 10s); then `QUEUE:TIMEOUT`.
    pub timeout: Option<DurationText>,
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
    /// Deliveries before a message goes to the dead-letter store (default 5).
    #[schemars(range(min = 1))]
    pub max_deliveries: Option<u32>,
    /// Messages the queue holds before publishers wait (default 1000 in memory, 100,000 persistent; a
    /// persistent queue counts ready, delayed and in-flight messages).
    #[schemars(range(min = 1))]
    pub capacity: Option<u32>,
    /// Messages processed at once by this listener (default 4).
    #[schemars(range(min = 1))]
    pub consumers: Option<u32>,
    /// Delay before a failed message is delivered again, doubled on each attempt (default 100ms, at most 30s).
    pub redelivery_delay: Option<DurationText>,
    /// Persistent queues: how long a message taken by a consumer stays hidden from the others; a consumer
    /// that crashed or took longer leaves it to be delivered again (default 60s).
    pub visibility_timeout: Option<DurationText>,
}

/// The registry entries.
pub fn specs() -> Vec<ComponentSpec> {
    vec![
        ComponentSpec::new::<PublishParams>("queue.publish", Role::Step, "Publishes the event to a queue."),
        ComponentSpec::new::<ListenerParams>(
            "queue.listener",
            Role::Source,
            "Starts the flow for each queued message.",
        ),
    ]
}
