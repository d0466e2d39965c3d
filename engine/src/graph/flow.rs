//! One flow's execution graph (`relais graph --flow NAME`): its steps in the order they run, numbered as
//! the plan numbers them (depth first, the flow's handlers last: the `step` of metrics and coverage), the
//! branches of its routers, its loops, retry scopes and error handlers, and the systems each step reaches
//! (the map's edges of that step).

use super::drawing::{Arrow, Drawing, Line, Node, Shape};
use super::model::Map;
use crate::load::Loaded;
use relais_dsl::ir::{Flow, Handler, Step, StepKind};

/// The drawing of `flow`, whose systems and edges `map` holds.
pub fn drawing(loaded: &Loaded, map: &Map, flow: &Flow) -> Drawing {
    let flow_id = format!("flow:{}", flow.name.value);
    let mut b = Builder { loaded, map, flow_id: flow_id.clone(), d: Drawing::default(), next: 0, handlers: 0 };
    b.d.title = format!("relais graph --flow {}", flow.name.value);
    let steps_group = b.d.group("steps", &flow.name.value, false);
    let start =
        match map.edges.iter().find(|e| e.flow == flow_id && e.direction == crate::component::Direction::Receives) {
            Some(e) => {
                let detail = format!("{} at {}", e.step.kind, e.step.location);
                b.node(
                    "start",
                    &format!("source: {}", e.from.split_once(':').map_or(e.from.as_str(), |x| x.1)),
                    &detail,
                    Shape::Terminal,
                    steps_group,
                );
                b.system(&e.from);
                b.arrow(&e.from, "start", "receives", Line::Solid);
                "start".to_string()
            }
            None => {
                let detail =
                    map.flow(&flow_id).and_then(|f| f.trigger.clone()).unwrap_or_else(|| "called by flow_ref".into());
                b.node("start", "start", &detail, Shape::Terminal, steps_group);
                "start".to_string()
            }
        };
    let exits = b.steps(&flow.steps, vec![(start.clone(), String::new())]);
    b.node("result", "end", "result", Shape::Terminal, steps_group);
    for (from, label) in exits {
        b.arrow(&from, "result", &label, Line::Solid);
    }
    if !flow.on_error.is_empty() {
        let exits = b.handlers(&flow.on_error, &start, "error in a step");
        for (from, label) in exits {
            b.arrow(&from, "result", &label, Line::Solid);
        }
    }
    b.d
}

/// Where a sequence continues from: (node, label of the arrow leaving it).
type Exits = Vec<(String, String)>;

struct Builder<'a> {
    loaded: &'a Loaded,
    map: &'a Map,
    flow_id: String,
    d: Drawing,
    /// The next step's index (the plan's numbering: steps only, depth first).
    next: usize,
    /// Handlers drawn so far (their node ids).
    handlers: usize,
}

impl Builder<'_> {
    fn node(&mut self, id: &str, label: &str, detail: &str, shape: Shape, group: usize) {
        if !self.d.has(id) {
            self.d.nodes.push(Node { id: id.into(), label: label.into(), detail: detail.into(), shape, group });
        }
    }

    fn arrow(&mut self, from: &str, to: &str, label: &str, line: Line) {
        let kind = match line {
            Line::Solid if self.map.system(to).is_some() || self.map.flow(to).is_some() => label,
            Line::Solid => "next",
            _ => "error_or_retry",
        };
        self.d.arrows.push(Arrow {
            from: from.into(),
            to: to.into(),
            label: label.into(),
            detail: String::new(),
            line,
            kind: kind.into(),
            flow: Some(self.flow_id.clone()),
        });
    }

    /// A system (or called flow) node, in its zone's group.
    fn system(&mut self, id: &str) {
        if self.d.has(id) {
            return;
        }
        if let Some(s) = self.map.system(id) {
            let g = self.d.group(&format!("zone:{}", s.zone), &format!("zone: {}", s.zone), true);
            self.node(id, &s.name, &s.kind, Shape::System, g);
        } else if let Some(f) = self.map.flow(id) {
            let g = self.d.group("flows", "flows called", false);
            self.node(id, &f.name, "flow_ref target", Shape::SubFlow, g);
        }
    }

    fn location(&self, step: &Step) -> String {
        let file = self.loaded.sources.file(step.span.file);
        let at = file.line_col(step.span.start as usize);
        format!("{}:{}:{}", file.path, at.line, at.column)
    }

    /// Runs `steps` after `entries`; returns where the sequence ends.
    fn steps(&mut self, steps: &[Step], mut entries: Exits) -> Exits {
        for step in steps {
            entries = self.step(step, entries);
        }
        entries
    }

    fn handlers(&mut self, handlers: &[Handler], scope: &str, label: &str) -> Exits {
        let mut exits = Vec::new();
        for h in handlers {
            let id = format!("h{}", self.handlers);
            self.handlers += 1;
            let types = if h.types.is_empty() {
                "ANY".to_string()
            } else {
                h.types.iter().map(|t| t.value.to_string()).collect::<Vec<_>>().join(", ")
            };
            let when = if h.when.is_some() { " when …" } else { "" };
            let group = 0;
            self.node(
                &id,
                &format!("on_error {}", h.action.as_str()),
                &format!("{types}{when}"),
                Shape::Handler,
                group,
            );
            self.arrow(scope, &id, label, Line::Dashed);
            let out = self.steps(&h.steps, vec![(id.clone(), String::new())]);
            match h.action {
                relais_dsl::ir::HandlerAction::Continue => exits.extend(out),
                relais_dsl::ir::HandlerAction::Propagate => {
                    self.node("failed", "error", "propagated to the caller", Shape::Terminal, 0);
                    for (from, l) in out {
                        self.arrow(&from, "failed", &l, Line::Dashed);
                    }
                }
            }
        }
        exits
    }

    fn step(&mut self, step: &Step, entries: Exits) -> Exits {
        let index = self.next;
        self.next += 1;
        let id = format!("s{index}");
        let name = step.id.as_ref().map_or_else(|| step.kind.name().to_string(), |i| i.value.clone());
        let location = self.location(step);
        let shape = match &step.kind {
            StepKind::Choice { .. }
            | StepKind::Foreach { .. }
            | StepKind::ParallelForeach { .. }
            | StepKind::ScatterGather { .. }
            | StepKind::FirstSuccessful { .. }
            | StepKind::Try { .. }
            | StepKind::UntilSuccessful { .. }
            | StepKind::Async { .. } => Shape::Scope,
            _ => Shape::Step,
        };
        let label = match &step.kind {
            StepKind::UntilSuccessful { max_retries, .. } => {
                let attempts = max_retries.as_ref().map_or(5, |m| m.value).saturating_add(1);
                if step.id.is_some() {
                    format!("#{index} {name} (until_successful, {attempts} attempts)")
                } else {
                    format!("#{index} until_successful, {attempts} attempts")
                }
            }
            StepKind::Component(c) if step.id.is_some() => format!("#{index} {name} ({})", c.kind.value),
            _ => format!("#{index} {name}"),
        };
        self.node(&id, &label, &location, shape, 0);
        for (from, l) in entries {
            self.arrow(&from, &id, &l, Line::Solid);
        }
        // What the step reaches, as the map found it.
        let reached: Vec<(String, String)> = self
            .map
            .edges
            .iter()
            .filter(|e| {
                e.flow == self.flow_id
                    && e.step.location == location
                    && e.direction != crate::component::Direction::Receives
            })
            .map(|e| (e.to.clone(), e.direction.as_str().to_string()))
            .collect();
        for (to, how) in reached {
            self.system(&to);
            self.arrow(&id, &to, &how, Line::Solid);
        }
        let here = || vec![(id.clone(), String::new())];
        match &step.kind {
            StepKind::Choice { when, otherwise } => {
                let mut exits = Vec::new();
                for (i, b) in when.iter().enumerate() {
                    exits.extend(self.steps(&b.steps, vec![(id.clone(), format!("when #{}", i + 1))]));
                }
                match otherwise {
                    Some(o) => exits.extend(self.steps(o, vec![(id.clone(), "otherwise".into())])),
                    None => exits.push((id.clone(), "no match".into())),
                }
                exits
            }
            StepKind::Foreach { steps, .. } | StepKind::ParallelForeach { steps, .. } => {
                let out = self.steps(steps, vec![(id.clone(), "each".into())]);
                for (from, l) in out {
                    self.arrow(&from, &id, if l.is_empty() { "next" } else { &l }, Line::Dashed);
                }
                vec![(id.clone(), "done".into())]
            }
            StepKind::Async { steps, .. } => {
                self.steps(steps, vec![(id.clone(), "in the background".into())]);
                here()
            }
            StepKind::ScatterGather { routes, .. } | StepKind::FirstSuccessful { routes } => {
                let mut exits = Vec::new();
                for (i, r) in routes.iter().enumerate() {
                    exits.extend(self.steps(&r.steps, vec![(id.clone(), format!("route {}", i + 1))]));
                }
                exits
            }
            StepKind::UntilSuccessful { steps, .. } => {
                let out = self.steps(steps, here());
                for (from, _) in &out {
                    self.arrow(from, &id, "retry on error", Line::Dashed);
                }
                out
            }
            StepKind::Try { steps, on_error } => {
                let mut exits = self.steps(steps, here());
                exits.extend(self.handlers(on_error, &id, "error"));
                exits
            }
            StepKind::RaiseError { error_type, .. } => {
                self.node("failed", "error", "propagated to the caller", Shape::Terminal, 0);
                self.arrow(&id, "failed", &error_type.value.to_string(), Line::Dashed);
                Vec::new()
            }
            _ => here(),
        }
    }
}
