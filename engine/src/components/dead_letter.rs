//! `dead_letter.write`: a flow's own way into the dead-letter store, for events that do not come from a
//! queue (a scheduled job's item, a webhook accepted and then failing for good): the same records, listed,
//! shown, replayed and purged with `relais dlq` and the admin endpoints, as Camel's dead letter channel.

use crate::registry::{ComponentSpec, Role};
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `dead_letter.write`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterParams {
    /// Queue a replay publishes the letter to (`relais dlq replay`, `POST /dead-letters/ID/replay`); without
    /// it the letter is kept for inspection and purging only.
    pub queue: Option<String>,
}

/// The registry entry.
pub fn specs() -> Vec<ComponentSpec> {
    vec![ComponentSpec::new::<DeadLetterParams>(
        "dead_letter.write",
        Role::Step,
        "Keeps the event and the error being handled in the dead-letter store (in an on_error handler).",
    )]
}
