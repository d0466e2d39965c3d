//! `http.request`: outbound calls to partner systems, configured by an `http.client` config; the client
//! and the call are in [`call`], the outbound contract in [`contract`].

mod call;
mod contract;

pub use call::status_error;
pub use contract::VIOLATION as CONTRACT_VIOLATION;

use super::types::{DurationText, Method, TlsFiles};
use crate::component::{ComponentNode, Config, ConfigContext, ConfigRef, Resource, Step, StepContext};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How the client authenticates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password (use `${secret:NAME}`).
        password: String,
    },
    /// A fixed bearer token (use `${secret:NAME}`).
    Bearer {
        /// The token.
        token: String,
    },
    /// OAuth2 client credentials: tokens are fetched, cached until shortly before expiry, and refreshed.
    Oauth2 {
        /// Token endpoint URL.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret (use `${secret:NAME}`).
        client_secret: String,
        /// Requested scopes.
        #[serde(default)]
        scopes: Vec<String>,
    },
}

/// Connection settings for one partner system.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL every request path is appended to (`https://crm.example/api`).
    pub base_url: String,
    /// Time allowed to connect; then `HTTP:CONNECTIVITY`.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: DurationText,
    /// Time allowed for the whole response (an OAuth2 token fetch included); then `HTTP:TIMEOUT`.
    #[serde(default = "timeout")]
    pub timeout: DurationText,
    /// Authentication.
    pub auth: Option<Auth>,
    /// TLS settings (custom CA, client certificate).
    pub tls: Option<TlsFiles>,
    /// Largest accepted response body in bytes.
    #[serde(default = "max_response_size")]
    #[schemars(range(min = 1))]
    pub max_response_size: u64,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Idle pooled connections kept per host.
    #[serde(default = "max_idle_connections")]
    pub max_idle_connections: u32,
}

fn connect_timeout() -> DurationText {
    DurationText::secs(5)
}

fn timeout() -> DurationText {
    DurationText::secs(30)
}

fn max_response_size() -> u64 {
    10 * 1024 * 1024
}

fn max_idle_connections() -> u32 {
    32
}

impl Config for ClientConfig {
    const NAME: &'static str = "http.client";
    const SUMMARY: &'static str = "Connection settings for one partner system.";
    const OUTBOUND: bool = true;

    /// One pool per config, whatever the number of steps naming it.
    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(call::client(cx.name, cx.zone, self, cx.engine)?))
    }
}

/// One request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestParams {
    /// HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    pub method: Method,
    /// Path appended to the base URL; may hold `#[...]`.
    #[serde(default)]
    pub path: String,
    /// Query parameters; values may hold `#[...]`.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Headers; values may hold `#[...]`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body (default: the payload); may hold `#[...]`.
    pub body: Option<String>,
    /// Store the response in this variable instead of the payload.
    pub target: Option<String>,
    /// Overrides the client's response timeout for this step.
    pub timeout: Option<DurationText>,
    /// Extra statuses treated as success besides 2xx (e.g. `[404]` to handle "not found" in the flow).
    #[serde(default)]
    pub success_statuses: Vec<u16>,
    /// The outbound contract: a JSON Schema file (relative to the flow file, like a `validate` schema) the
    /// body must satisfy; a body that does not is refused with `CONTRACT:VIOLATION` before anything is
    /// sent. `relais check` warns when private-zone data goes to a partner without one (RL0800) and fails
    /// when one allows a `sensitive_data` field (RL0801).
    pub contract: Option<String>,
}

impl Step for RequestParams {
    const NAME: &'static str = "http.request";
    const SUMMARY: &'static str = "Calls a partner system over HTTP.";
    const CONFIG: Option<ConfigRef> = Some(ConfigRef { kind: "http.client", required: true });
    const OUTBOUND: bool = true;

    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        call::step(self, cx)
    }

    fn mocked(&self, cx: &StepContext<'_>) -> Result<Option<Arc<dyn ComponentNode>>, String> {
        call::mocked(self, cx)
    }
}
