//! The `nats` connector (NATS JetStream): a `nats` config kind (one client per config, connecting and
//! reconnecting on its own, declaring its stream, [`client`]), the `nats.publish` step succeeding only on
//! the stream's acknowledgement ([`publish`]), and the `nats.listener` source on a durable pull consumer
//! with explicit acks ([`listener`]). Subjects and names are checked before traffic ([`check`]).

mod check;
mod client;
mod listener;
mod publish;

pub use client::Nats;
pub use listener::ListenerParams;

use super::types::{DurationText, TlsFiles};
use crate::component::{ComponentNode, Config, ConfigContext, ConfigRef, Resource, Step, StepContext};
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

const NATS: Option<ConfigRef> = Some(ConfigRef { kind: "nats", required: true });

/// A NATS server (or cluster) with JetStream.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URLs (`nats://host:4222`, `tls://host:4222`); several for a cluster, tried in turn. Never
    /// with credentials in them: use `user`/`password` or `token`.
    #[serde(default = "servers")]
    #[schemars(length(min = 1))]
    pub servers: Vec<String>,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password of `user` (use `${secret:NAME}`; never logged).
    pub password: Option<String>,
    /// Authentication token instead of a user (use `${secret:NAME}`; never logged).
    pub token: Option<String>,
    /// Time allowed to connect (and a step waits for a connection); then `NATS:CONNECTIVITY`.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: DurationText,
    /// Time a publish waits for the stream's acknowledgement (and any JetStream request); then
    /// `NATS:TIMEOUT`.
    #[serde(default = "request_timeout")]
    pub request_timeout: DurationText,
    /// TLS towards the server (required once given): `ca` to trust instead of Mozilla's roots, `cert`
    /// and `key` for a client certificate.
    pub tls: Option<TlsFiles>,
    /// A stream the config declares (created, or updated to these settings, at each connection).
    pub stream: Option<StreamDecl>,
}

/// A JetStream stream declared by a `nats` config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamDecl {
    /// The stream's name (no `.`, `*`, `>` or spaces).
    pub name: String,
    /// The subjects it keeps (`orders.>`, `accreditations.*.changed`).
    #[schemars(length(min = 1))]
    pub subjects: Vec<String>,
    /// Where the server keeps its messages.
    #[serde(default = "file")]
    pub storage: Storage,
    /// When the server removes messages.
    #[serde(default = "limits")]
    pub retention: Retention,
    /// Age after which the server removes a message (`0ms`: never).
    #[serde(default = "forever")]
    pub max_age: DurationText,
    /// Time during which a second message with the same `Nats-Msg-Id` is dropped as a duplicate.
    #[serde(default = "duplicate_window")]
    pub duplicate_window: DurationText,
}

/// Where a stream's messages are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// On disk: they survive a server restart.
    File,
    /// In memory: faster, lost when the server stops.
    Memory,
}

/// When a stream's messages are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// At the stream's limits (`max_age`).
    Limits,
    /// Once every consumer acknowledged them.
    Interest,
    /// Once one consumer acknowledged them (a work queue).
    WorkQueue,
}

fn servers() -> Vec<String> {
    vec!["nats://127.0.0.1:4222".into()]
}

fn connect_timeout() -> DurationText {
    DurationText::secs(5)
}

fn request_timeout() -> DurationText {
    DurationText::secs(5)
}

fn file() -> Storage {
    Storage::File
}

fn limits() -> Retention {
    Retention::Limits
}

fn forever() -> DurationText {
    DurationText::millis(0)
}

fn duplicate_window() -> DurationText {
    DurationText::secs(120)
}

impl Config for NatsConfig {
    const NAME: &'static str = "nats";
    const SUMMARY: &'static str = "A NATS server with JetStream: one connection shared by its steps and listeners.";
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_config(self, at, diags);
    }

    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(Nats::new(cx.name, self)?))
    }
}

/// `nats.publish`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// The subject (`orders.created`, `accreditations.#[payload.category]`); a stream must keep it.
    pub subject: String,
    /// Headers sent with the message; values may hold `#[...]`. `X-Correlation-ID` (the event's) and
    /// `Content-Type` (the payload's) are always sent.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The `Nats-Msg-Id` header (may hold `#[...]`): the stream drops a second message with the same id
    /// within its duplicate window, so a retried publish is kept once.
    pub message_id: Option<String>,
    /// What is sent (default: the payload's bytes); may hold `#[...]`.
    pub body: Option<String>,
    /// Store the acknowledgement (`{ stream, sequence, duplicate }`) in this variable; the payload is
    /// kept either way.
    pub target: Option<String>,
}

impl Step for PublishParams {
    const NAME: &'static str = "nats.publish";
    const SUMMARY: &'static str =
        "Publishes the payload to a JetStream subject; succeeds once the stream acknowledged it.";
    const CONFIG: Option<ConfigRef> = NATS;
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_publish(self, at, diags);
    }

    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        publish::build(self, cx)
    }
}
