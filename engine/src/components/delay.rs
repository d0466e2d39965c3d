//! `time.delay`: waits before the next step, as Camel's `delay` and Benthos' `sleep`. Simulated systems
//! use it to answer late (fault injection); flows use it to pace calls.

use crate::registry::{ComponentSpec, Role};
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `time.delay`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayParams {
    /// How long: a duration (`250ms`, `2s`), or `#[...]` giving one (a duration text or milliseconds).
    pub duration: String,
}

/// The registry entry.
pub fn specs() -> Vec<ComponentSpec> {
    vec![ComponentSpec::new::<DelayParams>("time.delay", Role::Step, "Waits before the next step.")]
}
