//! The map of a checked program: the systems its configs and queues stand for (grouped by zone), its
//! flows and sub-flows, the data types its `validate` steps name, and one edge per step (or source) that
//! reaches a system or another flow. Read from the checked IR and the typed settings `check` kept, through
//! what each component says it reaches (`Step::direction`, `Step::reaches`, `Source::reaches`): the map
//! names no component.

use crate::component::{Catalog, Direction, Role, Typed};
use crate::load::Loaded;
use crate::registry::Registry;
use relais_dsl::ir::{Component, Flow, FlowKind, Step, StepKind};
use relais_dsl::Span;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The version of the JSON shape (`relais graph --format json`); it changes only if the shape does.
pub const VERSION: u32 = 1;

/// The zone of a system that declares none.
pub const DEFAULT_ZONE: &str = "internal";

/// The order zones are drawn in: partners outside, the private cloud last.
const ZONE_ORDER: [&str; 3] = ["partner", "internal", "private"];

/// Everything `relais graph` draws, in the shape its JSON output has.
#[derive(Debug, Clone, Serialize)]
pub struct Map {
    /// [`VERSION`].
    pub version: u32,
    /// Zones in drawing order, each with the ids of its systems.
    pub zones: Vec<Zone>,
    /// Every system, by id order.
    pub systems: Vec<System>,
    /// Every flow and sub-flow, in file order.
    pub flows: Vec<FlowNode>,
    /// The JSON Schemas the flows validate against.
    pub data_types: Vec<DataType>,
    /// One per step (or source) that reaches a system or calls another flow.
    pub edges: Vec<Edge>,
    /// Where the volumes came from, when `--metrics` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<super::volume::MetricsInfo>,
}

/// A zone and its systems.
#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    /// `partner`, `internal` (the default), `private`, or another declared name.
    pub name: String,
    /// Ids of its systems.
    pub systems: Vec<String>,
}

/// Something outside the flows that they receive from, call, send to or read: a named config (listener,
/// client, store), a queue, the dead-letter store.
#[derive(Debug, Clone, Serialize)]
pub struct System {
    /// `system:NAME` for a named config, `queue:NAME` for a queue, `dead_letters`.
    pub id: String,
    /// The config's or queue's name.
    pub name: String,
    /// The config kind (`http.client`), or `queue`, `dead_letters`.
    pub kind: String,
    /// Its zone.
    pub zone: String,
    /// `file:line:column` of its definition (queues and the dead-letter store have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A flow or sub-flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowNode {
    /// `flow:NAME`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `flow` or `sub_flow`.
    pub kind: FlowKind,
    /// What starts it when no system does (`cron 0 10 * * * Europe/Paris`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// `file:line:column` of its definition.
    pub location: String,
}

/// A JSON Schema a `validate` step names.
#[derive(Debug, Clone, Serialize)]
pub struct DataType {
    /// `type:PATH`.
    pub id: String,
    /// The schema's path, as the flow file's directory and the step's path give it.
    pub path: String,
    /// The schema's `title`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The step (or source) an edge goes through.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StepRef {
    /// The step's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The step's kind (`http.request`, `flow_ref`, `idempotent`) or the source's (`http.listener`).
    pub kind: String,
    /// `file:line:column`.
    pub location: String,
}

/// One exchange between a flow and a system (or a flow it calls).
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// Where the data starts: the system for `receives`, the flow otherwise.
    pub from: String,
    /// Where it goes.
    pub to: String,
    /// How the flow exchanges with it.
    pub direction: Direction,
    /// The flow (id) whose step or source this is.
    pub flow: String,
    /// The step or source.
    pub step: StepRef,
    /// The data type (id) of the payload at that point, when a `validate` step fixed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// Measured volumes (`--metrics`), on the edges the daemon's counters describe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<super::volume::Volume>,
}

impl Map {
    /// The flow node of `id`.
    pub fn flow(&self, id: &str) -> Option<&FlowNode> {
        self.flows.iter().find(|f| f.id == id)
    }

    /// The system of `id`.
    pub fn system(&self, id: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.id == id)
    }

    /// The data type of `id`.
    pub fn data_type(&self, id: &str) -> Option<&DataType> {
        self.data_types.iter().find(|t| t.id == id)
    }
}

/// Builds the map of a program that checked without errors.
pub fn build(loaded: &Loaded, registry: &Registry) -> Map {
    let mut b = Builder { loaded, registry, systems: BTreeMap::new(), types: BTreeMap::new(), edges: Vec::new() };
    for config in loaded.set.configs() {
        let Some((spec, _)) = registry.get(&config.kind.value, Role::Config) else { continue };
        if !spec.system {
            continue;
        }
        let zone = config.body.get("zone").and_then(|z| z.as_str()).unwrap_or(DEFAULT_ZONE).to_string();
        let id = format!("system:{}", config.name.value);
        b.systems.insert(
            id.clone(),
            System {
                id,
                name: config.name.value.clone(),
                kind: config.kind.value.clone(),
                zone,
                location: Some(b.location(config.span)),
            },
        );
    }
    let mut flows = Vec::new();
    for (module, path) in loaded.set.modules.iter().zip(&loaded.paths) {
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        for flow in &module.flows {
            flows.push(b.flow(flow, &dir));
        }
    }
    b.types_through_queues();
    let systems: Vec<System> = b.systems.into_values().collect();
    let mut zone_names: Vec<String> = systems.iter().map(|s| s.zone.clone()).collect();
    zone_names.sort_by_key(|z| (ZONE_ORDER.iter().position(|o| o == z).unwrap_or(ZONE_ORDER.len()), z.clone()));
    zone_names.dedup();
    let zones = zone_names
        .into_iter()
        .map(|name| Zone { systems: systems.iter().filter(|s| s.zone == name).map(|s| s.id.clone()).collect(), name })
        .collect();
    Map {
        version: VERSION,
        zones,
        systems,
        flows,
        data_types: b.types.into_values().collect(),
        edges: b.edges,
        metrics: None,
    }
}

struct Builder<'a> {
    loaded: &'a Loaded,
    registry: &'a Registry,
    systems: BTreeMap<String, System>,
    types: BTreeMap<String, DataType>,
    edges: Vec<Edge>,
}

/// What a walk knows of the payload: the data type a `validate` fixed, until a step replaces the payload.
type Current = Option<String>;

impl Builder<'_> {
    fn location(&self, span: Span) -> String {
        let file = self.loaded.sources.file(span.file);
        let at = file.line_col(span.start as usize);
        format!("{}:{}:{}", file.path, at.line, at.column)
    }

    fn typed(&self, c: &Component) -> Option<&Typed> {
        self.loaded.typed.get(&c.span)
    }

    /// The system a component reaches: its `config:`, or what it says it reaches (created on first use).
    fn system_of(&mut self, c: &Component, role: Role) -> Option<String> {
        if let Some(config) = &c.config {
            let id = format!("system:{}", config.value);
            return self.systems.contains_key(&id).then_some(id);
        }
        let (spec, _) = self.registry.get(&c.kind.value, role)?;
        let reach = spec.reaches(self.typed(c)?)?;
        let id = if reach.kind == "queue" { format!("queue:{}", reach.name) } else { reach.kind.to_string() };
        self.systems.entry(id.clone()).or_insert_with(|| System {
            id: id.clone(),
            name: reach.name,
            kind: reach.kind.to_string(),
            zone: DEFAULT_ZONE.into(),
            location: None,
        });
        Some(id)
    }

    fn flow(&mut self, flow: &Flow, dir: &Path) -> FlowNode {
        let id = format!("flow:{}", flow.name.value);
        let mut trigger = None;
        let mut received = None;
        if let Some(source) = &flow.source {
            received = first_type(&flow.steps, dir, self);
            match self.system_of(source, Role::Source) {
                Some(system) => self.edges.push(Edge {
                    from: system,
                    to: id.clone(),
                    direction: Direction::Receives,
                    flow: id.clone(),
                    step: StepRef { id: None, kind: source.kind.value.clone(), location: self.location(source.span) },
                    data_type: received.clone(),
                    volume: None,
                }),
                None => {
                    let spec = self.registry.get(&source.kind.value, Role::Source).map(|(s, _)| s);
                    trigger = spec.zip(self.typed(source)).and_then(|(s, t)| s.trigger(t));
                }
            }
        }
        let mut walk = Walk { flow: id.clone(), dir: dir.to_path_buf() };
        walk.steps(self, &flow.steps, received);
        for handler in &flow.on_error {
            walk.steps(self, &handler.steps, None);
        }
        FlowNode { id, name: flow.name.value.clone(), kind: flow.kind, trigger, location: self.location(flow.span) }
    }

    /// The data type of a schema path written in a flow file of `dir`, registered on first use.
    fn data_type(&mut self, dir: &Path, schema: &str) -> String {
        let path = crate::load::normalize(&dir.join(schema)).display().to_string();
        let id = format!("type:{path}");
        if !self.types.contains_key(&id) {
            let title = crate::load::read_in(&self.loaded.roots, Path::new(&path), 4 * 1024 * 1024)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|v| v.get("title").and_then(|t| t.as_str()).map(str::to_string));
            self.types.insert(id.clone(), DataType { id: id.clone(), path, title });
        }
        id
    }

    /// A flow that receives from a queue without validating what it takes gets the type its publishers
    /// send, when they all agree.
    fn types_through_queues(&mut self) {
        let mut sent: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for e in &self.edges {
            if e.direction == Direction::Sends && e.to.starts_with("queue:") {
                sent.entry(e.to.clone()).or_default().push(e.data_type.clone());
            }
        }
        for e in &mut self.edges {
            if e.direction == Direction::Receives && e.data_type.is_none() {
                if let Some([first, rest @ ..]) = sent.get(&e.from).map(Vec::as_slice) {
                    if first.is_some() && rest.iter().all(|t| t == first) {
                        e.data_type = first.clone();
                    }
                }
            }
        }
    }
}

/// The type a flow's first steps fix before anything replaces the payload: what its source receives.
fn first_type(steps: &[Step], dir: &Path, b: &mut Builder<'_>) -> Current {
    for step in steps {
        match &step.kind {
            StepKind::Validate { schema } => return Some(b.data_type(dir, &schema.value)),
            StepKind::SetVariable { .. }
            | StepKind::RemoveVariable { .. }
            | StepKind::Logger { .. }
            | StepKind::Idempotent { .. } => {}
            _ => return None,
        }
    }
    None
}

/// One flow's steps walked in order, with the payload's known type.
struct Walk {
    flow: String,
    dir: PathBuf,
}

impl Walk {
    fn edge(&self, b: &mut Builder<'_>, step: &Step, to: String, direction: Direction, data_type: Current) {
        let step_ref = StepRef {
            id: step.id.as_ref().map(|i| i.value.clone()),
            kind: step.kind.name().to_string(),
            location: b.location(step.span),
        };
        b.edges.push(Edge {
            from: self.flow.clone(),
            to,
            direction,
            flow: self.flow.clone(),
            step: step_ref,
            data_type,
            volume: None,
        });
    }

    /// Walks `steps` with the payload of type `current`; returns the type after them.
    fn steps(&mut self, b: &mut Builder<'_>, steps: &[Step], mut current: Current) -> Current {
        for step in steps {
            current = self.step(b, step, current);
        }
        current
    }

    /// Every child list from the same `current`; after them the type holds only if none changed it.
    fn scope(&mut self, b: &mut Builder<'_>, lists: &[&[Step]], current: Current) -> Current {
        let mut same = true;
        for list in lists {
            same &= self.steps(b, list, current.clone()) == current;
        }
        if same {
            current
        } else {
            None
        }
    }

    fn step(&mut self, b: &mut Builder<'_>, step: &Step, current: Current) -> Current {
        match &step.kind {
            StepKind::Validate { schema } => Some(b.data_type(&self.dir, &schema.value)),
            StepKind::Transform { .. } | StepKind::SetPayload { .. } => None,
            StepKind::FlowRef { name, target } => {
                self.edge(b, step, format!("flow:{}", name.value), Direction::Calls, current.clone());
                if target.is_some() {
                    current
                } else {
                    None
                }
            }
            StepKind::Idempotent { store: Some(store), .. } => {
                let id = format!("system:{}", store.value);
                if b.systems.contains_key(&id) {
                    self.edge(b, step, id, Direction::Calls, None);
                }
                current
            }
            StepKind::Component(c) => {
                let Some(system) = b.system_of(c, Role::Step) else { return current };
                let spec = b.registry.get(&c.kind.value, Role::Step).map(|(s, _)| s);
                let typed = b.typed(c).cloned();
                let direction = spec.zip(typed.as_ref()).map_or(Direction::Calls, |(s, t)| s.direction(t));
                let has_target = typed.as_ref().and_then(|t| b.registry.target(&c.kind.value, t)).is_some();
                // A call's outbound contract is the type of what it sends, whatever the payload was.
                let contract = c.params.get("contract").and_then(|p| p.as_str());
                let sent = match contract {
                    Some(path) if direction != Direction::Reads => Some(b.data_type(&self.dir, path)),
                    _ => (direction != Direction::Reads).then(|| current.clone()).flatten(),
                };
                self.edge(b, step, system, direction, sent);
                match direction {
                    Direction::Sends => current,
                    _ if has_target => current,
                    _ => None,
                }
            }
            StepKind::Foreach { steps, .. } => {
                self.steps(b, steps, None);
                current
            }
            StepKind::ParallelForeach { steps, .. } => {
                self.steps(b, steps, None);
                None
            }
            StepKind::ScatterGather { routes, .. } => {
                for r in routes {
                    self.steps(b, &r.steps, current.clone());
                }
                None
            }
            StepKind::Async { steps, .. } => {
                self.steps(b, steps, current.clone());
                current
            }
            kind => {
                let children = kind.children();
                if children.is_empty() {
                    current
                } else {
                    self.scope(b, &children, current)
                }
            }
        }
    }
}
