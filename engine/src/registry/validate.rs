//! Validates a spanned document tree against a component's JSON Schema, so that a wrong field reports at
//! the exact key or value in the flow file. Supports the subset schemars generates: `type`, `properties`,
//! `required`, `additionalProperties`, `enum`, `const`, `$ref`, `oneOf`/`anyOf`, `items`, `minimum`,
//! `maximum`, and our `format: duration`.

use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::syntax::{Node, Value};
use relais_dsl::{Diagnostic, Diagnostics};
use serde_json::{Map, Value as Json};

/// Validates `node` (the parameters of `what`) against `schema`; `defs` resolves `$ref`s.
pub fn validate_node(node: &Node, schema: &Json, defs: &Map<String, Json>, what: &str, diags: &mut Diagnostics) {
    Validator { defs, diags, context: what }.check(node, schema, "", 0);
}

struct Validator<'s, 'd> {
    defs: &'s Map<String, Json>,
    diags: &'d mut Diagnostics,
    /// What is being validated (`config \`crm\``), for messages.
    context: &'s str,
}

fn type_matches(node: &Node, ty: &str) -> bool {
    matches!(
        (ty, &node.value),
        ("null", Value::Null)
            | ("boolean", Value::Bool(_))
            | ("integer", Value::Int(_))
            | ("number", Value::Int(_) | Value::Float(_))
            | ("string", Value::Str(_))
            | ("array", Value::List(_))
            | ("object", Value::Map(_))
    )
}

fn type_word(ty: &str) -> &str {
    match ty {
        "null" => "null",
        "boolean" => "`true` or `false`",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a map",
        other => other,
    }
}

impl<'s> Validator<'s, '_> {
    fn resolve(&self, mut schema: &'s Json) -> &'s Json {
        for _ in 0..32 {
            match schema
                .get("$ref")
                .and_then(Json::as_str)
                .and_then(|r| r.rsplit('/').next())
                .and_then(|n| self.defs.get(n))
            {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    /// Whether `node` satisfies `schema`, without reporting (used to pick a `oneOf` branch).
    fn matches(&self, node: &Node, schema: &'s Json, depth: usize) -> bool {
        let mut probe = Diagnostics::new();
        Validator { defs: self.defs, diags: &mut probe, context: self.context }.check(node, schema, "", depth);
        !probe.has_errors()
    }

    /// "field `a.b` of config `crm`", or the context itself at the top.
    fn subject(&self, path: &str) -> String {
        if path.is_empty() {
            self.context.to_string()
        } else {
            format!("field `{path}` of {}", self.context)
        }
    }

    fn check(&mut self, node: &Node, schema: &'s Json, path: &str, depth: usize) {
        if depth > 64 {
            return;
        }
        let what = &self.subject(path);
        // An unresolved `${property}` was already reported by substitution; checking its type again would
        // only add a second, misleading error.
        if node.as_str().is_some_and(|s| s.contains("${") && !s.contains("${secret:")) {
            return;
        }
        let schema = self.resolve(schema);
        if let Some(alts) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Json::as_array) {
            if alts.iter().any(|alt| self.matches(node, alt, depth + 1)) {
                return;
            }
            // Report against the alternative of the same JSON type, if exactly one exists; else in general.
            let same: Vec<&Json> = alts.iter().filter(|a| self.type_ok(node, self.resolve(a))).collect();
            if let [only] = same.as_slice() {
                self.check(node, only, path, depth + 1);
            } else {
                let expected = self.describe_alternatives(alts);
                let consts: Vec<&str> =
                    alts.iter().filter_map(|a| self.resolve(a).get("const").and_then(Json::as_str)).collect();
                let help = node.as_str().and_then(|s| {
                    did_you_mean(s, consts.iter().copied())
                        .or_else(|| did_you_mean(&s.to_uppercase(), consts.iter().copied()))
                });
                self.diags.push(
                    Diagnostic::error(codes::FIELD_TYPE, node.span, format!("{what} must be {expected}"))
                        .label("not an accepted value")
                        .maybe_help(help),
                );
            }
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Json::as_array) {
            let value = node.to_json();
            if !allowed.contains(&value) {
                let words: Vec<String> =
                    allowed.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), String::from)).collect();
                let help = node.as_str().and_then(|s| did_you_mean(s, words.iter().map(String::as_str)));
                self.diags.push(
                    Diagnostic::error(
                        codes::FIELD_TYPE,
                        node.span,
                        format!("{what} must be one of: {}", words.join(", ")),
                    )
                    .label("not an accepted value")
                    .maybe_help(help),
                );
            }
            return;
        }
        if let Some(c) = schema.get("const") {
            if &node.to_json() != c {
                self.diags.push(
                    Diagnostic::error(codes::FIELD_TYPE, node.span, format!("{what} must be {c}")).label("wrong value"),
                );
            }
            return;
        }
        if !self.type_ok(node, schema) {
            let expected = match schema.get("type") {
                Some(Json::String(t)) => type_word(t).to_string(),
                Some(Json::Array(ts)) => {
                    ts.iter().filter_map(Json::as_str).map(type_word).collect::<Vec<_>>().join(" or ")
                }
                _ => "something else".into(),
            };
            self.diags.push(
                Diagnostic::error(
                    codes::FIELD_TYPE,
                    node.span,
                    format!("{what} must be {expected}, found {}", node.kind_name()),
                )
                .label(format!("expected {expected}"))
                .maybe_help(type_help(node, schema, &expected)),
            );
            return;
        }
        match &node.value {
            Value::Map(entries) => self.check_map(node, entries, schema, path, depth),
            Value::List(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &format!("{path}[{i}]"), depth + 1);
                    }
                }
            }
            Value::Int(i) => self.check_range(node, *i as f64, schema, what),
            Value::Float(f) => self.check_range(node, *f, schema, what),
            Value::Str(s)
                if schema.get("format").and_then(Json::as_str) == Some("duration")
                    && relais_dsl::ir::parse_duration(&s.text).is_none() =>
            {
                self.diags.push(
                    Diagnostic::error(codes::BAD_DURATION, node.span, format!("`{}` is not a valid duration", s.text))
                        .label("invalid duration")
                        .help("write a number and a unit: `250ms`, `5s`, `1m30s`, `2h`, `7d`"),
                );
            }
            _ => {}
        }
    }

    fn type_ok(&self, node: &Node, schema: &Json) -> bool {
        match schema.get("type") {
            Some(Json::String(t)) => type_matches(node, t),
            Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).any(|t| type_matches(node, t)),
            _ => true,
        }
    }

    fn describe_alternatives(&self, alts: &'s [Json]) -> String {
        let consts: Vec<String> = alts
            .iter()
            .filter_map(|a| self.resolve(a).get("const"))
            .map(|c| c.as_str().map_or_else(|| c.to_string(), String::from))
            .collect();
        if consts.len() == alts.len() {
            return format!("one of: {}", consts.join(", "));
        }
        let words: Vec<String> = alts
            .iter()
            .map(|a| {
                let a = self.resolve(a);
                if let Some(d) = a.get("description").and_then(Json::as_str) {
                    return d.split('.').next().unwrap_or(d).to_lowercase();
                }
                match a.get("type") {
                    Some(Json::String(t)) => type_word(t).to_string(),
                    _ => a.get("const").map_or_else(|| "a valid value".into(), |c| c.to_string()),
                }
            })
            .collect();
        words.join(", or ")
    }

    fn check_range(&mut self, node: &Node, value: f64, schema: &Json, what: &str) {
        let min = schema.get("minimum").and_then(Json::as_f64);
        let max = schema.get("maximum").and_then(Json::as_f64);
        if min.is_some_and(|m| value < m) || max.is_some_and(|m| value > m) {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => String::new(),
            };
            self.diags.push(
                Diagnostic::error(codes::BAD_NUMBER, node.span, format!("{what} must be {range}"))
                    .label("out of range"),
            );
        }
    }

    fn check_map(
        &mut self,
        node: &Node,
        entries: &[relais_dsl::syntax::Entry],
        schema: &'s Json,
        path: &str,
        depth: usize,
    ) {
        let what = self.subject(path);
        static EMPTY: std::sync::OnceLock<Map<String, Json>> = std::sync::OnceLock::new();
        let props = schema.get("properties").and_then(Json::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        let closed = schema.get("additionalProperties") == Some(&Json::Bool(false));
        let extra_schema = schema.get("additionalProperties").filter(|v| v.is_object());
        let mut suggested: Vec<String> = Vec::new();
        for e in entries {
            let field = if path.is_empty() { e.key.clone() } else { format!("{path}.{}", e.key) };
            if let Some(sub) = props.get(&e.key) {
                self.check(&e.value, sub, &field, depth + 1);
            } else if let Some(sub) = extra_schema {
                self.check(&e.value, sub, &field, depth + 1);
            } else if closed {
                let known: Vec<&str> = props.keys().map(String::as_str).collect();
                let hint = did_you_mean(&e.key, known.iter().copied());
                if let Some(k) = known.iter().find(|k| hint.as_deref() == Some(format!("did you mean `{k}`?").as_str()))
                {
                    suggested.push((*k).to_string());
                }
                let help = hint.unwrap_or_else(|| format!("known fields: {}", known.join(", ")));
                self.diags.push(
                    Diagnostic::error(codes::UNKNOWN_FIELD, e.key_span, format!("unknown field `{}` in {what}", e.key))
                        .label("unknown field")
                        .help(help),
                );
            }
        }
        if let Some(required) = schema.get("required").and_then(Json::as_array) {
            for key in required.iter().filter_map(Json::as_str) {
                if !entries.iter().any(|e| e.key == key) && !suggested.iter().any(|s| s == key) {
                    self.diags.push(
                        Diagnostic::error(codes::MISSING_FIELD, node.span, format!("{what} needs the field `{key}`"))
                            .label(format!("`{key}` missing"))
                            .maybe_help(
                                props
                                    .get(key)
                                    .and_then(|p| p.get("description").or_else(|| self.resolve(p).get("description")))
                                    .and_then(Json::as_str)
                                    .map(|d| format!("`{key}`: {d}")),
                            ),
                    );
                }
            }
        }
    }
}

/// How to write a value of the type a field expects, when what was written is text: the field's default or
/// first example when the schema has one, else the shape.
fn type_help(node: &Node, schema: &Json, expected: &str) -> Option<String> {
    if !matches!(node.value, Value::Str(_)) {
        return None;
    }
    let sample = schema
        .get("default")
        .filter(|d| !d.is_null() && !d.is_string())
        .or_else(|| schema.get("examples").and_then(|e| e.get(0)))
        .map(|v| format!(" such as `{v}`"))
        .unwrap_or_default();
    match expected {
        "an integer" | "a number" => Some(format!("write a number{sample}, without quotes or words")),
        "a boolean" => Some("write `true` or `false`, without quotes".to_string()),
        _ => None,
    }
}
