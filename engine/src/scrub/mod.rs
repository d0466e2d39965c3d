//! The one scrubber on every way out of the process. What leaves (log lines, problem+json bodies, admin
//! answers including dead letters, `relais dlq` output, metrics labels) is scrubbed of:
//!
//! - every resolved `${secret:...}`, in every form it is sent in (as written, percent-encoded, JSON-escaped,
//!   base64, inside Basic auth's `user:password`): registered at resolution time ([`known`], [`forms`]);
//! - every value of a field declared in a `sensitive_data` config, found in the event (or the dead-lettered
//!   message) the text is about, at any depth ([`Scrubber`]).
//!
//! Values are scrubbed rather than keys, so a value is caught however it got into the text: a template
//! naming the field, a whole payload printed, a validation or script error quoting it, a partner echoing it.

mod errors;
pub mod forms;
pub mod guard;
pub mod known;
mod log_writer;
pub mod needles;
mod pass;

pub use log_writer::LogWriter;
pub use pass::Scrub;

use crate::event::payload::FormatReader;
use crate::event::{Event, FlowError};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::collections::HashSet;

/// The field names one `sensitive_data` config declares: the resource it builds, which the plan compiler
/// gathers from every such config into the program's [`Scrubber`].
pub struct SensitiveFields(pub Vec<String>);

impl crate::component::Resource for SensitiveFields {}

/// What replaces a secret or a sensitive value.
pub const REDACTED: &str = "[redacted]";

/// A program's scrubbing policy: the sensitive field names of its `sensitive_data` configs. Secrets need no
/// policy: every one resolved in the process is known ([`known`]).
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    fields: HashSet<String>,
}

impl Scrubber {
    /// A scrubber for these field names (matched case-insensitively).
    pub fn new<I: IntoIterator<Item = String>>(fields: I) -> Self {
        Scrubber { fields: fields.into_iter().map(|f| f.to_lowercase()).collect() }
    }

    /// Whether any field is declared sensitive.
    pub fn is_active(&self) -> bool {
        !self.fields.is_empty()
    }

    fn is_sensitive(&self, key: &str) -> bool {
        self.fields.contains(&key.to_lowercase())
    }

    fn collect(&self, value: &Json, inside: bool, out: &mut Scrub) {
        match value {
            Json::Object(map) => {
                for (k, v) in map {
                    self.collect(v, inside || self.is_sensitive(k), out);
                }
            }
            Json::Array(items) => items.iter().for_each(|v| self.collect(v, inside, out)),
            Json::String(s) if inside => out.add_value(s),
            Json::Number(n) if inside => out.add_value(&n.to_string()),
            _ => {}
        }
    }

    /// The scrub for text about `event`: every known secret, and the sensitive values its payload, variables
    /// and attributes hold.
    pub fn for_event(&self, event: &Event, readers: &dyn FormatReader) -> Scrub {
        let mut scrub = Scrub::secrets();
        if self.is_active() {
            if let Ok(payload) = event.payload.read(readers) {
                self.collect(payload, false, &mut scrub);
            }
            self.collect(&Json::Object((*event.vars).clone()), false, &mut scrub);
            self.collect(&event.attributes, false, &mut scrub);
            // Values the event carried earlier, wherever a mapping has put them since.
            for (_, value) in event.carried.iter().flat_map(|c| c.values()) {
                scrub.add_value(&value);
            }
        }
        scrub
    }

    /// The scrub for what is shown of a stored message (a dead letter): every known secret and the sensitive
    /// values of its payload (read by its media type) and attributes.
    pub fn for_message(
        &self,
        payload: &[u8],
        media_type: &str,
        attributes: &Json,
        readers: &dyn FormatReader,
    ) -> Scrub {
        let mut event = Event::with_payload(crate::runtime::Payload::bytes(payload.to_vec(), media_type));
        event.attributes = attributes.clone().into();
        self.for_event(&event, readers)
    }

    /// `text` without the event's sensitive values or any secret: what every log line about an event goes
    /// through.
    pub fn text<'t>(&self, text: &'t str, event: &Event, readers: &dyn FormatReader) -> Cow<'t, str> {
        self.for_event(event, readers).text(text)
    }

    /// `error` (its description, its causes, the errors of its routes) scrubbed of the event's sensitive
    /// values and every secret: the error as it may leave the runtime.
    pub fn error(&self, error: FlowError, event: &Event, readers: &dyn FormatReader) -> FlowError {
        errors::scrubbed(error, &self.for_event(event, readers))
    }

    /// A JSON answer scrubbed with `scrub`, and with the value of every sensitive field replaced whole
    /// (structured data shows which field was withheld).
    pub fn json(&self, value: &Json, scrub: &Scrub) -> Json {
        match value {
            Json::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if self.is_sensitive(k) && !v.is_null() {
                            Json::String(REDACTED.into())
                        } else {
                            self.json(v, scrub)
                        };
                        (scrub.text(k).into_owned(), v)
                    })
                    .collect(),
            ),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.json(v, scrub)).collect()),
            other => scrub.json(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::payload::Format;
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
        let scrubber = Scrubber::new(["passport_number".to_string(), "Medical_Notes".to_string()]);
        let mut event = Event::with_payload(Payload::value(json!({
            "person": { "name": "Ana", "PASSPORT_NUMBER": "X1234567", "medical_notes": ["asthma", "allergy: nuts"] }
        })));
        event.set_var("copy", json!({ "passport_number": 987654 }));
        let text = r#"person {"name":"Ana","PASSPORT_NUMBER":"X1234567"} notes asthma; allergy: nuts; id 987654"#;
        assert_eq!(
            scrubber.text(text, &event, &NoReader),
            r#"person {"name":"Ana","PASSPORT_NUMBER":"[redacted]"} notes [redacted]; [redacted]; id [redacted]"#
        );
    }

    #[test]
    fn a_value_quoted_json_escaped_is_scrubbed() {
        let scrubber = Scrubber::new(["note".to_string()]);
        let event = Event::with_payload(Payload::value(json!({ "note": "said \"no\"" })));
        let text = r#"`/note`: "said \"no\"" is too long"#;
        assert_eq!(scrubber.text(text, &event, &NoReader), r#"`/note`: "[redacted]" is too long"#);
    }

    #[test]
    fn an_error_leaves_the_runtime_scrubbed_with_its_causes_and_routes() {
        let scrubber = Scrubber::new(["pin".to_string()]);
        let event = Event::with_payload(Payload::value(json!({ "pin": "31337" })));
        let mut error =
            FlowError::new("RETRY:EXHAUSTED", "gave up: pin 31337").caused_by(FlowError::new("APP:X", "pin 31337"));
        error.children.push((0, FlowError::new("APP:Y", "route saw 31337")));
        let error = scrubber.error(error, &event, &NoReader);
        assert_eq!(error.description, "gave up: pin [redacted]");
        assert_eq!(error.cause.map(|c| c.description), Some("pin [redacted]".to_string()));
        assert_eq!(error.children[0].1.description, "route saw [redacted]");
    }

    #[test]
    fn a_stored_message_is_shown_with_its_sensitive_fields_withheld() {
        let scrubber = Scrubber::new(["passport_number".to_string()]);
        let payload = br#"{"passport_number":"P1","copy":"P1 again"}"#;
        let scrub = scrubber.for_message(payload, "application/json", &json!({}), &NoReader);
        let shown = scrubber.json(
            &json!({ "payload": String::from_utf8_lossy(payload), "letter": { "passport_number": "P1" } }),
            &scrub,
        );
        assert_eq!(shown["letter"]["passport_number"], "[redacted]");
        assert_eq!(shown["payload"], r#"{"passport_number":"[redacted]","copy":"[redacted] again"}"#);
    }
}
