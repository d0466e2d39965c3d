//! `relais schema`: the JSON Schema of YAML flow files, for editors (VS Code's YAML extension completes and
//! validates with it). Component parts come from the registry's config types; built-in steps from
//! [`crate::registry::builtin_steps`], next to the lowering rules they mirror.

use super::Outcome;
use crate::registry::{builtin_steps, Registry, Role};
use serde_json::{json, Map, Value};
use std::io::Write;

/// Arguments of `relais schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the schema of flow-test files (`*.test.yaml`) instead of flow files.
    #[arg(long)]
    tests: bool,
}

/// A component's parameter schema with the `config` field added when it takes one.
fn with_config(registry: &Registry, schema: &Value, config_kind: Option<&str>) -> Value {
    let mut resolved = schema.clone();
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        if let Some(def) = registry.definitions().get(name) {
            resolved = def.clone();
        }
    }
    if let (Some(kind), Some(props)) = (config_kind, resolved.get_mut("properties").and_then(Value::as_object_mut)) {
        props
            .insert("config".into(), json!({ "type": "string", "description": format!("Name of a `{kind}` config.") }));
    }
    resolved
}

/// Properties are substituted before validation, so wherever a number, a boolean or a patterned string (a
/// duration) is expected an editor must also accept a `${name}` reference.
fn allow_property_references(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            for v in obj.values_mut() {
                allow_property_references(v);
            }
            let typed = |t: &Value| matches!(t.as_str(), Some("integer" | "number" | "boolean"));
            let patterned = obj.get("type").and_then(Value::as_str) == Some("string") && obj.contains_key("pattern");
            let needs = patterned
                || match obj.get("type") {
                    Some(Value::Array(ts)) => ts.iter().any(typed),
                    Some(t) => typed(t),
                    None => false,
                };
            if needs {
                let original = Value::Object(std::mem::take(obj));
                obj.insert("anyOf".into(), json!([original, { "$ref": "#/$defs/PropertyRef" }]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(allow_property_references),
        _ => {}
    }
}

/// Builds the whole schema.
pub fn flow_file_schema(registry: &Registry) -> Value {
    let mut defs: Map<String, Value> = registry.definitions().clone();
    let mut step_alternatives: Vec<Value> = builtin_steps::schemas();
    let mut source_alternatives = Vec::new();
    let mut config_alternatives = Vec::new();
    for (spec, schema) in registry.iter() {
        let body = with_config(registry, schema, spec.config.map(|c| c.kind));
        let one = |body: Value, with_id: bool| {
            let mut props = Map::new();
            props.insert(spec.name.to_string(), body);
            if with_id {
                props.insert("id".into(), json!({ "type": "string", "description": "Step id, unique in the flow." }));
            }
            json!({ "type": "object", "description": spec.summary, "properties": props, "required": [spec.name], "additionalProperties": false })
        };
        match spec.role {
            Role::Step => step_alternatives.push(one(body, true)),
            Role::Source => source_alternatives.push(one(body, false)),
            Role::Config => config_alternatives.push(one(body, false)),
        }
    }
    defs.insert(
        "Step".into(),
        json!({ "description": "One step: a built-in step or a component.", "anyOf": step_alternatives }),
    );
    defs.insert("Steps".into(), json!({ "type": "array", "items": { "$ref": "#/$defs/Step" } }));
    defs.insert("Source".into(), json!({ "anyOf": source_alternatives }));
    defs.insert("Config".into(), json!({ "anyOf": config_alternatives }));
    defs.insert("Handlers".into(), builtin_steps::handlers_schema());
    defs.insert("Duration".into(), builtin_steps::duration_schema());
    defs.insert("Expression".into(), builtin_steps::expression_schema());
    defs.insert("Objectives".into(), objectives_schema());
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.invalid/relais/flow-file.schema.json",
        "title": "relais flow file",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "imports": { "type": "array", "items": { "type": "string" }, "description": "Other flow files this one needs, relative to it." },
            "properties": { "type": "object", "description": "Property defaults (`${name}`), overridden per environment." },
            "configs": { "type": "object", "additionalProperties": { "$ref": "#/$defs/Config" }, "description": "Named connection settings." },
            "flows": { "type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "source": { "$ref": "#/$defs/Source" },
                    "steps": { "$ref": "#/$defs/Steps" },
                    "on_error": { "$ref": "#/$defs/Handlers" },
                    "max_concurrency": { "type": "integer", "minimum": 1 },
                    "initial_state": { "enum": ["started", "stopped"] },
                    "objectives": { "$ref": "#/$defs/Objectives" }
                }
            }},
            "sub_flows": { "type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false, "properties": { "steps": { "$ref": "#/$defs/Steps" } }
            }}
        },
        "$defs": defs,
    });
    allow_property_references(&mut schema);
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert(
            "PropertyRef".into(),
            json!({ "type": "string", "pattern": "^\\$\\{[A-Za-z0-9._-]+\\}$", "description": "A `${property}` reference." }),
        );
    }
    schema
}

/// The `objectives:` block of a flow (README, "Incidents"): each objective its limit alone or
/// `{ max, over }`.
fn objectives_schema() -> Value {
    let windowed = |limit: Value, what: &str| {
        json!({
            "description": what,
            "anyOf": [limit.clone(), {
                "type": "object", "additionalProperties": false, "required": ["max"],
                "properties": { "max": limit, "over": { "$ref": "#/$defs/Duration" } }
            }]
        })
    };
    let percentage = json!({ "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$" });
    json!({
        "type": "object", "additionalProperties": false,
        "description": "What the flow promises; relais grades what it sees against it into incidents (severity 4 to 1).",
        "properties": {
            "error_share": windowed(percentage, "The largest share of events that may end in an error (`2%`), over a window (default 5m)."),
            "p99_latency": windowed(json!({ "$ref": "#/$defs/Duration" }), "The longest 99th percentile latency, over a window (default 5m)."),
            "dead_letters_per_hour": windowed(json!({ "type": "integer", "minimum": 1 }), "The most dead letters an hour, counted over a window (default 1h)."),
            "schedule_missed": { "$ref": "#/$defs/Duration", "description": "The longest time without a successful run." },
            "alert_flow": { "type": "string", "description": "The flow called with each incident as it opens, changes severity or closes." }
        }
    })
}

/// Runs `relais schema`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let schema = if args.tests {
        super::test_schema::test_file_schema()
    } else {
        flow_file_schema(crate::components::registry())
    };
    let written = serde_json::to_string_pretty(&schema).map(|text| writeln!(out, "{text}"));
    match written {
        Ok(Ok(())) => Outcome::Success,
        _ => Outcome::Failure,
    }
}
