//! Compiling the checked IR into a [`Program`].

use super::value::{Readers, TemplatePart};
use super::{BackoffPlan, FlowPlan, HandlerPlan, Op, Program, Script, StepPlan, TemplatePlan, ValuePlan};
use crate::load::Loaded;
use crate::runtime::components::{self, ComponentNode};
use crate::runtime::object_store::ObjectStore;
use crate::runtime::queue::DEFAULT_CAPACITY;
use crate::runtime::state::State;
use relais_dsl::codes;
use relais_dsl::ir::{Data, Expr, Flow, Handler, Script as ScriptSource, Step, StepKind, Template};
use relais_dsl::{Diagnostic, Diagnostics, SourceMap, Span};
use relais_stdlib::{Clock, Limits};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Builds the node of a component step (`http.request`, `object_store.get`...) from its parameters and its
/// named config; connectors register here.
pub type Components = HashMap<&'static str, components::Factory>;

/// Replaces the node of some component steps (flow tests put mocks there); `None` keeps the normal node.
pub type Override<'a> = &'a (dyn Fn(&components::Spec) -> Option<Arc<dyn ComponentNode>> + Send + Sync);

struct Builder<'a> {
    engine: Arc<rhai::Engine>,
    sources: &'a SourceMap,
    dir: PathBuf,
    flow: String,
    next_index: usize,
    diags: Diagnostics,
    stores: &'a HashMap<String, Arc<ObjectStore>>,
    default_store: Arc<ObjectStore>,
    configs: &'a HashMap<String, serde_json::Value>,
    components: &'a Components,
    overrides: Option<Override<'a>>,
    state: &'a Arc<State>,
}

/// Compiles checked flows into a program. `loaded` must have passed [`crate::compile::check`] without
/// errors; anything that still fails (a file removed since) comes back as diagnostics.
pub fn compile_program(loaded: &Loaded, clock: Clock, components: &Components) -> Result<Program, Diagnostics> {
    compile_program_with(loaded, clock, components, None)
}

/// [`compile_program`] with some component nodes replaced (mocks in flow tests).
pub fn compile_program_with(
    loaded: &Loaded,
    clock: Clock,
    components: &Components,
    overrides: Option<Override<'_>>,
) -> Result<Program, Diagnostics> {
    compile_program_in(&State::new(), loaded, clock, components, overrides)
}

/// [`compile_program_with`] on an existing [`State`]: what a hot reload does, so that stores and queues
/// keep their content from one program to the next.
pub fn compile_program_in(
    state: &Arc<State>,
    loaded: &Loaded,
    clock: Clock,
    components: &Components,
    overrides: Option<Override<'_>>,
) -> Result<Program, Diagnostics> {
    let lookups = super::lookups::load(&loaded.paths);
    let engine = Arc::new(relais_stdlib::build_engine_with_clock(&Limits::default(), lookups, clock.clone()));
    let mut stores = HashMap::new();
    let mut configs = HashMap::new();
    let mut sensitive = Vec::new();
    for config in loaded.set.configs() {
        if config.kind.value == "sensitive_data" {
            let fields = config.body.get("fields").map(|f| f.to_json());
            if let Some(serde_json::Value::Array(fields)) = fields {
                sensitive.extend(fields.iter().filter_map(|f| f.as_str().map(str::to_string)));
            }
        }
        configs.insert(config.name.value.clone(), config.body.to_json());
        if config.kind.value == "object_store" {
            let ttl = config.body.get("ttl").and_then(|n| n.as_str()).and_then(relais_dsl::ir::parse_duration);
            let persistent =
                config.body.get("persistent").is_some_and(|n| matches!(n.value, relais_dsl::syntax::Value::Bool(true)));
            stores.insert(config.name.value.clone(), state.store(&config.name.value, ttl, persistent));
        }
    }
    // Listeners set the bound of their queue; create those queues before any publisher asks for one.
    for flow in loaded.set.flows() {
        let Some(source) = flow.source.as_ref().filter(|s| s.kind.value == "queue.listener") else { continue };
        let params = source.params.to_json();
        let Some(name) = params.get("queue").and_then(|q| q.as_str()) else { continue };
        let capacity =
            params.get("capacity").and_then(|c| c.as_u64()).map(|c| usize::try_from(c).unwrap_or(usize::MAX));
        if params.get("persistent").and_then(|p| p.as_bool()) == Some(true) {
            let capacity = capacity.unwrap_or(crate::runtime::state::PERSISTENT_DEFAULT_CAPACITY);
            state.bound_persistent_queue(name, capacity);
        } else {
            state.queue(name, capacity.unwrap_or(DEFAULT_CAPACITY));
        }
    }
    let default_store = state.store("", None, false);
    let mut flows = HashMap::new();
    let mut diags = Diagnostics::new();
    for (module, path) in loaded.set.modules.iter().zip(&loaded.paths) {
        for flow in &module.flows {
            let mut b = Builder {
                engine: engine.clone(),
                sources: &loaded.sources,
                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                flow: flow.name.value.clone(),
                next_index: 0,
                diags: Diagnostics::new(),
                stores: &stores,
                default_store: default_store.clone(),
                configs: &configs,
                components,
                overrides,
                state,
            };
            let plan = b.flow(flow);
            diags.extend(b.diags);
            flows.insert(flow.name.value.clone(), Arc::new(plan));
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let readers = Readers::new(engine.clone());
    let redactor = crate::scrub::Scrubber::new(sensitive);
    let script_budget = relais_stdlib::DEFAULT_SCRIPT_BUDGET;
    Ok(Program { flows, engine, clock, readers, redactor, state: state.clone(), script_budget })
}

impl Builder<'_> {
    fn location(&self, span: Span) -> String {
        let file = self.sources.file(span.file);
        let at = file.line_col(span.start as usize);
        format!("{}:{}:{}", file.path, at.line, at.column)
    }

    fn script(&mut self, code: &str, span: Span) -> Arc<Script> {
        super::value::compile_script(&self.engine, code).unwrap_or_else(|e| {
            self.diags.push(Diagnostic::error(codes::RHAI_SYNTAX, span, format!("script does not compile: {e}")));
            Arc::new(Script {
                ast: rhai::AST::empty(),
                payload: false,
                attributes: false,
                vars: false,
                error: false,
                correlation_id: false,
                heavy: false,
            })
        })
    }

    fn expr(&mut self, e: &Expr) -> Arc<Script> {
        self.script(&e.code, e.span)
    }

    fn template(&mut self, t: &Template) -> TemplatePlan {
        let parts = t
            .parts
            .iter()
            .map(|p| match p {
                relais_dsl::ir::TemplatePart::Literal(s) => TemplatePart::Literal(s.clone()),
                relais_dsl::ir::TemplatePart::Expr(e) => TemplatePart::Expr(self.expr(e)),
            })
            .collect();
        TemplatePlan { parts }
    }

    fn value(&mut self, d: &Data) -> ValuePlan {
        match d {
            Data::Literal(n) => ValuePlan::Literal(n.to_json()),
            Data::Expr(e) => ValuePlan::Expr(self.expr(e)),
            Data::Template(t) => ValuePlan::Template(self.template(t)),
            Data::List(items, _) => ValuePlan::List(items.iter().map(|i| self.value(i)).collect()),
            Data::Map(entries, _) => ValuePlan::Map(entries.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()),
        }
    }

    fn flow(&mut self, flow: &Flow) -> FlowPlan {
        let steps = self.steps(&flow.steps);
        let on_error = self.handlers(&flow.on_error);
        FlowPlan {
            name: flow.name.value.clone(),
            kind: flow.kind,
            steps,
            on_error,
            concurrency: flow.max_concurrency.as_ref().map(|m| Arc::new(tokio::sync::Semaphore::new(m.value as usize))),
            step_count: self.next_index,
            hits: (0..self.next_index).map(|_| std::sync::atomic::AtomicU64::new(0)).collect(),
        }
    }

    fn handlers(&mut self, handlers: &[Handler]) -> Vec<HandlerPlan> {
        handlers
            .iter()
            .map(|h| HandlerPlan {
                action: h.action,
                types: h.types.iter().map(|t| t.value.clone()).collect(),
                when: h.when.as_ref().map(|w| self.expr(w)),
                steps: self.steps(&h.steps),
            })
            .collect()
    }

    fn steps(&mut self, steps: &[Step]) -> Vec<StepPlan> {
        steps.iter().map(|s| self.step(s)).collect()
    }

    fn read_file(&mut self, path: &str, span: Span) -> Option<(PathBuf, String)> {
        let full = self.dir.join(path);
        match crate::load::read_text(&full, 4 * 1024 * 1024) {
            Ok(text) => Some((full, text)),
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    codes::FILE_NOT_FOUND,
                    span,
                    format!("cannot read `{}`: {e}", full.display()),
                ));
                None
            }
        }
    }

    fn step(&mut self, step: &Step) -> StepPlan {
        let index = self.next_index;
        self.next_index += 1;
        let label = step.id.as_ref().map_or_else(|| step.kind.name().to_string(), |id| id.value.clone());
        let location = self.location(step.span);
        let op = self.op(&step.kind, step.id.as_ref().map(|i| i.value.clone()));
        StepPlan { index, label, location, op }
    }

    fn op(&mut self, kind: &StepKind, step_id: Option<String>) -> Op {
        match kind {
            StepKind::SetPayload { value, media_type } => {
                Op::SetPayload(self.value(value), media_type.as_ref().map(|m| m.value.clone()))
            }
            StepKind::SetVariable { name, value } => Op::SetVariable(name.value.clone(), self.value(value)),
            StepKind::RemoveVariable { name } => Op::RemoveVariable(name.value.clone()),
            StepKind::Transform { script: ScriptSource::Inline(code) } => Op::Transform(self.expr(code)),
            StepKind::Transform { script: ScriptSource::File(path) } => match self.read_file(&path.value, path.span) {
                Some((_, text)) => Op::Transform(self.script(&text, path.span)),
                None => Op::Transform(self.script("payload", path.span)),
            },
            StepKind::Logger { level, message, category } => Op::Logger(
                level.as_ref().map_or(relais_dsl::ir::LogLevel::Info, |l| l.value),
                self.template(message),
                category.as_ref().map_or_else(|| self.flow.clone(), |c| c.value.clone()),
            ),
            StepKind::Choice { when, otherwise } => Op::Choice(
                when.iter().map(|b| (self.expr(&b.when), self.steps(&b.steps))).collect(),
                otherwise.as_ref().map(|o| self.steps(o)),
            ),
            StepKind::Foreach { collection, batch_size, counter, root_message, steps } => Op::Foreach {
                collection: collection.as_ref().map(|c| self.expr(c)),
                batch_size: batch_size.as_ref().map_or(1, |b| b.value as usize),
                counter: counter.as_ref().map_or_else(|| "counter".into(), |c| c.value.clone()),
                root_message: root_message.as_ref().map_or_else(|| "root_message".into(), |c| c.value.clone()),
                steps: self.steps(steps),
            },
            StepKind::ParallelForeach { collection, max_concurrency, timeout, steps } => Op::ParallelForeach {
                collection: collection.as_ref().map(|c| self.expr(c)),
                max_concurrency: max_concurrency.as_ref().map_or(16, |m| m.value as usize),
                timeout: timeout.as_ref().map(|t| t.value),
                steps: self.steps(steps),
            },
            StepKind::ScatterGather { timeout, max_concurrency, routes } => Op::ScatterGather {
                timeout: timeout.as_ref().map(|t| t.value),
                max_concurrency: max_concurrency.as_ref().map_or(routes.len().max(1), |m| m.value as usize),
                routes: routes.iter().map(|r| self.steps(&r.steps)).collect(),
            },
            StepKind::FirstSuccessful { routes } => {
                Op::FirstSuccessful(routes.iter().map(|r| self.steps(&r.steps)).collect())
            }
            StepKind::FlowRef { name, target } => {
                Op::FlowRef(name.value.clone(), target.as_ref().map(|t| t.value.clone()))
            }
            StepKind::Try { steps, on_error } => Op::Try(self.steps(steps), self.handlers(on_error)),
            StepKind::UntilSuccessful { max_retries, backoff, steps } => Op::UntilSuccessful(
                max_retries.as_ref().map_or(5, |m| m.value),
                BackoffPlan {
                    initial: backoff.initial.as_ref().map_or(Duration::from_millis(100), |d| d.value),
                    max: backoff.max.as_ref().map_or(Duration::from_secs(30), |d| d.value),
                    multiplier: backoff.multiplier.as_ref().map_or(2.0, |m| m.value.max(1.0)),
                    jitter: backoff.jitter.as_ref().is_none_or(|j| j.value),
                },
                self.steps(steps),
            ),
            StepKind::RaiseError { error_type, description } => {
                Op::RaiseError(error_type.value.clone(), description.as_ref().map(|d| self.template(d)))
            }
            StepKind::Validate { schema } => {
                let validator = self.read_file(&schema.value, schema.span).and_then(|(_, text)| {
                    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
                    jsonschema::validator_for(&value).ok()
                });
                match validator {
                    Some(v) => Op::Validate(Arc::new(v)),
                    None => {
                        self.diags.push(Diagnostic::error(
                            codes::INVALID_SCHEMA,
                            schema.span,
                            "schema cannot be compiled",
                        ));
                        Op::RemoveVariable(String::new())
                    }
                }
            }
            StepKind::Idempotent { key, store, ttl, claim_timeout, target } => {
                Op::Idempotent(Box::new(super::IdempotentPlan {
                    key: self.expr(key),
                    store: store
                        .as_ref()
                        .and_then(|s| self.stores.get(&s.value).cloned())
                        .unwrap_or_else(|| self.default_store.clone()),
                    ttl: ttl.as_ref().map(|t| t.value),
                    claim_timeout: claim_timeout
                        .as_ref()
                        .map_or(crate::runtime::claims::DEFAULT_CLAIM_TIMEOUT, |t| t.value),
                    target: target.as_ref().map(|t| t.value.clone()),
                }))
            }
            StepKind::Async { max_concurrency, steps } => Op::Async(
                Arc::new(tokio::sync::Semaphore::new(max_concurrency.as_ref().map_or(64, |m| m.value as usize))),
                Arc::new(self.steps(steps)),
            ),
            StepKind::Component(c) => {
                let config = c.config.as_ref().and_then(|n| self.configs.get(&n.value)).cloned();
                let params = c.params.to_json();
                let store = c.config.as_ref().and_then(|n| self.stores.get(&n.value)).cloned();
                let spec = components::Spec {
                    flow: self.flow.clone(),
                    step_id,
                    kind: c.kind.value.clone(),
                    config_name: c.config.as_ref().map(|n| n.value.clone()),
                    params,
                    config,
                    store,
                    engine: self.engine.clone(),
                    state: self.state.clone(),
                };
                let replaced = self.overrides.and_then(|o| o(&spec));
                let node: Arc<dyn ComponentNode> = match (replaced, self.components.get(c.kind.value.as_str())) {
                    (Some(node), _) => node,
                    (None, Some(factory)) => factory(spec),
                    (None, None) => Arc::new(components::Unavailable(c.kind.value.clone())),
                };
                Op::Component(node)
            }
        }
    }
}
