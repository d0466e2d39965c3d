//! Value types shared by component configs, with the schemas editors and the validator need.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrExpr {
    /// A fixed value.
    Int(u16),
    /// A `#[...]` expression.
    Expr(ExprText),
}

/// A string that must be a `#[...]` expression.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain (listener) or client certificate (mutual TLS).
    pub cert: Option<String>,
    /// PEM private key matching `cert`.
    pub key: Option<String>,
    /// PEM CA bundle to trust instead of the system roots (client).
    pub ca: Option<String>,
}
