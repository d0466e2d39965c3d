//! Object store: a key/value store with TTL (config kind) and its `get`/`put`/`remove` steps. The config
//! builds the store once per program (in memory, or in the state store with `persistent: true`); every
//! step naming it shares it, as do the `idempotent` steps naming it with `store:`.

use super::types::DurationText;
use crate::component::{CallFuture, ComponentNode, Context};
use crate::component::{Config, ConfigContext, ConfigRef, Resource, Step, StepContext};
use crate::event::{Event, FlowError, Payload};
use crate::script::{compile_json_value, compile_template_text, TemplatePlan, ValuePlan};
use crate::state::object_store::{unavailable, ObjectStore};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;
use std::sync::Arc;

const STORE: Option<ConfigRef> = Some(ConfigRef { kind: "object_store", required: true });

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

/// The store lives in [`crate::state::State`], so that a reload's program finds the same entries.
impl Resource for ObjectStore {}

impl Config for StoreConfig {
    const NAME: &'static str = "object_store";
    const SUMMARY: &'static str = "A key/value store with TTL.";

    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(cx.state.store(cx.name, self.ttl.map(|t| t.0), self.persistent))
    }
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
    pub default: Option<Json>,
}

/// `object_store.put`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutParams {
    /// Key; may hold `#[...]`.
    pub key: String,
    /// Value (default: the payload), with its type: `5` stores a number, `"#[vars.n + 1]"` what the
    /// expression gives, `"n=#[vars.n]"` a string, a map or list with each `#[...]` computed.
    pub value: Option<Json>,
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

/// Which operation a node performs.
enum StoreOp {
    Get {
        target: Option<String>,
        default: Option<Json>,
    },
    /// `value: None` stores the payload.
    Put {
        value: Option<ValuePlan>,
        ttl: Option<std::time::Duration>,
    },
    Remove,
}

/// `object_store.get` / `.put` / `.remove`.
struct StoreNode {
    store: Arc<ObjectStore>,
    key: TemplatePlan,
    op: StoreOp,
}

fn node(cx: &StepContext<'_>, key: &str, op: StoreOp) -> Result<Arc<dyn ComponentNode>, String> {
    Ok(Arc::new(StoreNode { store: cx.resource_as::<ObjectStore>()?, key: compile_template_text(cx.engine, key)?, op }))
}

impl Step for GetParams {
    const NAME: &'static str = "object_store.get";
    const SUMMARY: &'static str = "Reads a value by key.";
    const CONFIG: Option<ConfigRef> = STORE;

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        node(cx, &self.key, StoreOp::Get { target: self.target.clone(), default: self.default.clone() })
    }

    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Reads
    }
}

impl Step for PutParams {
    const NAME: &'static str = "object_store.put";
    const SUMMARY: &'static str = "Stores a value under a key.";
    const CONFIG: Option<ConfigRef> = STORE;

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        let value = self.value.as_ref().map(|v| compile_json_value(cx.engine, v)).transpose()?;
        node(cx, &self.key, StoreOp::Put { value, ttl: self.ttl.map(|t| t.0) })
    }
}

impl Step for RemoveParams {
    const NAME: &'static str = "object_store.remove";
    const SUMMARY: &'static str = "Removes a key.";
    const CONFIG: Option<ConfigRef> = STORE;

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        node(cx, &self.key, StoreOp::Remove)
    }
}

impl ComponentNode for StoreNode {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let key = cx.render(&self.key, &event)?;
            let mut ev = event;
            match &self.op {
                StoreOp::Get { target, default } => {
                    let found = self.store.get(&key).map_err(unavailable)?;
                    let value = match (found, default) {
                        (Some(v), _) => v,
                        (None, Some(d)) => d.clone(),
                        (None, None) => {
                            return Err(FlowError::new(
                                "OBJECT_STORE:KEY_NOT_FOUND",
                                format!("no entry for key `{key}`"),
                            ))
                        }
                    };
                    match target {
                        Some(var) => ev.set_var(var, value),
                        None => ev.set_payload(Payload::value(value)),
                    }
                }
                StoreOp::Put { value, ttl } => {
                    let v = match value {
                        Some(plan) => cx.value(plan, &ev)?,
                        None => cx.read(&ev.payload)?.clone(),
                    };
                    self.store.put(&key, v, *ttl).map_err(unavailable)?;
                }
                StoreOp::Remove => {
                    self.store.remove(&key).map_err(unavailable)?;
                }
            }
            Ok(ev)
        })
    }
}
