//! The `db` connector (PostgreSQL): a `db` config kind (one pool per config, [`pool`]), the `db.query`
//! and `db.execute` steps ([`statement`]), and the `db.listener` source polling a query past a watermark
//! ([`listener`]), and the `db.transaction` scope ([`transaction`]). Values are always bound, never spliced into SQL text ([`check`]); rows become JSON by
//! the mapping in [`values`].

mod check;
mod listener;
mod pool;
mod sql;
mod statement;
mod transaction;
mod values;

pub use pool::Db;

use super::types::DurationText;
use crate::component::{ComponentNode, Config, ConfigContext, ConfigRef, Resource, Step, StepContext};
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::sync::Arc;

const DB: Option<ConfigRef> = Some(ConfigRef { kind: "db", required: true });

/// A PostgreSQL database. `sslmode` says how connections use TLS, as libpq reads it (`prefer` by default:
/// TLS when the server offers it, unchecked); `verify-ca` and `verify-full` check the server's certificate
/// against the CA file `tls.ca`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    /// Host name or address of the server.
    #[serde(default = "host")]
    pub host: String,
    /// Port of the server.
    #[serde(default = "port")]
    pub port: u16,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (use `${secret:NAME}`; never logged).
    pub password: Option<String>,
    /// Connections kept at most; steps wait for a free one up to `acquire_timeout`.
    #[serde(default = "pool_size")]
    #[schemars(range(min = 1))]
    pub pool_size: u32,
    /// Time allowed to open a connection; then `DB:CONNECTIVITY`.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: DurationText,
    /// Time a step waits for a free connection of a busy pool; then `DB:TIMEOUT`.
    #[serde(default = "acquire_timeout")]
    pub acquire_timeout: DurationText,
    /// Time one statement may run (the server's `statement_timeout`); then `DB:TIMEOUT`.
    #[serde(default = "statement_timeout")]
    pub statement_timeout: DurationText,
    /// How connections use TLS: `disable`, `prefer` (the default), `require`, `verify-ca` or `verify-full`.
    #[serde(default)]
    pub sslmode: SslMode,
    /// TLS files: `ca`, the PEM CA file the server's certificate is checked against (needed by `verify-ca`
    /// and `verify-full`; given to `require`, it checks the chain as `verify-ca` does).
    pub tls: Option<DbTls>,
}

/// libpq's `sslmode` values, as a `db` config writes them (`Serialize` so that the schema, and the README's
/// components table generated from it, show the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, its certificate not checked.
    #[default]
    Prefer,
    /// TLS or no connection.
    Require,
    /// TLS with a certificate signed by `tls.ca`.
    VerifyCa,
    /// TLS with a certificate signed by `tls.ca` and issued for `host`.
    VerifyFull,
}

impl SslMode {
    /// The store's mode of the same name (one reading of `sslmode` for the `db` connector and `--state`).
    pub fn shared(self) -> relais_store::pg_tls::SslMode {
        use relais_store::pg_tls::SslMode as S;
        match self {
            SslMode::Disable => S::Disable,
            SslMode::Prefer => S::Prefer,
            SslMode::Require => S::Require,
            SslMode::VerifyCa => S::VerifyCa,
            SslMode::VerifyFull => S::VerifyFull,
        }
    }
}

/// The TLS files of a `db` config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbTls {
    /// PEM file of the CA certificates that sign the server's certificate (relative to the directory relais
    /// runs from).
    pub ca: Option<String>,
}

fn host() -> String {
    "127.0.0.1".into()
}

fn port() -> u16 {
    5432
}

fn pool_size() -> u32 {
    8
}

fn connect_timeout() -> DurationText {
    DurationText::secs(5)
}

fn acquire_timeout() -> DurationText {
    DurationText::secs(10)
}

fn statement_timeout() -> DurationText {
    DurationText::secs(30)
}

impl Config for DbConfig {
    const NAME: &'static str = "db";
    const SUMMARY: &'static str = "A PostgreSQL database: one pool of connections shared by its steps.";
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_config(self, at, diags);
    }

    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(Db::new(cx.name, self)?))
    }
}

/// Values bound to a statement's placeholders: a map for `:name` placeholders, a list for `$1`...
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Parameters {
    /// `parameters: { id: "#[payload.id]" }` for `... WHERE id = :id`.
    Named(BTreeMap<String, Json>),
    /// `parameters: ["#[payload.id]"]` for `... WHERE id = $1`.
    Positional(Vec<Json>),
}

/// `db.query`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// The statement; values only through placeholders (`:name` or `$1`), never `#[...]`.
    pub sql: String,
    /// Values bound to the placeholders; each may hold `#[...]`.
    pub parameters: Option<Parameters>,
    /// One row as a map instead of a list (`DB:NO_ROWS` when there is none, `DB:TOO_MANY_ROWS` when there
    /// are more).
    #[serde(default)]
    pub single: bool,
    /// Store the rows in this variable instead of the payload.
    pub target: Option<String>,
}

/// `db.execute`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteParams {
    /// The statement (`INSERT`, `UPDATE`, `DELETE`, DDL); values only through placeholders.
    pub sql: String,
    /// Values bound to the placeholders; each may hold `#[...]`.
    pub parameters: Option<Parameters>,
    /// Store the affected row count in this variable instead of the payload.
    pub target: Option<String>,
}

impl Step for QueryParams {
    const NAME: &'static str = "db.query";
    const SUMMARY: &'static str = "Runs a query; the rows become the payload (a list of maps, or one map).";
    const CONFIG: Option<ConfigRef> = DB;
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_statement(&self.sql, "sql", self.parameters.as_ref(), &[], at, diags);
    }

    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        let answer = statement::Answer::Rows { single: self.single };
        statement::build(cx, &self.sql, self.parameters.as_ref(), answer, self.target.clone())
    }
}

impl Step for ExecuteParams {
    const NAME: &'static str = "db.execute";
    const SUMMARY: &'static str = "Runs a statement; the affected row count becomes the payload.";
    const CONFIG: Option<ConfigRef> = DB;
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_statement(&self.sql, "sql", self.parameters.as_ref(), &[], at, diags);
    }

    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        statement::build(cx, &self.sql, self.parameters.as_ref(), statement::Answer::Count, self.target.clone())
    }
}

pub use listener::ListenerParams;
