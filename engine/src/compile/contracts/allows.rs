//! Which fields a JSON Schema lets through: the rule behind RL0801 (a contract that allows a sensitive
//! field). A contract allows a field when, in any object it describes, `properties` names it
//! (case-insensitively, as `sensitive_data` matches) with a schema other than `false`, a
//! `patternProperties` pattern matches it, or the object is open (it may be an object and neither
//! `additionalProperties` nor `unevaluatedProperties` is `false`). An object combined from others
//! (`$ref`, `allOf`, `anyOf`, `oneOf`) or restricted to values (`enum`, `const`) is judged by what it
//! names, which is walked too.

use serde_json::{Map, Value as Json};

/// How a schema lets sensitive fields through, at a JSON pointer into the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Allowance {
    /// `properties` names these fields.
    Named(String),
    /// A `patternProperties` pattern matches this field.
    Pattern(String, String),
    /// Any field passes (the object is not closed).
    Open,
}

/// Every allowance of `fields` in `schema`, each with the pointer of the schema part that grants it.
pub(super) fn allowances(schema: &Json, fields: &[String]) -> Vec<(String, Allowance)> {
    let mut out = Vec::new();
    walk(schema, String::new(), fields, &mut out, 0);
    out
}

/// Deeper than this, a schema is not walked further (a contract is written by hand; this only bounds the
/// recursion on a hostile file).
const MAX_DEPTH: usize = 64;

fn walk(schema: &Json, at: String, fields: &[String], out: &mut Vec<(String, Allowance)>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let map = match schema {
        Json::Bool(true) => return out.push((at, Allowance::Open)),
        Json::Object(map) => map,
        _ => return,
    };
    if is_open(map) {
        out.push((at.clone(), Allowance::Open));
    }
    if let Some(Json::Object(properties)) = map.get("properties") {
        for (name, sub) in properties {
            let here = format!("{at}/properties/{}", escape(name));
            if *sub != Json::Bool(false) && fields.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                out.push((here.clone(), Allowance::Named(name.clone())));
            }
            walk(sub, here, fields, out, depth + 1);
        }
    }
    if let Some(Json::Object(patterns)) = map.get("patternProperties") {
        for (pattern, sub) in patterns {
            let here = format!("{at}/patternProperties/{}", escape(pattern));
            if *sub != Json::Bool(false) {
                if let Some(field) = fields.iter().find(|f| matches(pattern, f)) {
                    out.push((here.clone(), Allowance::Pattern(pattern.clone(), field.clone())));
                }
            }
            walk(sub, here, fields, out, depth + 1);
        }
    }
    for key in ["additionalProperties", "unevaluatedProperties", "items", "then", "else"] {
        if let Some(sub @ Json::Object(_)) = map.get(key) {
            walk(sub, format!("{at}/{key}"), fields, out, depth + 1);
        }
    }
    for key in ["prefixItems", "allOf", "anyOf", "oneOf"] {
        if let Some(Json::Array(subs)) = map.get(key) {
            for (i, sub) in subs.iter().enumerate() {
                walk(sub, format!("{at}/{key}/{i}"), fields, out, depth + 1);
            }
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Json::Object(defs)) = map.get(key) {
            for (name, sub) in defs {
                walk(sub, format!("{at}/{key}/{}", escape(name)), fields, out, depth + 1);
            }
        }
    }
}

/// Whether a schema object accepts objects with fields it does not name.
fn is_open(map: &Map<String, Json>) -> bool {
    const JUDGED_ELSEWHERE: [&str; 7] = ["$ref", "$dynamicRef", "allOf", "anyOf", "oneOf", "enum", "const"];
    if JUDGED_ELSEWHERE.iter().any(|k| map.contains_key(*k)) {
        return false;
    }
    let may_be_object = match map.get("type") {
        None => true,
        Some(Json::String(t)) => t == "object",
        Some(Json::Array(types)) => types.iter().any(|t| t == "object"),
        Some(_) => false,
    };
    let closed = |key| map.get(key) == Some(&Json::Bool(false));
    may_be_object && !closed("additionalProperties") && !closed("unevaluatedProperties")
}

/// Whether `field` matches the ECMA-262 `pattern`, as JSON Schema matches property names; a pattern that
/// does not compile matches nothing (the schema check reports it).
fn matches(pattern: &str, field: &str) -> bool {
    let probe = serde_json::json!({ "pattern": pattern });
    jsonschema::validator_for(&probe).is_ok_and(|v| v.is_valid(&Json::String(field.to_string())))
}

/// A key as one JSON pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<String> {
        vec!["passport_number".into(), "date_of_birth".into()]
    }

    #[test]
    fn a_closed_object_naming_no_sensitive_field_allows_nothing() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": { "id": { "type": "string" }, "services": { "type": "array", "items": { "type": "string" } } }
        });
        assert_eq!(allowances(&schema, &fields()), vec![]);
    }

    #[test]
    fn a_sensitive_property_is_allowed_whatever_its_case_unless_its_schema_is_false() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": { "Passport_Number": { "type": "string" }, "date_of_birth": false }
        });
        assert_eq!(
            allowances(&schema, &fields()),
            vec![("/properties/Passport_Number".into(), Allowance::Named("Passport_Number".into()))]
        );
    }

    #[test]
    fn an_object_without_additional_properties_false_is_open_also_when_nested() {
        let schema = json!({
            "type": "object", "additionalProperties": false,
            "properties": { "person": { "type": "object", "properties": { "id": { "type": "string" } } } }
        });
        assert_eq!(allowances(&schema, &fields()), vec![("/properties/person".into(), Allowance::Open)]);
        assert_eq!(allowances(&json!(true), &fields()), vec![(String::new(), Allowance::Open)]);
        assert_eq!(allowances(&json!({}), &fields()), vec![(String::new(), Allowance::Open)]);
    }

    #[test]
    fn unevaluated_properties_false_closes_an_object_and_non_objects_are_not_open() {
        let schema = json!({ "type": "object", "unevaluatedProperties": false, "properties": {
            "name": { "type": ["string", "null"] }, "tags": { "type": "array", "items": { "enum": ["a", "b"] } }
        } });
        assert_eq!(allowances(&schema, &fields()), vec![]);
    }

    #[test]
    fn pattern_properties_matching_a_sensitive_field_allow_it() {
        let schema = json!({ "type": "object", "additionalProperties": false,
            "patternProperties": { "^pass": { "type": "string" }, "^x-": { "type": "string" } } });
        assert_eq!(
            allowances(&schema, &fields()),
            vec![("/patternProperties/^pass".into(), Allowance::Pattern("^pass".into(), "passport_number".into()))]
        );
    }

    #[test]
    fn composed_schemas_are_judged_by_their_parts_and_definitions() {
        let schema = json!({
            "allOf": [ { "$ref": "#/$defs/person" } ],
            "$defs": { "person": { "type": "object", "properties": { "date_of_birth": { "type": "string" } } } }
        });
        assert_eq!(
            allowances(&schema, &fields()),
            vec![
                ("/$defs/person".into(), Allowance::Open),
                ("/$defs/person/properties/date_of_birth".into(), Allowance::Named("date_of_birth".into()))
            ]
        );
    }
}
