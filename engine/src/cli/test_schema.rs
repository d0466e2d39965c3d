//! The JSON Schema of flow-test files (`*.test.yaml`), printed by `relais schema --tests`, so an editor
//! completes and validates test files as it does flow files. Written next to the lowering's key lists
//! (`relais_dsl::lower::test_keys`), which a unit test holds it to: a key the lowering accepts and the
//! schema does not know would be flagged in the editor, and the reverse would be accepted there and refused
//! by `relais check`.

use relais_dsl::lower::test_keys as keys;
use serde_json::{json, Map, Value};

/// `{ "type": "object", "additionalProperties": false, "properties": ... }` with a description.
fn object(description: &str, properties: Value) -> Value {
    json!({ "type": "object", "description": description, "additionalProperties": false, "properties": properties })
}

fn selector() -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("step".into(), json!({ "type": "string", "description": "The id of a component step." }));
    props.insert(
        "component".into(),
        json!({ "type": "string", "description": "Every step of this component (`http.request`)." }),
    );
    props.insert("config".into(), json!({ "type": "string", "description": "Only the steps naming this config." }));
    props.insert(
        "with".into(),
        json!({ "type": "object", "description": "Only the steps whose parameters contain these (`{ method: PUT }`)." }),
    );
    props
}

fn answer_properties() -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("payload".into(), json!({ "description": "The step's new payload." }));
    props.insert("attributes".into(), json!({ "type": "object", "description": "The step's new attributes." }));
    props.insert(
        "status".into(),
        json!({ "type": "integer", "minimum": 100, "description": "Short for `attributes: { status: N }`." }),
    );
    props.insert("raise".into(), json!({ "$ref": "#/$defs/ErrorType", "description": "Raise this error instead." }));
    props.insert("description".into(), json!({ "type": "string", "description": "The raised error's description." }));
    props.insert(
        "delay".into(),
        json!({ "$ref": "#/$defs/Duration", "description": "Wait this long first (virtual time)." }),
    );
    props
}

/// The whole schema.
pub fn test_file_schema() -> Value {
    let mut mock = selector();
    mock.extend(answer_properties());
    mock.insert(
        "returns".into(),
        json!({
            "description": "Answers in call order; the last one repeats.",
            "anyOf": [ { "$ref": "#/$defs/Answer" }, { "type": "array", "items": { "$ref": "#/$defs/Answer" } } ]
        }),
    );
    let mut call = selector();
    for count in ["times", "at_least", "at_most"] {
        call.insert(
            count.into(),
            json!({ "type": "integer", "minimum": 0, "description": format!("`{count}` calls.") }),
        );
    }
    call.insert(
        "called_with".into(),
        json!({ "$ref": "#/$defs/Expression", "description": "Count only calls whose event satisfies this." }),
    );
    let instant = |what: &str| json!({ "type": "string", "format": "date-time", "description": what });
    let defs = json!({
        "Case": object("One test case.", json!({
            "now": instant("Fixed \"now\" (RFC 3339) for `now()`, `today()`, `tomorrow()` in scripts."),
            "fire_time": instant("The instant a scheduled flow fires at (RFC 3339 with its offset): `attributes.fired_at`, and \"now\" unless `now` is given."),
            "input": { "$ref": "#/$defs/Input" },
            "request": { "$ref": "#/$defs/Request" },
            "mocks": { "type": "array", "items": { "$ref": "#/$defs/Mock" }, "description": "Answers for component steps." },
            "expect": { "$ref": "#/$defs/Expect" }
        })),
        "Input": object("The event fed to the flow.", json!({
            "payload": { "description": "Inline payload." },
            "payload_file": { "type": "string", "description": "Payload read from a file, relative to the test file." },
            "media_type": { "type": "string", "description": "Media type of the payload (default `application/json`)." },
            "attributes": { "type": "object", "description": "Attributes (HTTP method, params, headers...)." },
            "vars": { "type": "object", "description": "Variables." },
            "stores": { "type": "object", "description": "Object-store entries present before the case runs: `{ store: { key: value } }`." }
        })),
        "Request": {
            "type": "object", "additionalProperties": false, "required": ["path"],
            "description": "An HTTP request sent through the flow's `http.listener`: its routing, attributes and response mapping.",
            "properties": {
                "method": { "enum": keys::METHODS, "description": "Default `POST` with a body, `GET` without." },
                "path": { "type": "string", "pattern": "^/", "description": "The path as a caller sends it." },
                "query": { "type": "object", "description": "Query parameters (a list repeats the key)." },
                "headers": { "type": "object", "description": "Request headers." },
                "body": { "description": "A string is sent as written, anything else as JSON." },
                "body_file": { "type": "string", "description": "The body read from a file, relative to the test file." }
            }
        },
        "Expect": object("What must hold afterwards.", json!({
            "payload": { "description": "The payload equals this (JSON equality)." },
            "payload_contains": { "description": "The payload contains this (maps: a subset of keys; lists: elements in order)." },
            "assert": {
                "description": "Conditions over the result event.",
                "anyOf": [ { "$ref": "#/$defs/Expression" }, { "type": "array", "items": { "$ref": "#/$defs/Expression" } } ]
            },
            "vars": { "type": "object", "description": "Variables contain these." },
            "attributes": { "type": "object", "description": "Attributes contain these." },
            "error": { "$ref": "#/$defs/ErrorType", "description": "The flow fails with this error type (or a descendant)." },
            "calls": { "type": "array", "items": { "$ref": "#/$defs/CallCheck" }, "description": "Call counts." },
            "response": { "$ref": "#/$defs/Response" }
        })),
        "Response": object("What the caller of a listener flow gets (cases with a `request`).", json!({
            "status": { "type": "integer", "minimum": 100, "maximum": 599, "description": "The status code." },
            "headers": { "type": "object", "description": "Headers the response carries (names case-insensitive)." },
            "body": { "description": "The body equals this: JSON equality for a JSON body, the text otherwise." },
            "body_contains": { "description": "The JSON body contains this (as `payload_contains`), or the text contains this string." }
        })),
        "Mock": object("A mock: it replaces the steps it selects.", Value::Object(mock)),
        "Answer": object("What a mocked step does on one call.", Value::Object(answer_properties())),
        "CallCheck": object("How often the selected steps were called.", Value::Object(call)),
        "ErrorType": { "type": "string", "pattern": "^[A-Z][A-Z0-9_]*(:[A-Z][A-Z0-9_]*)?$", "description": "`NAMESPACE:NAME`, as `HTTP:NOT_FOUND`." },
        "Duration": { "type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$", "description": "`200ms`, `5s`, `1h`." },
        "Expression": { "type": "string", "description": "A Rhai expression: `#[payload.id == 1]`." }
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.invalid/relais/test-file.schema.json",
        "title": "relais flow-test file",
        "type": "object",
        "additionalProperties": false,
        "required": ["flow", "tests"],
        "properties": {
            "flow": { "type": "string", "description": "The flow under test." },
            "tests": { "type": "object", "additionalProperties": { "$ref": "#/$defs/Case" }, "description": "Test cases by name (a sentence)." }
        },
        "$defs": defs,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn properties(schema: &Value, def: &str) -> Vec<String> {
        let at = if def.is_empty() { &schema["properties"] } else { &schema["$defs"][def]["properties"] };
        let mut keys: Vec<String> = at.as_object().expect("properties").keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn the_schema_knows_exactly_the_keys_the_lowering_accepts() {
        let schema = test_file_schema();
        let with_selector = |extra: &[&str]| sorted(&[&keys::SELECTOR[..], extra].concat());
        assert_eq!(properties(&schema, ""), sorted(&keys::SUITE));
        assert_eq!(properties(&schema, "Case"), sorted(&keys::CASE));
        assert_eq!(properties(&schema, "Input"), sorted(&keys::INPUT));
        assert_eq!(properties(&schema, "Request"), sorted(&keys::REQUEST));
        assert_eq!(properties(&schema, "Expect"), sorted(&keys::EXPECT));
        assert_eq!(properties(&schema, "Response"), sorted(&keys::RESPONSE));
        assert_eq!(properties(&schema, "Answer"), sorted(&keys::ANSWER));
        assert_eq!(properties(&schema, "Mock"), with_selector(&[&keys::ANSWER[..], &["returns"]].concat()));
        assert_eq!(properties(&schema, "CallCheck"), with_selector(&keys::CALL));
    }

    fn test_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                test_files(&path, out);
            } else if path.to_string_lossy().ends_with(".test.yaml") {
                out.push(path);
            }
        }
    }

    fn errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
        let value: Value = serde_yaml::from_str(text).unwrap();
        validator.iter_errors(&value).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn every_test_file_of_the_reference_integration_and_the_test_fixtures_validates() {
        let validator = jsonschema::validator_for(&test_file_schema()).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        test_files(&root.join("flows"), &mut files);
        test_files(&root.join("tests/fixtures/testing"), &mut files);
        assert!(files.len() > 30, "{files:?}");
        for file in files {
            let found = errors(&validator, &std::fs::read_to_string(&file).unwrap());
            assert!(found.is_empty(), "{}: {found:?}", file.display());
        }
    }

    #[test]
    fn the_schema_flags_an_unknown_key_a_bad_method_and_a_status_out_of_range() {
        let validator = jsonschema::validator_for(&test_file_schema()).unwrap();
        let text = "flow: f\ntests:\n  a case:\n    request: { verb: POST, method: post, path: /x }\n    expect: { response: { status: 700 } }\n";
        let found = errors(&validator, text);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().any(|e| e.contains("/tests/a case/request") && e.contains("verb")), "{found:?}");
        assert!(found.iter().any(|e| e.contains("/tests/a case/request/method")), "{found:?}");
        assert!(found.iter().any(|e| e.contains("/tests/a case/expect/response/status")), "{found:?}");
    }
}
