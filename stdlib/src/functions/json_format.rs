//! JSON text to and from Rhai values.

use rhai::{Dynamic, Engine};

use super::{fail, scan, scan_value, FnResult};
use crate::convert::{json_to_dynamic, to_json_value};
use crate::docs::FunctionDoc;
use crate::Limits;

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
pub(crate) fn register(engine: &mut Engine, limits: &Limits) {
    engine.register_fn("parse_json", |text: &str| {
        scan(text)?;
        parse_json(text)
    });
    let max = limits.max_string_size;
    engine.register_fn("to_json", move |v: Dynamic| {
        scan_value(&v, max)?;
        write_json(&v, false)
    });
    // Rhai's map package has a `to_json` of its own for maps, which a map argument reaches before the one above:
    // it writes Rust escapes (`\u{7f}`) that are not JSON and walks any depth. This one takes its place.
    engine.register_fn("to_json", move |m: rhai::Map| {
        let v = Dynamic::from_map(m);
        scan_value(&v, max)?;
        write_json(&v, false)
    });
    engine.register_fn("to_json_pretty", move |v: Dynamic| {
        scan_value(&v, max)?;
        write_json(&v, true)
    });
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn eval(code: &str) -> Result<Dynamic, crate::ScriptError> {
        let engine = crate::build_engine(&crate::Limits::default(), crate::Lookups::default());
        let ast = crate::compile(&engine, code, &[])?;
        let mut scope = rhai::Scope::new();
        for name in crate::SCRIPT_VARIABLES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        crate::run(&engine, &ast, &mut scope)
    }

    /// Found by the `convert` fuzz target: `to_json` of a map went to Rhai's own, which wrote `\u{7f}`.
    #[test]
    fn to_json_of_a_map_with_control_characters_is_json() {
        let written = eval(r#"to_json(parse_json("{\"a\u007fb\": [1]}"))"#).unwrap().into_string().unwrap();
        let reparsed: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(reparsed, serde_json::json!({ "a\u{7f}b": [1] }));
    }

    #[test]
    fn to_json_of_a_map_nested_past_the_depth_limit_is_a_limit_error() {
        let err = eval("let m = #{}; for i in 0..200 { m = #{ next: m }; } to_json(m)").unwrap_err();
        assert!(err.is_limit(), "{err:?}");
    }

    #[test]
    fn malformed_json_is_an_error_with_its_position() {
        let err = parse_json("{\"a\": 1,\n  oops}").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 2"), "{err}");
    }
}
