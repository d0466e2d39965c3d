//! Component steps at run time: the [`ComponentNode`] trait connectors implement, and the built-in
//! object-store steps. Components without a runtime node yet fail with `COMPONENT:UNAVAILABLE`.

use super::error::FlowError;
use super::event::Event;
use super::object_store::ObjectStore;
use super::payload::Payload;
use super::Runtime;
use crate::plan::{Components, TemplatePlan, ValuePlan};
use serde_json::Value as Json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future a component returns.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Event, FlowError>> + Send + 'a>>;

/// A component step, built once per plan and shared by every event.
pub trait ComponentNode: Send + Sync {
    /// Processes one event; the runtime gives access to script evaluation for templated parameters.
    fn call<'a>(&'a self, runtime: &'a Runtime, event: Event) -> CallFuture<'a>;
}

/// What a factory gets to build a node: the step's parameters, its named config, the store that config
/// names (for object stores) and the script engine (for templates).
pub struct Spec {
    /// The flow the step belongs to.
    pub flow: String,
    /// The step's id, if it has one.
    pub step_id: Option<String>,
    /// The component name (`http.request`).
    pub kind: String,
    /// The name of its config.
    pub config_name: Option<String>,
    /// Step parameters (without `config`).
    pub params: Json,
    /// The named config's settings.
    pub config: Option<Json>,
    /// The object store the config names, if it is one.
    pub store: Option<Arc<ObjectStore>>,
    /// The sandboxed engine, to compile templates.
    pub engine: Arc<rhai::Engine>,
    /// Queues and stores that outlive the program (`queue.publish` finds its queue here).
    pub state: Arc<super::state::State>,
}

/// Builds a component node.
pub type Factory = fn(Spec) -> Arc<dyn ComponentNode>;

/// A component whose connector is not available in this build.
pub struct Unavailable(pub String);

impl ComponentNode for Unavailable {
    fn call<'a>(&'a self, _: &'a Runtime, _: Event) -> CallFuture<'a> {
        let name = self.0.clone();
        Box::pin(async move {
            Err(FlowError::new(
                "COMPONENT:UNAVAILABLE",
                format!("component `{name}` has no runtime implementation yet"),
            ))
        })
    }
}

/// Compiles a parameter string with `#[...]` holes into a template.
pub fn compile_template(engine: &rhai::Engine, text: &str) -> Result<TemplatePlan, String> {
    let mut diags = relais_dsl::Diagnostics::new();
    let template = relais_dsl::lower::template_of(text, &mut diags).ok_or("unclosed `#[`")?;
    crate::plan::value::compile_template(engine, &template)
}

/// Which object-store operation a node performs.
enum StoreOp {
    Get {
        target: Option<String>,
        default: Option<Json>,
    },
    /// `value: None` stores the payload; a value that failed to compile fails each event with its error.
    Put {
        value: Option<Result<ValuePlan, String>>,
        ttl: Option<std::time::Duration>,
    },
    Remove,
}

/// A state store that cannot be read or written (a disk error): never mistaken for an absent key.
pub(crate) fn unavailable(why: String) -> FlowError {
    FlowError::new("OBJECT_STORE:UNAVAILABLE", format!("the state store failed: {why}"))
}

/// `object_store.get` / `.put` / `.remove`.
struct StoreNode {
    store: Arc<ObjectStore>,
    key: Result<TemplatePlan, String>,
    op: StoreOp,
}

impl ComponentNode for StoreNode {
    fn call<'a>(&'a self, runtime: &'a Runtime, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let template = self.key.as_ref().map_err(|e| FlowError::new("EXPRESSION:RUNTIME", e.clone()))?;
            let key = runtime.render(template, &event)?;
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
                        Some(Ok(plan)) => runtime.value(plan, &ev)?,
                        Some(Err(e)) => return Err(FlowError::new("EXPRESSION:RUNTIME", e.clone())),
                        None => ev.payload.read(&runtime.program().readers)?.clone(),
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

fn store_node(spec: &Spec, op: StoreOp) -> Arc<dyn ComponentNode> {
    let key = spec.params.get("key").and_then(Json::as_str).unwrap_or("");
    Arc::new(StoreNode {
        store: spec.store.clone().unwrap_or_else(|| Arc::new(ObjectStore::memory(None))),
        key: compile_template(&spec.engine, key),
        op,
    })
}

/// The components this build implements at run time.
pub fn builtin() -> Components {
    let mut c: Components = std::collections::HashMap::new();
    c.insert("object_store.get", |spec| {
        let target = spec.params.get("target").and_then(Json::as_str).map(String::from);
        let default = spec.params.get("default").cloned();
        store_node(&spec, StoreOp::Get { target, default })
    });
    c.insert("object_store.put", |spec| {
        let value = spec.params.get("value").map(|v| crate::plan::value::compile_json_value(&spec.engine, v));
        let ttl = spec.params.get("ttl").and_then(Json::as_str).and_then(relais_dsl::ir::parse_duration);
        store_node(&spec, StoreOp::Put { value, ttl })
    });
    c.insert("object_store.remove", |spec| store_node(&spec, StoreOp::Remove));
    c.insert("queue.publish", super::publish::publish);
    c.insert("time.delay", super::delay::delay);
    c.insert("dead_letter.write", super::dead_letter::dead_letter);
    c
}
