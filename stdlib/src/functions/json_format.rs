//! JSON text to and from Rhai values.

use rhai::{Dynamic, Engine};

use super::{fail, FnResult};
use crate::convert::{json_to_dynamic, to_json_value};
use crate::docs::FunctionDoc;

fn parse_json(text: &str) -> FnResult<Dynamic> {
    let value = serde_json::from_str::<serde_json::Value>(text).map_err(|e| fail(format!("invalid JSON: {e}")))?;
    json_to_dynamic(&value).map_err(crate::convert::script_error)
}

fn write_json(value: &Dynamic, pretty: bool) -> FnResult<String> {
    let json = to_json_value(value)?;
    let text = if pretty { serde_json::to_string_pretty(&json) } else { serde_json::to_string(&json) };
    text.map_err(|e| fail(format!("cannot write JSON: {e}")))
}

/// Registers the JSON functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("parse_json", parse_json);
    engine.register_fn("to_json", |v: Dynamic| write_json(&v, false));
    engine.register_fn("to_json_pretty", |v: Dynamic| write_json(&v, true));
}

/// Documentation of the JSON functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "parse_json",
        signature: "parse_json(text: string) -> any",
        summary: "Parses JSON text: objects become maps, `null` becomes `()`. Malformed JSON is an error giving the \
                  line and column.",
        examples: &[(r#"parse_json("{\"id\": 7, \"tags\": [\"a\", null]}").tags"#, r#"["a", null]"#)],
    },
    FunctionDoc {
        name: "to_json",
        signature: "to_json(value: any) -> string",
        summary: "Compact JSON text of a value (map keys in sorted order).",
        examples: &[(r#"to_json(#{ b: [1, 2.5], a: () })"#, r#""{\"a\":null,\"b\":[1,2.5]}""#)],
    },
    FunctionDoc {
        name: "to_json_pretty",
        signature: "to_json_pretty(value: any) -> string",
        summary: "Indented JSON text of a value.",
        examples: &[(r#"to_json_pretty(#{ a: 1 })"#, r#""{\n  \"a\": 1\n}""#)],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_an_error_with_its_position() {
        let err = parse_json("{\"a\": 1,\n  oops}").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 2"), "{err}");
    }
}
