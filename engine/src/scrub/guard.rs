//! The guard on calls to partner-zone systems: a path, query, header or body holding a sensitive value
//! the event has carried (a value of a `sensitive_data` field, whatever field holds it now) is refused
//! with `SENSITIVE:LEAK` before a byte leaves, naming the field and the system, never the value; each
//! refusal is counted (`relais_sensitive_leaks_refused_total{system}` on `/metrics`).

use super::{forms, Scrubber};
use crate::event::carried::Carried;
use crate::event::payload::FormatReader;
use crate::event::{Event, FlowError};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Values shorter than this are not looked for.
pub const MIN_VALUE: usize = forms::MIN_VALUE;

/// The error type of a refused call.
pub const LEAK: &str = "SENSITIVE:LEAK";

impl Scrubber {
    fn record(&self, value: &Json, field: Option<&str>, carried: &Carried) {
        match value {
            Json::Object(map) => {
                for (k, v) in map {
                    let field = if self.is_sensitive(k) { Some(k.as_str()) } else { field };
                    self.record(v, field, carried);
                }
            }
            Json::Array(items) => items.iter().for_each(|v| self.record(v, field, carried)),
            Json::String(s) if field.is_some() => carried.record(field.unwrap_or_default(), s),
            Json::Number(n) if field.is_some() => carried.record(field.unwrap_or_default(), &n.to_string()),
            _ => {}
        }
    }

    /// Records the sensitive values `event` holds now (payload and variables) among those it carried.
    pub fn carry(&self, event: &mut Event, readers: &dyn FormatReader) {
        if !self.is_active() {
            return;
        }
        let carried = event.carried.get_or_insert_with(Arc::default).clone();
        if let Ok(payload) = event.payload.read(readers) {
            self.record(payload, None, &carried);
        }
        for (k, v) in event.vars.iter() {
            self.record(v, self.is_sensitive(k).then_some(k.as_str()), &carried);
        }
    }
}

/// Refuses a call to partner-zone `system` when one of `parts` (`(what, text)`: `path`, `query`,
/// `header x`, `body`) holds a sensitive value `event` has carried, in any form [`forms::of_sensitive`]
/// lists (as written, JSON-escaped, percent-encoded, hex, base64, whatever its case, or a run of eight of
/// its characters: cut, or inside a longer string). Each part is read once, whatever the number of values.
pub fn check(event: &Event, system: &str, parts: &[(&str, &str)]) -> Result<(), FlowError> {
    let Some(carried) = &event.carried else { return Ok(()) };
    let (fields, needles) = carried.needles();
    if needles.is_empty() {
        return Ok(());
    }
    for (part, text) in parts {
        if let Some(field) = needles.find(text).and_then(|i| fields.get(i)) {
            refused(system);
            return Err(FlowError::new(
                LEAK,
                format!(
                    "the {part} of the call to partner-zone config `{system}` holds the value of sensitive field \
                     `{field}` (or a part of it); the call was refused before sending anything"
                ),
            ));
        }
    }
    Ok(())
}

fn counts() -> &'static Mutex<BTreeMap<String, u64>> {
    static COUNTS: std::sync::OnceLock<Mutex<BTreeMap<String, u64>>> = std::sync::OnceLock::new();
    COUNTS.get_or_init(Mutex::default)
}

fn refused(system: &str) {
    *counts().lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(system.to_string()).or_default() += 1;
}

/// Calls refused since start, by system.
pub fn refusals() -> BTreeMap<String, u64> {
    counts().lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Json;
    impl FormatReader for Json {
        fn read(&self, _: crate::event::payload::Format, t: &str) -> Result<serde_json::Value, String> {
            serde_json::from_str(t).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn a_part_of_a_value_inside_a_longer_string_is_refused_and_other_text_goes() {
        let scrubber = Scrubber::new(["medical_notes".to_string()]);
        let mut ev = Event::new(serde_json::json!({ "medical_notes": "allergy: penicillin" }));
        scrubber.carry(&mut ev, &Json);
        let err = check(&ev, "crm", &[("body", r#"{"note":"ALLERGY: PENIC (see file)"}"#)]).unwrap_err();
        assert!(err.description.contains("`medical_notes`"), "{}", err.description);
        assert!(check(&ev, "crm", &[("body", r#"{"note":"no known allergy"}"#)]).is_ok());
        let hex: String = "penicillin".bytes().map(|b| format!("{b:02X}")).collect();
        assert!(check(&ev, "crm", &[("query", &format!("n={hex}"))]).is_err(), "upper-case hex of a part");
    }

    #[test]
    fn a_value_stays_sensitive_after_its_field_is_renamed_and_is_found_encoded() {
        let scrubber = Scrubber::new(["passport_number".to_string()]);
        let mut ev = Event::new(serde_json::json!({ "person": { "passport_number": "P1234567" } }));
        scrubber.carry(&mut ev, &Json);
        ev.set_payload(crate::event::Payload::value(serde_json::json!({ "doc": "P1234567" })));
        scrubber.carry(&mut ev, &Json);
        assert_eq!(ev.carried.as_ref().unwrap().values(), [("passport_number".to_string(), "P1234567".to_string())]);
        let err = check(&ev, "partner", &[("path", "/x"), ("body", "{\"doc\":\"P1234567\"}")]).unwrap_err();
        assert_eq!(err.error_type.to_string(), LEAK);
        assert!(err.description.contains("body") && err.description.contains("`passport_number`"));
        assert!(!err.description.contains("P1234567"));
        assert!(check(&ev, "partner", &[("query", "id=UDEyMzQ1Njc")]).is_err(), "base64 without padding");
        assert!(check(&ev, "partner", &[("body", "{\"id\":42}")]).is_ok());
        assert!(check(&ev, "partner", &[("header x-doc", "p1234567")]).is_err(), "lower-cased");
        assert!(refusals()["partner"] >= 3);
    }
}
