//! The typed traits a component implements, and what building one is given.

use super::{ComponentNode, Resource};
use crate::state::State;
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use std::any::Any;
use std::sync::Arc;

/// A component's settings read into its config type, erased so that one registry holds every kind: the
/// component that parsed it downcasts it back (a mismatch is a registry bug, reported as a build error).
pub type Typed = Arc<dyn Any + Send + Sync>;

/// Where a component may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Starts flows (`source:`).
    Source,
    /// Runs as a step.
    Step,
    /// A named config under `configs:`.
    Config,
}

impl Role {
    /// The word used in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Source => "a source",
            Role::Step => "a step",
            Role::Config => "a config kind",
        }
    }
}

/// The config kind a step or source names with `config:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigRef {
    /// The kind (`http.client`).
    pub kind: &'static str,
    /// Whether `config:` must be given.
    pub required: bool,
}

/// What a step's node is built from, besides its own settings.
pub struct StepContext<'a> {
    /// The flow the step belongs to.
    pub flow: &'a str,
    /// The step's id, if it has one.
    pub step_id: Option<&'a str>,
    /// The name of the config the step names.
    pub config_name: Option<&'a str>,
    /// The zone that config declares (`partner`, `private`, `internal` by default).
    pub config_zone: Option<&'a str>,
    /// The resource that config built (its client pool, its store).
    pub resource: Option<&'a Arc<dyn Resource>>,
    /// The sandboxed engine, to compile templated settings.
    pub engine: &'a Arc<rhai::Engine>,
    /// Queues and stores that outlive the program.
    pub state: &'a Arc<State>,
    /// The directory of the flow file the step is written in: the files its settings name (an
    /// `http.request`'s `contract`) are relative to it, as a `validate` step's schema is.
    pub dir: &'a std::path::Path,
}

impl StepContext<'_> {
    /// The JSON Schema file `path` (relative to the flow file) compiled into a validator. `relais check`
    /// has already read and compiled it (`compile::contracts`), so a failure here means the file changed
    /// in between; it is a build error, never a panic.
    pub fn read_schema(&self, path: &str) -> Result<jsonschema::Validator, String> {
        let full = self.dir.join(path);
        let text = crate::load::read_text(&full, 4 * 1024 * 1024)
            .map_err(|e| format!("cannot read `{}`: {e}", full.display()))?;
        let value: Json = serde_json::from_str(&text).map_err(|e| format!("`{}` is not JSON: {e}", full.display()))?;
        crate::json_schema::compile(&value).map_err(|e| format!("`{}` cannot be compiled: {e}", full.display()))
    }

    /// The resource of the step's config as the type its kind builds.
    pub fn resource_as<R: Resource>(&self) -> Result<Arc<R>, String> {
        let resource = self.resource.ok_or("no config is named")?.clone();
        let any: Arc<dyn Any + Send + Sync> = resource;
        any.downcast::<R>().map_err(|_| "the named config is of another kind".to_string())
    }
}

/// What a config's shared resource is built from.
pub struct ConfigContext<'a> {
    /// The config's name.
    pub name: &'a str,
    /// The zone it declares (`internal`, `private`, `partner`).
    pub zone: &'a str,
    /// The sandboxed engine, to compile templated settings.
    pub engine: &'a Arc<rhai::Engine>,
    /// Queues and stores that outlive the program (a store config finds its entries there).
    pub state: &'a Arc<State>,
}

/// A step component: its config type is the step's settings.
pub trait Step: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// Dotted name (`http.request`).
    const NAME: &'static str;
    /// One line for `relais schema`, `relais explain` and the README table.
    const SUMMARY: &'static str;
    /// The config kind `config:` names, if the step takes one.
    const CONFIG: Option<ConfigRef> = None;
    /// Whether the step reaches a system outside the process: flow tests never build it (a test without a
    /// mock for it fails, and needs no production secret).
    const OUTBOUND: bool = false;

    /// Checks beyond the schema, on the typed settings, reporting with spans from `at` (the settings as
    /// written).
    fn check(&self, _at: &Node, _diags: &mut Diagnostics) {}

    /// The variable the step's answer goes to instead of the payload, if the settings name one (a mocked
    /// answer lands there too).
    fn target(&self) -> Option<&str> {
        None
    }

    /// How the step exchanges data with the system it reaches (its config's, or [`Step::reaches`]'s), for
    /// the map `relais graph` draws: a call by default.
    fn direction(&self) -> super::Direction {
        super::Direction::Calls
    }

    /// A system the step reaches that no `config:` names (a queue by its name), for `relais graph`.
    fn reaches(&self) -> Option<super::Reach> {
        None
    }

    /// Builds the node every event of the step runs through.
    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String>;

    /// For an [`Step::OUTBOUND`] step a flow test mocks: a node running the checks the real call makes on
    /// the event before anything leaves (`http.request`: the partner guard, the outbound contract), built
    /// without the config's resource (`cx.resource` is `None`; `cx.config_zone` is known), so that a
    /// mapping that leaks or breaks a contract fails its test as it would fail in `relais run`. The mock
    /// answers only if the node passes the event. `None` (the default): nothing to check.
    fn mocked(&self, _cx: &StepContext<'_>) -> Result<Option<Arc<dyn ComponentNode>>, String> {
        Ok(None)
    }
}

/// A config kind: named settings (`configs: { crm: { http.client: {...} } }`) shared by the steps and
/// sources naming them.
pub trait Config: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The kind's name (`http.client`).
    const NAME: &'static str;
    /// One line for `relais schema`, `relais explain` and the README table.
    const SUMMARY: &'static str;
    /// Whether the resource connects to a system outside the process (a partner's client): flow tests
    /// never build it.
    const OUTBOUND: bool = false;
    /// Whether a named config of this kind stands for a system on the map `relais graph` draws (a
    /// listener, a partner's client, a store); a policy such as `sensitive_data` does not.
    const SYSTEM: bool = true;

    /// Checks beyond the schema, as [`Step::check`].
    fn check(&self, _at: &Node, _diags: &mut Diagnostics) {}

    /// Builds the resource shared by everything naming this config, once per program.
    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String>;
}

/// What the plan compiler needs of the registry: reading settings into their types and building nodes
/// and resources. A trait, so that plans depend on the abstraction and not on the list of components.
pub trait Catalog: Sync {
    /// `params` read into the type of component `name` in `role`; `None` when no such component exists.
    fn parse(&self, role: Role, name: &str, params: &Json) -> Option<Result<Typed, SettingsError>>;
    /// Whether component `name` in `role` reaches outside the process ([`Step::OUTBOUND`]).
    fn outbound(&self, role: Role, name: &str) -> bool;
    /// The variable step `name` with settings `typed` writes its answer to ([`Step::target`]).
    fn target(&self, name: &str, typed: &Typed) -> Option<String>;
    /// The resource of a named config of kind `kind`.
    fn build_config(&self, kind: &str, typed: &Typed, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String>;
    /// The node of a step of component `name`.
    fn build_step(&self, name: &str, typed: &Typed, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String>;
    /// The checks a flow test runs on a mocked call of outbound step `name` ([`Step::mocked`]).
    fn build_mocked(
        &self,
        name: &str,
        typed: &Typed,
        cx: &StepContext<'_>,
    ) -> Result<Option<Arc<dyn ComponentNode>>, String> {
        let _ = (name, typed, cx);
        Ok(None)
    }
    /// Lets a source of kind `name` set up the state before any step is built (a queue listener bounds
    /// its queue, so that publishers see the bound).
    fn declare_source(&self, name: &str, typed: &Typed, state: &Arc<State>);
}

/// Settings that cannot be read into their type: where (the keys leading to the value) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The keys from the settings' root to the value at fault (`["tls", "ca"]`); empty for the root.
    pub path: Vec<String>,
    /// What is wrong, as serde says it.
    pub message: String,
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path.is_empty() {
            true => write!(f, "{}", self.message),
            false => write!(f, "`{}`: {}", self.path.join("."), self.message),
        }
    }
}

/// Reads `params` into `T` (what the registry stores for each component), saying which setting failed.
pub fn parse<T: DeserializeOwned + Send + Sync + 'static>(params: &Json) -> Result<Typed, SettingsError> {
    serde_path_to_error::deserialize::<_, T>(params).map(|t| Arc::new(t) as Typed).map_err(|e| SettingsError {
        path: e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect(),
        message: e.into_inner().to_string(),
    })
}

/// `typed` as the config type `T` it was parsed into.
pub fn downcast<T: Send + Sync + 'static>(typed: &Typed) -> Result<&T, String> {
    typed.downcast_ref::<T>().ok_or_else(|| format!("settings of another type than `{}`", std::any::type_name::<T>()))
}

/// A flow's source as the program holds it: the kind, the typed settings `check` read, the config named.
/// The daemon hands these to the registry, which plans them by kind (`crate::source`).
#[derive(Clone)]
pub struct SourceDecl {
    /// The flow it starts.
    pub flow: String,
    /// The source kind (`http.listener`).
    pub kind: String,
    /// Its settings, read into the kind's type.
    pub settings: Typed,
    /// The config it names (`config: api`).
    pub config_name: Option<String>,
}

/// A component step as flow tests see it when they replace its node (mocks, spies, refusals).
#[derive(Clone)]
pub struct StepSite {
    /// The flow.
    pub flow: String,
    /// The step's id.
    pub step_id: Option<String>,
    /// The component name.
    pub kind: String,
    /// The config it names.
    pub config_name: Option<String>,
    /// Its settings as written (mocks match `with:` against them).
    pub settings: Json,
    /// The variable its answer goes to ([`Step::target`]).
    pub target: Option<String>,
    /// Whether it reaches outside the process ([`Step::OUTBOUND`]): flow tests never build those.
    pub outbound: bool,
    /// For an outbound step: the checks its real call makes before sending ([`Step::mocked`]), which a
    /// mock runs before answering.
    pub mocked_check: Option<Arc<dyn ComponentNode>>,
}
