//! Object store: a key/value store with TTL (config kind) and its `get`/`put`/`remove` steps.

use super::types::DurationText;
use crate::registry::{ComponentSpec, Role};
use schemars::JsonSchema;
use serde::Deserialize;

/// A named store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Default time to live of entries (none: kept until removed).
    pub ttl: Option<DurationText>,
    /// Keep entries in the state store across restarts (`relais run --state DIR`).
    #[serde(default)]
    pub persistent: bool,
}

/// `object_store.get`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Key; may hold `#[...]`.
    pub key: String,
    /// Variable receiving the value (default: the payload).
    pub target: Option<String>,
    /// Value when the key is absent (default: fail with `OBJECT_STORE:KEY_NOT_FOUND`).
    pub default: Option<serde_json::Value>,
}

/// `object_store.put`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutParams {
    /// Key; may hold `#[...]`.
    pub key: String,
    /// Value (default: the payload); may hold `#[...]`.
    pub value: Option<serde_json::Value>,
    /// Overrides the store's TTL for this entry.
    pub ttl: Option<DurationText>,
}

/// `object_store.remove`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    /// Key; may hold `#[...]`.
    pub key: String,
}

/// The registry entries.
pub fn specs() -> Vec<ComponentSpec> {
    vec![
        ComponentSpec::new::<StoreConfig>("object_store", Role::Config, "A key/value store with TTL."),
        ComponentSpec::new::<GetParams>("object_store.get", Role::Step, "Reads a value by key.")
            .with_config("object_store", true),
        ComponentSpec::new::<PutParams>("object_store.put", Role::Step, "Stores a value under a key.")
            .with_config("object_store", true),
        ComponentSpec::new::<RemoveParams>("object_store.remove", Role::Step, "Removes a key.")
            .with_config("object_store", true),
    ]
}
