//! An `http.request`'s outbound contract (`contract: schemas/x.json`): the JSON Schema the body must
//! satisfy before anything is sent. A body that does not is refused with `CONTRACT:VIOLATION`, naming the
//! contract, the failing path and the rule it breaks (and, for fields the contract does not allow or
//! requires, their names), never a value the body holds: the body is what the partner must not receive.

use crate::event::FlowError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value as Json;

/// The error type of a body refused by its contract.
pub const VIOLATION: &str = "CONTRACT:VIOLATION";

/// At most this many failures are described in one error.
const SHOWN: usize = 5;

/// A compiled contract and the path it was written as (named in its errors).
pub(super) struct Contract {
    path: String,
    validator: jsonschema::Validator,
}

impl Contract {
    /// The contract at `path` as the flow wrote it, compiled.
    pub(super) fn new(path: String, validator: jsonschema::Validator) -> Self {
        Contract { path, validator }
    }

    /// Refuses a body that is not JSON or that the contract rejects, for the call to config `system`.
    pub(super) fn check(&self, system: &str, body: &[u8]) -> Result<(), FlowError> {
        let value: Json = relais_stdlib::json_bytes_to_value(body).map_err(|e| {
            let why = format!("line {} column {}", e.line(), e.column());
            self.violation(system, format!("the body is not JSON ({why})"))
        })?;
        let failures: Vec<String> = self.validator.iter_errors(&value).take(SHOWN).map(|e| describe(&e)).collect();
        match failures.is_empty() {
            true => Ok(()),
            false => Err(self.violation(system, failures.join("; "))),
        }
    }

    fn violation(&self, system: &str, what: String) -> FlowError {
        FlowError::new(
            VIOLATION,
            format!(
                "the body of the call to config `{system}` breaks its contract `{}`: {what}; nothing was sent",
                self.path
            ),
        )
        .from_upstream(format!("the call to config `{system}` was refused: its body breaks its contract"))
    }
}

/// One failure without the value at fault: where (`/person/level`) and which rule (`type`), with the
/// field names an object rule is about.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path().to_string();
    let at = if path.is_empty() { "/".to_string() } else { path };
    let names = |fields: &[String]| fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            format!("`{at}` holds fields the contract does not allow: {}", names(unexpected))
        }
        ValidationErrorKind::Required { property } => {
            let field = property.as_str().map_or_else(|| property.to_string(), str::to_string);
            format!("`{at}` lacks the required field `{field}`")
        }
        kind => format!("`{at}` breaks the rule `{}`", kind.keyword()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract(schema: Json) -> Contract {
        Contract::new("rights.json".into(), jsonschema::validator_for(&schema).expect("a valid test schema"))
    }

    fn rights() -> Contract {
        contract(json!({
            "type": "object",
            "required": ["id", "name"],
            "additionalProperties": false,
            "properties": { "id": { "type": "string" }, "name": { "type": "string" }, "level": { "type": "integer" } }
        }))
    }

    #[test]
    fn a_body_the_contract_accepts_passes() {
        assert!(rights().check("transport_app", br#"{"id":"A-1","name":"Ana"}"#).is_ok());
    }

    #[test]
    fn a_wrong_type_names_the_path_and_the_rule_but_not_the_value() {
        let error = rights().check("transport_app", br#"{"id":"A-1","name":"Ana","level":"X9-SECRET"}"#).unwrap_err();
        assert_eq!(error.error_type.to_string(), VIOLATION);
        assert!(error.is_permanent(), "a violation is not worth retrying");
        assert!(error.description.contains("`/level` breaks the rule `type`"), "{}", error.description);
        assert!(error.description.contains("`transport_app`") && error.description.contains("`rights.json`"));
        assert!(!error.description.contains("X9-SECRET"), "{}", error.description);
    }

    #[test]
    fn a_field_the_contract_does_not_allow_is_named_without_its_value() {
        let body = br#"{"id":"A-1","name":"Ana","passport_number":"P1234567"}"#;
        let error = rights().check("transport_app", body).unwrap_err();
        assert!(error.description.contains("does not allow: `passport_number`"), "{}", error.description);
        assert!(!error.description.contains("P1234567"), "{}", error.description);
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let error = rights().check("transport_app", br#"{"id":"A-1"}"#).unwrap_err();
        assert!(error.description.contains("lacks the required field `name`"), "{}", error.description);
    }

    #[test]
    fn a_body_that_is_not_json_is_a_violation_that_quotes_nothing_of_it() {
        let error = rights().check("transport_app", b"id=A-1&secret=hunter22").unwrap_err();
        assert_eq!(error.error_type.to_string(), VIOLATION);
        assert!(error.description.contains("not JSON"), "{}", error.description);
        assert!(!error.description.contains("hunter22"), "{}", error.description);
    }
}
