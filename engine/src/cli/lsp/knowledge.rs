//! What completion and hover know: the editor schema of `relais schema` (step kinds, component fields and
//! their doc comments, from the registry), the mapping library's documentation, and the names of the last
//! check (flows, configs, properties, error types).

use super::context::Seg;
use crate::load::Loaded;
use crate::registry::{Registry, Role};
use relais_dsl::ir::{Step, StepKind};
use serde_json::Value;

/// The event's names a script sees, with what they hold.
pub const SCRIPT_NAMES: &[(&str, &str)] = &[
    ("payload", "The message body (parsed JSON, text or bytes)."),
    ("attributes", "What the source knows: HTTP method, path, params, query, headers; a scheduler's fire time."),
    ("vars", "The flow's variables (`set_variable`)."),
    ("correlation_id", "The id of the transaction, propagated on every outbound call and log line."),
    ("error", "Inside an error handler: the error (`type`, `description`)."),
];

/// Top-level `.flow` statements.
pub const FLOW_ITEMS: &[(&str, &str)] = &[
    ("flow", "A flow: a source, steps and error handlers."),
    ("sub_flow", "Steps called from other flows with `flow_ref`."),
    ("config", "A named connection setting: `config NAME = KIND { ... }`."),
    ("import", "Another flow file this one needs, relative to it."),
    ("property", "A property default: `property NAME = VALUE`."),
];

/// Statements of a flow body that are not steps.
pub const FLOW_BODY: &[(&str, &str)] = &[
    ("source", "What starts the flow: `source KIND { ... }`."),
    ("on_error", "An error handler: `on_error propagate|continue [TYPES] [when COND] { steps }`."),
    ("max_concurrency", "How many events of this flow run at once."),
    ("initial_state", "`started` or `stopped`."),
];

/// One name offered, with what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// The name.
    pub name: String,
    /// A short line (a signature, a kind).
    pub detail: Option<String>,
    /// Its documentation.
    pub doc: Option<String>,
}

impl Offer {
    fn new(name: impl Into<String>, detail: Option<String>, doc: Option<String>) -> Offer {
        Offer { name: name.into(), detail, doc }
    }
}

/// The schema and the registry, built once per server.
pub struct Knowledge {
    /// The editor schema (`relais schema`).
    pub schema: Value,
    /// The components.
    pub registry: &'static Registry,
}

/// Nesting of `$ref`s and `anyOf`s followed before giving up (the schema has no cycles that deep).
const DEPTH: usize = 12;

impl Knowledge {
    /// Builds the schema from the registry.
    pub fn new(registry: &'static Registry) -> Knowledge {
        Knowledge { schema: super::super::schema::flow_file_schema(registry), registry }
    }

    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        for _ in 0..DEPTH {
            let Some(name) = node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) else {
                break;
            };
            match self.schema.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => node = target,
                None => break,
            }
        }
        node
    }

    /// A node and its `anyOf` / `oneOf` / `allOf` alternatives, resolved.
    fn alternatives<'a>(&'a self, node: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
        let node = self.resolve(node);
        out.push(node);
        if depth >= DEPTH {
            return;
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for alt in node.get(key).and_then(Value::as_array).into_iter().flatten() {
                self.alternatives(alt, depth + 1, out);
            }
        }
    }

    /// The schema nodes a YAML path may lead to.
    pub fn at(&self, path: &[Seg]) -> Vec<&Value> {
        let mut nodes = vec![&self.schema];
        for seg in path {
            let mut next = Vec::new();
            for node in nodes {
                let mut alts = Vec::new();
                self.alternatives(node, 0, &mut alts);
                for alt in alts {
                    match seg {
                        Seg::Key(k) => {
                            if let Some(p) = alt.get("properties").and_then(|p| p.get(k)) {
                                next.push(p);
                            } else if let Some(extra) = alt.get("additionalProperties").filter(|a| a.is_object()) {
                                next.push(extra);
                            }
                        }
                        Seg::Item => next.extend(alt.get("items")),
                    }
                }
            }
            nodes = next;
        }
        nodes
    }

    /// The keys a map at `path` may hold, with their documentation.
    pub fn keys(&self, path: &[Seg]) -> Vec<Offer> {
        let mut out: Vec<Offer> = Vec::new();
        for node in self.at(path) {
            let mut alts = Vec::new();
            self.alternatives(node, 0, &mut alts);
            for alt in alts {
                let Some(props) = alt.get("properties").and_then(Value::as_object) else { continue };
                // A step or component alternative (`{ KIND: settings, id }`) is documented as a whole.
                let whole = alt.get("description").and_then(Value::as_str).filter(|_| props.len() <= 2);
                for (name, prop) in props {
                    if out.iter().any(|o| &o.name == name) {
                        continue;
                    }
                    let own = self.resolve(prop).get("description").and_then(Value::as_str);
                    let doc = if name == "id" { own } else { whole.or(own) };
                    out.push(Offer::new(name.clone(), None, doc.map(str::to_string)));
                }
            }
        }
        out
    }

    /// The values a schema enumerates for `key` in the map at `path`.
    pub fn enum_values(&self, path: &[Seg], key: &str) -> Vec<Offer> {
        let mut path = path.to_vec();
        path.push(Seg::Key(key.to_string()));
        let mut out = Vec::new();
        for node in self.at(&path) {
            let mut alts = Vec::new();
            self.alternatives(node, 0, &mut alts);
            for alt in alts {
                for v in alt.get("enum").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(s) = v.as_str().filter(|s| !out.iter().any(|o: &Offer| o.name == *s)) {
                        out.push(Offer::new(s, None, None));
                    }
                }
            }
        }
        out
    }

    /// The settings keys of a component (or built-in step) in a `.flow` settings map.
    pub fn settings(&self, role: Role, kind: &str) -> Vec<Offer> {
        self.keys(&role_path(role, kind))
    }

    /// Step kinds: built-in keywords and the registry's steps.
    pub fn step_kinds(&self) -> Vec<Offer> {
        self.keys(&[Seg::Key("flows".into()), Seg::Key("_".into()), Seg::Key("steps".into()), Seg::Item])
            .into_iter()
            .filter(|o| o.name != "id")
            .collect()
    }

    /// Component kinds of a role.
    pub fn kinds(&self, role: Role) -> Vec<Offer> {
        self.registry
            .iter()
            .filter(|(s, _)| s.role == role)
            .map(|(s, _)| Offer::new(s.name, Some(role.describe().to_string()), Some(s.summary.to_string())))
            .collect()
    }

    /// The config kind a step or source kind takes with `config:`, if any.
    pub fn config_kind(&self, kind: &str) -> Option<&'static str> {
        [Role::Step, Role::Source].into_iter().find_map(|r| self.registry.get(kind, r)?.0.config.map(|c| c.kind))
    }

    /// The documentation of a component or step kind, for hover.
    pub fn kind_doc(&self, kind: &str) -> Option<String> {
        if let Some((spec, _)) =
            [Role::Step, Role::Source, Role::Config].into_iter().find_map(|r| self.registry.get(kind, r))
        {
            return Some(format!("`{}` ({}): {}", spec.name, spec.role.describe(), spec.summary));
        }
        self.step_kinds().into_iter().find(|o| o.name == kind).and_then(|o| o.doc)
    }
}

/// The YAML path of a component's settings: a step, a source or a config of that kind.
pub fn role_path(role: Role, kind: &str) -> Vec<Seg> {
    let key = |s: &str| Seg::Key(s.to_string());
    match role {
        Role::Step => vec![key("flows"), key("_"), key("steps"), Seg::Item, key(kind)],
        Role::Source => vec![key("flows"), key("_"), key("source"), key(kind)],
        Role::Config => vec![key("configs"), key("_"), key(kind)],
    }
}

/// The mapping library's functions (and the script's names) for code.
pub fn functions() -> Vec<Offer> {
    let mut out: Vec<Offer> =
        SCRIPT_NAMES.iter().map(|(n, d)| Offer::new(*n, Some("variable".into()), Some(d.to_string()))).collect();
    for doc in relais_stdlib::function_docs() {
        if out.iter().any(|o| o.name == doc.name) {
            continue;
        }
        out.push(Offer::new(doc.name, Some(doc.signature.to_string()), Some(function_markdown(doc))));
    }
    out
}

/// A function's documentation: signature, summary, an example.
pub fn function_markdown(doc: &relais_stdlib::FunctionDoc) -> String {
    let mut text = format!("```\n{}\n```\n{}", doc.signature, doc.summary);
    if let Some((code, result)) = doc.examples.first() {
        text.push_str(&format!("\n\n```rhai\n{code}\n// => {result}\n```"));
    }
    text
}

/// The names of the last check.
pub struct Names<'a>(pub Option<&'a Loaded>);

impl Names<'_> {
    /// Flow and sub-flow names.
    pub fn flows(&self) -> Vec<Offer> {
        let Some(loaded) = self.0 else { return Vec::new() };
        loaded
            .set
            .flows()
            .map(|f| Offer::new(f.name.value.clone(), Some(format!("{:?}", f.kind).to_lowercase()), None))
            .collect()
    }

    /// Config names, of `kind` when given.
    pub fn configs(&self, kind: Option<&str>) -> Vec<Offer> {
        let Some(loaded) = self.0 else { return Vec::new() };
        loaded
            .set
            .configs()
            .filter(|c| kind.is_none_or(|k| c.kind.value == k))
            .map(|c| Offer::new(c.name.value.clone(), Some(c.kind.value.clone()), None))
            .collect()
    }

    /// Property names with their defaults.
    pub fn properties(&self) -> Vec<Offer> {
        let Some(loaded) = self.0 else { return Vec::new() };
        let mut out: Vec<Offer> = Vec::new();
        for p in loaded.set.modules.iter().flat_map(|m| &m.properties) {
            if !out.iter().any(|o| o.name == p.name.value) {
                let default = serde_json::to_string(&p.value.to_json()).unwrap_or_default();
                out.push(Offer::new(p.name.value.clone(), Some(format!("default {default}")), None));
            }
        }
        out
    }

    /// Error types handlers can catch: what the engine raises and every `raise_error` of the flows.
    pub fn error_types(&self) -> Vec<Offer> {
        let mut out: Vec<Offer> = vec![Offer::new("ANY", Some("every error".into()), None)];
        for t in crate::compile::error_types::ENGINE_RAISES {
            out.push(Offer::new(*t, Some("raised by the engine".into()), None));
        }
        let Some(loaded) = self.0 else { return out };
        for flow in loaded.set.flows() {
            for step in flow.all_steps() {
                if let Some(name) = raised(step).filter(|n| !out.iter().any(|o| &o.name == n)) {
                    out.push(Offer::new(name, Some("raise_error".into()), None));
                }
            }
        }
        out
    }
}

fn raised(step: &Step) -> Option<String> {
    match &step.kind {
        StepKind::RaiseError { error_type, .. } => Some(error_type.value.to_string()),
        _ => None,
    }
}
