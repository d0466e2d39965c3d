//! The payload: bytes with a media type, parsed once on first use and cached, or a value built by a step.
//!
//! Sources hand over bytes (an HTTP body); most steps want a value. Parsing is lazy so a flow that only
//! forwards a body never parses it, and cached so that ten steps reading it parse it once. The bytes are a
//! [`Bytes`] (what hyper hands over): answering or forwarding them shares the buffer, it never copies it.
//!
//! A payload a script computed holds the script's value only: its JSON value is converted when a step
//! first reads it, and its bytes are written straight from the script value (`relais_stdlib::write_json`)
//! when it is only answered or sent, with no `serde_json::Value` built in between.

use super::error::FlowError;
use hyper::body::Bytes;
use serde_json::Value as Json;
use std::sync::{Arc, OnceLock};

/// The media type of a value given none: text for a string, JSON for anything else.
pub fn default_media_type(value: &Json) -> &'static str {
    if value.is_string() {
        "text/plain"
    } else {
        "application/json"
    }
}

/// Media types relais understands when turning bytes into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` and `*+json`.
    Json,
    /// `text/*` and anything unknown: the value is the text.
    Text,
    /// `application/x-www-form-urlencoded`: a map of fields.
    Form,
    /// `text/csv`: an array of maps keyed by the header row.
    Csv,
    /// `application/xml`, `text/xml`, `*+xml`: a map (attributes `@name`, text `#text`).
    Xml,
}

impl Format {
    /// The format of a media type (parameters such as `; charset=utf-8` ignored, case ignored). Compared in
    /// place: asked for every payload read and written, it allocates nothing.
    pub fn of(media_type: &str) -> Format {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        let ends_with = |suffix: &str| {
            essence.len() >= suffix.len()
                && essence.as_bytes()[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        };
        if is("application/json") || ends_with("+json") {
            Format::Json
        } else if is("application/x-www-form-urlencoded") {
            Format::Form
        } else if is("text/csv") {
            Format::Csv
        } else if is("application/xml") || is("text/xml") || ends_with("+xml") {
            Format::Xml
        } else {
            Format::Text
        }
    }
}

/// Parsers for formats whose readers live in the mapping library (CSV, XML), provided by the runtime.
pub trait FormatReader: Send + Sync {
    /// Reads text in `format` (CSV or XML) into a value.
    fn read(&self, format: Format, text: &str) -> Result<Json, String>;
}

/// An event's payload.
#[derive(Debug, Clone)]
pub struct Payload {
    media_type: Arc<str>,
    raw: Option<Bytes>,
    /// The value: parsed from `raw`, given, or converted from `script_value` (a script's result), on first use.
    value: OnceLock<Json>,
    /// The value as scripts see it, converted once: several scripts reading one payload share it.
    script_value: OnceLock<rhai::Dynamic>,
}

impl Payload {
    /// A payload from a value (what steps produce); JSON unless said otherwise.
    pub fn value(value: Json) -> Self {
        Payload::value_as(value, "application/json")
    }

    /// A payload from a value with an explicit media type (`text/plain` for a text payload).
    pub fn value_as(value: Json, media_type: &str) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        Payload { media_type: media_type.into(), raw: None, value: cell, script_value: OnceLock::new() }
    }

    /// A payload known before any event (a `set_payload` of literals): the value and its bytes, written once,
    /// so that every event sharing it sends the same bytes without writing them again.
    pub fn fixed(value: Json, media_type: &str) -> Self {
        let mut payload = Payload::value_as(value, media_type);
        payload.raw = Some(payload.to_body());
        payload
    }

    /// A JSON payload a script computed: the next script reading it starts from `script_value`, a step
    /// reading its value gets it converted once, and its bytes are written straight from `script_value`.
    /// `script_value` must have a JSON form (`relais_stdlib::check_json_form`), so that neither can fail.
    pub fn from_script(script_value: rhai::Dynamic) -> Self {
        let script = OnceLock::new();
        let _ = script.set(script_value);
        Payload { media_type: "application/json".into(), raw: None, value: OnceLock::new(), script_value: script }
    }

    /// A payload from bytes as received (a `Vec<u8>`, or hyper's [`Bytes`] kept without a copy); parsed when
    /// first read.
    pub fn bytes(raw: impl Into<Bytes>, media_type: &str) -> Self {
        Payload {
            media_type: media_type.into(),
            raw: Some(raw.into()),
            value: OnceLock::new(),
            script_value: OnceLock::new(),
        }
    }

    /// The media type.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The value, parsing the bytes on first use according to the media type. A body that does not parse
    /// fails with `PAYLOAD:INVALID` (an HTTP listener answers 400).
    pub fn read(&self, reader: &dyn FormatReader) -> Result<&Json, FlowError> {
        if let Some(v) = self.value.get() {
            return Ok(v);
        }
        if let (None, Some(d)) = (&self.raw, self.script_value.get()) {
            // Checked when the script returned it: the conversion does not fail.
            let converted = relais_stdlib::dynamic_to_json(d)
                .map_err(|e| FlowError::new("PAYLOAD:INVALID", format!("payload has no JSON form: {e}")))?;
            return Ok(self.value.get_or_init(|| converted));
        }
        let raw = self.raw.as_deref().unwrap_or(&[]);
        let parsed = parse(raw, Format::of(&self.media_type), reader).map_err(|why| self.invalid(why))?;
        Ok(self.value.get_or_init(|| parsed))
    }

    /// The value as a Rhai `Dynamic`, converted on first use and cached.
    pub fn script_value(&self, reader: &dyn FormatReader) -> Result<rhai::Dynamic, FlowError> {
        if let Some(d) = self.script_value.get() {
            return Ok(d.clone());
        }
        let d = self.new_script_value(reader)?;
        Ok(self.script_value.get_or_init(|| d).clone())
    }

    /// The value as a Rhai `Dynamic` for a script that keeps it (a transform, whose result replaces the
    /// payload): the cached one when there is one (a copy: cloning a script value copies every map and array
    /// in it), else one converted for it alone and not cached, so that a payload only that script reads is
    /// converted once and never copied. A later reader converts it again, to the same value.
    pub fn script_value_to_keep(&self, reader: &dyn FormatReader) -> Result<rhai::Dynamic, FlowError> {
        match self.script_value.get() {
            Some(d) => Ok(d.clone()),
            None => self.new_script_value(reader),
        }
    }

    /// The value as a Rhai `Dynamic`, converted anew. JSON bytes no step has read yet go straight into a
    /// script value (`relais_stdlib::json_bytes_to_dynamic`: the value a parse then a conversion gives, in one
    /// pass, with no JSON tree built and dropped); bytes it refuses are read the usual way, which gives the
    /// error a step reading them gets.
    fn new_script_value(&self, reader: &dyn FormatReader) -> Result<rhai::Dynamic, FlowError> {
        if let (Some(raw), None) = (&self.raw, self.value.get()) {
            if Format::of(&self.media_type) == Format::Json {
                if raw.iter().all(u8::is_ascii_whitespace) {
                    return Ok(rhai::Dynamic::UNIT);
                }
                if let Ok(d) = relais_stdlib::json_bytes_to_dynamic(raw) {
                    return Ok(d);
                }
            }
        }
        // Parsed payloads are checked against the depth limit, but a step may have built a deeper one (a
        // `scatter_gather` array of deep results): a limit of the payload, not of the script.
        relais_stdlib::json_to_dynamic(self.read(reader)?)
            .map_err(|e| FlowError::new("PAYLOAD:INVALID", format!("payload cannot be given to a script: {e}")))
    }

    /// Checks that the bytes are what their media type says, as [`Payload::read`] would, without keeping a
    /// tree when nothing asked for one: JSON is checked by [`super::json_check`] (no allocation per value), and
    /// parsed into a value only when a step reads it. Other formats are parsed and cached here (their readers
    /// are the only check there is). A payload built from a value is valid.
    pub fn check(&self, reader: &dyn FormatReader) -> Result<(), FlowError> {
        match &self.raw {
            Some(raw) if self.value.get().is_none() && Format::of(&self.media_type) == Format::Json => {
                super::json_check::check(raw).map_err(|why| self.invalid(why))
            }
            _ => self.read(reader).map(|_| ()),
        }
    }

    fn invalid(&self, why: impl std::fmt::Display) -> FlowError {
        FlowError::new("PAYLOAD:INVALID", format!("payload is not valid {}: {why}", self.media_type))
    }

    /// The payload as bytes to send: the received bytes shared (no copy), or the value written in its media
    /// type.
    pub fn to_body(&self) -> Bytes {
        match (&self.raw, self.value.get(), self.script_value.get()) {
            (Some(raw), ..) => raw.clone(),
            (None, Some(Json::String(s)), _) if Format::of(&self.media_type) != Format::Json => {
                Bytes::from(s.clone().into_bytes())
            }
            (None, Some(v), _) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            (None, None, Some(d)) => {
                let mut out = Vec::with_capacity(256);
                // Checked when the script returned it (`from_script`): writing it does not fail.
                match relais_stdlib::write_json(d, &mut out) {
                    Ok(()) => Bytes::from(out),
                    Err(_) => Bytes::new(),
                }
            }
            (None, None, None) => Bytes::new(),
        }
    }

    /// The payload as owned bytes (a copy of [`Payload::to_body`]), for what stores them (queues, dead
    /// letters).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_body().into()
    }
}

/// Parses `raw` as `format`. A value nested deeper than [`relais_stdlib::MAX_DEPTH`] is refused here, where a
/// listener answers 400, rather than when a script first reads it (serde_json stops at 128 levels, and its
/// own recursion no deeper; the CSV and XML readers convert through the same limit).
fn parse(raw: &[u8], format: Format, reader: &dyn FormatReader) -> Result<Json, String> {
    if format == Format::Json {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Json::Null);
        }
        let value: Json = relais_stdlib::json_bytes_to_value(raw).map_err(|e| e.to_string())?;
        relais_stdlib::check_depth(&value).map_err(|e| e.to_string())?;
        return Ok(value);
    }
    let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8 text ({e})"))?;
    match format {
        Format::Text | Format::Json => Ok(Json::String(text.to_string())),
        Format::Form => Ok(Json::Object(
            form_pairs(text).map(|(k, v)| (k, Json::String(v))).collect::<serde_json::Map<String, Json>>(),
        )),
        Format::Csv | Format::Xml => reader.read(format, text),
    }
}

/// `a=1&b=x%20y` -> pairs, with `+` as space and percent-decoding (invalid escapes kept as written).
fn form_pairs(text: &str) -> impl Iterator<Item = (String, String)> + '_ {
    text.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoReader;
    impl FormatReader for NoReader {
        fn read(&self, _: Format, _: &str) -> Result<Json, String> {
            Err("unsupported".into())
        }
    }

    #[test]
    fn json_bytes_are_parsed_once_and_cached() {
        let p = Payload::bytes(b"{\"a\": 1}".to_vec(), "application/json; charset=utf-8");
        let first: *const Json = p.read(&NoReader).unwrap();
        let second: *const Json = p.read(&NoReader).unwrap();
        assert_eq!(first, second);
        assert_eq!(p.read(&NoReader).unwrap()["a"], 1);
    }

    #[test]
    fn form_bodies_become_maps_with_decoded_values() {
        let p = Payload::bytes(b"name=L%C3%A9on+M&x=%zz&y=%+1&z=%2B".to_vec(), "application/x-www-form-urlencoded");
        let v = p.read(&NoReader).unwrap();
        assert_eq!(v["name"], "Léon M");
        assert_eq!(v["x"], "%zz");
        assert_eq!(v["y"], "% 1", "an escape with a sign is no byte");
        assert_eq!(v["z"], "+");
    }

    #[test]
    fn malformed_json_is_a_typed_payload_error() {
        let p = Payload::bytes(b"{oops".to_vec(), "application/json");
        assert_eq!(p.read(&NoReader).unwrap_err().error_type.to_string(), "PAYLOAD:INVALID");
    }

    #[test]
    fn json_nested_past_the_depth_limit_is_a_typed_payload_error() {
        let depth = relais_stdlib::MAX_DEPTH;
        let at_limit = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(Payload::bytes(at_limit.into_bytes(), "application/json").read(&NoReader).is_ok());
        for levels in [depth + 1, 100_000] {
            let deep = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
            let err = Payload::bytes(deep.into_bytes(), "application/json").read(&NoReader).unwrap_err();
            assert_eq!(err.error_type.to_string(), "PAYLOAD:INVALID", "{levels}: {err:?}");
        }
    }

    #[test]
    fn a_built_payload_too_deep_for_a_script_is_a_typed_payload_error() {
        let deep = (0..=relais_stdlib::MAX_DEPTH).fold(Json::Null, |inner, _| Json::Array(vec![inner]));
        let err = Payload::value(deep).script_value(&NoReader).unwrap_err();
        assert_eq!(err.error_type.to_string(), "PAYLOAD:INVALID");
    }

    #[test]
    fn media_types_are_recognised_whatever_their_case_and_parameters() {
        assert_eq!(Format::of("Application/JSON; charset=utf-8"), Format::Json);
        assert_eq!(Format::of(" application/problem+JSON "), Format::Json);
        assert_eq!(Format::of("APPLICATION/X-WWW-FORM-URLENCODED"), Format::Form);
        assert_eq!(Format::of("text/CSV;header=present"), Format::Csv);
        assert_eq!(Format::of("Text/Xml"), Format::Xml);
        assert_eq!(Format::of("application/atom+xml"), Format::Xml);
        assert_eq!(Format::of("json"), Format::Text);
        assert_eq!(Format::of(""), Format::Text);
    }

    #[test]
    fn checking_json_bytes_builds_no_value_and_reading_them_later_still_works() {
        let p = Payload::bytes(b"{\"a\": [1, \"x\"]}".to_vec(), "application/json");
        assert!(p.check(&NoReader).is_ok());
        assert!(p.value.get().is_none(), "a check keeps no tree");
        assert_eq!(p.read(&NoReader).unwrap()["a"][1], "x");
        let bad = Payload::bytes(b"{\"a\": }".to_vec(), "application/json");
        assert_eq!(bad.check(&NoReader).unwrap_err().error_type.to_string(), "PAYLOAD:INVALID");
    }

    #[test]
    fn a_fixed_payload_reads_as_its_value_and_sends_the_bytes_written_once() {
        let p = Payload::fixed(serde_json::json!({"status": "ok", "n": 1}), "application/json");
        assert_eq!(p.to_body(), Bytes::from_static(b"{\"status\":\"ok\",\"n\":1}"));
        assert_eq!(p.to_body().as_ptr(), p.to_body().as_ptr());
        assert_eq!(p.read(&NoReader).unwrap()["n"], 1);
        assert_eq!(Payload::fixed(Json::String("hi".into()), "text/plain").to_body(), Bytes::from_static(b"hi"));
    }

    #[test]
    fn received_bytes_are_sent_on_without_a_copy() {
        let received = Bytes::from(b"{\"a\": 1}".to_vec());
        let p = Payload::bytes(received.clone(), "application/json");
        assert_eq!(p.to_body().as_ptr(), received.as_ptr());
    }

    #[test]
    fn a_script_result_reads_and_writes_as_its_json_value() {
        let json = serde_json::json!({ "b": [1, 2.5, "x\"y", null], "a": { "ok": true } });
        let script_value = relais_stdlib::json_to_dynamic(&json).unwrap();
        let written = Payload::from_script(script_value.clone()).to_bytes();
        assert_eq!(written, serde_json::to_vec(&relais_stdlib::dynamic_to_json(&script_value).unwrap()).unwrap());
        let payload = Payload::from_script(script_value);
        assert_eq!(payload.read(&NoReader).unwrap(), &json);
        assert_eq!(payload.to_bytes(), written, "bytes written from the converted value are the same");
        assert_eq!(payload.media_type(), "application/json");
    }

    #[test]
    fn a_script_reading_json_bytes_first_gets_the_value_a_parse_then_a_conversion_gives() {
        let order =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/bench/data/order_large.json")).unwrap();
        for bytes in [order, b" {\"n\": [1, 1.0, -0, 1e3, 18446744073709551615], \"s\": \"\\u00e9\"} ".to_vec()] {
            let two_steps = relais_stdlib::json_to_dynamic(
                Payload::bytes(bytes.clone(), "application/json").read(&NoReader).unwrap(),
            )
            .unwrap();
            let payload = Payload::bytes(bytes, "application/json");
            let kept = payload.script_value_to_keep(&NoReader).unwrap();
            let json = |d: &rhai::Dynamic| relais_stdlib::dynamic_to_json(d).unwrap();
            assert_eq!(json(&kept), json(&two_steps));
            assert_eq!(json(&payload.script_value(&NoReader).unwrap()), json(&two_steps));
        }
    }

    #[test]
    fn a_value_kept_by_a_script_is_neither_cached_nor_parsed_into_json() {
        let p = Payload::bytes(b"{\"a\": [1, \"x\"]}".to_vec(), "application/json");
        let kept = p.script_value_to_keep(&NoReader).unwrap();
        assert!(kept.is_map());
        assert!(p.value.get().is_none() && p.script_value.get().is_none());
        assert_eq!(p.read(&NoReader).unwrap()["a"][1], "x", "the bytes still read as before");
        let cached = p.script_value(&NoReader).unwrap();
        assert!(p.script_value.get().is_some());
        assert_eq!(p.script_value_to_keep(&NoReader).unwrap().to_string(), cached.to_string());
    }

    #[test]
    fn json_bytes_a_script_cannot_read_fail_as_a_step_reading_them_does() {
        let depth = relais_stdlib::MAX_DEPTH;
        for bytes in [
            b"{oops".to_vec(),
            b"[1] 2".to_vec(),
            format!("{}{}", "[".repeat(depth + 1), "]".repeat(depth + 1)).into_bytes(),
            format!("{}{}", "[".repeat(depth + 20), "]".repeat(depth + 1)).into_bytes(),
            format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        ] {
            let read = Payload::bytes(bytes.clone(), "application/json").read(&NoReader).unwrap_err();
            for kept in [true, false] {
                let p = Payload::bytes(bytes.clone(), "application/json");
                let err = if kept { p.script_value_to_keep(&NoReader) } else { p.script_value(&NoReader) }.unwrap_err();
                assert_eq!(err.error_type.to_string(), "PAYLOAD:INVALID");
                assert_eq!(err.to_string(), read.to_string());
            }
        }
        let blank = Payload::bytes(b" \n ".to_vec(), "application/json");
        assert!(blank.script_value_to_keep(&NoReader).unwrap().is_unit());
        assert!(blank.script_value(&NoReader).unwrap().is_unit());
    }

    #[test]
    fn text_values_write_back_as_plain_bytes() {
        assert_eq!(Payload::value_as(Json::String("hi".into()), "text/plain").to_bytes(), b"hi");
        assert_eq!(Payload::value(Json::String("hi".into())).to_bytes(), b"\"hi\"");
    }
}
