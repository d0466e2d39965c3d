//! One scrub pass: the values to take out of what is about to leave the process (the secrets known, plus the
//! sensitive values of the event or message at hand), applied to text or to a JSON answer.

use super::{forms, REDACTED};
use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::sync::Arc;

/// The values to replace by `[redacted]`: built by [`super::Scrubber`] (secrets and an event's sensitive
/// values) or [`Scrub::secrets`] (secrets only, where no event is at hand).
#[derive(Debug, Clone, Default)]
pub struct Scrub {
    secrets: Arc<Vec<String>>,
    values: Vec<String>,
}

impl Scrub {
    /// The secrets this process resolved, in all their forms, and nothing else.
    pub fn secrets() -> Self {
        Scrub { secrets: super::known::forms(), values: Vec::new() }
    }

    /// The same scrub, also taking out `value` (a sensitive value) as written and JSON-escaped.
    pub(crate) fn add_value(&mut self, value: &str) {
        for form in forms::of_value(value) {
            if !self.values.contains(&form) {
                self.values.push(form);
            }
        }
    }

    /// Whether there is anything to take out at all.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.values.is_empty()
    }

    /// `text` with every value replaced; borrowed when none occurs (the common case costs one search per
    /// value). Overlapping values are replaced in one pass, longest first, so a value containing another is
    /// caught whole and `[redacted]` itself is never scrubbed again.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let present: Vec<&str> = self
            .secrets
            .iter()
            .chain(&self.values)
            .map(String::as_str)
            .filter(|v| v.len() >= forms::MIN_LEN && text.contains(v))
            .collect();
        if present.is_empty() {
            return Cow::Borrowed(text);
        }
        match AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&present) {
            Ok(automaton) => Cow::Owned(automaton.replace_all(text, &vec![REDACTED; present.len()])),
            // The automaton only fails past size limits far above a few secrets: fall back to one pass per value.
            Err(_) => {
                let mut out = text.to_string();
                for v in present {
                    out = out.replace(v, REDACTED);
                }
                Cow::Owned(out)
            }
        }
    }

    /// `value` with every string (keys included) scrubbed as text, and numbers equal to a value replaced.
    pub fn json(&self, value: &Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.text(s).into_owned()),
            Json::Number(n) if self.values.iter().any(|v| *v == n.to_string()) => Json::String(REDACTED.into()),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.json(v)).collect()),
            Json::Object(map) => {
                Json::Object(map.iter().map(|(k, v)| (self.text(k).into_owned(), self.json(v))).collect())
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(values: &[&str]) -> Scrub {
        let mut s = Scrub::default();
        values.iter().for_each(|v| s.add_value(v));
        s
    }

    #[test]
    fn a_value_containing_another_is_replaced_whole_and_the_marker_is_left_alone() {
        let s = scrub(&["X1234567", "1234", "ed"]);
        assert_eq!(s.text("id X1234567, pin 1234"), "id [redacted], pin [redacted]");
    }

    #[test]
    fn json_answers_are_scrubbed_in_strings_keys_and_numbers() {
        let s = scrub(&["P998877", "4242"]);
        let scrubbed = s.json(&serde_json::json!({ "detail": "passport P998877", "P998877": 1, "pin": 4242 }));
        assert_eq!(
            scrubbed,
            serde_json::json!({ "detail": "passport [redacted]", "[redacted]": 1, "pin": "[redacted]" })
        );
    }

    #[test]
    fn text_without_any_value_is_not_copied() {
        assert!(matches!(scrub(&["granted"]).text("order accepted"), Cow::Borrowed(_)));
    }
}
