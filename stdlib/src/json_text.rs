//! JSON text read straight into a script value, with no `serde_json::Value` in between.
//!
//! A payload a script reads first used to be parsed into a `serde_json::Value` (an order-preserving map per
//! object, SipHash) and then converted with [`crate::json_to_dynamic`]: two trees built, one dropped. Here
//! serde_json's parser drives a visitor that builds the Rhai value itself. The value is the one the two
//! steps give, by construction and by the tests below: the same parser (so the same acceptance, number
//! parsing and recursion limit), `null` -> `()`, integers that fit `i64` -> `INT`, other numbers -> `FLOAT`
//! (as `serde_json::Number::as_f64` gives them), objects -> maps (keys sorted; a repeated key keeps its last
//! value, as both steps did), and the same [`MAX_DEPTH`] checked before going down a level.

use std::cell::Cell;
use std::fmt;

use rhai::{Array, Dynamic, Identifier, ImmutableString, Map, FLOAT, INT};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::convert::{ConversionError, MAX_DEPTH};

/// JSON text that gives no script value.
#[derive(Debug, thiserror::Error)]
pub enum JsonTextError {
    /// Not JSON (serde_json's own error, with its line and column).
    #[error("{0}")]
    Syntax(serde_json::Error),
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    #[error(transparent)]
    Conversion(ConversionError),
}

/// Reads JSON text into a script value: the value `json_to_dynamic(&serde_json::from_slice(bytes)?)` gives,
/// built in one pass. Fails on what `serde_json::from_slice` refuses, and with
/// [`ConversionError::TooDeep`] on a value nested deeper than [`MAX_DEPTH`] (found before going down past it).
///
/// Text that is UTF-8 as a whole (nearly all of it) is read as a `&str`: one pass of the standard library's
/// validator over the document instead of serde_json validating each string again as it reads it, a tenth of
/// a mapping's parse. Other bytes go through `from_slice`, which words the error as before.
pub fn json_bytes_to_dynamic(bytes: &[u8]) -> Result<Dynamic, JsonTextError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => read_json(serde_json::Deserializer::from_str(text)),
        Err(_) => read_json(serde_json::Deserializer::from_slice(bytes)),
    }
}

/// Parses JSON bytes into `T` as `serde_json::from_slice` does (same acceptance, same error and position),
/// reading text that is UTF-8 as a whole as a `&str` for the reason [`json_bytes_to_dynamic`] gives: for
/// the engine's parses of payloads and bodies into `serde_json::Value`.
pub fn json_bytes_to_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// The value `parser` reads, then the end of its input.
fn read_json<'de, R: serde_json::de::Read<'de>>(
    mut parser: serde_json::Deserializer<R>,
) -> Result<Dynamic, JsonTextError> {
    let too_deep = Cell::new(false);
    let read = Level { depth: 0, too_deep: &too_deep }.deserialize(&mut parser).and_then(|value| {
        parser.end()?;
        Ok(value)
    });
    read.map_err(|e| {
        if too_deep.get() {
            JsonTextError::Conversion(ConversionError::TooDeep)
        } else {
            JsonTextError::Syntax(e)
        }
    })
}

/// One value at `depth` levels of nesting; `too_deep` tells the caller why a parse stopped.
#[derive(Clone, Copy)]
struct Level<'a> {
    depth: usize,
    too_deep: &'a Cell<bool>,
}

impl Level<'_> {
    /// The level below, or the parse's end when it would pass [`MAX_DEPTH`].
    fn below<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            self.too_deep.set(true);
            return Err(E::custom(ConversionError::TooDeep));
        }
        Ok(Level { depth: self.depth + 1, ..self })
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = Dynamic;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Dynamic, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = Dynamic;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::UNIT)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Dynamic, E> {
        Ok(Dynamic::from_bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Dynamic, E> {
        Ok(Dynamic::from_int(i as INT))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Dynamic, E> {
        // `Number::as_i64` then `as_f64`, as `json_to_dynamic` reads a number.
        Ok(match INT::try_from(u) {
            Ok(i) => Dynamic::from_int(i),
            Err(_) => Dynamic::from_float(u as FLOAT),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Dynamic, E> {
        Ok(Dynamic::from_float(f as FLOAT))
    }

    fn visit_str<E>(self, s: &str) -> Result<Dynamic, E> {
        Ok(Dynamic::from(ImmutableString::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Dynamic, E> {
        Ok(Dynamic::from(ImmutableString::from(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dynamic, A::Error> {
        let below = self.below()?;
        let mut items = Array::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(below)? {
            items.push(item);
        }
        Ok(Dynamic::from_array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Dynamic, A::Error> {
        let below = self.below()?;
        let mut map = Map::new();
        while let Some(key) = entries.next_key_seed(Key)? {
            let value = entries.next_value_seed(below)?;
            map.insert(key, value);
        }
        Ok(Dynamic::from_map(map))
    }
}

/// A map key, read as Rhai's key type directly (short keys stay inline, no `String` in between).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Identifier;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Identifier, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Identifier;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Identifier, E> {
        Ok(s.into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::json_to_dynamic;

    /// What the two steps give: parse into a `serde_json::Value`, then convert.
    fn two_steps(text: &str) -> Result<Dynamic, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        json_to_dynamic(&value).map_err(|e| e.to_string())
    }

    /// The same value, compared through the exact type and content of every node (`Dynamic` has no `==`).
    fn same(a: &Dynamic, b: &Dynamic) -> bool {
        if a.type_name() != b.type_name() {
            return false;
        }
        if let (Ok(x), Ok(y)) = (a.as_float(), b.as_float()) {
            return x.to_bits() == y.to_bits();
        }
        if let (Ok(x), Ok(y)) = (a.as_array_ref(), b.as_array_ref()) {
            return x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same(x, y));
        }
        if let (Ok(x), Ok(y)) = (a.as_map_ref(), b.as_map_ref()) {
            return x.len() == y.len() && x.iter().zip(y.iter()).all(|((kx, x), (ky, y))| kx == ky && same(x, y));
        }
        a.to_string() == b.to_string()
    }

    fn assert_as_two_steps(text: &str) {
        let direct = json_bytes_to_dynamic(text.as_bytes());
        match (direct, two_steps(text)) {
            (Ok(direct), Ok(expected)) => assert!(same(&direct, &expected), "{text}: {direct:?} vs {expected:?}"),
            (Err(direct), Err(expected)) => assert_eq!(direct.to_string(), expected, "{text}"),
            (direct, expected) => panic!("{text}: direct {direct:?}, two steps {expected:?}"),
        }
    }

    #[test]
    fn documents_read_straight_into_a_script_value_equal_those_read_in_two_steps() {
        for text in [
            "null",
            "true",
            " false ",
            "0",
            "-0",
            "-0.0",
            "1.0",
            "42",
            "-42",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e300",
            "1.7976931348623157e308",
            "5e-324",
            "0.1",
            "123456789012345678901234567890",
            r#""""#,
            r#""plain""#,
            r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00""#,
            r#""été 🎉""#,
            "[]",
            "{}",
            "[1, 2.5, \"x\", null, true, [], {}]",
            r#"{"b": 1, "a": 2, "c": {"z": [1, {"y": null}], "a": "x"}}"#,
            r#"{"same": 1, "same": 2}"#,
            r#"{"same": {"a": 1}, "other": 0, "same": [2]}"#,
            r#"{"a key longer than twenty-three bytes": "v", "": "empty key", "é": 1}"#,
        ] {
            assert_as_two_steps(text);
        }
    }

    #[test]
    fn the_benchmark_orders_read_as_they_did_in_two_steps() {
        for path in ["/../flows/data/samples/order.json", "/../tests/bench/data/order_large.json"] {
            let text = std::fs::read_to_string(format!("{}{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            assert_as_two_steps(&text);
        }
    }

    #[test]
    fn malformed_text_fails_with_the_parser_error_a_parse_gives() {
        for text in
            ["", "   ", "{", "[1,]", "{\"a\" 1}", "nul", "1 2", "\"\\x\"", "[1] x", "1e400", "{1: 2}", "\"\u{1}\""]
        {
            assert_as_two_steps(text);
            assert!(matches!(json_bytes_to_dynamic(text.as_bytes()), Err(JsonTextError::Syntax(_))), "{text}");
        }
        assert!(matches!(json_bytes_to_dynamic(b"\"\xff\""), Err(JsonTextError::Syntax(_))), "not UTF-8");
        // Bytes that are not UTF-8 are read as bytes: the error names the place serde_json's own check found.
        for raw in [&b"{\"a\": \"\xff\"}"[..], b"[1,\n \"ok\", \"\xc3\x28\"]", b"{\"\xe2\x82\": 1}"] {
            let got = json_bytes_to_dynamic(raw).err().map(|e| e.to_string());
            let parse = serde_json::from_slice::<serde_json::Value>(raw).err().map(|e| e.to_string());
            assert!(got.is_some(), "{raw:?}");
            assert_eq!(got, parse, "{raw:?}");
            let value = json_bytes_to_value::<serde_json::Value>(raw).err().map(|e| e.to_string());
            assert_eq!(value, parse, "{raw:?}");
        }
        for text in ["{\"a\": [1, \"é\"]}", "[1,]", "{\"a\" 1}"] {
            let got = json_bytes_to_value::<serde_json::Value>(text.as_bytes()).map_err(|e| e.to_string());
            let parse = serde_json::from_slice::<serde_json::Value>(text.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(got, parse, "{text}");
        }
    }

    #[test]
    fn nesting_is_refused_past_the_depth_limit_and_kept_up_to_it() {
        let nested =
            |levels: usize, open: &str, close: &str| format!("{}1{}", open.repeat(levels), close.repeat(levels));
        for (open, close) in [("[", "]"), ("{\"a\":", "}"), ("[{\"a\":", "}]")] {
            let at_limit = if open.len() > 5 { MAX_DEPTH / 2 } else { MAX_DEPTH };
            assert_as_two_steps(&nested(at_limit, open, close));
            for levels in [at_limit + 1, at_limit + 30, 100_000] {
                let text = nested(levels, open, close);
                let err = json_bytes_to_dynamic(text.as_bytes()).unwrap_err();
                assert!(matches!(err, JsonTextError::Conversion(ConversionError::TooDeep)), "{levels}: {err:?}");
            }
        }
    }

    #[test]
    fn generated_documents_read_as_they_did_in_two_steps() {
        // A small deterministic generator (no dependency): numbers of every kind, strings with escapes,
        // repeated keys, mixed nesting.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn value(next: &mut dyn FnMut() -> u64, depth: usize, out: &mut String) {
            let pick = if depth > 6 { next() % 6 } else { next() % 9 };
            match pick {
                0 => out.push_str("null"),
                1 => out.push_str(if next().is_multiple_of(2) { "true" } else { "false" }),
                2 => out.push_str(&(next() as i64).to_string()),
                3 => out.push_str(&next().to_string()),
                4 => out.push_str(&format!("{:e}", f64::from_bits(next() % 0x7fef_ffff_ffff_ffff))),
                5 => out.push_str(
                    ["\"\"", "\"a\\\"b\"", "\"\\u00e9t\\u00e9\"", "\"x y\"", "\"\\ud83d\\ude00\""][next() as usize % 5],
                ),
                6 | 7 => {
                    out.push('[');
                    for i in 0..next() % 5 {
                        if i > 0 {
                            out.push(',');
                        }
                        value(next, depth + 1, out);
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    for i in 0..next() % 5 {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&format!("\"k{}\":", next() % 4));
                        value(next, depth + 1, out);
                    }
                    out.push('}');
                }
            }
        }
        for _ in 0..2000 {
            let mut text = String::new();
            value(&mut next, 0, &mut text);
            assert_as_two_steps(&text);
        }
    }
}
