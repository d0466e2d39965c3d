//! Top-level items and flow bodies -> the document map (`imports`, `properties`, `configs`, `flows`,
//! `sub_flows`) and the flow maps (`max_concurrency`, `initial_state`, `source`, `steps`, `on_error`).

use super::values::{Builder, Entries};
use super::Rule;
use crate::span::Span;
use crate::syntax::{Entry, Node, Value};
use pest::iterators::Pair;

/// Entries of one document section, with the span of the first item's keyword (the section's "key").
#[derive(Default)]
struct Section {
    entries: Entries,
    key_span: Option<Span>,
    span: Option<Span>,
}

impl Section {
    fn note(&mut self, keyword: Span, item: Span) {
        self.key_span.get_or_insert(keyword);
        self.span = Some(self.span.map_or(item, |s| s.to(item)));
    }

    fn finish(self, key: &str, doc: &mut Vec<Entry>) {
        if let (Some(key_span), Some(span)) = (self.key_span, self.span) {
            doc.push(Entry { key: key.to_string(), key_span, value: self.entries.into_node(span) });
        }
    }
}

impl Builder<'_> {
    /// The `file` pair -> the document map, sections in canonical order.
    pub fn document(&mut self, file: Pair<'_, Rule>) -> Node {
        self.document_of(file.into_inner())
    }

    /// Top-level item pairs (from one parse, or from the separate parses of error recovery) -> the
    /// document map, sections in canonical order.
    pub fn document_of<'i>(&mut self, items: impl Iterator<Item = Pair<'i, Rule>>) -> Node {
        let whole = Span::new(self.file, 0, self.text.len());
        let mut imports: Vec<Node> = Vec::new();
        let mut imports_key = None;
        let (mut properties, mut configs) = (Section::default(), Section::default());
        let (mut flows, mut sub_flows) = (Section::default(), Section::default());
        for item in items {
            let span = self.span(&item);
            let rule = item.as_rule();
            let mut parts = item.into_inner();
            let Some(keyword) = parts.next() else { continue };
            let keyword = self.span(&keyword);
            match rule {
                Rule::import => {
                    imports_key.get_or_insert(keyword);
                    if let Some(path) = parts.next() {
                        imports.push(self.value(path));
                    }
                }
                Rule::property => {
                    let (Some(key), Some(value)) = (parts.next(), parts.nth(1)) else { continue };
                    let key_span = self.span(&key);
                    let key = self.value(key).as_str().unwrap_or_default().to_string();
                    let value = self.value(value);
                    properties.note(keyword, span);
                    properties.entries.push_as(self, "property", key, key_span, value);
                }
                Rule::config => {
                    let (Some(name), Some(kind)) = (parts.next(), parts.nth(1)) else { continue };
                    let name_span = self.span(&name);
                    let name = self.value(name).as_str().unwrap_or_default().to_string();
                    let kind_span = self.span(&kind);
                    let body = match parts.next() {
                        Some(map) => self.map(map),
                        None => Node::map(Vec::new(), kind_span),
                    };
                    let entry = Entry { key: kind.as_str().to_string(), key_span: kind_span, value: body };
                    configs.note(keyword, span);
                    let value = Node::map(vec![entry], kind_span.to(span));
                    configs.entries.push_as(self, "config", name, name_span, value);
                }
                Rule::flow | Rule::sub_flow => {
                    let Some(name) = parts.next() else { continue };
                    let name_span = self.span(&name);
                    let name = self.value(name).as_str().unwrap_or_default().to_string();
                    let body = self.flow_body(parts, span);
                    let (section, what) =
                        if rule == Rule::flow { (&mut flows, "flow") } else { (&mut sub_flows, "sub-flow") };
                    section.note(keyword, span);
                    section.entries.push_as(self, what, name, name_span, body);
                }
                _ => {}
            }
        }
        let mut doc = Vec::new();
        if let Some(key_span) = imports_key {
            let span = imports.iter().map(|n| n.span).reduce(Span::to).unwrap_or(key_span);
            doc.push(Entry { key: "imports".into(), key_span, value: Node::new(Value::List(imports), span) });
        }
        properties.finish("properties", &mut doc);
        configs.finish("configs", &mut doc);
        flows.finish("flows", &mut doc);
        sub_flows.finish("sub_flows", &mut doc);
        Node::map(doc, whole)
    }

    /// The items of a flow or sub-flow (after its name) -> the flow map.
    fn flow_body<'i>(&mut self, parts: impl Iterator<Item = Pair<'i, Rule>>, span: Span) -> Node {
        let mut head = Entries::default();
        let mut steps = Vec::new();
        let mut handlers = Vec::new();
        let mut steps_key = None;
        let mut handlers_key = None;
        for part in parts {
            let part_span = self.span(&part);
            match part.as_rule() {
                Rule::lbrace => steps_key = Some(part_span),
                Rule::step => steps.push(self.step(part)),
                Rule::handler => {
                    handlers_key.get_or_insert(part_span);
                    handlers.push(self.handler(part));
                }
                Rule::max_concurrency | Rule::initial_state | Rule::objectives => {
                    let key = match part.as_rule() {
                        Rule::max_concurrency => "max_concurrency",
                        Rule::initial_state => "initial_state",
                        _ => "objectives",
                    };
                    let mut inner = part.into_inner();
                    let (Some(keyword), Some(value)) = (inner.next(), inner.next()) else { continue };
                    let keyword = self.span(&keyword);
                    let value = if key == "objectives" { self.map(value) } else { self.value(value) };
                    head.push(self, key.to_string(), keyword, value);
                }
                Rule::source => {
                    let mut inner = part.into_inner();
                    let Some(keyword) = inner.next() else { continue };
                    let keyword = self.span(&keyword);
                    let source = self.component(inner, part_span);
                    head.push(self, "source".to_string(), keyword, source);
                }
                _ => {}
            }
        }
        let rank =
            |key: &str| ["max_concurrency", "initial_state", "objectives", "source"].iter().position(|k| *k == key);
        head.0.sort_by_key(|e| rank(&e.key));
        let steps_key = steps.first().map(|s| s.span).or(steps_key).unwrap_or(span);
        let steps_span = steps.iter().map(|s| s.span).reduce(Span::to).unwrap_or(steps_key);
        head.put(self, "steps", steps_key, Node::new(Value::List(steps), steps_span));
        if let Some(key_span) = handlers_key {
            let list_span = handlers.iter().map(|h| h.span).reduce(Span::to).unwrap_or(key_span);
            head.put(self, "on_error", key_span, Node::new(Value::List(handlers), list_span));
        }
        head.into_node(span)
    }

    /// `NAME config? map?` (a source or a config body) -> `{ NAME: { config: ..., params... } }`.
    pub fn component<'i>(&mut self, mut parts: impl Iterator<Item = Pair<'i, Rule>>, span: Span) -> Node {
        let Some(kind) = parts.next() else { return Node::map(Vec::new(), span) };
        let kind_span = self.span(&kind);
        let mut body = Entries::default();
        let mut body_span = kind_span;
        for part in parts {
            let part_span = self.span(&part);
            body_span = body_span.to(part_span);
            match part.as_rule() {
                Rule::config_ref => {
                    let config = self.value(part);
                    body.put(self, "config", part_span, config);
                }
                Rule::map => {
                    let map = self.map(part);
                    body.merge(self, map);
                }
                _ => {}
            }
        }
        let entry = Entry { key: kind.as_str().to_string(), key_span: kind_span, value: body.into_node(body_span) };
        Node::map(vec![entry], span)
    }

    /// `on_error ACTION types? when? { steps }` -> `{ ACTION: { types, when, steps } }`.
    pub fn handler(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        let mut action = None;
        let mut body = Entries::default();
        for part in pair.into_inner() {
            let part_span = self.span(&part);
            match part.as_rule() {
                Rule::handler_action => action = Some((part.as_str().to_string(), part_span)),
                Rule::error_types => {
                    let mut types: Vec<Node> =
                        part.into_inner().filter(|p| p.as_rule() == Rule::error_type).map(|p| self.value(p)).collect();
                    let node =
                        if types.len() == 1 { types.remove(0) } else { Node::new(Value::List(types), part_span) };
                    body.put(self, "types", part_span, node);
                }
                Rule::handler_when => {
                    if let Some(value) = part.into_inner().nth(1) {
                        let when = self.value(value);
                        body.put(self, "when", part_span, when);
                    }
                }
                Rule::block => {
                    let steps = self.block(part);
                    body.put(self, "steps", part_span, steps);
                }
                _ => {}
            }
        }
        let (key, key_span) = action.unwrap_or_else(|| ("propagate".to_string(), span));
        let body_span = key_span.to(span);
        Node::map(vec![Entry { key, key_span, value: body.into_node(body_span) }], span)
    }

    /// `{ steps }` -> a list of step nodes.
    pub fn block(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        let steps = pair.into_inner().filter(|p| p.as_rule() == Rule::step).map(|p| self.step(p)).collect();
        Node::new(Value::List(steps), span)
    }
}
