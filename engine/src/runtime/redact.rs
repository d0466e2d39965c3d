//! Keeps sensitive values out of log lines. The fields declared in `sensitive_data` configs are looked up
//! in the event (payload, variables, attributes, at any depth); their values, and every resolved
//! `${secret:...}`, are replaced by `[redacted]` in the text about to be logged.
//!
//! Scrubbing values rather than keys catches a value however it got into the text: a logger template
//! naming the field, a whole payload printed as JSON, or a validation error quoting the bad value.

use super::event::Event;
use super::payload::FormatReader;
use serde_json::Value as Json;
use std::borrow::Cow;
use std::collections::HashSet;

/// What replaces a sensitive value.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not scrubbed (replacing `"M"` or `1` everywhere would garble every line).
const MIN_LEN: usize = 2;

/// The sensitive field names of a program.
#[derive(Debug, Default)]
pub struct Redactor {
    fields: HashSet<String>,
}

impl Redactor {
    /// A redactor for these field names.
    pub fn new<I: IntoIterator<Item = String>>(fields: I) -> Self {
        Redactor { fields: fields.into_iter().map(|f| f.to_lowercase()).collect() }
    }

    /// Whether any field is declared sensitive.
    pub fn is_active(&self) -> bool {
        !self.fields.is_empty()
    }

    fn collect(&self, value: &Json, inside: bool, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (k, v) in map {
                    self.collect(v, inside || self.fields.contains(&k.to_lowercase()), out);
                }
            }
            Json::Array(items) => items.iter().for_each(|v| self.collect(v, inside, out)),
            Json::String(s) if inside && s.len() >= MIN_LEN => out.push(s.clone()),
            Json::Number(n) if inside && n.to_string().len() >= MIN_LEN => out.push(n.to_string()),
            _ => {}
        }
    }

    /// The sensitive values an event carries.
    pub fn values(&self, event: &Event, readers: &dyn FormatReader) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_active() {
            if let Ok(payload) = event.payload.read(readers) {
                self.collect(payload, false, &mut out);
            }
            self.collect(&Json::Object((*event.vars).clone()), false, &mut out);
            self.collect(&event.attributes, false, &mut out);
        }
        out
    }

    /// `text` with the event's sensitive values and every known secret replaced.
    pub fn scrub<'t>(&self, text: &'t str, event: &Event, readers: &dyn FormatReader) -> Cow<'t, str> {
        let mut values = self.values(event, readers);
        values.extend(crate::connectors::secrets::resolved());
        scrub_values(text, values)
    }
}

/// `text` with each of `values` replaced, longest first (so a value containing another is caught whole).
pub fn scrub_values(text: &str, mut values: Vec<String>) -> Cow<'_, str> {
    values.retain(|v| v.len() >= MIN_LEN && text.contains(v.as_str()));
    if values.is_empty() {
        return Cow::Borrowed(text);
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for v in values {
        out = out.replace(&v, REDACTED);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::payload::Format;
    use crate::runtime::Payload;
    use serde_json::json;

    /// JSON payloads need no reader.
    struct NoReader;

    impl FormatReader for NoReader {
        fn read(&self, _: Format, _: &str) -> Result<Json, String> {
            Err("no reader".into())
        }
    }

    #[test]
    fn values_of_sensitive_fields_are_scrubbed_at_any_depth_and_whatever_the_case() {
        let redactor = Redactor::new(["passport_number".to_string(), "Medical_Notes".to_string()]);
        let mut event = Event::with_payload(Payload::value(json!({
            "person": { "name": "Ana", "PASSPORT_NUMBER": "X1234567", "medical_notes": ["asthma", "allergy: nuts"] }
        })));
        event.set_var("copy", json!({ "passport_number": 987654 }));
        let text = r#"person {"name":"Ana","PASSPORT_NUMBER":"X1234567"} notes asthma; allergy: nuts; id 987654"#;
        let scrubbed = redactor.scrub(text, &event, &NoReader);
        assert_eq!(
            scrubbed,
            r#"person {"name":"Ana","PASSPORT_NUMBER":"[redacted]"} notes [redacted]; [redacted]; id [redacted]"#
        );
    }

    #[test]
    fn text_without_sensitive_values_is_not_copied() {
        let redactor = Redactor::new(["visa_status".to_string()]);
        let event = Event::with_payload(Payload::value(json!({ "visa_status": "granted" })));
        assert!(matches!(redactor.scrub("order accepted", &event, &NoReader), Cow::Borrowed(_)));
    }
}
