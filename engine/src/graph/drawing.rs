//! What the three pictures (mermaid, dot, html) draw: boxes in groups and arrows between them. The map
//! and one flow's execution graph both become a [`Drawing`], so each renderer is written once.

use super::model::Map;
use super::volume;
use crate::component::Direction;
use serde::Serialize;
use std::collections::BTreeMap;

/// A box's look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// A system (listener, client, store, queue).
    System,
    /// A flow.
    Flow,
    /// A sub-flow.
    SubFlow,
    /// A JSON Schema.
    DataType,
    /// A step of an execution graph.
    Step,
    /// A router, loop or retry scope of an execution graph.
    Scope,
    /// An error handler.
    Handler,
    /// Where an execution graph starts or ends.
    Terminal,
}

/// An arrow's look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// Data or control going forward.
    Solid,
    /// An error path, a retry or a loop going back.
    Dashed,
    /// A relation, not a flow of data (a flow validates a type).
    Dotted,
}

/// A region boxes sit in: a zone, the flows, the data types.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Identifier (`zone:partner`, `flows`).
    pub id: String,
    /// Heading.
    pub label: String,
    /// Whether the region is a zone (drawn as a region with its name).
    pub zone: bool,
}

/// A box.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Identifier, unique in the drawing.
    pub id: String,
    /// First line.
    pub label: String,
    /// Second line (kind, trigger, location), may be empty.
    pub detail: String,
    /// Look.
    pub shape: Shape,
    /// Index into [`Drawing::groups`].
    pub group: usize,
}

/// An arrow.
#[derive(Debug, Clone, Serialize)]
pub struct Arrow {
    /// Node id it starts at.
    pub from: String,
    /// Node id it ends at.
    pub to: String,
    /// Text on it (may be empty).
    pub label: String,
    /// More text, shown on demand (steps and locations).
    pub detail: String,
    /// Look.
    pub line: Line,
    /// What it stands for: a direction (`receives`, `calls`, `sends`, `reads`), `data_type`, or in an
    /// execution graph `next`, `branch`, `error`, `retry`.
    pub kind: String,
    /// The flow (node id) whose path it belongs to, for highlighting.
    pub flow: Option<String>,
}

/// Boxes in groups and arrows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drawing {
    /// Title.
    pub title: String,
    /// Regions, in drawing order.
    pub groups: Vec<Group>,
    /// Boxes.
    pub nodes: Vec<Node>,
    /// Arrows.
    pub arrows: Vec<Arrow>,
}

impl Drawing {
    /// The index of group `id`, added with `label` on first use.
    pub fn group(&mut self, id: &str, label: &str, zone: bool) -> usize {
        if let Some(i) = self.groups.iter().position(|g| g.id == id) {
            return i;
        }
        self.groups.push(Group { id: id.into(), label: label.into(), zone });
        self.groups.len() - 1
    }

    /// Whether a node of `id` exists.
    pub fn has(&self, id: &str) -> bool {
        self.nodes.iter().any(|n| n.id == id)
    }
}

/// A schema path as a short name: `schemas/crm/contact.schema.json` -> `crm/contact`.
pub fn short_type(path: &str) -> String {
    let trimmed = path.trim_end_matches(".json").trim_end_matches(".schema");
    let parts: Vec<&str> = trimmed.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// The arrows of the map are merged by these.
type ArrowKey = (String, String, Direction);

/// What a merged arrow stands for: its steps, types, volumes and flow.
type Merged = (Vec<String>, Vec<String>, Vec<String>, String);

/// The map as a drawing: zones (partner, internal, private) as regions of systems, the flows between
/// them, the data types apart; arrows merged per (from, to, direction), naming every step they stand for.
pub fn of_map(map: &Map) -> Drawing {
    let mut d = Drawing { title: "relais graph".into(), ..Drawing::default() };
    // Bands top to bottom: partners, the flows, then the zones at home.
    for zone in map.zones.iter().filter(|z| z.name == "partner") {
        d.group(&format!("zone:{}", zone.name), &format!("zone: {}", zone.name), true);
    }
    let flows = d.group("flows", "flows", false);
    for zone in &map.zones {
        let g = d.group(&format!("zone:{}", zone.name), &format!("zone: {}", zone.name), true);
        for id in &zone.systems {
            if let Some(s) = map.system(id) {
                d.nodes.push(Node {
                    id: s.id.clone(),
                    label: s.name.clone(),
                    detail: s.kind.clone(),
                    shape: Shape::System,
                    group: g,
                });
            }
        }
    }
    for f in &map.flows {
        let shape = if f.kind == relais_dsl::ir::FlowKind::SubFlow { Shape::SubFlow } else { Shape::Flow };
        let detail = match (&f.trigger, f.kind) {
            (Some(t), _) => t.clone(),
            (None, relais_dsl::ir::FlowKind::SubFlow) => "sub-flow".into(),
            (None, _) => "flow".into(),
        };
        d.nodes.push(Node { id: f.id.clone(), label: f.name.clone(), detail, shape, group: flows });
    }
    let types = d.group("types", "data types", false);
    for t in &map.data_types {
        let detail = t.title.clone().unwrap_or_else(|| t.path.clone());
        d.nodes.push(Node {
            id: t.id.clone(),
            label: short_type(&t.path),
            detail,
            shape: Shape::DataType,
            group: types,
        });
    }
    // Merged arrows: (from, to, direction) -> steps, types, volumes, flow.
    let mut merged: BTreeMap<ArrowKey, Merged> = BTreeMap::new();
    let mut order = Vec::new();
    for e in &map.edges {
        let key = (e.from.clone(), e.to.clone(), e.direction);
        let entry = merged.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            (Vec::new(), Vec::new(), Vec::new(), e.flow.clone())
        });
        let step = format!("{} at {}", e.step.id.as_deref().unwrap_or(&e.step.kind), e.step.location);
        entry.0.push(step);
        if let Some(t) = e.data_type.as_ref().and_then(|t| map.data_type(t)) {
            let short = short_type(&t.path);
            if !entry.1.contains(&short) {
                entry.1.push(short);
            }
        }
        if let Some(v) = &e.volume {
            entry.2.push(volume::label(v));
        }
    }
    let mut validated: Vec<(String, String)> = Vec::new();
    for key in order {
        let (steps, types, volumes, flow) = &merged[&key];
        let mut label = key.2.as_str().to_string();
        if !types.is_empty() {
            label = format!("{label} {}", types.join(", "));
        }
        if !volumes.is_empty() {
            label = format!("{label} · {}", volumes.join(" · "));
        }
        d.arrows.push(Arrow {
            from: key.0.clone(),
            to: key.1.clone(),
            label,
            detail: steps.join("\n"),
            line: Line::Solid,
            kind: key.2.as_str().to_string(),
            flow: Some(flow.clone()),
        });
    }
    for e in &map.edges {
        if let Some(t) = &e.data_type {
            let pair = (e.flow.clone(), t.clone());
            if !validated.contains(&pair) {
                validated.push(pair);
            }
        }
    }
    for (flow, t) in validated {
        d.arrows.push(Arrow {
            from: flow.clone(),
            to: t,
            label: String::new(),
            detail: "data type".into(),
            line: Line::Dotted,
            kind: "data_type".into(),
            flow: Some(flow),
        });
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_paths_shorten_to_folder_and_name() {
        assert_eq!(short_type("flows/schemas/crm/contact.schema.json"), "crm/contact");
        assert_eq!(short_type("order.json"), "order");
    }
}
