//! The documentation table of the mapping functions. Its examples run as a unit test, so they cannot rot.

use std::sync::LazyLock;

use chrono::DateTime;
use rhai::Engine;

use crate::{build_engine_with_clock, Clock, Limits, Lookups};

/// The documentation of one mapping function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDoc {
    /// The function's name as scripts call it.
    pub name: &'static str,
    /// Its signatures, e.g. `to_e164(number: string, country: string) -> string | ()`.
    pub signature: &'static str,
    /// What it does, in one or two sentences.
    pub summary: &'static str,
    /// Examples: a Rhai script and the JSON of its result, as run by [`example_engine`].
    pub examples: &'static [(&'static str, &'static str)],
}

/// The instant the clock of [`example_engine`] is fixed at: 2024-07-26T16:30:00Z (18:30 in Paris).
pub const EXAMPLE_NOW: &str = "2024-07-26T16:30:00Z";

/// The lookup table `countries` of [`example_engine`], keyed by its first column.
const EXAMPLE_COUNTRIES: &str = "iso2,name,calling_code,region\nFR,France,33,europe\nDE,Germany,49,europe\n\
JP,Japan,81,asia\n";

/// Every mapping function's documentation, in family order (dates, strings, phone, email, crypto, formats,
/// lookups, masking, collections).
pub fn function_docs() -> &'static [FunctionDoc] {
    static DOCS: LazyLock<Vec<FunctionDoc>> = LazyLock::new(crate::functions::all_docs);
    &DOCS
}

/// The engine the examples of [`function_docs`] run in: default limits, the clock fixed at [`EXAMPLE_NOW`] and a
/// lookup table `countries` (columns `iso2,name,calling_code,region`, rows FR, DE and JP).
pub fn example_engine() -> Engine {
    let lookups = Lookups::default();
    // The table is a constant known to be valid; a failure would show in the docs test.
    let _ = lookups.add_csv("countries", EXAMPLE_COUNTRIES);
    let now = DateTime::parse_from_rfc3339(EXAMPLE_NOW).map(|t| t.to_utc()).unwrap_or_default();
    build_engine_with_clock(&Limits::default(), lookups, Clock::fixed(now))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::{compile, dynamic_to_json, run};

    #[test]
    fn every_documented_example_gives_its_documented_result() {
        let mut failures = Vec::new();
        let mut checked = 0;
        for doc in function_docs() {
            assert!(!doc.examples.is_empty(), "{} has no example", doc.name);
            for (script, expected) in doc.examples {
                let engine = example_engine();
                let expected: serde_json::Value = serde_json::from_str(expected)
                    .unwrap_or_else(|e| panic!("{}: expected value {expected} is not JSON: {e}", doc.name));
                let outcome = compile(&engine, script, &[])
                    .and_then(|ast| run(&engine, &ast, &mut rhai::Scope::new()))
                    .map(|v| dynamic_to_json(&v));
                checked += 1;
                match outcome {
                    Ok(Ok(actual)) if actual == expected => {}
                    other => failures.push(format!("{}: `{script}` gave {other:?}, expected {expected}", doc.name)),
                }
            }
        }
        assert!(checked >= 100, "only {checked} examples ran");
        assert!(failures.is_empty(), "{} failing examples:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn every_function_is_documented_once() {
        let mut seen = HashSet::new();
        for doc in function_docs() {
            assert!(seen.insert(doc.name), "{} is documented twice", doc.name);
            assert!(!doc.summary.is_empty() && doc.signature.starts_with(doc.name), "{}", doc.name);
        }
    }
}
