//! Whether bytes are the JSON a payload accepts, decided without building the value.
//!
//! A listener refuses a body that does not parse (400) before its flow runs, but a flow that only forwards
//! or echoes the body never needs its tree. [`check`] runs serde_json's parser over the bytes with a visitor
//! that keeps nothing: it accepts exactly what `serde_json::from_slice::<Value>` accepts (the same parser,
//! the same calls: strings decoded, escapes and surrogates checked, numbers converted) and refuses values
//! nested deeper than [`relais_stdlib::MAX_DEPTH`], as [`relais_stdlib::check_depth`] does after a parse. Its
//! cost is one pass and no allocation per value (serde_json reuses one scratch buffer for escaped strings).
//!
//! A well-formed document is first vouched for by [`super::json_scan`] (one loop over the bytes, nothing
//! decoded): only what it is not sure of, malformed bodies among them, pays for serde_json's pass, which
//! then decides and words the error.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

/// Checks `raw` as a JSON payload: blank is `null` (valid), anything else must be one JSON value, at most
/// [`relais_stdlib::MAX_DEPTH`] levels deep. The error says why, as a parse would.
pub fn check(raw: &[u8]) -> Result<(), String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    if super::json_scan::surely_valid(raw) {
        return Ok(());
    }
    let too_deep = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(raw);
    let checked = Level { depth: 0, too_deep: &too_deep }.deserialize(&mut de).and_then(|()| de.end());
    match checked {
        Ok(()) => Ok(()),
        // Said as the depth check after a parse says it, without serde_json's position.
        Err(_) if too_deep.get() => Err(relais_stdlib::ConversionError::TooDeep.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// One value at `depth` containers down; `too_deep` is set when a container below the limit is met.
#[derive(Clone, Copy)]
struct Level<'a> {
    depth: usize,
    too_deep: &'a Cell<bool>,
}

impl Level<'_> {
    /// The level of the values inside a container at this level, or an error past the limit.
    fn inner<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= relais_stdlib::MAX_DEPTH {
            self.too_deep.set(true);
            return Err(E::custom("too deep"));
        }
        Ok(Level { depth: self.depth + 1, too_deep: self.too_deep })
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        // The parser refuses a number out of range itself, for a check as for a `Value`.
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.inner()?;
        while map.next_key_seed(Key)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// An object key: a string, decoded and dropped.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;

    /// What a parse into a value (and the depth check after it) says of `raw`.
    fn parses(raw: &[u8]) -> bool {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        serde_json::from_slice::<Json>(raw).ok().is_some_and(|v| relais_stdlib::check_depth(&v).is_ok())
    }

    #[test]
    fn the_check_accepts_and_refuses_exactly_what_a_parse_does() {
        let cases: &[&[u8]] = &[
            b"{\"a\": [1, 2.5, -3, true, null, \"x\\n\\u00e9\"]}",
            b"  ",
            b"",
            b"\"just a string\"",
            b"[1e400]",
            b"[1e-400]",
            b"18446744073709551616",
            b"\"\\ud800\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\x\"",
            b"{\"a\": 1,}",
            b"[1, 2",
            b"{1: 2}",
            b"{\"a\": 1} {\"b\": 2}",
            b"{\"a\": 1}  \n",
            b"\"\xff\"",
            b"nul",
            b"{\"a\":1,\"a\":2}",
        ];
        for raw in cases {
            assert_eq!(check(raw).is_ok(), parses(raw), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn values_nested_past_the_depth_limit_are_refused_as_a_parse_refuses_them() {
        let depth = relais_stdlib::MAX_DEPTH;
        for (levels, valid) in [(depth, true), (depth + 1, false), (100_000, false)] {
            let arrays = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
            assert_eq!(check(arrays.as_bytes()).is_ok(), valid, "{levels} arrays");
            let objects = format!("{}1{}", "{\"k\":".repeat(levels), "}".repeat(levels));
            assert_eq!(check(objects.as_bytes()).is_ok(), valid, "{levels} objects");
        }
        let err = check(format!("{}{}", "[".repeat(depth + 1), "]".repeat(depth + 1)).as_bytes());
        assert_eq!(err, Err(relais_stdlib::ConversionError::TooDeep.to_string()));
    }
}
