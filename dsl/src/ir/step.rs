//! Steps, components and error handlers.

use super::{Data, Expr, Template};
use crate::span::{Span, Spanned};
use crate::syntax::Node;
use std::fmt;
use std::time::Duration;

/// One step of a flow, with an optional id used by mocks, metrics and error reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    /// Optional id, unique within the flow.
    pub id: Option<Spanned<String>>,
    /// What the step does.
    pub kind: StepKind,
    /// The whole step.
    #[serde(skip)]
    pub span: Span,
}

/// Where a transform's Rhai code comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// Code written in the flow file.
    Inline(Expr),
    /// A `.rhai` file, relative to the flow file.
    File(Spanned<String>),
}

/// Log levels for `logger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unusual.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// Every level with its spelling.
    pub const ALL: [(LogLevel, &'static str); 5] = [
        (LogLevel::Trace, "trace"),
        (LogLevel::Debug, "debug"),
        (LogLevel::Info, "info"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Error, "error"),
    ];

    /// The level's spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(l, _)| *l == self).map_or("info", |(_, s)| s)
    }
}

/// A `choice` branch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Branch {
    /// The condition (a Rhai expression yielding a boolean).
    pub when: Expr,
    /// Steps run when it holds.
    pub steps: Vec<Step>,
    /// The whole branch.
    #[serde(skip)]
    pub span: Span,
}

/// A route of `scatter_gather` or `first_successful`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Route {
    /// The route's steps.
    pub steps: Vec<Step>,
    /// The whole route.
    #[serde(skip)]
    pub span: Span,
}

/// Retry backoff of `until_successful`: exponential from `initial`, capped at `max`, with full jitter.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Backoff {
    /// First delay.
    pub initial: Option<Spanned<Duration>>,
    /// Largest delay.
    pub max: Option<Spanned<Duration>>,
    /// Growth factor between attempts.
    pub multiplier: Option<Spanned<f64>>,
    /// Randomise delays (default true) so that retrying clients do not synchronise.
    pub jitter: Option<Spanned<bool>>,
}

impl Backoff {
    /// True when nothing was written (the block can be omitted when printing).
    pub fn is_empty(&self) -> bool {
        self.initial.is_none() && self.max.is_none() && self.multiplier.is_none() && self.jitter.is_none()
    }
}

/// A typed error `NAMESPACE:NAME`; `ANY` matches every error.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ErrorType {
    /// Upper-case namespace (`HTTP`, `VALIDATION`, `APP`); empty for `ANY`.
    pub namespace: String,
    /// Upper-case name (`NOT_FOUND`).
    pub name: String,
}

impl ErrorType {
    /// Parses `NS:NAME` or `ANY`; names are upper-case letters, digits and `_`.
    pub fn parse(text: &str) -> Option<ErrorType> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_uppercase())
                && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        };
        if text == "ANY" {
            return Some(ErrorType { namespace: String::new(), name: "ANY".into() });
        }
        let (ns, name) = text.split_once(':')?;
        (ok(ns) && ok(name)).then(|| ErrorType { namespace: ns.into(), name: name.into() })
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}:{}", self.namespace, self.name)
        }
    }
}

/// What an error handler does once its steps ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerAction {
    /// The owner (flow or `try`) completes successfully with the handler's result.
    Continue,
    /// The error is rethrown to the caller after the handler's steps.
    Propagate,
}

impl HandlerAction {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            HandlerAction::Continue => "continue",
            HandlerAction::Propagate => "propagate",
        }
    }
}

/// An `on_error` handler: the first whose types and `when` match the error runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Handler {
    /// Continue or propagate.
    pub action: HandlerAction,
    /// Matched error types (empty: any).
    pub types: Vec<Spanned<ErrorType>>,
    /// Extra condition over `error`, `payload`, `vars`.
    pub when: Option<Expr>,
    /// Steps run on a match.
    pub steps: Vec<Step>,
    /// The whole handler.
    #[serde(skip)]
    pub span: Span,
}

/// A registered component used as a source or a step: `http.request crm { method: PUT }`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Component {
    /// Dotted registry name.
    pub kind: Spanned<String>,
    /// The named config it uses (`config: crm`).
    pub config: Option<Spanned<String>>,
    /// Its parameters (a map without `config`), validated by the registry.
    pub params: Node,
    /// The whole component.
    #[serde(skip)]
    pub span: Span,
}

impl Component {
    /// Where setting `key` is written (its value), or the whole component when it is not: what a diagnostic
    /// about that setting points at. The setting's value itself is read from the component's typed config.
    pub fn span_of(&self, key: &str) -> Span {
        self.params.get(key).map_or(self.span, |n| n.span)
    }
}

/// Every kind of step the language has.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Replace the payload.
    SetPayload {
        /// The new payload.
        value: Data,
        /// Media type to record (`application/json` by default for structured values).
        media_type: Option<Spanned<String>>,
    },
    /// Set a flow variable.
    SetVariable {
        /// Variable name.
        name: Spanned<String>,
        /// Its value.
        value: Data,
    },
    /// Remove a flow variable.
    RemoveVariable {
        /// Variable name.
        name: Spanned<String>,
    },
    /// Run a Rhai mapping whose result becomes the payload.
    Transform {
        /// The script.
        script: Script,
    },
    /// Log a message.
    Logger {
        /// Level.
        level: Option<Spanned<LogLevel>>,
        /// Message template.
        message: Template,
        /// Logger category (defaults to the flow name).
        category: Option<Spanned<String>>,
    },
    /// First matching branch runs.
    Choice {
        /// Branches, tried in order.
        when: Vec<Branch>,
        /// Run when no branch matches.
        otherwise: Option<Vec<Step>>,
    },
    /// Run steps for each element, sequentially.
    Foreach {
        /// The collection (default: the payload).
        collection: Option<Expr>,
        /// Group elements into batches of this size.
        batch_size: Option<Spanned<u32>>,
        /// Variable holding the 1-based index (default `counter`).
        counter: Option<Spanned<String>>,
        /// Variable holding the original message (default `root_message`).
        root_message: Option<Spanned<String>>,
        /// The steps.
        steps: Vec<Step>,
    },
    /// Run steps for each element concurrently; results collected in order.
    ParallelForeach {
        /// The collection (default: the payload).
        collection: Option<Expr>,
        /// At most this many elements at once.
        max_concurrency: Option<Spanned<u32>>,
        /// Fail with `TIMEOUT` if not all done by then.
        timeout: Option<Spanned<Duration>>,
        /// The steps.
        steps: Vec<Step>,
    },
    /// Run routes concurrently; collect every result.
    ScatterGather {
        /// Per-route timeout.
        timeout: Option<Spanned<Duration>>,
        /// At most this many routes at once.
        max_concurrency: Option<Spanned<u32>>,
        /// The routes.
        routes: Vec<Route>,
    },
    /// Try routes in order until one succeeds.
    FirstSuccessful {
        /// The routes.
        routes: Vec<Route>,
    },
    /// Call another flow or sub-flow.
    FlowRef {
        /// The called flow.
        name: Spanned<String>,
        /// Store the result in this variable instead of the payload.
        target: Option<Spanned<String>>,
    },
    /// A scope with its own error handlers.
    Try {
        /// The steps.
        steps: Vec<Step>,
        /// Handlers for errors raised inside.
        on_error: Vec<Handler>,
    },
    /// Retry the steps until they succeed.
    UntilSuccessful {
        /// Retries after the first attempt.
        max_retries: Option<Spanned<u32>>,
        /// Delays between attempts.
        backoff: Backoff,
        /// Only errors of these types (or their descendants) are retried; empty: every error.
        retry_on: Vec<Spanned<ErrorType>>,
        /// Errors of these types (or their descendants) are never retried, even when `retry_on` covers them.
        no_retry_on: Vec<Spanned<ErrorType>>,
        /// The steps.
        steps: Vec<Step>,
    },
    /// Fail with a typed error.
    RaiseError {
        /// The error type.
        error_type: Spanned<ErrorType>,
        /// Description template.
        description: Option<Template>,
    },
    /// Validate the payload against a JSON Schema file.
    Validate {
        /// Schema path, relative to the flow file.
        schema: Spanned<String>,
    },
    /// Let an event through only once per key.
    Idempotent {
        /// The key expression.
        key: Expr,
        /// Object-store config holding seen keys (default: an in-memory store).
        store: Option<Spanned<String>>,
        /// How long a key is remembered.
        ttl: Option<Spanned<Duration>>,
        /// How long a key stays claimed by an event that has not finished yet; past it, a crashed or hung
        /// event's claim lapses and a redelivery may take the key (default 5 minutes).
        claim_timeout: Option<Spanned<Duration>>,
        /// Variable that receives `{ key, recovered }`: `recovered` is true when the key was taken over from
        /// an event that stopped before finishing (a crash), whose steps may have partly run.
        target: Option<Spanned<String>>,
    },
    /// Run steps in the background on a copy of the event.
    Async {
        /// At most this many background runs at once.
        max_concurrency: Option<Spanned<u32>>,
        /// The steps.
        steps: Vec<Step>,
    },
    /// A database transaction (`db.transaction`): its steps' `db.*` statements naming the same config run
    /// on one connection, committed when the steps succeed and rolled back when they fail.
    Transaction {
        /// The `db` config.
        config: Spanned<String>,
        /// The steps.
        steps: Vec<Step>,
    },
    /// A registered component.
    Component(Component),
}

impl StepKind {
    /// The step's keyword (`transform`) or component name (`http.request`).
    pub fn name(&self) -> &str {
        match self {
            StepKind::SetPayload { .. } => "set_payload",
            StepKind::SetVariable { .. } => "set_variable",
            StepKind::RemoveVariable { .. } => "remove_variable",
            StepKind::Transform { .. } => "transform",
            StepKind::Logger { .. } => "logger",
            StepKind::Choice { .. } => "choice",
            StepKind::Foreach { .. } => "foreach",
            StepKind::ParallelForeach { .. } => "parallel_foreach",
            StepKind::ScatterGather { .. } => "scatter_gather",
            StepKind::FirstSuccessful { .. } => "first_successful",
            StepKind::FlowRef { .. } => "flow_ref",
            StepKind::Try { .. } => "try",
            StepKind::UntilSuccessful { .. } => "until_successful",
            StepKind::RaiseError { .. } => "raise_error",
            StepKind::Validate { .. } => "validate",
            StepKind::Idempotent { .. } => "idempotent",
            StepKind::Async { .. } => "async",
            StepKind::Transaction { .. } => "db.transaction",
            StepKind::Component(c) => &c.kind.value,
        }
    }

    /// Nested step lists (branches, routes, bodies, handlers), for passes that walk every step.
    pub fn children(&self) -> Vec<&[Step]> {
        let mut v = Vec::new();
        self.for_each_child(&mut |c| v.push(c));
        v
    }

    /// [`children`](Self::children) without collecting them: walks call it for every step of every flow,
    /// several times per check, and the small vectors were 10 % of `relais check`.
    pub fn for_each_child<'a>(&'a self, f: &mut dyn FnMut(&'a [Step])) {
        match self {
            StepKind::Choice { when, otherwise } => {
                when.iter().for_each(|b| f(&b.steps));
                if let Some(o) = otherwise {
                    f(o);
                }
            }
            StepKind::Foreach { steps, .. }
            | StepKind::ParallelForeach { steps, .. }
            | StepKind::UntilSuccessful { steps, .. }
            | StepKind::Async { steps, .. }
            | StepKind::Transaction { steps, .. } => f(steps),
            StepKind::ScatterGather { routes, .. } | StepKind::FirstSuccessful { routes } => {
                routes.iter().for_each(|r| f(&r.steps))
            }
            StepKind::Try { steps, on_error } => {
                f(steps);
                on_error.iter().for_each(|h| f(&h.steps));
            }
            _ => {}
        }
    }
}

/// The built-in step keywords (components have dotted names instead).
pub const STEP_KEYWORDS: &[&str] = &[
    "set_payload",
    "set_variable",
    "remove_variable",
    "transform",
    "logger",
    "choice",
    "foreach",
    "parallel_foreach",
    "scatter_gather",
    "first_successful",
    "flow_ref",
    "try",
    "until_successful",
    "raise_error",
    "validate",
    "idempotent",
    "async",
];

/// Calls `f` on every step of a list and, recursively, of its nested lists.
pub fn walk_steps<'a>(steps: &'a [Step], f: &mut dyn FnMut(&'a Step)) {
    for step in steps {
        f(step);
        step.kind.for_each_child(&mut |child| walk_steps(child, f));
    }
}
