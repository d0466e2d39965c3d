//! Direct conversions between `serde_json::Value` and Rhai's `Dynamic`, refusing values nested deeper than
//! [`MAX_DEPTH`].
//!
//! Both directions recurse once per level of nesting and check the depth *before* going down a level, so a
//! conversion never uses more than [`MAX_DEPTH`] frames of stack whatever it is given: a value a script built
//! 10,000 levels deep fails with [`ConversionError::TooDeep`] after 100 levels instead of overflowing the
//! thread's stack. Every value that crosses between the engine and a script goes through here, so no
//! `serde_json::Value` deeper than [`MAX_DEPTH`] is ever built from a script value, and the engine can clone,
//! serialize, compare and drop its values (all recursive in serde_json) without any risk for its stack.

use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map, Position, FLOAT, INT};
use serde_json::{Number, Value};

/// The deepest nesting of arrays and maps a value may have: `[]` and `{}` are one level, `[[1]]` two.
///
/// Why 100: real documents nest a few tens of levels at most (SOAP envelopes, FHIR resources: 10 to 20);
/// serde_json's parser refuses 128 nested containers, so anything up to 100 written as JSON (a payload, an
/// object-store entry, a queued message) parses back, with room for the levels the engine adds around a value
/// (`scatter_gather` results, batches); and 100 levels of any recursive walk (ours, serde_json's, Rhai's) stay
/// far below a thread's stack even in debug builds.
pub const MAX_DEPTH: usize = 100;

/// A value that has no form on the other side of a conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A float that JSON cannot hold (NaN or an infinity).
    #[error("the number {0} cannot be written as JSON")]
    NonFiniteNumber(String),
    /// A value of a type with no JSON form (a function pointer, a blob, a custom type...).
    #[error("a value of type '{0}' cannot be converted to JSON")]
    Unsupported(String),
    /// Arrays and maps nested deeper than [`MAX_DEPTH`]: a limit, not a malformed value.
    #[error("the value nests arrays and maps deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl ConversionError {
    /// Whether the value broke a limit ([`ConversionError::TooDeep`]) rather than having no form at all: the
    /// engine raises the first as `EXPRESSION:LIMIT`, the others as `EXPRESSION:RUNTIME`.
    pub fn is_limit(&self) -> bool {
        matches!(self, ConversionError::TooDeep)
    }
}

/// The depth of the level below one at `depth`, or [`ConversionError::TooDeep`] when that level is past the limit.
fn deeper(depth: usize) -> Result<usize, ConversionError> {
    if depth >= MAX_DEPTH {
        Err(ConversionError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Converts JSON to a Rhai value: `null` -> `()`, integers that fit `i64` -> `INT`, other numbers -> `FLOAT`,
/// objects -> object maps (keys sorted, as Rhai maps are), arrays -> arrays. Fails with
/// [`ConversionError::TooDeep`] on a value nested deeper than [`MAX_DEPTH`].
pub fn json_to_dynamic(value: &Value) -> Result<Dynamic, ConversionError> {
    json_at(value, 0)
}

fn json_at(value: &Value, depth: usize) -> Result<Dynamic, ConversionError> {
    Ok(match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number_to_dynamic(n),
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => {
            let depth = deeper(depth)?;
            Dynamic::from_array(items.iter().map(|item| json_at(item, depth)).collect::<Result<Array, _>>()?)
        }
        Value::Object(entries) => {
            let depth = deeper(depth)?;
            let map = entries
                .iter()
                .map(|(k, v)| Ok((k.as_str().into(), json_at(v, depth)?)))
                .collect::<Result<Map, ConversionError>>()?;
            Dynamic::from_map(map)
        }
    })
}

fn number_to_dynamic(n: &Number) -> Dynamic {
    match n.as_i64() {
        Some(i) => Dynamic::from_int(i),
        None => Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN)),
    }
}

/// Converts a Rhai value to JSON: `()` -> `null`, characters -> one-character strings, and the inverse of
/// [`json_to_dynamic`] for the rest. Fails on non-finite floats, on types with no JSON form and on values
/// nested deeper than [`MAX_DEPTH`] (found before going down past the limit).
pub fn dynamic_to_json(value: &Dynamic) -> Result<Value, ConversionError> {
    dynamic_at(value, 0)
}

fn dynamic_at(value: &Dynamic, depth: usize) -> Result<Value, ConversionError> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(Number::from(i)));
    }
    if let Ok(f) = value.as_float() {
        return float_to_json(f);
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Ok(items) = value.as_array_ref() {
        let depth = deeper(depth)?;
        return items.iter().map(|item| dynamic_at(item, depth)).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    if let Ok(map) = value.as_map_ref() {
        let depth = deeper(depth)?;
        let mut object = serde_json::Map::with_capacity(map.len());
        for (key, item) in map.iter() {
            object.insert(key.to_string(), dynamic_at(item, depth)?);
        }
        return Ok(Value::Object(object));
    }
    Err(ConversionError::Unsupported(value.type_name().to_string()))
}

/// Checks that a script value has a JSON form ([`dynamic_to_json`] would succeed, with the same error when it
/// would not), without building it: the engine checks a mapping's result with it and writes the result out
/// only when something needs the bytes ([`write_json`]) or the JSON value.
pub fn check_json_form(value: &Dynamic) -> Result<(), ConversionError> {
    check_at(value, 0)
}

fn check_at(value: &Dynamic, depth: usize) -> Result<(), ConversionError> {
    if value.is_unit() || value.is_bool() || value.is_int() || value.is_string() || value.is_char() {
        return Ok(());
    }
    if let Ok(f) = value.as_float() {
        return float_to_json(f).map(drop);
    }
    if let Ok(items) = value.as_array_ref() {
        let depth = deeper(depth)?;
        return items.iter().try_for_each(|item| check_at(item, depth));
    }
    if let Ok(map) = value.as_map_ref() {
        let depth = deeper(depth)?;
        return map.values().try_for_each(|item| check_at(item, depth));
    }
    Err(ConversionError::Unsupported(value.type_name().to_string()))
}

/// Writes a script value as JSON text to `out`: the bytes `serde_json::to_vec(&dynamic_to_json(value)?)`
/// gives (keys in the map's order, numbers and strings written by serde_json), without building the
/// `serde_json::Value` in between. Fails as [`dynamic_to_json`] does; `out` then holds a part of the text.
pub fn write_json(value: &Dynamic, out: &mut Vec<u8>) -> Result<(), ConversionError> {
    write_at(value, 0, out)
}

fn write_at(value: &Dynamic, depth: usize, out: &mut Vec<u8>) -> Result<(), ConversionError> {
    if value.is_unit() {
        out.extend_from_slice(b"null");
    } else if let Ok(b) = value.as_bool() {
        out.extend_from_slice(if b { b"true" } else { b"false" });
    } else if let Ok(i) = value.as_int() {
        written(serde_json::to_writer(&mut *out, &i))?;
    } else if let Ok(f) = value.as_float() {
        float_to_json(f)?;
        written(serde_json::to_writer(&mut *out, &f))?;
    } else if let Ok(s) = value.as_immutable_string_ref() {
        written(serde_json::to_writer(&mut *out, s.as_str()))?;
    } else if let Ok(c) = value.as_char() {
        written(serde_json::to_writer(&mut *out, c.encode_utf8(&mut [0; 4])))?;
    } else if let Ok(items) = value.as_array_ref() {
        let depth = deeper(depth)?;
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_at(item, depth, out)?;
        }
        out.push(b']');
    } else if let Ok(map) = value.as_map_ref() {
        let depth = deeper(depth)?;
        out.push(b'{');
        for (i, (key, item)) in map.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            written(serde_json::to_writer(&mut *out, key.as_str()))?;
            out.push(b':');
            write_at(item, depth, out)?;
        }
        out.push(b'}');
    } else {
        return Err(ConversionError::Unsupported(value.type_name().to_string()));
    }
    Ok(())
}

/// serde_json writing a number or a string into a `Vec` cannot fail (the `Vec` grows; a finite float and
/// any `str` have a JSON form); the error is still passed on rather than ignored.
fn written(result: Result<(), serde_json::Error>) -> Result<(), ConversionError> {
    result.map_err(|e| ConversionError::Unsupported(e.to_string()))
}

fn float_to_json(f: FLOAT) -> Result<Value, ConversionError> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| ConversionError::NonFiniteNumber(f.to_string()))
}

/// Checks that a JSON value nests no deeper than [`MAX_DEPTH`], without recursion (a value parsed by a reader
/// with another limit, or built by hand, may be deeper than the stack can walk recursively).
pub fn check_depth(value: &Value) -> Result<(), ConversionError> {
    let mut pending: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            Value::Array(items) => {
                let depth = deeper(depth)?;
                pending.extend(items.iter().map(|item| (item, depth)));
            }
            Value::Object(entries) => {
                let depth = deeper(depth)?;
                pending.extend(entries.values().map(|item| (item, depth)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A conversion failure as a Rhai error: a limit error for [`ConversionError::TooDeep`] (so the engine raises
/// `EXPRESSION:LIMIT`), a runtime error otherwise.
pub(crate) fn script_error(e: ConversionError) -> Box<EvalAltResult> {
    if e.is_limit() {
        // Rhai writes this as "<what> too large".
        EvalAltResult::ErrorDataTooLarge(format!("Nesting (deeper than {MAX_DEPTH} levels)"), Position::NONE).into()
    } else {
        e.to_string().into()
    }
}

/// Converts a Rhai value to JSON for a mapping function, as a Rhai error on failure.
pub(crate) fn to_json_value(value: &Dynamic) -> Result<Value, Box<EvalAltResult>> {
    dynamic_to_json(value).map_err(script_error)
}

/// Returns `i` as a Rhai integer, saturating.
pub(crate) fn int_of(i: usize) -> INT {
    INT::try_from(i).unwrap_or(INT::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Runs `work` on a thread with the default 2 MiB stack that Rust gives new threads (tokio's too), so a
    /// conversion that recursed once per level would overflow it on the deep values below.
    fn on_a_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(2 << 20).spawn(work).unwrap().join().unwrap()
    }

    /// JSON nested `levels` deep, built without recursion; `shape` picks array, map or both at each level.
    fn deep_json(levels: usize, shape: fn(usize, Value) -> Value) -> Value {
        (0..levels).fold(json!(1), |inner, level| shape(level, inner))
    }

    // `json!` would serialize `inner` again (recursively) at every level: the values are built by moving.
    fn arrays(_: usize, inner: Value) -> Value {
        Value::Array(vec![inner])
    }

    fn maps(_: usize, inner: Value) -> Value {
        Value::Object(serde_json::Map::from_iter([("next".to_string(), inner)]))
    }

    fn mixed(level: usize, inner: Value) -> Value {
        if level.is_multiple_of(2) {
            Value::Array(vec![json!(0), inner, json!("x")])
        } else {
            Value::Object(serde_json::Map::from_iter([
                ("value".to_string(), json!(level)),
                ("next".to_string(), inner),
            ]))
        }
    }

    /// A Rhai value nested `levels` deep, built without recursion.
    fn deep_dynamic(levels: usize, shape: fn(usize, Dynamic) -> Dynamic) -> Dynamic {
        (0..levels).fold(Dynamic::from_int(1), |inner, level| shape(level, inner))
    }

    fn script_arrays(_: usize, inner: Dynamic) -> Dynamic {
        Dynamic::from_array(vec![inner])
    }

    fn script_maps(level: usize, inner: Dynamic) -> Dynamic {
        let mut map = Map::new();
        map.insert("value".into(), Dynamic::from_int(level as INT));
        map.insert("next".into(), inner);
        Dynamic::from_map(map)
    }

    fn script_mixed(level: usize, inner: Dynamic) -> Dynamic {
        if level.is_multiple_of(2) {
            script_arrays(level, inner)
        } else {
            script_maps(level, inner)
        }
    }

    /// Drops a deep value level by level, so that the test's own clean-up does not overflow the stack.
    fn drop_json(value: Value) {
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Array(items) => pending.extend(items),
                Value::Object(entries) => pending.extend(entries.into_iter().map(|(_, v)| v)),
                _ => {}
            }
        }
    }

    fn drop_dynamic(value: Dynamic) {
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            if value.is_array() {
                pending.extend(value.into_array().unwrap());
            } else if value.is_map() {
                pending.extend(value.cast::<Map>().into_values());
            }
        }
    }

    #[test]
    fn json_survives_a_round_trip_through_rhai() {
        let value = json!({"a": [1, 2.5, "x", null, true, {"b": -3}], "big": 1e300, "empty": {}});
        assert_eq!(dynamic_to_json(&json_to_dynamic(&value).unwrap()).unwrap(), value);
    }

    #[test]
    fn a_script_value_is_written_as_the_bytes_of_its_json_value() {
        let mut map = Map::new();
        map.insert("b".into(), Dynamic::from_array(vec![Dynamic::UNIT, Dynamic::from_char('é'), 2.5.into()]));
        map.insert("a \"q\"\n".into(), Dynamic::from("x\u{1}é/\\".to_string()));
        map.insert("n".into(), Dynamic::from_int(-3));
        map.insert("f".into(), Dynamic::from_float(210.0));
        map.insert("t".into(), Dynamic::TRUE);
        map.insert("e".into(), Dynamic::from_map(Map::new()));
        for value in [Dynamic::from_map(map), json_to_dynamic(&json!({"big": 1e300, "tiny": 1e-7, "l": []})).unwrap()] {
            let mut out = Vec::new();
            write_json(&value, &mut out).unwrap();
            assert_eq!(out, serde_json::to_vec(&dynamic_to_json(&value).unwrap()).unwrap());
            assert!(check_json_form(&value).is_ok());
        }
    }

    #[test]
    fn the_form_check_and_the_writer_refuse_what_the_conversion_refuses() {
        let nan_inside = Dynamic::from_array(vec![1.into(), Dynamic::from_float(FLOAT::NAN)]);
        for value in [nan_inside, Dynamic::from_blob(vec![1]), deep_dynamic(MAX_DEPTH + 1, script_mixed)] {
            let expected = dynamic_to_json(&value).unwrap_err();
            assert_eq!(check_json_form(&value).unwrap_err(), expected);
            assert_eq!(write_json(&value, &mut Vec::new()).unwrap_err(), expected);
        }
        assert!(check_json_form(&deep_dynamic(MAX_DEPTH, script_mixed)).is_ok());
    }

    #[test]
    fn integers_stay_integers() {
        assert!(json_to_dynamic(&json!(42)).unwrap().is_int());
        assert!(json_to_dynamic(&json!(42.0)).unwrap().is_float());
    }

    #[test]
    fn nan_has_no_json_form() {
        let err = dynamic_to_json(&Dynamic::from_float(FLOAT::NAN)).unwrap_err();
        assert!(matches!(err, ConversionError::NonFiniteNumber(_)));
        assert!(!err.is_limit());
    }

    #[test]
    fn a_blob_has_no_json_form() {
        let err = dynamic_to_json(&Dynamic::from_blob(vec![1, 2])).unwrap_err();
        assert!(matches!(err, ConversionError::Unsupported(_)));
    }

    #[test]
    fn values_exactly_at_the_depth_limit_convert_both_ways() {
        for shape in [arrays, maps, mixed] {
            let value = deep_json(MAX_DEPTH, shape);
            let script = json_to_dynamic(&value).unwrap();
            assert_eq!(dynamic_to_json(&script).unwrap(), value);
            assert!(check_depth(&value).is_ok());
        }
    }

    #[test]
    fn json_one_level_past_the_limit_is_refused_for_every_shape() {
        for shape in [arrays, maps, mixed] {
            let value = deep_json(MAX_DEPTH + 1, shape);
            assert_eq!(json_to_dynamic(&value).unwrap_err(), ConversionError::TooDeep);
            assert_eq!(check_depth(&value).unwrap_err(), ConversionError::TooDeep);
        }
    }

    #[test]
    fn script_values_one_level_past_the_limit_are_refused_for_every_shape() {
        for shape in [script_arrays, script_maps, script_mixed] {
            let value = deep_dynamic(MAX_DEPTH + 1, shape);
            let err = dynamic_to_json(&value).unwrap_err();
            assert_eq!(err, ConversionError::TooDeep);
            assert!(err.is_limit());
        }
    }

    #[test]
    fn a_script_value_a_hundred_thousand_levels_deep_is_refused_without_overflowing_the_stack() {
        for shape in [script_arrays, script_maps, script_mixed] {
            let outcome = on_a_small_stack(move || {
                let value = deep_dynamic(100_000, shape);
                let outcome = dynamic_to_json(&value).map(drop_json);
                drop_dynamic(value);
                outcome
            });
            assert_eq!(outcome, Err(ConversionError::TooDeep));
        }
    }

    #[test]
    fn json_a_hundred_thousand_levels_deep_is_refused_without_overflowing_the_stack() {
        for shape in [arrays, maps, mixed] {
            let outcome = on_a_small_stack(move || {
                let value = deep_json(100_000, shape);
                let converted = json_to_dynamic(&value).map(drop_dynamic);
                let checked = check_depth(&value);
                drop_json(value);
                (converted, checked)
            });
            assert_eq!(outcome, (Err(ConversionError::TooDeep), Err(ConversionError::TooDeep)));
        }
    }

    #[test]
    fn a_wide_value_is_not_deep() {
        let wide = Value::Array((0..10_000).map(|i| json!({ "i": i, "tags": ["a", "b"] })).collect());
        assert!(check_depth(&wide).is_ok());
        assert_eq!(dynamic_to_json(&json_to_dynamic(&wide).unwrap()).unwrap(), wide);
    }

    #[test]
    fn too_deep_is_a_limit_error_inside_a_script() {
        let err = to_json_value(&deep_dynamic(MAX_DEPTH + 1, script_arrays)).unwrap_err();
        assert!(matches!(*err, EvalAltResult::ErrorDataTooLarge(..)), "{err:?}");
        let err = json_to_dynamic(&deep_json(MAX_DEPTH + 1, maps)).map_err(script_error).unwrap_err();
        assert!(matches!(*err, EvalAltResult::ErrorDataTooLarge(..)), "{err:?}");
        let err = to_json_value(&Dynamic::from_float(FLOAT::INFINITY)).unwrap_err();
        assert!(matches!(*err, EvalAltResult::ErrorRuntime(..)), "{err:?}");
    }
}
