//! Value types shared by component configs, with the schemas editors and the validator need.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::time::Duration;

/// A duration written `250ms`, `5s`, `1m30s`, `2h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        relais_dsl::ir::parse_duration(&text)
            .map(DurationText)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a valid duration")))
    }
}

impl DurationText {
    /// `secs` seconds (defaults are written with it).
    pub const fn secs(secs: u64) -> Self {
        DurationText(Duration::from_secs(secs))
    }

    /// `ms` milliseconds.
    pub const fn millis(ms: u64) -> Self {
        DurationText(Duration::from_millis(ms))
    }
}

/// Written back in the largest unit that holds it exactly (`30s`, `250ms`, `2h`): how defaults appear in
/// the schema, `relais explain` and the README.
impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// `d` as a duration text `relais_dsl::ir::parse_duration` reads back to the same value.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 || !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "duration",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$",
            "description": "A duration: a number and a unit (ms, s, m, h, d), repeatable: `250ms`, `1m30s`, `7d`."
        })
    }
}

/// HTTP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
}

impl Method {
    /// The method's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// An integer, or a `#[...]` expression computing one at run time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrExpr {
    /// A fixed value.
    Int(u16),
    /// A `#[...]` expression.
    Expr(ExprText),
}

/// A string that must be a `#[...]` expression.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ExprText(pub String);

impl JsonSchema for ExprText {
    fn schema_name() -> Cow<'static, str> {
        "Expression".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^#\\[[\\s\\S]*\\]$",
            "description": "A Rhai expression `#[...]` evaluated per event."
        })
    }
}

/// TLS files for a listener or client.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain (listener) or client certificate (mutual TLS).
    pub cert: Option<String>,
    /// PEM private key matching `cert`.
    pub key: Option<String>,
    /// PEM CA bundle to trust instead of the system roots (client).
    pub ca: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_written_back_as_text_that_reads_as_the_same_duration() {
        for (d, text) in [(0, "0ms"), (250, "250ms"), (1500, "1500ms"), (30_000, "30s"), (90_000, "90s")] {
            assert_eq!(format_duration(Duration::from_millis(d)), text);
        }
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(7_200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        for d in [1, 999, 1_000, 61_000, 3_600_000, 86_400_000] {
            let d = Duration::from_millis(d);
            assert_eq!(relais_dsl::ir::parse_duration(&format_duration(d)), Some(d));
        }
    }
}
