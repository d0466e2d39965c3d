//! One scrub pass: the values to take out of what is about to leave the process (the secrets known, plus the
//! sensitive values of the event or message at hand), applied to text or to a JSON answer.

use super::needles::Needles;
use super::{forms, REDACTED};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// The values to replace by `[redacted]`: built by [`super::Scrubber`] (secrets and an event's sensitive
/// values) or [`Scrub::secrets`] (secrets only, where no event is at hand).
#[derive(Debug, Clone, Default)]
pub struct Scrub {
    secrets: Arc<Vec<String>>,
    /// The sensitive values, as found (their forms are in `needles`).
    values: Vec<String>,
    /// The forms of `values`, compiled at the first text scrubbed.
    needles: OnceLock<Arc<Needles>>,
}

impl Scrub {
    /// The secrets this process resolved, in all their forms, and nothing else.
    pub fn secrets() -> Self {
        Scrub { secrets: super::known::forms(), ..Scrub::default() }
    }

    /// The same scrub, also taking out `value` (a sensitive value) in every form [`forms::of_sensitive`]
    /// lists: as written, JSON-escaped, percent-encoded, hex and base64, whatever its case, and every run of
    /// eight of its characters (what a mapping that cuts it keeps).
    pub(crate) fn add_value(&mut self, value: &str) {
        if !value.is_empty() && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            self.needles = OnceLock::new();
        }
    }

    /// Whether there is anything to take out at all.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.values.is_empty()
    }

    fn needles(&self) -> &Needles {
        self.needles.get_or_init(|| Arc::new(Needles::new(self.values.iter().map(String::as_str), true)))
    }

    /// The byte ranges of `text` to replace, sorted and merged (overlapping or touching ranges become one).
    fn spans(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for secret in self.secrets.iter().filter(|s| s.len() >= forms::MIN_LEN) {
            spans.extend(text.match_indices(secret.as_str()).map(|(at, found)| at..at + found.len()));
        }
        if !self.values.is_empty() {
            self.needles().spans(text, &mut spans);
        }
        spans.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        merged
    }

    /// `text` with every value replaced; borrowed when none occurs. Every form found is replaced, and
    /// forms that overlap or touch (a value containing another, the runs of a cut value) are replaced by
    /// one `[redacted]`; the text is read once for the values whatever their number, and the replacement
    /// is never scrubbed again.
    pub fn text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let spans = self.spans(text);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for span in spans {
            // Every form is whole UTF-8 text and the search is byte-wise (ASCII-only case folding), so a
            // span starts and ends on character boundaries; `get` keeps a surprise from panicking.
            out.push_str(text.get(at..span.start).unwrap_or_default());
            out.push_str(REDACTED);
            at = span.end;
        }
        out.push_str(text.get(at..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// `value` with every string (keys included) scrubbed as text, and numbers holding a value replaced.
    pub fn json(&self, value: &Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.text(s).into_owned()),
            Json::Number(n) if !self.values.is_empty() && !self.spans(&n.to_string()).is_empty() => {
                Json::String(REDACTED.into())
            }
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
    fn a_value_cut_upper_cased_or_encoded_by_a_mapping_is_scrubbed_whole() {
        let s = scrub(&["1961-10-18", "knee surgery 2023"]);
        assert_eq!(s.text("born 1961-10 (61-10-18)"), "born 1961-10 ([redacted])");
        assert_eq!(s.text("NOTE: KNEE SURGERY; ok"), "NOTE: [redacted]; ok");
        assert_eq!(s.text("hex 313936312d31302d3138!"), "hex [redacted]!");
        assert_eq!(s.text("b64 MTk2MS0xMC0xOA=="), "b64 [redacted]");
        assert_eq!(s.text("dated 2024-10-18"), "dated 2024-10-18", "another date of the same day is left alone");
    }

    #[test]
    fn text_without_any_value_is_not_copied() {
        assert!(matches!(scrub(&["granted"]).text("order accepted"), Cow::Borrowed(_)));
    }
}
