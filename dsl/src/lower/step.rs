//! Steps: one function per step kind, all reading the YAML-shaped tree both syntaxes produce.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::ir::{Backoff, Branch, Component, LogLevel, Route, Script, Step, StepKind};
use crate::span::{Span, Spanned};
use crate::syntax::{Entry, Node, Value};

impl Lowerer<'_> {
    /// A list of steps; broken steps are reported and skipped.
    pub(crate) fn steps(&mut self, node: &Node) -> Vec<Step> {
        self.list(node, "steps", |lw, n| lw.step(n))
    }

    /// The steps of a scope (`foreach`, `until_successful`, `try`, ...): a scope without any runs nothing,
    /// which is never what was meant (most often the steps were indented under the wrong key or left out),
    /// so an absent or empty `steps` is RL0112 on the scope's keyword.
    fn scope_steps(&mut self, steps: Option<&Node>, scope: &Entry) -> Vec<Step> {
        let lowered = steps.map(|n| self.steps(n)).unwrap_or_default();
        let written_empty = steps.is_none_or(|n| matches!(&n.value, Value::List(items) if items.is_empty()));
        if written_empty {
            let kind = scope.key.as_str();
            let example = match kind {
                "foreach" | "parallel_foreach" => "the steps to run for each element",
                "until_successful" => "the steps to retry",
                "try" => "the steps whose errors its `on_error` handles",
                _ => "the steps to run",
            };
            self.error(
                Diagnostic::error(codes::EMPTY_SCOPE, scope.key_span, format!("`{kind}` has no steps"))
                    .label("nothing to run inside")
                    .help(format!(
                        "add {example} under `steps:` (in `.flow`, in the `{{ ... }}` block after the options: \
                         `{kind} ... {{ logger \"#[payload]\" }}`)"
                    )),
            );
        }
        lowered
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "a map naming one step, e.g. `- logger: \"hello\"`", "a step");
            return None;
        };
        let mut id = None;
        let mut kinds: Vec<&Entry> = Vec::new();
        for entry in entries {
            if entry.key == "id" {
                id = self.name(&entry.value, "step id");
            } else {
                kinds.push(entry);
            }
        }
        let [entry] = kinds.as_slice() else {
            let message =
                if kinds.is_empty() { "the step names no step kind" } else { "the step names several step kinds" };
            let mut d = Diagnostic::error(codes::STEP_SHAPE, node.span, message)
                .label("a step is a map with exactly one step key (and an optional `id`)");
            for extra in kinds.iter().skip(1) {
                d = d.with_label(extra.key_span, "another step key");
            }
            d = d.help(if kinds.is_empty() {
                "add the step itself next to `id`: `- id: upsert\n  http.request: { ... }`"
            } else {
                "split it into one list item per step: `- logger: ...` then `- transform: ...`"
            });
            self.error(d);
            return None;
        };
        let kind = self.step_kind(entry, node.span)?;
        Some(Step { id, kind, span: node.span })
    }

    fn step_kind(&mut self, entry: &Entry, step_span: Span) -> Option<StepKind> {
        let body = &entry.value;
        let key = entry.key.as_str();
        Some(match key {
            "set_payload" => match body.as_map() {
                Some(m)
                    if m.iter().any(|e| e.key == "value")
                        && m.iter().all(|e| e.key == "value" || e.key == "media_type") =>
                {
                    let f = self.fields(body, "`set_payload`", &["value", "media_type"])?;
                    let value = self.data(f.get("value")?, "`set_payload`")?;
                    let media_type = f.get("media_type").and_then(|n| self.string(n, "media_type"));
                    StepKind::SetPayload { value, media_type }
                }
                _ => StepKind::SetPayload { value: self.data(body, "`set_payload`")?, media_type: None },
            },
            "set_variable" => {
                let f = self.fields(body, "`set_variable`", &["name", "value"])?;
                let name = f.require(self, "name").and_then(|n| self.name(n, "variable"));
                let value = f.require(self, "value").and_then(|n| self.data(n, "`set_variable` value"));
                StepKind::SetVariable { name: name?, value: value? }
            }
            "remove_variable" => StepKind::RemoveVariable { name: self.name(body, "variable")? },
            "transform" => {
                let script = match &body.value {
                    Value::Str(_) => Script::Inline(self.code(body, "`transform`")?),
                    _ => {
                        let f = self.fields(body, "`transform`", &["script", "code"])?;
                        match (f.get("script"), f.get("code")) {
                            (Some(path), None) => Script::File(self.string(path, "`script`")?),
                            (None, Some(code)) => Script::Inline(self.code(code, "`code`")?),
                            _ => {
                                self.error(
                                    Diagnostic::error(
                                        codes::MISSING_KEY,
                                        body.span,
                                        "`transform` needs either `script` or `code`",
                                    )
                                    .label("give one of them")
                                    .help("`transform: { script: mappings/x.rhai }` or `transform: { code: \"...\" }`"),
                                );
                                return None;
                            }
                        }
                    }
                };
                StepKind::Transform { script }
            }
            "logger" => match &body.value {
                Value::Str(_) => {
                    StepKind::Logger { level: None, message: self.template(body, "`logger` message")?, category: None }
                }
                _ => {
                    let f = self.fields(body, "`logger`", &["level", "message", "category"])?;
                    let level = f.get("level").and_then(|n| self.choice(n, "log level", &LogLevel::ALL));
                    let message = f.require(self, "message").and_then(|n| self.template(n, "`logger` message"))?;
                    let category = f.get("category").and_then(|n| self.string(n, "category"));
                    StepKind::Logger { level, message, category }
                }
            },
            "choice" => self.choice_step(body)?,
            "foreach" => {
                let f =
                    self.fields(body, "`foreach`", &["collection", "batch_size", "counter", "root_message", "steps"])?;
                StepKind::Foreach {
                    collection: f.get("collection").and_then(|n| self.expr(n, "`collection`")),
                    batch_size: f.get("batch_size").and_then(|n| self.count(n, "batch_size", 1)),
                    counter: f.get("counter").and_then(|n| self.name(n, "variable")),
                    root_message: f.get("root_message").and_then(|n| self.name(n, "variable")),
                    steps: self.scope_steps(f.get("steps"), entry),
                }
            }
            "parallel_foreach" => {
                let f =
                    self.fields(body, "`parallel_foreach`", &["collection", "max_concurrency", "timeout", "steps"])?;
                StepKind::ParallelForeach {
                    collection: f.get("collection").and_then(|n| self.expr(n, "`collection`")),
                    max_concurrency: f.get("max_concurrency").and_then(|n| self.count(n, "max_concurrency", 1)),
                    timeout: f.get("timeout").and_then(|n| self.positive_duration(n, "timeout")),
                    steps: self.scope_steps(f.get("steps"), entry),
                }
            }
            "scatter_gather" => {
                let f = self.fields(body, "`scatter_gather`", &["timeout", "max_concurrency", "routes"])?;
                let routes = f.require(self, "routes")?;
                StepKind::ScatterGather {
                    timeout: f.get("timeout").and_then(|n| self.positive_duration(n, "timeout")),
                    max_concurrency: f.get("max_concurrency").and_then(|n| self.count(n, "max_concurrency", 1)),
                    routes: self.routes(routes),
                }
            }
            "first_successful" => {
                let f = self.fields(body, "`first_successful`", &["routes"])?;
                let routes = f.require(self, "routes")?;
                StepKind::FirstSuccessful { routes: self.routes(routes) }
            }
            "flow_ref" => match &body.value {
                Value::Str(_) => StepKind::FlowRef { name: self.name(body, "flow")?, target: None },
                _ => {
                    let f = self.fields(body, "`flow_ref`", &["name", "target"])?;
                    let name = f.require(self, "name").and_then(|n| self.name(n, "flow"))?;
                    StepKind::FlowRef { name, target: f.get("target").and_then(|n| self.name(n, "variable")) }
                }
            },
            "try" => {
                let f = self.fields(body, "`try`", &["steps", "on_error"])?;
                StepKind::Try {
                    steps: self.scope_steps(f.get("steps"), entry),
                    on_error: f.get("on_error").map(|n| self.handlers(n)).unwrap_or_default(),
                }
            }
            "until_successful" => {
                let keys = ["max_retries", "backoff", "retry_on", "no_retry_on", "steps"];
                let f = self.fields(body, "`until_successful`", &keys)?;
                StepKind::UntilSuccessful {
                    max_retries: f.get("max_retries").and_then(|n| self.count(n, "max_retries", 0)),
                    backoff: f.get("backoff").map(|n| self.backoff(n)).unwrap_or_default(),
                    retry_on: f.get("retry_on").map(|n| self.error_types(n, "retry_on")).unwrap_or_default(),
                    no_retry_on: f.get("no_retry_on").map(|n| self.error_types(n, "no_retry_on")).unwrap_or_default(),
                    steps: self.scope_steps(f.get("steps"), entry),
                }
            }
            "raise_error" => match &body.value {
                Value::Str(_) => StepKind::RaiseError { error_type: self.error_type(body)?, description: None },
                _ => {
                    let f = self.fields(body, "`raise_error`", &["type", "description"])?;
                    let error_type = f.require(self, "type").and_then(|n| self.error_type(n))?;
                    let description = f.get("description").and_then(|n| self.template(n, "description"));
                    StepKind::RaiseError { error_type, description }
                }
            },
            "validate" => match &body.value {
                Value::Str(_) => StepKind::Validate { schema: self.string(body, "schema path")? },
                _ => {
                    let f = self.fields(body, "`validate`", &["schema"])?;
                    StepKind::Validate {
                        schema: f.require(self, "schema").and_then(|n| self.string(n, "schema path"))?,
                    }
                }
            },
            "idempotent" => {
                let f = self.fields(body, "`idempotent`", &["key", "store", "ttl", "claim_timeout", "target"])?;
                let key = f.require(self, "key").and_then(|n| self.expr(n, "`key`"))?;
                StepKind::Idempotent {
                    key,
                    store: f.get("store").and_then(|n| self.name(n, "config")),
                    ttl: f.get("ttl").and_then(|n| self.positive_duration(n, "ttl")),
                    claim_timeout: f.get("claim_timeout").and_then(|n| self.positive_duration(n, "claim_timeout")),
                    target: f.get("target").and_then(|n| self.name(n, "variable")),
                }
            }
            "async" => {
                let f = self.fields(body, "`async`", &["max_concurrency", "steps"])?;
                StepKind::Async {
                    max_concurrency: f.get("max_concurrency").and_then(|n| self.count(n, "max_concurrency", 1)),
                    steps: self.scope_steps(f.get("steps"), entry),
                }
            }
            "db.transaction" => {
                let f = self.fields(body, "`db.transaction`", &["config", "steps"])?;
                StepKind::Transaction {
                    config: f.require(self, "config").and_then(|n| self.name(n, "config"))?,
                    steps: f.get("steps").map(|n| self.steps(n)).unwrap_or_default(),
                }
            }
            // Any other name is a component; whether one is registered under it (and as a step) is the
            // engine's registry's call, which also reports misspelt built-in steps (`transfrom`).
            name if name.contains('.') => StepKind::Component(self.component(name, entry.key_span, body, step_span)?),
            // A plain name that is no keyword is most likely a misspelt step (`transfrom`): keep the body
            // uninterpreted so the registry's "unknown step, did you mean" is the only finding.
            name => StepKind::Component(Component {
                kind: Spanned::new(name.to_string(), entry.key_span),
                config: None,
                params: body.clone(),
                span: step_span,
            }),
        })
    }

    /// A component reference: `kind: { config: name, ...params }`, `kind: name` or `kind:` alone.
    pub(crate) fn component(&mut self, kind: &str, kind_span: Span, body: &Node, span: Span) -> Option<Component> {
        let kind = Spanned::new(kind.to_string(), kind_span);
        let (config, params) = match &body.value {
            Value::Null => (None, Node::map(Vec::new(), body.span)),
            Value::Str(_) => (self.name(body, "config"), Node::map(Vec::new(), body.span)),
            Value::Map(entries) => {
                let mut config = None;
                let mut rest = Vec::with_capacity(entries.len());
                for e in entries {
                    if e.key == "config" {
                        config = self.name(&e.value, "config");
                    } else {
                        rest.push(e.clone());
                    }
                }
                (config, Node::map(rest, body.span))
            }
            _ => {
                self.wrong_type(body, "a map of settings", &format!("`{}`", kind.value));
                return None;
            }
        };
        Some(Component { kind, config, params, span })
    }

    fn choice_step(&mut self, body: &Node) -> Option<StepKind> {
        let Value::List(items) = &body.value else {
            self.wrong_type(body, "a list of `when` branches and an optional `otherwise`", "`choice`");
            return None;
        };
        let mut when = Vec::new();
        let mut otherwise: Option<Vec<_>> = None;
        for item in items {
            if let Some(steps) = item.get("otherwise") {
                self.fields(item, "`otherwise`", &["otherwise"])?;
                if otherwise.is_some() {
                    self.error(
                        Diagnostic::error(codes::DUPLICATE_KEY, item.span, "`choice` has two `otherwise` branches")
                            .label("second `otherwise`"),
                    );
                }
                otherwise = Some(self.steps(steps));
                continue;
            }
            let Some(f) = self.fields(item, "a `choice` branch", &["when", "steps"]) else { continue };
            let Some(cond) = f.require(self, "when").and_then(|n| self.expr(n, "`when`")) else { continue };
            let steps = f.get("steps").map(|n| self.steps(n)).unwrap_or_default();
            if otherwise.is_some() {
                self.error(
                    Diagnostic::error(codes::WRONG_TYPE, item.span, "`when` after `otherwise` never runs")
                        .label("move this branch before `otherwise`"),
                );
            }
            when.push(Branch { when: cond, steps, span: item.span });
        }
        if when.is_empty() {
            self.error(
                Diagnostic::error(codes::MISSING_KEY, body.span, "`choice` needs at least one `when` branch")
                    .label("no `when` here"),
            );
        }
        Some(StepKind::Choice { when, otherwise })
    }

    fn routes(&mut self, node: &Node) -> Vec<Route> {
        let routes = self.list(node, "routes", |lw, n| {
            if !matches!(n.value, Value::List(_)) {
                lw.wrong_type(n, "a list of steps", "a route");
                return None;
            }
            Some(Route { steps: lw.steps(n), span: n.span })
        });
        if routes.len() < 2 {
            self.error(
                Diagnostic::error(codes::MISSING_KEY, node.span, "a router needs at least two routes")
                    .label(format!("{} route(s) here", routes.len())),
            );
        }
        routes
    }

    fn backoff(&mut self, node: &Node) -> Backoff {
        let Some(f) = self.fields(node, "`backoff`", &["initial", "max", "multiplier", "jitter"]) else {
            return Backoff::default();
        };
        let mut initial = f.get("initial").and_then(|n| self.duration(n, "initial"));
        let max = f.get("max").and_then(|n| self.duration(n, "max"));
        if let (Some(first), Some(cap)) = (&initial, &max) {
            if first.value > cap.value {
                let (first_text, cap_text) =
                    (crate::ir::format_duration(first.value), crate::ir::format_duration(cap.value));
                self.error(
                    Diagnostic::error(
                        codes::DURATION_RANGE,
                        first.span,
                        format!("backoff `initial` ({first_text}) is longer than its `max` ({cap_text})"),
                    )
                    .label(format!("out of range: allowed is at most `max`, {cap_text}"))
                    .with_label(cap.span, "the cap")
                    .help("every delay is capped at `max`, so this `initial` would never be used; lower it or raise `max`"),
                );
                initial = None;
            }
        }
        Backoff {
            initial,
            max,
            multiplier: f.get("multiplier").and_then(|n| self.number(n, "multiplier")),
            jitter: f.get("jitter").and_then(|n| self.boolean(n, "jitter")),
        }
    }
}
