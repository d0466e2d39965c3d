//! Execution plans: the checked IR compiled once into immutable step trees shared (`Arc`) by every event
//! in flight. Scripts are compiled to ASTs, templates split, schemas compiled, stores and components built,
//! so that running an event does no parsing or compiling.
//!
//! Plans are trees mirroring the IR rather than a flat node array: every step still gets a flow-wide
//! `index` (for coverage and metrics), and nested scopes (`try`, routes, retries) read naturally as
//! recursion in the executor.

mod build;
pub mod lookups;

pub use crate::script::{Script, TemplatePlan, ValuePlan};
pub use build::{
    compile_program, compile_program_in, compile_program_offline, compile_program_reading, compile_program_with,
    Override,
};

use crate::component::ComponentNode;
use crate::state::object_store::ObjectStore;
use relais_dsl::ir::{ErrorType, HandlerAction, LogLevel};
use std::sync::Arc;
use std::time::Duration;

/// One step, ready to run.
pub struct StepPlan {
    /// Position in the flow, depth first (0-based), for coverage and metrics.
    pub index: usize,
    /// The step's id, or its kind when it has none (what errors and logs name).
    pub label: String,
    /// `file:line:column` of the step.
    pub location: String,
    /// What it does.
    pub op: Op,
}

/// Retry delays of `until_successful`.
#[derive(Debug, Clone, Copy)]
pub struct BackoffPlan {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Growth factor.
    pub multiplier: f64,
    /// Full jitter: each delay is uniform in `[0, computed]`.
    pub jitter: bool,
}

/// Which errors `until_successful` tries again. Without lists, every error but a permanent one
/// ([`crate::event::FlowError::is_permanent`]: `SENSITIVE:LEAK`, `CONTRACT:VIOLATION`); with `retry_on`, only
/// the errors of those types or their descendants (`HTTP:SERVER_ERROR` covers a 503); `no_retry_on` takes
/// types out again. An error not retried leaves the scope at once, as it is (not `RETRY:EXHAUSTED`).
#[derive(Debug, Clone, Default)]
pub struct RetryRule {
    /// Only these types (and descendants) are retried; empty: every type.
    pub retry_on: Vec<ErrorType>,
    /// These types (and descendants) are never retried.
    pub no_retry_on: Vec<ErrorType>,
}

impl RetryRule {
    /// Whether another attempt may succeed where `error` failed.
    pub fn retries(&self, error: &crate::event::FlowError) -> bool {
        let t = &error.error_type;
        let covered = |types: &[ErrorType]| types.iter().any(|r| crate::event::error::matches(r, t));
        !error.is_permanent() && (self.retry_on.is_empty() || covered(&self.retry_on)) && !covered(&self.no_retry_on)
    }
}

/// A compiled `on_error` handler.
pub struct HandlerPlan {
    /// Continue or propagate.
    pub action: HandlerAction,
    /// Types matched (empty: any).
    pub types: Vec<ErrorType>,
    /// Extra condition.
    pub when: Option<Arc<Script>>,
    /// Steps.
    pub steps: Vec<StepPlan>,
}

/// What a step does, with everything precompiled.
pub enum Op {
    /// Replace the payload.
    SetPayload(ValuePlan, Option<String>),
    /// Replace the payload with one known when the plan is built (a `set_payload` of literals): its value
    /// and its bytes are made once, and each event shares them.
    SetFixedPayload(Arc<crate::event::Payload>),
    /// Set a variable.
    SetVariable(String, ValuePlan),
    /// Remove a variable.
    RemoveVariable(String),
    /// Run a mapping.
    Transform(Arc<Script>),
    /// Log.
    Logger(LogLevel, TemplatePlan, String),
    /// First matching branch.
    Choice(Vec<(Arc<Script>, Vec<StepPlan>)>, Option<Vec<StepPlan>>),
    /// Sequential iteration.
    Foreach {
        /// Collection (default payload).
        collection: Option<Arc<Script>>,
        /// Batch size (1: one element at a time).
        batch_size: usize,
        /// Counter variable name.
        counter: String,
        /// Root message variable name.
        root_message: String,
        /// Body.
        steps: Vec<StepPlan>,
    },
    /// Concurrent iteration.
    ParallelForeach {
        /// Collection (default payload).
        collection: Option<Arc<Script>>,
        /// Concurrency bound.
        max_concurrency: usize,
        /// Overall timeout.
        timeout: Option<Duration>,
        /// Body.
        steps: Vec<StepPlan>,
    },
    /// Concurrent routes, all results.
    ScatterGather {
        /// Per-route timeout.
        timeout: Option<Duration>,
        /// Concurrency bound.
        max_concurrency: usize,
        /// Routes.
        routes: Vec<Vec<StepPlan>>,
    },
    /// Routes in order until one succeeds.
    FirstSuccessful(Vec<Vec<StepPlan>>),
    /// Call a flow or sub-flow by name.
    FlowRef(String, Option<String>),
    /// Error scope.
    Try(Vec<StepPlan>, Vec<HandlerPlan>),
    /// Retry scope: attempts after the first, delays, which errors are retried, the steps.
    UntilSuccessful(u32, BackoffPlan, Arc<RetryRule>, Vec<StepPlan>),
    /// Fail.
    RaiseError(ErrorType, Option<TemplatePlan>),
    /// JSON Schema validation.
    Validate(Arc<jsonschema::Validator>),
    /// Duplicate filter.
    Idempotent(Box<IdempotentPlan>),
    /// Background steps.
    Async(Arc<tokio::sync::Semaphore>, Arc<Vec<StepPlan>>),
    /// Steps inside a scope their config's resource opens (`db.transaction`); `None` when the resource
    /// was not built (flow tests, where the steps inside are mocked), and the steps run as a plain list.
    Scope(Option<Arc<dyn crate::component::Resource>>, Vec<StepPlan>),
    /// A component.
    Component(Arc<dyn ComponentNode>),
}

/// Whether a flow has a source or is only referenced.
pub use relais_dsl::ir::FlowKind;

/// A compiled flow.
pub struct FlowPlan {
    /// Its name.
    pub name: String,
    /// Its name again, shared by the events it receives (`Event::origin`): naming the flow an event
    /// entered costs no allocation per event.
    pub shared_name: Arc<str>,
    /// Flow or sub-flow.
    pub kind: FlowKind,
    /// Steps.
    pub steps: Vec<StepPlan>,
    /// Flow-level handlers.
    pub on_error: Vec<HandlerPlan>,
    /// Bound on events in flight.
    pub concurrency: Option<Arc<tokio::sync::Semaphore>>,
    /// Number of steps, nested ones included.
    pub step_count: usize,
    /// Times each step (by index) started: coverage for `relais test`, per-step counts for metrics.
    pub hits: Vec<std::sync::atomic::AtomicU64>,
    /// What the flow promises, as written (`objectives:`): the incident evaluator grades against it.
    pub objectives: Option<relais_dsl::ir::Objectives>,
    /// Label and `file:line:column` of each step, by index: what coverage names the steps never run by.
    pub sites: Arc<Vec<(String, String)>>,
}

/// Every compiled flow, by name, plus the script engine they were compiled for.
pub struct Program {
    /// Flows by name.
    pub flows: crate::event::NameMap<Arc<FlowPlan>>,
    /// The sandboxed engine (scripts must run on the engine that compiled them).
    pub engine: Arc<rhai::Engine>,
    /// The clock scripts read (`now()`), fixable in tests.
    pub clock: relais_stdlib::Clock,
    /// Readers for CSV and XML payloads.
    pub(crate) readers: crate::script::Readers,
    /// The scrubbing policy of every way out of the process: the `sensitive_data` fields.
    pub redactor: crate::scrub::Scrubber,
    /// Stores and queues; shared with the programs a hot reload compiles after this one.
    pub state: Arc<crate::state::State>,
    /// The resources of the program's named configs (client pools, stores), by config name; `/ready` asks
    /// them, shutdown closes them.
    pub resources: crate::component::Resources,
    /// The program's sources, which the daemon plans through the registry.
    pub sources: Vec<crate::component::SourceDecl>,
    /// Whether a field is declared sensitive: then the runtime records the sensitive values each event
    /// carries, which the scrubber removes wherever they moved and the guard refuses to send to a partner
    /// (`scrub::guard`).
    pub tracks_sensitive: bool,
    /// How long one script may run (`relais run --script-budget`, default
    /// [`relais_stdlib::DEFAULT_SCRIPT_BUDGET`]); an event's own deadline may cut it shorter.
    pub script_budget: Duration,
}

impl Program {
    /// A flow by name.
    pub fn flow(&self, name: &str) -> Option<&Arc<FlowPlan>> {
        self.flows.get(name)
    }
}

/// An `idempotent` step, ready to run.
pub struct IdempotentPlan {
    /// The key expression.
    pub key: Arc<Script>,
    /// Where keys are claimed.
    pub store: Arc<ObjectStore>,
    /// How long a done key is remembered (`None`: the store's default).
    pub ttl: Option<Duration>,
    /// How long a key stays pending before a redelivery may take it.
    pub claim_timeout: Duration,
    /// Variable receiving `{ key, recovered }`.
    pub target: Option<String>,
}

#[cfg(test)]
mod retry_rule_tests {
    use super::RetryRule;
    use crate::event::error::error_type;
    use crate::event::FlowError;

    fn rule(retry_on: &[&str], no_retry_on: &[&str]) -> RetryRule {
        RetryRule {
            retry_on: retry_on.iter().map(|t| error_type(t)).collect(),
            no_retry_on: no_retry_on.iter().map(|t| error_type(t)).collect(),
        }
    }

    fn retries(rule: &RetryRule, kind: &str) -> bool {
        rule.retries(&FlowError::new(kind, "x"))
    }

    #[test]
    fn a_type_covers_its_descendants_and_no_retry_on_wins() {
        let rule = rule(&["HTTP:CONNECTIVITY", "HTTP:SERVER_ERROR"], &["HTTP:INTERNAL_SERVER_ERROR"]);
        assert!(retries(&rule, "HTTP:SERVICE_UNAVAILABLE"));
        assert!(retries(&rule, "HTTP:CONNECTIVITY"));
        assert!(!retries(&rule, "HTTP:INTERNAL_SERVER_ERROR"));
        assert!(!retries(&rule, "HTTP:CLIENT_ERROR"));
        assert!(!retries(&rule, "DB:CONNECTIVITY"));
    }

    #[test]
    fn without_lists_everything_but_a_permanent_error_is_retried_and_a_list_cannot_bring_one_back() {
        assert!(retries(&RetryRule::default(), "HTTP:CLIENT_ERROR"));
        assert!(!retries(&RetryRule::default(), "SENSITIVE:LEAK"));
        assert!(!retries(&rule(&["ANY"], &[]), "CONTRACT:VIOLATION"));
    }
}
