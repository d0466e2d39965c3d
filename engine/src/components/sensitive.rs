//! `sensitive_data`: names the fields whose values must never leave the process by a way other than the
//! flow's own answer (passport number, visa status, date of birth, medical notes): log lines, problem+json
//! bodies, admin answers, `relais dlq` output are scrubbed of them (`scrub`). A config kind rather than new syntax, so both flow syntaxes, the
//! schema and the editor support come from the registry.

use crate::component::{Config, ConfigContext, Resource};
use crate::scrub::SensitiveFields;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// The fields to redact.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensitiveConfig {
    /// Field names (matched case-insensitively at any depth of the payload, variables and attributes).
    /// Their values are replaced by `[redacted]` in every log line the engine writes for the event, in
    /// problem+json bodies and in what the admin port and `relais dlq` show of dead letters.
    #[schemars(length(min = 1))]
    pub fields: Vec<String>,
}

impl Config for SensitiveConfig {
    const NAME: &'static str = "sensitive_data";
    const SUMMARY: &'static str = "Fields whose values are redacted from logs, error answers and dead-letter listings.";
    const SYSTEM: bool = false;

    fn build(&self, _: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(SensitiveFields(self.fields.clone())))
    }
}
