//! Editor schemas of the built-in steps (the YAML shapes `relais_dsl::lower` accepts). Components get theirs
//! from their config types; built-in steps are language constructs, so their shapes are described here, next
//! to the registry, and a test checks that every keyword the lowering knows has one.

use serde_json::{json, Value};

/// `Duration` schema.
pub fn duration_schema() -> Value {
    json!({ "type": "string", "pattern": "^([0-9]+(ms|s|m|h|d))+$", "description": "`250ms`, `5s`, `1m30s`, `2h`, `7d`." })
}

/// `Expression` schema.
pub fn expression_schema() -> Value {
    json!({ "type": "string", "pattern": "^#\\[[\\s\\S]*\\]$", "description": "A Rhai expression `#[...]`." })
}

/// `on_error` handlers.
pub fn handlers_schema() -> Value {
    let body = json!({
        "type": ["object", "null"], "additionalProperties": false,
        "properties": {
            "types": { "anyOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } } ],
                       "description": "Error types matched (`HTTP:NOT_FOUND`, `ANY`)." },
            "when": { "$ref": "#/$defs/Expression" },
            "steps": { "$ref": "#/$defs/Steps" }
        }
    });
    json!({ "type": "array", "items": { "anyOf": [
        { "type": "object", "additionalProperties": false, "required": ["continue"], "properties": { "continue": body.clone() },
          "description": "Handle the error; the owner completes with the handler's result." },
        { "type": "object", "additionalProperties": false, "required": ["propagate"], "properties": { "propagate": body },
          "description": "Run the handler's steps, then rethrow." }
    ]}})
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": props, "required": required })
}

fn step(keyword: &str, description: &str, body: Value) -> Value {
    json!({
        "type": "object", "additionalProperties": false, "description": description, "required": [keyword],
        "properties": { keyword: body, "id": { "type": "string", "description": "Step id, unique in the flow." } }
    })
}

/// The built-in keywords with their editor schema, in documentation order.
pub fn keywords() -> Vec<(&'static str, Value)> {
    let steps = json!({ "$ref": "#/$defs/Steps" });
    let count = json!({ "type": "integer", "minimum": 1 });
    let expr = json!({ "$ref": "#/$defs/Expression" });
    let dur = json!({ "$ref": "#/$defs/Duration" });
    let routes = json!({ "type": "array", "minItems": 2, "items": { "$ref": "#/$defs/Steps" } });
    let error_types = json!({ "anyOf": [ { "type": "string" }, { "type": "array", "items": { "type": "string" } } ],
        "description": "Error types (`HTTP:CONNECTIVITY`), each covering its descendants (`HTTP:SERVER_ERROR` covers a 503)." });
    vec![
        ("set_payload", json!({ "description": "A value, a template or `#[...]`; or `{ value, media_type }`." })),
        ("set_variable", obj(json!({ "name": { "type": "string" }, "value": {} }), &["name", "value"])),
        ("remove_variable", json!({ "type": "string" })),
        (
            "transform",
            json!({ "anyOf": [ { "type": "string", "description": "Inline Rhai code." },
            obj(json!({ "script": { "type": "string", "description": "A .rhai file, relative to the flow file." } }), &["script"]),
            obj(json!({ "code": { "type": "string", "description": "Inline Rhai code." } }), &["code"]) ]}),
        ),
        (
            "logger",
            json!({ "anyOf": [ { "type": "string" }, obj(json!({
            "level": { "enum": ["trace", "debug", "info", "warn", "error"] },
            "message": { "type": "string" }, "category": { "type": "string" } }), &["message"]) ]}),
        ),
        (
            "choice",
            json!({ "type": "array", "items": { "anyOf": [
            obj(json!({ "when": expr, "steps": steps }), &["when"]),
            obj(json!({ "otherwise": steps }), &["otherwise"]) ]}}),
        ),
        (
            "foreach",
            obj(
                json!({ "collection": expr, "batch_size": count, "counter": { "type": "string" },
            "root_message": { "type": "string" }, "steps": steps }),
                &[],
            ),
        ),
        (
            "parallel_foreach",
            obj(json!({ "collection": expr, "max_concurrency": count, "timeout": dur, "steps": steps }), &[]),
        ),
        ("scatter_gather", obj(json!({ "timeout": dur, "max_concurrency": count, "routes": routes }), &["routes"])),
        ("first_successful", obj(json!({ "routes": routes }), &["routes"])),
        (
            "flow_ref",
            json!({ "anyOf": [ { "type": "string" },
            obj(json!({ "name": { "type": "string" }, "target": { "type": "string" } }), &["name"]) ]}),
        ),
        ("try", obj(json!({ "steps": steps, "on_error": { "$ref": "#/$defs/Handlers" } }), &[])),
        (
            "until_successful",
            obj(
                json!({ "max_retries": { "type": "integer", "minimum": 0 },
            "backoff": obj(json!({ "initial": dur, "max": dur, "multiplier": { "type": "number" }, "jitter": { "type": "boolean" } }), &[]),
            "retry_on": error_types.clone(), "no_retry_on": error_types,
            "steps": steps }),
                &[],
            ),
        ),
        (
            "raise_error",
            json!({ "anyOf": [ { "type": "string" },
            obj(json!({ "type": { "type": "string" }, "description": { "type": "string" } }), &["type"]) ]}),
        ),
        (
            "validate",
            json!({ "anyOf": [ { "type": "string" }, obj(json!({ "schema": { "type": "string" } }), &["schema"]) ]}),
        ),
        ("idempotent", obj(json!({ "key": expr, "store": { "type": "string" }, "ttl": dur }), &["key"])),
        ("async", obj(json!({ "max_concurrency": count, "steps": steps }), &[])),
    ]
}

/// One schema alternative per built-in step, and the `db.transaction` scope (a dotted name, so not a
/// keyword, but lowered like one since it holds steps).
pub fn schemas() -> Vec<Value> {
    let mut all: Vec<Value> =
        keywords().into_iter().map(|(k, body)| step(k, &format!("Built-in step `{k}`."), body)).collect();
    let transaction = obj(
        json!({ "config": { "type": "string", "description": "The `db` config." }, "steps": { "$ref": "#/$defs/Steps" } }),
        &["config"],
    );
    all.push(step(
        "db.transaction",
        "Runs its steps in one database transaction: committed when they succeed, rolled back when one fails.",
        transaction,
    ));
    all
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_keyword_the_lowering_knows_has_a_schema() {
        let described: Vec<&str> = super::keywords().into_iter().map(|(k, _)| k).collect();
        assert_eq!(described, relais_dsl::ir::STEP_KEYWORDS);
    }
}
