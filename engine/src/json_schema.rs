//! The JSON Schemas flows name (`validate` steps, `http.request` contracts), compiled one way everywhere:
//! `relais check` compiles them as the plan does, so what passes check validates alike at run time.
//!
//! Formats are asserted: a `"format": "email"` (or `date`, `date-time`, `uri`, and every other format the
//! schema's draft defines) rejects a value that is not one, where JSON Schema 2020-12 would by default only
//! annotate it. A flow author who writes `format` means it; a payload that passes `validate` with
//! `"email": "not-an-email"` would otherwise reach a partner. Unknown formats stay ignored, as the drafts say.

use serde_json::Value as Json;

/// Compiles a schema: its `$schema` draft (2020-12 when it names none), formats asserted.
pub fn compile(schema: &Json) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options().should_validate_formats(true).build(schema)
}

/// How many problems an error lists before it counts the rest: enough to fix a payload in one go, few
/// enough that a payload of ten thousand bad elements does not make a megabyte of description.
pub const LISTED: usize = 20;

/// Every problem of `value`: the first [`LISTED`], each with the JSON pointer of the offending value
/// (`/buyer/email`; `/` for the whole value), and how many more there are.
pub fn problems(validator: &jsonschema::Validator, value: &Json) -> (Vec<String>, usize) {
    let mut listed = Vec::new();
    let mut more = 0;
    for error in validator.iter_errors(value) {
        if listed.len() < LISTED {
            let path = error.instance_path().to_string();
            listed.push(format!("`{}`: {error}", if path.is_empty() { "/" } else { &path }));
        } else {
            more += 1;
        }
    }
    (listed, more)
}

/// The problems as one description: `` `/a`: ...; `/b`: ... `` and, past [`LISTED`], `(and N more problems)`.
pub fn describe(listed: &[String], more: usize) -> String {
    let mut text = listed.join("; ");
    if more > 0 {
        text.push_str(&format!(" (and {more} more problem{})", if more == 1 { "" } else { "s" }));
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a schema that does not compile should stop the test loudly
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Json, value: Json) -> (Vec<String>, usize) {
        problems(&compile(&schema).unwrap(), &value)
    }

    #[test]
    fn the_formats_of_the_schemas_draft_are_asserted() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "properties": {
                "email": { "format": "email" }, "day": { "format": "date" },
                "at": { "format": "date-time" }, "site": { "format": "uri" }
            }
        });
        let good = json!({ "email": "a@b.fr", "day": "2024-07-26", "at": "2024-07-26T09:00:00Z", "site": "https://paris2024.org/" });
        assert_eq!(check(schema.clone(), good), (vec![], 0));
        let (listed, more) = check(
            schema,
            json!({ "email": "not-an-email", "day": "26/07/2024", "at": "tomorrow", "site": "no scheme" }),
        );
        assert_eq!((listed.len(), more), (4, 0), "{listed:?}");
        for (path, format) in [("/email", "email"), ("/day", "date"), ("/at", "date-time"), ("/site", "uri")] {
            assert!(listed.iter().any(|p| p.starts_with(&format!("`{path}`")) && p.contains(format)), "{listed:?}");
        }
    }

    #[test]
    fn a_draft_7_schema_asserts_its_own_formats_and_ignores_unknown_ones() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "properties": { "email": { "format": "email" }, "code": { "format": "made-up" } }
        });
        let (listed, _) = check(schema, json!({ "email": "nope", "code": "anything" }));
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].starts_with("`/email`"), "{listed:?}");
    }

    #[test]
    fn every_problem_is_reported_and_past_the_listed_ones_they_are_counted() {
        let schema = json!({ "type": "array", "items": { "type": "integer" } });
        let (listed, more) = check(schema.clone(), json!(["a", "b", "c", "d", "e", "f", "g"]));
        assert_eq!((listed.len(), more), (7, 0), "seven problems, not five: {listed:?}");
        let many: Vec<Json> = (0..LISTED + 3).map(|i| json!(format!("x{i}"))).collect();
        let (listed, more) = check(schema, Json::Array(many));
        assert_eq!((listed.len(), more), (LISTED, 3));
        assert!(describe(&listed, more).ends_with(" (and 3 more problems)"));
        assert!(listed[0].starts_with("`/0`"), "{listed:?}");
    }
}
