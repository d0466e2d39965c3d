//! Compiling the checked IR into a [`Program`].

use super::{BackoffPlan, FlowPlan, HandlerPlan, Op, Program, RetryRule, Script, StepPlan, TemplatePlan, ValuePlan};
use crate::component::{
    Catalog, ComponentNode, ConfigContext, Resources, Role, SourceDecl, StepContext, StepSite, Typed,
};
use crate::load::Loaded;
use crate::script::{Readers, TemplatePart};
use crate::state::object_store::ObjectStore;
use crate::state::State;
use relais_dsl::codes;
use relais_dsl::ir::{Data, Expr, Flow, Handler, Script as ScriptSource, Step, StepKind, Template};
use relais_dsl::{Diagnostic, Diagnostics, SourceMap, Span};
use relais_stdlib::{Clock, Limits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Replaces the node of component steps (flow tests put mocks and spies there): given the step and the
/// node built for it (`None` for an outbound step, which flow tests never build), the node to run. With an
/// override, outbound configs are not built either: tests need no partner and no production secret.
pub type Override<'a> = &'a (dyn Fn(&StepSite, Option<Arc<dyn ComponentNode>>) -> Arc<dyn ComponentNode> + Send + Sync);

struct Builder<'a> {
    engine: Arc<rhai::Engine>,
    sources: &'a SourceMap,
    dir: PathBuf,
    flow: String,
    next_index: usize,
    /// Label and location of each step, by index.
    sites: Vec<(String, String)>,
    diags: Diagnostics,
    default_store: Arc<ObjectStore>,
    loaded: &'a Loaded,
    resources: &'a Resources,
    catalog: &'a dyn Catalog,
    overrides: Option<Override<'a>>,
    state: &'a Arc<State>,
}

/// The settings of a component as `check` read them into their type, or read now when the program is
/// compiled without a check (what `check` would have done, with the same function).
fn typed(
    loaded: &Loaded,
    catalog: &dyn Catalog,
    role: Role,
    kind: &str,
    at: Span,
    params: &relais_dsl::syntax::Node,
) -> Result<Typed, String> {
    if let Some(typed) = loaded.typed.get(&at) {
        return Ok(typed.clone());
    }
    match catalog.parse(role, kind, &params.to_json()) {
        Some(parsed) => parsed.map_err(|e| e.to_string()),
        None => Err(format!("no {} named `{kind}`", role.describe())),
    }
}

/// The zone a config declares (`zone:`), `internal` when it declares none.
fn zone(config: &relais_dsl::ir::Config) -> &str {
    config.body.get("zone").and_then(|z| z.as_str()).unwrap_or("internal")
}

/// The value of a plan made only of literals (a `set_payload` whose value needs no event), or `None`.
fn fixed(plan: &ValuePlan) -> Option<serde_json::Value> {
    match plan {
        ValuePlan::Literal(v) => Some(v.clone()),
        ValuePlan::Expr(_) | ValuePlan::Template(_) => None,
        ValuePlan::List(items) => items.iter().map(fixed).collect::<Option<_>>().map(serde_json::Value::Array),
        ValuePlan::Map(entries) => entries
            .iter()
            .map(|(k, v)| Some((k.clone(), fixed(v)?)))
            .collect::<Option<serde_json::Map<_, _>>>()
            .map(serde_json::Value::Object),
    }
}

fn build_error(span: Span, what: String, why: String) -> Diagnostic {
    Diagnostic::error(codes::COMPONENT_BUILD, span, format!("{what} cannot be built: {why}")).label("fails here")
}

/// Compiles checked flows into a program, building component nodes and resources with `catalog` (the
/// registry). `loaded` must have passed [`crate::compile::check`] without errors; anything that still fails
/// (a file removed since, a resource that cannot be built) comes back as diagnostics.
pub fn compile_program(loaded: &Loaded, clock: Clock, catalog: &dyn Catalog) -> Result<Program, Diagnostics> {
    compile_program_with(loaded, clock, catalog, None)
}

/// [`compile_program`] with some component nodes replaced (mocks in flow tests).
pub fn compile_program_with(
    loaded: &Loaded,
    clock: Clock,
    catalog: &dyn Catalog,
    overrides: Option<Override<'_>>,
) -> Result<Program, Diagnostics> {
    compile_program_in(&State::new(), loaded, clock, catalog, overrides)
}

/// [`compile_program`] for a command that needs the program's policy and not its partners (`relais dlq`
/// reads the sensitive fields): outbound configs and steps are not built, so no secret needs to be set; an
/// outbound step of this program fails if run.
pub fn compile_program_offline(loaded: &Loaded, clock: Clock, catalog: &dyn Catalog) -> Result<Program, Diagnostics> {
    let offline = |_: &StepSite, built: Option<Arc<dyn ComponentNode>>| -> Arc<dyn ComponentNode> {
        built.unwrap_or_else(|| Arc::new(Refused))
    };
    compile_program_with(loaded, clock, catalog, Some(&offline))
}

/// [`compile_program_with`] on an existing [`State`]: what a hot reload does, so that stores and queues
/// keep their content from one program to the next.
pub fn compile_program_in(
    state: &Arc<State>,
    loaded: &Loaded,
    clock: Clock,
    catalog: &dyn Catalog,
    overrides: Option<Override<'_>>,
) -> Result<Program, Diagnostics> {
    compile_program_reading(state, loaded, super::lookups::load(&loaded.paths), clock, catalog, overrides)
}

/// [`compile_program_in`] with the lookup tables already read: flow tests read them once for all their
/// cases (scripts only read tables, so programs can share them).
pub fn compile_program_reading(
    state: &Arc<State>,
    loaded: &Loaded,
    lookups: relais_stdlib::Lookups,
    clock: Clock,
    catalog: &dyn Catalog,
    overrides: Option<Override<'_>>,
) -> Result<Program, Diagnostics> {
    let engine = Arc::new(relais_stdlib::build_engine_with_clock(&Limits::default(), lookups, clock.clone()));
    let mut diags = Diagnostics::new();
    let mut resources = Resources::default();
    for config in loaded.set.configs() {
        let (name, kind) = (&config.name.value, &config.kind.value);
        if overrides.is_some() && catalog.outbound(Role::Config, kind) {
            continue;
        }
        let cx = ConfigContext { name, zone: zone(config), engine: &engine, state };
        let built = typed(loaded, catalog, Role::Config, kind, config.span, &config.body)
            .and_then(|settings| catalog.build_config(kind, &settings, &cx));
        match built {
            Ok(resource) => resources.insert(name, resource),
            Err(why) => diags.push(build_error(config.name.span, format!("config `{name}`"), why)),
        }
    }
    // Sources set up the state first (a listener bounds its queue before any publisher asks for it).
    let mut sources = Vec::new();
    for flow in loaded.set.flows() {
        let Some(source) = &flow.source else { continue };
        match typed(loaded, catalog, Role::Source, &source.kind.value, source.span, &source.params) {
            Ok(settings) => {
                catalog.declare_source(&source.kind.value, &settings, state);
                sources.push(SourceDecl {
                    flow: flow.name.value.clone(),
                    kind: source.kind.value.clone(),
                    settings,
                    config_name: source.config.as_ref().map(|c| c.value.clone()),
                });
            }
            Err(why) => {
                diags.push(build_error(source.kind.span, format!("the source of flow `{}`", flow.name.value), why))
            }
        }
    }
    let default_store = state.store("", None, false);
    let mut flows = crate::event::NameMap::default();
    for (module, path) in loaded.set.modules.iter().zip(&loaded.paths) {
        for flow in &module.flows {
            let mut b = Builder {
                engine: engine.clone(),
                sources: &loaded.sources,
                dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                flow: flow.name.value.clone(),
                next_index: 0,
                sites: Vec::new(),
                diags: Diagnostics::new(),
                default_store: default_store.clone(),
                loaded,
                resources: &resources,
                catalog,
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
    let sensitive = resources.all_of::<crate::scrub::SensitiveFields>().flat_map(|f| f.0.clone());
    let redactor = crate::scrub::Scrubber::new(sensitive.collect::<Vec<String>>());
    let script_budget = relais_stdlib::DEFAULT_SCRIPT_BUDGET;
    let tracks_sensitive = redactor.is_active();
    Ok(Program {
        flows,
        engine,
        clock,
        readers,
        redactor,
        state: state.clone(),
        script_budget,
        resources,
        sources,
        tracks_sensitive,
    })
}

impl Builder<'_> {
    fn location(&self, span: Span) -> String {
        let file = self.sources.file(span.file);
        let at = file.line_col(span.start as usize);
        format!("{}:{}:{}", file.path, at.line, at.column)
    }

    fn script(&mut self, code: &str, span: Span) -> Arc<Script> {
        crate::script::compile_script(&self.engine, code).unwrap_or_else(|e| {
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
            shared_name: flow.name.value.as_str().into(),
            kind: flow.kind,
            steps,
            on_error,
            concurrency: flow.max_concurrency.as_ref().map(|m| Arc::new(tokio::sync::Semaphore::new(m.value as usize))),
            step_count: self.next_index,
            hits: (0..self.next_index).map(|_| std::sync::atomic::AtomicU64::new(0)).collect(),
            objectives: flow.objectives.clone(),
            sites: Arc::new(std::mem::take(&mut self.sites)),
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
        self.sites.push((label.clone(), location.clone()));
        let op = self.op(&step.kind, step.id.as_ref().map(|i| i.value.clone()));
        StepPlan { index, label, location, op }
    }

    fn op(&mut self, kind: &StepKind, step_id: Option<String>) -> Op {
        match kind {
            StepKind::SetPayload { value, media_type } => {
                let (value, media_type) = (self.value(value), media_type.as_ref().map(|m| m.value.clone()));
                match fixed(&value) {
                    Some(v) => {
                        let mt = media_type.as_deref().unwrap_or(crate::event::payload::default_media_type(&v));
                        Op::SetFixedPayload(Arc::new(crate::event::Payload::fixed(v, mt)))
                    }
                    None => Op::SetPayload(value, media_type),
                }
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
            StepKind::UntilSuccessful { max_retries, backoff, retry_on, no_retry_on, steps } => Op::UntilSuccessful(
                max_retries.as_ref().map_or(5, |m| m.value),
                BackoffPlan {
                    initial: backoff.initial.as_ref().map_or(Duration::from_millis(100), |d| d.value),
                    max: backoff.max.as_ref().map_or(Duration::from_secs(30), |d| d.value),
                    multiplier: backoff.multiplier.as_ref().map_or(2.0, |m| m.value.max(1.0)),
                    jitter: backoff.jitter.as_ref().is_none_or(|j| j.value),
                },
                Arc::new(RetryRule {
                    retry_on: retry_on.iter().map(|t| t.value.clone()).collect(),
                    no_retry_on: no_retry_on.iter().map(|t| t.value.clone()).collect(),
                }),
                self.steps(steps),
            ),
            StepKind::RaiseError { error_type, description } => {
                Op::RaiseError(error_type.value.clone(), description.as_ref().map(|d| self.template(d)))
            }
            StepKind::Validate { schema } => {
                let validator = self.read_file(&schema.value, schema.span).and_then(|(_, text)| {
                    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
                    crate::json_schema::compile(&value).ok()
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
                        .and_then(|s| self.resources.get_as::<ObjectStore>(&s.value))
                        .unwrap_or_else(|| self.default_store.clone()),
                    ttl: ttl.as_ref().map(|t| t.value),
                    claim_timeout: claim_timeout
                        .as_ref()
                        .map_or(crate::state::claims::DEFAULT_CLAIM_TIMEOUT, |t| t.value),
                    target: target.as_ref().map(|t| t.value.clone()),
                }))
            }
            StepKind::Async { max_concurrency, steps } => Op::Async(
                Arc::new(tokio::sync::Semaphore::new(max_concurrency.as_ref().map_or(64, |m| m.value as usize))),
                Arc::new(self.steps(steps)),
            ),
            StepKind::Transaction { config, steps } => {
                let resource = self.resources.get(&config.value).cloned();
                if resource.as_ref().is_some_and(|r| r.open_scope().is_none()) {
                    self.diags.push(build_error(
                        config.span,
                        format!("`db.transaction` in flow `{}`", self.flow),
                        format!("config `{}` opens no transactions", config.value),
                    ));
                }
                Op::Scope(resource, self.steps(steps))
            }
            StepKind::Component(c) => Op::Component(self.component(c, step_id)),
        }
    }

    fn component(&mut self, c: &relais_dsl::ir::Component, step_id: Option<String>) -> Arc<dyn ComponentNode> {
        let kind = c.kind.value.as_str();
        let config_name = c.config.as_ref().map(|n| n.value.clone());
        let settings = match typed(self.loaded, self.catalog, Role::Step, kind, c.span, &c.params) {
            Ok(settings) => settings,
            Err(why) => return self.refused(c, why),
        };
        let outbound = self.catalog.outbound(Role::Step, kind);
        let config_zone = config_name
            .as_deref()
            .and_then(|name| self.loaded.set.configs().find(|config| config.name.value == name))
            .map(zone);
        let resource = config_name.as_deref().and_then(|n| self.resources.get(n));
        let cx = StepContext {
            flow: &self.flow,
            step_id: step_id.as_deref(),
            config_name: config_name.as_deref(),
            config_zone,
            resource,
            engine: &self.engine,
            state: self.state,
            dir: &self.dir,
        };
        let mut mocked_check = None;
        let built = if self.overrides.is_some() && outbound {
            match self.catalog.build_mocked(kind, &settings, &cx) {
                Ok(check) => mocked_check = check,
                Err(why) => return self.refused(c, why),
            }
            None
        } else {
            match self.catalog.build_step(kind, &settings, &cx) {
                Ok(node) => Some(node),
                Err(why) => return self.refused(c, why),
            }
        };
        match (self.overrides, built) {
            (Some(replace), built) => {
                let site = StepSite {
                    flow: self.flow.clone(),
                    step_id,
                    kind: kind.to_string(),
                    config_name,
                    settings: c.params.to_json(),
                    target: self.catalog.target(kind, &settings),
                    outbound,
                    mocked_check,
                };
                replace(&site, built)
            }
            (None, Some(node)) => node,
            // Only flow tests leave an outbound step unbuilt, and they always replace it.
            (None, None) => self.refused(c, "not built".into()),
        }
    }

    /// Reports a component that cannot be built; the program is refused, so the node is never run.
    fn refused(&mut self, c: &relais_dsl::ir::Component, why: String) -> Arc<dyn ComponentNode> {
        self.diags.push(build_error(c.kind.span, format!("step `{}` in flow `{}`", c.kind.value, self.flow), why));
        Arc::new(Refused)
    }
}

/// The node of a step that was not built: refused by the compiler (the program holding it is never
/// returned), or outbound in a program compiled offline.
struct Refused;

impl ComponentNode for Refused {
    fn call<'a>(
        &'a self,
        _: &'a dyn crate::component::Context,
        _: crate::event::Event,
    ) -> crate::component::CallFuture<'a> {
        Box::pin(async {
            Err(crate::event::FlowError::new(
                "COMPONENT:UNAVAILABLE",
                "the step was not built (an outbound step of a program compiled offline)",
            ))
        })
    }
}
