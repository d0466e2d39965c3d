//! Step pairs -> one-key step maps `{ KIND: BODY }` (plus `id`), in the shortest form the YAML spelling
//! uses for the same step (`flow_ref: name`, `raise_error: TYPE`, `validate: path`).

use super::values::{Builder, Entries};
use super::Rule;
use crate::span::Span;
use crate::syntax::{Node, Origin, Value};
use pest::iterators::Pair;

/// The parts of a step after its keyword, sorted by role.
#[derive(Default)]
struct Parts {
    /// Positional values (`value`, `generic_arg`, `message`, `logger_level`, direct strings).
    values: Vec<Node>,
    /// The options or raw map.
    map: Option<Node>,
    /// The steps block.
    block: Option<Node>,
    /// `file` seen (transform).
    file: bool,
    /// The `#[...]` of `transform #[ code ]`: the code between the delimiters.
    code: Option<Node>,
    /// `when` branches and `otherwise` of a choice, routes of scatter-gather, handlers of try.
    items: Vec<Node>,
    handlers: Vec<Node>,
    /// Span of everything after the keyword.
    span: Option<Span>,
}

impl Builder<'_> {
    /// A `step` pair -> `{ id?, KIND: BODY }`.
    pub fn step(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        let mut entries = Entries::default();
        for part in pair.into_inner() {
            if part.as_rule() == Rule::step_id {
                let id_span = self.span(&part);
                if let Some(name) = part.into_inner().next() {
                    let name = self.verbatim(&name);
                    entries.put(self, "id", id_span, name);
                }
                continue;
            }
            let kind_rule = part.as_rule();
            let mut inner = part.into_inner();
            let Some(keyword) = inner.next() else { continue };
            let key_span = self.span(&keyword);
            let key = keyword.as_str().to_string();
            let parts = self.parts(inner);
            let body_span = parts.span.unwrap_or(key_span);
            let body = self.body(kind_rule, &key, parts, body_span);
            entries.push(self, key, key_span, body);
        }
        entries.into_node(span)
    }

    /// Sorts the pairs after a step keyword by role.
    fn parts<'i>(&mut self, inner: impl Iterator<Item = Pair<'i, Rule>>) -> Parts {
        let mut parts = Parts::default();
        for part in inner {
            let part_span = self.span(&part);
            match part.as_rule() {
                Rule::lbrace | Rule::rbrace | Rule::equals => continue,
                Rule::kw_file => parts.file = true,
                Rule::map => parts.map = Some(self.map(part)),
                Rule::block | Rule::routes => parts.block = Some(self.block_or_routes(part)),
                Rule::expr => {
                    // `transform #[ code ]`: the code between the delimiters, mapped from its first byte.
                    let whole = part.as_str().to_string();
                    parts.code = part.into_inner().next().map(|code| self.verbatim(&code));
                    parts.values.push(self.str_node(whole, part_span, Origin::Verbatim { start: part_span.start }));
                }
                Rule::when_branch => {
                    let mut inner = part.into_inner();
                    let (Some(keyword), Some(cond), Some(block)) = (inner.next(), inner.next(), inner.next()) else {
                        continue;
                    };
                    let keyword = self.span(&keyword);
                    let mut branch = Entries::default();
                    let cond = self.value(cond);
                    branch.put(self, "when", keyword, cond);
                    let block_span = self.span(&block);
                    let steps = self.block(block);
                    branch.put(self, "steps", block_span, steps);
                    parts.items.push(branch.into_node(part_span));
                }
                Rule::otherwise_branch => {
                    let mut inner = part.into_inner();
                    let (Some(keyword), Some(block)) = (inner.next(), inner.next()) else { continue };
                    let keyword = self.span(&keyword);
                    let mut branch = Entries::default();
                    let steps = self.block(block);
                    branch.put(self, "otherwise", keyword, steps);
                    parts.items.push(branch.into_node(part_span));
                }
                Rule::step => parts.items.push(self.step(part)),
                Rule::handler => parts.handlers.push(self.handler(part)),
                _ => parts.values.push(self.value(part)),
            }
            parts.span = Some(parts.span.map_or(part_span, |s| s.to(part_span)));
        }
        parts
    }

    /// `{ route { } route { } }` -> a list of step lists; `{ steps }` -> a list of steps.
    fn block_or_routes(&mut self, pair: Pair<'_, Rule>) -> Node {
        if pair.as_rule() == Rule::block {
            return self.block(pair);
        }
        let span = self.span(&pair);
        let routes = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::route)
            .filter_map(|route| route.into_inner().nth(1))
            .map(|block| self.block(block))
            .collect();
        Node::new(Value::List(routes), span)
    }

    /// The body of a step of kind `key`.
    fn body(&mut self, rule: Rule, key: &str, mut p: Parts, span: Span) -> Node {
        let mut m = Entries::default();
        match rule {
            Rule::set_payload => {
                let Some(value) = p.values.pop() else { return p.map.unwrap_or(empty(span)) };
                let Some(options) = p.map else { return value };
                m.put(self, "value", value.span, value);
                m.merge(self, options);
            }
            Rule::set_variable => {
                if let Some(map) = p.map {
                    return map;
                }
                let mut values = p.values.into_iter();
                if let Some(name) = values.next() {
                    m.put(self, "name", name.span, name);
                }
                if let Some(value) = values.next() {
                    m.put(self, "value", value.span, value);
                }
            }
            Rule::remove_variable => return p.values.pop().unwrap_or(empty(span)),
            Rule::transform => {
                if let Some(map) = p.map {
                    return map;
                }
                let key = if p.file { "script" } else { "code" };
                let value = p.code.or_else(|| p.values.pop()).unwrap_or(empty(span));
                m.put(self, key, value.span, value);
            }
            Rule::logger => {
                if p.values.is_empty() {
                    return p.map.unwrap_or(empty(span));
                }
                let message = p.values.pop().unwrap_or(empty(span));
                if let Some(level) = p.values.pop() {
                    m.put(self, "level", level.span, level);
                }
                m.put(self, "message", message.span, message);
                if let Some(options) = p.map {
                    m.merge(self, options);
                }
            }
            Rule::choice => return Node::new(Value::List(p.items), span),
            Rule::foreach | Rule::parallel_foreach | Rule::until_successful | Rule::async_step => {
                if let Some(collection) = p.values.pop() {
                    m.put(self, "collection", collection.span, collection);
                }
                if let Some(options) = p.map {
                    m.merge(self, options);
                }
                let steps = p.block.unwrap_or(empty_list(span));
                m.put(self, "steps", steps.span, steps);
            }
            Rule::scatter_gather | Rule::first_successful => {
                if let Some(options) = p.map {
                    m.merge(self, options);
                }
                let routes = p.block.unwrap_or(empty_list(span));
                m.put(self, "routes", routes.span, routes);
            }
            Rule::flow_ref | Rule::validate | Rule::idempotent => {
                let first = match rule {
                    Rule::flow_ref => "name",
                    Rule::validate => "schema",
                    _ => "key",
                };
                let Some(value) = p.values.pop() else { return p.map.unwrap_or(empty(span)) };
                if p.map.is_none() && rule != Rule::idempotent {
                    return value;
                }
                m.put(self, first, value.span, value);
                if let Some(options) = p.map {
                    m.merge(self, options);
                }
            }
            Rule::raise_error => {
                if let Some(map) = p.map {
                    return map;
                }
                let mut values = p.values.into_iter();
                let Some(error_type) = values.next() else { return empty(span) };
                let Some(description) = values.next() else { return error_type };
                m.put(self, "type", error_type.span, error_type);
                m.put(self, "description", description.span, description);
            }
            Rule::try_step => {
                let steps = Node::new(Value::List(p.items), span);
                m.put(self, "steps", span, steps);
                if let Some(first) = p.handlers.first() {
                    let key_span = first.span;
                    let list_span = p.handlers.iter().map(|h| h.span).reduce(Span::to).unwrap_or(key_span);
                    m.put(self, "on_error", key_span, Node::new(Value::List(p.handlers), list_span));
                }
            }
            _ => return self.generic_body(key, p, span),
        }
        m.into_node(span)
    }

    /// The best-effort body of a component or unknown step: `NAME config? args... map? block?`.
    fn generic_body(&mut self, key: &str, p: Parts, span: Span) -> Node {
        let component = key.contains('.');
        if !component && p.values.len() == 1 && p.map.is_none() && p.block.is_none() {
            return p.values.into_iter().next().unwrap_or(empty(span));
        }
        if !component && p.values.is_empty() && p.block.is_none() {
            if let Some(map) = p.map {
                return map;
            }
        }
        let mut m = Entries::default();
        let mut values = p.values.into_iter().peekable();
        if component && values.peek().is_some_and(|v| matches!(v.value, Value::Str(_))) {
            if let Some(config) = values.next() {
                m.put(self, "config", config.span, config);
            }
        }
        let rest: Vec<Node> = values.collect();
        if let Some(first) = rest.first() {
            let at = first.span;
            let value = if rest.len() == 1 {
                rest.into_iter().next().unwrap_or(empty(at))
            } else {
                let list_span = rest.iter().map(|n| n.span).reduce(Span::to).unwrap_or(at);
                Node::new(Value::List(rest), list_span)
            };
            m.put(self, "value", at, value);
        }
        if let Some(options) = p.map {
            m.merge(self, options);
        }
        if let Some(block) = p.block {
            m.put(self, "steps", block.span, block);
        }
        m.into_node(span)
    }
}

fn empty(span: Span) -> Node {
    Node::map(Vec::new(), span)
}

fn empty_list(span: Span) -> Node {
    Node::new(Value::List(Vec::new()), span)
}
