//! Top level of a file: imports, properties, configs, flows and sub-flows; flow settings and handlers.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::ir::{Config, ErrorType, Flow, FlowKind, Handler, HandlerAction, InitialState, Module, Property};
use crate::span::Spanned;
use crate::syntax::{Entry, Node, Value};

/// Keys of a file.
pub(crate) const FILE_KEYS: &[&str] = &["imports", "properties", "configs", "flows", "sub_flows"];
const FLOW_KEYS: &[&str] = &["source", "steps", "on_error", "max_concurrency", "initial_state", "objectives"];
const SUB_FLOW_KEYS: &[&str] = &["steps"];
const HANDLER_KEYS: &[&str] = &["types", "when", "steps"];

impl Lowerer<'_> {
    pub(crate) fn module(&mut self, doc: &Node) -> Module {
        let mut module = Module { file: self.file, ..Module::default() };
        if matches!(&doc.value, Value::Null) || matches!(&doc.value, Value::Map(m) if m.is_empty()) {
            self.error(
                Diagnostic::error(codes::EMPTY_FILE, doc.span, "the file defines nothing")
                    .label("empty file")
                    .help("add `flows:` (or `flow name { ... }` in .flow files), or delete the file"),
            );
            return module;
        }
        let Some(fields) = self.fields(doc, "a flow file", FILE_KEYS) else { return module };
        if let Some(node) = fields.get("imports") {
            module.imports = self.list(node, "imports", |lw, n| lw.string(n, "an import path"));
        }
        if let Some(node) = fields.get("properties") {
            self.properties(node, "", &mut module.properties);
        }
        if let Some(node) = fields.get("configs") {
            for (name, body) in self.named(node, "configs", "config") {
                if let Some(config) = self.config(name, body) {
                    module.configs.push(config);
                }
            }
        }
        if let Some(node) = fields.get("flows") {
            for (name, body) in self.named(node, "flows", "flow") {
                if let Some(flow) = self.flow(name, body, FlowKind::Flow) {
                    module.flows.push(flow);
                }
            }
        }
        if let Some(node) = fields.get("sub_flows") {
            for (name, body) in self.named(node, "sub_flows", "sub-flow") {
                if let Some(flow) = self.flow(name, body, FlowKind::SubFlow) {
                    module.flows.push(flow);
                }
            }
        }
        module
    }

    /// Lowers each item of a list, skipping broken ones.
    pub(crate) fn list<T>(
        &mut self,
        node: &Node,
        what: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Vec<T> {
        match &node.value {
            Value::List(items) => items.iter().filter_map(|n| item(self, n)).collect(),
            Value::Null => Vec::new(),
            _ => {
                self.wrong_type(node, "a list", what);
                Vec::new()
            }
        }
    }

    /// Entries of a `name: definition` map, with names checked.
    fn named<'a>(&mut self, node: &'a Node, section: &str, what: &str) -> Vec<(Spanned<String>, &'a Node)> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|e| {
                    let name = Spanned::new(e.key.clone(), e.key_span);
                    self.check_name(&name, what);
                    (name, &e.value)
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.wrong_type(node, "a map of names to definitions", section);
                Vec::new()
            }
        }
    }

    /// Properties, flattening nested maps into dotted names.
    fn properties(&mut self, node: &Node, prefix: &str, out: &mut Vec<Property>) {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "a map of property names to values", "properties");
            return;
        };
        for e in entries {
            let name = if prefix.is_empty() { e.key.clone() } else { format!("{prefix}.{}", e.key) };
            match &e.value.value {
                Value::Map(_) => self.properties(&e.value, &name, out),
                Value::List(_) => self.wrong_type(&e.value, "a text, number or boolean", "a property"),
                _ => out.push(Property { name: Spanned::new(name, e.key_span), value: e.value.clone() }),
            }
        }
    }

    fn config(&mut self, name: Spanned<String>, body: &Node) -> Option<Config> {
        let Value::Map(entries) = &body.value else {
            self.wrong_type(body, "a map with one config kind, e.g. `http.client: { ... }`", "a config");
            return None;
        };
        let [entry] = entries.as_slice() else {
            self.error(
                Diagnostic::error(
                    codes::STEP_SHAPE,
                    body.span,
                    format!("config `{}` must name exactly one kind", name.value),
                )
                .label(format!("{} keys here", entries.len()))
                .help("write `name: { http.client: { ... } }`"),
            );
            return None;
        };
        let settings = match &entry.value.value {
            Value::Null => Node::map(Vec::new(), entry.value.span),
            Value::Map(_) => entry.value.clone(),
            _ => {
                self.wrong_type(&entry.value, "a map of settings", "a config");
                return None;
            }
        };
        Some(Config { name, kind: Spanned::new(entry.key.clone(), entry.key_span), body: settings, span: body.span })
    }

    fn flow(&mut self, name: Spanned<String>, body: &Node, kind: FlowKind) -> Option<Flow> {
        let (keys, what) = match kind {
            FlowKind::Flow => (FLOW_KEYS, "a flow"),
            FlowKind::SubFlow => (SUB_FLOW_KEYS, "a sub-flow"),
        };
        let fields = self.fields(body, what, keys)?;
        let mut flow = Flow {
            name,
            kind,
            source: None,
            steps: Vec::new(),
            on_error: Vec::new(),
            max_concurrency: None,
            initial_state: None,
            objectives: None,
            span: body.span,
        };
        if let Some(node) = fields.get("source") {
            flow.source = self.source(node);
        }
        if let Some(node) = fields.get("steps") {
            flow.steps = self.steps(node);
        }
        if let Some(node) = fields.get("on_error") {
            flow.on_error = self.handlers(node);
        }
        if let Some(node) = fields.get("max_concurrency") {
            flow.max_concurrency = self.count(node, "max_concurrency", 1);
        }
        if let Some(node) = fields.get("initial_state") {
            flow.initial_state = self.choice(
                node,
                "initial_state",
                &[(InitialState::Started, "started"), (InitialState::Stopped, "stopped")],
            );
        }
        if let Some(node) = fields.get("objectives") {
            flow.objectives = self.objectives(node);
        }
        Some(flow)
    }

    fn source(&mut self, node: &Node) -> Option<crate::ir::Component> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "a map with one component, e.g. `http.listener: { ... }`", "a source");
            return None;
        };
        // A flow key indented one level too deep (`steps:` under `source:`) is reported on that key, and the
        // source is still read from what remains.
        let (misplaced, rest): (Vec<&Entry>, Vec<&Entry>) =
            entries.iter().partition(|e| FLOW_KEYS.contains(&e.key.as_str()) && e.key != "source");
        for entry in &misplaced {
            self.error(
                Diagnostic::error(
                    codes::STEP_SHAPE,
                    entry.key_span,
                    format!("`{}` is indented under `source`", entry.key),
                )
                .label(format!("`{}` belongs to the flow, not to its source", entry.key))
                .help(format!("indent `{}:` as far as `source:` (YAML nests by indentation)", entry.key)),
            );
        }
        let [entry] = rest.as_slice() else {
            if misplaced.is_empty() || rest.len() > 1 {
                self.error(
                    Diagnostic::error(codes::STEP_SHAPE, node.span, "a source must name exactly one component")
                        .label(format!("{} keys here", rest.len())),
                );
            }
            return None;
        };
        self.component(&entry.key, entry.key_span, &entry.value, node.span)
    }

    /// `on_error` handlers.
    pub(crate) fn handlers(&mut self, node: &Node) -> Vec<Handler> {
        self.list(node, "on_error", |lw, n| lw.handler(n))
    }

    fn handler(&mut self, node: &Node) -> Option<Handler> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "a map `continue: {...}` or `propagate: {...}`", "an error handler");
            return None;
        };
        let [entry] = entries.as_slice() else {
            self.error(
                Diagnostic::error(codes::STEP_SHAPE, node.span, "an error handler is either `continue` or `propagate`")
                    .label(format!("{} keys here", entries.len())),
            );
            return None;
        };
        let action = match entry.key.as_str() {
            "continue" => HandlerAction::Continue,
            "propagate" => HandlerAction::Propagate,
            other => {
                let help = crate::diagnostic::did_you_mean(other, ["continue", "propagate"]);
                self.error(
                    Diagnostic::error(codes::BAD_VALUE, entry.key_span, format!("`{other}` is not an error handler"))
                        .label("expected `continue` or `propagate`")
                        .maybe_help(help),
                );
                return None;
            }
        };
        let mut handler = Handler { action, types: Vec::new(), when: None, steps: Vec::new(), span: node.span };
        if matches!(entry.value.value, Value::Null) {
            return Some(handler);
        }
        let fields = self.fields(&entry.value, "an error handler", HANDLER_KEYS)?;
        if let Some(types) = fields.get("types") {
            handler.types = self.error_types(types, "types");
        }
        if let Some(when) = fields.get("when") {
            handler.when = self.expr(when, "`when`");
        }
        if let Some(steps) = fields.get("steps") {
            handler.steps = self.steps(steps);
        }
        Some(handler)
    }

    /// One error type or a list of them (`types` of a handler, `retry_on` of `until_successful`).
    pub(crate) fn error_types(&mut self, node: &Node, what: &str) -> Vec<Spanned<ErrorType>> {
        match &node.value {
            Value::Str(_) => self.error_type(node).into_iter().collect(),
            _ => self.list(node, what, |lw, n| lw.error_type(n)),
        }
    }

    /// An error type `NS:NAME`.
    pub(crate) fn error_type(&mut self, node: &Node) -> Option<Spanned<ErrorType>> {
        let text = self.string(node, "an error type")?;
        match ErrorType::parse(&text.value) {
            Some(t) => Some(Spanned::new(t, text.span)),
            None => {
                let upper = text.value.to_ascii_uppercase();
                let status_class = upper.split_once(':').map(|(_, name)| name.to_string()).filter(|name| {
                    name.len() == 3 && name.ends_with("XX") && matches!(name.as_bytes()[0], b'4' | b'5')
                });
                let help = if let Some(class) = status_class {
                    let named = if class.starts_with('5') { "HTTP:SERVER_ERROR" } else { "HTTP:CLIENT_ERROR" };
                    format!("a {class} answer of a partner is `{named}` (each status also has its own type, e.g. `HTTP:SERVICE_UNAVAILABLE`)")
                } else if ErrorType::parse(&upper).is_some() {
                    format!("error types are upper case: `{upper}`")
                } else {
                    "write `NAMESPACE:NAME`, e.g. `HTTP:NOT_FOUND`, or `ANY`".into()
                };
                self.error(
                    Diagnostic::error(
                        codes::BAD_ERROR_TYPE,
                        text.span,
                        format!("`{}` is not an error type", text.value),
                    )
                    .label("invalid error type")
                    .help(help),
                );
                None
            }
        }
    }
}
