//! IR -> canonical document tree: the inverse of lowering, used by `relais fmt` for both syntaxes.
//!
//! Raising writes the shortest form lowering accepts (`flow_ref: name` rather than `{ name: name }`), always
//! in the same key order, which is what makes the printed text canonical.

use crate::ir::{
    format_duration, Backoff, Component, Data, Expr, Flow, FlowKind, Handler, Module, Route, Script, Step, StepKind,
    Template,
};
use crate::span::{Span, Spanned};
use crate::syntax::{Entry, Node, Value};
use std::time::Duration;

fn entry(key: &str, value: Node) -> Entry {
    Entry { key: key.to_string(), key_span: Span::default(), value }
}

fn map(entries: Vec<Entry>) -> Node {
    Node::map(entries, Span::default())
}

fn list(items: Vec<Node>) -> Node {
    Node::new(Value::List(items), Span::default())
}

fn text(s: &str) -> Node {
    Node::string(s, Span::default())
}

fn int(i: u32) -> Node {
    Node::new(Value::Int(i64::from(i)), Span::default())
}

fn duration(d: &Spanned<Duration>) -> Node {
    text(&format_duration(d.value))
}

fn expr(e: &Expr) -> Node {
    text(&format!("#[{}]", e.code))
}

fn template(t: &Template) -> Node {
    text(&t.source)
}

/// Optional entries: pushes `key: value` only when present.
struct MapBuilder(Vec<Entry>);

impl MapBuilder {
    fn new() -> Self {
        MapBuilder(Vec::new())
    }
    fn put(mut self, key: &str, value: Node) -> Self {
        self.0.push(entry(key, value));
        self
    }
    fn opt<T>(mut self, key: &str, value: Option<&T>, f: impl Fn(&T) -> Node) -> Self {
        if let Some(v) = value {
            self.0.push(entry(key, f(v)));
        }
        self
    }
    fn steps(self, key: &str, steps: &[Step]) -> Self {
        self.put(key, raise_steps(steps))
    }
    fn build(self) -> Node {
        map(self.0)
    }
}

/// The canonical document of a module.
pub fn raise_module(module: &Module) -> Node {
    let mut doc = MapBuilder::new();
    if !module.imports.is_empty() {
        doc = doc.put("imports", list(module.imports.iter().map(|i| text(&i.value)).collect()));
    }
    if !module.properties.is_empty() {
        doc = doc
            .put("properties", map(module.properties.iter().map(|p| entry(&p.name.value, p.value.clone())).collect()));
    }
    if !module.configs.is_empty() {
        let configs =
            module.configs.iter().map(|c| entry(&c.name.value, map(vec![entry(&c.kind.value, c.body.clone())])));
        doc = doc.put("configs", map(configs.collect()));
    }
    for (key, kind) in [("flows", FlowKind::Flow), ("sub_flows", FlowKind::SubFlow)] {
        let flows: Vec<Entry> =
            module.flows.iter().filter(|f| f.kind == kind).map(|f| entry(&f.name.value, raise_flow(f))).collect();
        if !flows.is_empty() {
            doc = doc.put(key, map(flows));
        }
    }
    doc.build()
}

fn raise_flow(flow: &Flow) -> Node {
    let mut m = MapBuilder::new()
        .opt("max_concurrency", flow.max_concurrency.as_ref(), |c| int(c.value))
        .opt("initial_state", flow.initial_state.as_ref(), |s| {
            text(match s.value {
                crate::ir::InitialState::Started => "started",
                crate::ir::InitialState::Stopped => "stopped",
            })
        })
        .opt("objectives", flow.objectives.as_ref(), raise_objectives)
        .opt("source", flow.source.as_ref(), |c| map(vec![entry(&c.kind.value, component_body(c))]))
        .steps("steps", &flow.steps);
    if !flow.on_error.is_empty() {
        m = m.put("on_error", raise_handlers(&flow.on_error));
    }
    m.build()
}

/// `objectives:`: each objective as its limit alone when it has no window, else `{ max, over }`.
fn raise_objectives(o: &crate::ir::Objectives) -> Node {
    fn windowed<T>(o: &crate::ir::Objective<T>, limit: impl Fn(&T) -> Node) -> Node {
        match &o.over {
            None => limit(&o.max.value),
            Some(over) => MapBuilder::new()
                .put("max", limit(&o.max.value))
                .put("over", text(&crate::ir::format_duration(over.value)))
                .build(),
        }
    }
    let duration = |d: &std::time::Duration| text(&crate::ir::format_duration(*d));
    MapBuilder::new()
        .opt("error_share", o.error_share.as_ref(), |e| windowed(e, |p| text(&crate::ir::format_percentage(*p))))
        .opt("p99_latency", o.p99_latency.as_ref(), |e| windowed(e, duration))
        .opt("dead_letters_per_hour", o.dead_letters_per_hour.as_ref(), |e| windowed(e, |n| int(*n)))
        .opt("schedule_missed", o.schedule_missed.as_ref(), |d| duration(&d.value))
        .opt("alert_flow", o.alert_flow.as_ref(), |f| text(&f.value))
        .build()
}

fn raise_handlers(handlers: &[Handler]) -> Node {
    list(
        handlers
            .iter()
            .map(|h| {
                let mut body = MapBuilder::new();
                match h.types.as_slice() {
                    [] => {}
                    [one] => body = body.put("types", text(&one.value.to_string())),
                    many => body = body.put("types", list(many.iter().map(|t| text(&t.value.to_string())).collect())),
                }
                let body = body.opt("when", h.when.as_ref(), expr).steps("steps", &h.steps);
                map(vec![entry(h.action.as_str(), body.build())])
            })
            .collect(),
    )
}

fn component_body(c: &Component) -> Node {
    let mut entries = Vec::new();
    if let Some(config) = &c.config {
        entries.push(entry("config", text(&config.value)));
    }
    if let Value::Map(params) = &c.params.value {
        entries.extend(params.iter().cloned());
    }
    map(entries)
}

fn raise_steps(steps: &[Step]) -> Node {
    list(steps.iter().map(raise_step).collect())
}

fn routes(routes: &[Route]) -> Node {
    list(routes.iter().map(|r| raise_steps(&r.steps)).collect())
}

fn data(d: &Data) -> Node {
    match d {
        Data::Literal(n) => n.clone(),
        Data::Expr(e) => expr(e),
        Data::Template(t) => template(t),
        Data::List(items, _) => list(items.iter().map(data).collect()),
        Data::Map(entries, _) => map(entries.iter().map(|(k, v)| entry(k, data(v))).collect()),
    }
}

fn backoff(b: &Backoff) -> Node {
    MapBuilder::new()
        .opt("initial", b.initial.as_ref(), duration)
        .opt("max", b.max.as_ref(), duration)
        .opt("multiplier", b.multiplier.as_ref(), |m| {
            let v = m.value;
            if v.fract() == 0.0 && v.abs() < 1e15 {
                Node::new(Value::Int(v as i64), Span::default())
            } else {
                Node::new(Value::Float(v), Span::default())
            }
        })
        .opt("jitter", b.jitter.as_ref(), |j| Node::new(Value::Bool(j.value), Span::default()))
        .build()
}

fn raise_step(step: &Step) -> Node {
    let body = match &step.kind {
        StepKind::SetPayload { value, media_type: None } => data(value),
        StepKind::SetPayload { value, media_type: Some(mt) } => {
            MapBuilder::new().put("value", data(value)).put("media_type", text(&mt.value)).build()
        }
        StepKind::SetVariable { name, value } => {
            MapBuilder::new().put("name", text(&name.value)).put("value", data(value)).build()
        }
        StepKind::RemoveVariable { name } => text(&name.value),
        StepKind::Transform { script: Script::File(path) } => {
            MapBuilder::new().put("script", text(&path.value)).build()
        }
        StepKind::Transform { script: Script::Inline(code) } => MapBuilder::new().put("code", text(&code.code)).build(),
        StepKind::Logger { level: None, message, category: None } => template(message),
        StepKind::Logger { level, message, category } => MapBuilder::new()
            .opt("level", level.as_ref(), |l| text(l.value.as_str()))
            .put("message", template(message))
            .opt("category", category.as_ref(), |c| text(&c.value))
            .build(),
        StepKind::Choice { when, otherwise } => {
            let mut branches: Vec<Node> = when
                .iter()
                .map(|b| MapBuilder::new().put("when", expr(&b.when)).steps("steps", &b.steps).build())
                .collect();
            if let Some(steps) = otherwise {
                branches.push(MapBuilder::new().steps("otherwise", steps).build());
            }
            list(branches)
        }
        StepKind::Foreach { collection, batch_size, counter, root_message, steps } => MapBuilder::new()
            .opt("collection", collection.as_ref(), expr)
            .opt("batch_size", batch_size.as_ref(), |b| int(b.value))
            .opt("counter", counter.as_ref(), |c| text(&c.value))
            .opt("root_message", root_message.as_ref(), |c| text(&c.value))
            .steps("steps", steps)
            .build(),
        StepKind::ParallelForeach { collection, max_concurrency, timeout, steps } => MapBuilder::new()
            .opt("collection", collection.as_ref(), expr)
            .opt("max_concurrency", max_concurrency.as_ref(), |b| int(b.value))
            .opt("timeout", timeout.as_ref(), duration)
            .steps("steps", steps)
            .build(),
        StepKind::ScatterGather { timeout, max_concurrency, routes: r } => MapBuilder::new()
            .opt("timeout", timeout.as_ref(), duration)
            .opt("max_concurrency", max_concurrency.as_ref(), |b| int(b.value))
            .put("routes", routes(r))
            .build(),
        StepKind::FirstSuccessful { routes: r } => MapBuilder::new().put("routes", routes(r)).build(),
        StepKind::FlowRef { name, target: None } => text(&name.value),
        StepKind::FlowRef { name, target: Some(t) } => {
            MapBuilder::new().put("name", text(&name.value)).put("target", text(&t.value)).build()
        }
        StepKind::Try { steps, on_error } => {
            let m = MapBuilder::new().steps("steps", steps);
            if on_error.is_empty() {
                m.build()
            } else {
                m.put("on_error", raise_handlers(on_error)).build()
            }
        }
        StepKind::UntilSuccessful { max_retries, backoff: b, retry_on, no_retry_on, steps } => {
            let mut m = MapBuilder::new().opt("max_retries", max_retries.as_ref(), |r| int(r.value));
            if !b.is_empty() {
                m = m.put("backoff", backoff(b));
            }
            for (key, types) in [("retry_on", retry_on), ("no_retry_on", no_retry_on)] {
                if !types.is_empty() {
                    m = m.put(key, list(types.iter().map(|t| text(&t.value.to_string())).collect()));
                }
            }
            m.steps("steps", steps).build()
        }
        StepKind::RaiseError { error_type, description: None } => text(&error_type.value.to_string()),
        StepKind::RaiseError { error_type, description: Some(d) } => {
            MapBuilder::new().put("type", text(&error_type.value.to_string())).put("description", template(d)).build()
        }
        StepKind::Validate { schema } => text(&schema.value),
        StepKind::Idempotent { key, store, ttl, claim_timeout, target } => MapBuilder::new()
            .put("key", expr(key))
            .opt("store", store.as_ref(), |s| text(&s.value))
            .opt("ttl", ttl.as_ref(), duration)
            .opt("claim_timeout", claim_timeout.as_ref(), duration)
            .opt("target", target.as_ref(), |t| text(&t.value))
            .build(),
        StepKind::Async { max_concurrency, steps } => MapBuilder::new()
            .opt("max_concurrency", max_concurrency.as_ref(), |b| int(b.value))
            .steps("steps", steps)
            .build(),
        StepKind::Transaction { config, steps } => {
            MapBuilder::new().put("config", text(&config.value)).steps("steps", steps).build()
        }
        StepKind::Component(c) => component_body(c),
    };
    let mut entries = Vec::with_capacity(2);
    if let Some(id) = &step.id {
        entries.push(entry("id", text(&id.value)));
    }
    entries.push(entry(step.kind.name(), body));
    map(entries)
}
