//! `http.request`: outbound calls to partner systems, configured by an `http.client` config.

use super::types::{DurationText, Method, TlsFiles};
use crate::registry::{ComponentSpec, Role};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// Time allowed to connect (default 5s); then `HTTP:CONNECTIVITY`.
    pub connect_timeout: Option<DurationText>,
    /// Time allowed for the whole response (default 30s); then `HTTP:TIMEOUT`.
    pub timeout: Option<DurationText>,
    /// Authentication.
    pub auth: Option<Auth>,
    /// TLS settings (custom CA, client certificate).
    pub tls: Option<TlsFiles>,
    /// Largest accepted response body in bytes (default 10 MiB).
    #[schemars(range(min = 1))]
    pub max_response_size: Option<u64>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Idle pooled connections kept per host (default 32).
    pub max_idle_connections: Option<u32>,
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
    /// Overrides the client's response timeout.
    pub timeout: Option<DurationText>,
    /// Extra statuses treated as success besides 2xx (e.g. `[404]` to handle "not found" in the flow).
    #[serde(default)]
    pub success_statuses: Vec<u16>,
}

/// The registry entries.
pub fn specs() -> Vec<ComponentSpec> {
    vec![
        ComponentSpec::new::<ClientConfig>("http.client", Role::Config, "Connection settings for one partner system."),
        ComponentSpec::new::<RequestParams>("http.request", Role::Step, "Calls a partner system over HTTP.")
            .with_config("http.client", true),
    ]
}
