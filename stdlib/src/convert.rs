//! Direct conversions between `serde_json::Value` and Rhai's `Dynamic`.

use rhai::{Dynamic, ImmutableString, Map, FLOAT, INT};
use serde_json::{Number, Value};

/// A Rhai value that has no JSON form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A float that JSON cannot hold (NaN or an infinity).
    #[error("the number {0} cannot be written as JSON")]
    NonFiniteNumber(String),
    /// A value of a type with no JSON form (a function pointer, a blob, a custom type...).
    #[error("a value of type '{0}' cannot be converted to JSON")]
    Unsupported(String),
}

/// Converts JSON to a Rhai value: `null` -> `()`, integers that fit `i64` -> `INT`, other numbers -> `FLOAT`,
/// objects -> object maps (keys sorted, as Rhai maps are), arrays -> arrays.
pub fn json_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number_to_dynamic(n),
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(entries) => {
            let map: Map = entries.iter().map(|(k, v)| (k.as_str().into(), json_to_dynamic(v))).collect();
            Dynamic::from_map(map)
        }
    }
}

fn number_to_dynamic(n: &Number) -> Dynamic {
    match n.as_i64() {
        Some(i) => Dynamic::from_int(i),
        None => Dynamic::from_float(n.as_f64().unwrap_or(FLOAT::NAN)),
    }
}

/// Converts a Rhai value to JSON: `()` -> `null`, characters -> one-character strings, and the inverse of
/// [`json_to_dynamic`] for the rest. Fails on non-finite floats and on types with no JSON form.
pub fn dynamic_to_json(value: &Dynamic) -> Result<Value, ConversionError> {
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
        return items.iter().map(dynamic_to_json).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    if let Ok(map) = value.as_map_ref() {
        let mut object = serde_json::Map::with_capacity(map.len());
        for (key, item) in map.iter() {
            object.insert(key.to_string(), dynamic_to_json(item)?);
        }
        return Ok(Value::Object(object));
    }
    Err(ConversionError::Unsupported(value.type_name().to_string()))
}

fn float_to_json(f: FLOAT) -> Result<Value, ConversionError> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| ConversionError::NonFiniteNumber(f.to_string()))
}

/// Converts a Rhai value to JSON for a mapping function, as a Rhai runtime error on failure.
pub(crate) fn to_json_value(value: &Dynamic) -> Result<Value, Box<rhai::EvalAltResult>> {
    dynamic_to_json(value).map_err(|e| e.to_string().into())
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

    #[test]
    fn json_survives_a_round_trip_through_rhai() {
        let value = json!({"a": [1, 2.5, "x", null, true, {"b": -3}], "big": 1e300, "empty": {}});
        assert_eq!(dynamic_to_json(&json_to_dynamic(&value)).unwrap(), value);
    }

    #[test]
    fn integers_stay_integers() {
        assert!(json_to_dynamic(&json!(42)).is_int());
        assert!(json_to_dynamic(&json!(42.0)).is_float());
    }

    #[test]
    fn nan_has_no_json_form() {
        let err = dynamic_to_json(&Dynamic::from_float(FLOAT::NAN)).unwrap_err();
        assert!(matches!(err, ConversionError::NonFiniteNumber(_)));
    }

    #[test]
    fn a_blob_has_no_json_form() {
        let err = dynamic_to_json(&Dynamic::from_blob(vec![1, 2])).unwrap_err();
        assert!(matches!(err, ConversionError::Unsupported(_)));
    }
}
