//! The `amqp` connector (RabbitMQ, AMQP 0-9-1 on lapin): an `amqp` config kind (one connection per
//! config, kept up and re-declaring its topology after every reconnect: [`broker`], [`topology`]), the
//! `amqp.publish` step with publisher confirms ([`publish`]) and the `amqp.listener` source acknowledging
//! after the flow ([`listener`]). What `check` verifies of a config beyond its schema is in [`check`].

mod broker;
mod check;
mod listener;
mod publish;
mod topology;

pub use broker::Broker;
pub use listener::ListenerParams;

use super::types::DurationText;
use crate::component::{ComponentNode, Config, ConfigContext, ConfigRef, Resource, Step, StepContext};
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

const AMQP: Option<ConfigRef> = Some(ConfigRef { kind: "amqp", required: true });

/// A RabbitMQ broker (AMQP 0-9-1): one connection shared by the config's publishers and listeners, the
/// topology it declares (again after each reconnect), its timeouts. `amqps://` connects over TLS (rustls),
/// trusting Mozilla's roots or the CA file given in `tls`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://USER@HOST:PORT/VHOST` (the vhost percent-encoded: `%2f` is `/`, the default when there is
    /// no path). A password may be written in it only as `${secret:NAME}`; or use `password`.
    pub url: String,
    /// The password (use `${secret:NAME}`; never logged); takes the place of one in `url`.
    pub password: Option<String>,
    /// The virtual host, in place of the one in `url` (not encoded: `/`, `games`).
    pub vhost: Option<String>,
    /// Heartbeat interval asked of the broker: a connection silent for about twice as long is taken as
    /// lost (then the connector reconnects).
    #[serde(default = "heartbeat")]
    pub heartbeat: DurationText,
    /// Time allowed to open the connection (TCP, handshake, login, topology); then it tries again.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: DurationText,
    /// Time `amqp.publish` waits for the broker's confirm; then `AMQP:TIMEOUT`.
    #[serde(default = "publish_timeout")]
    pub publish_timeout: DurationText,
    /// TLS settings of an `amqps://` URL.
    pub tls: Option<AmqpTls>,
    /// Exchanges declared at each connect (an existing one must have the same settings).
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    /// Queues declared at each connect.
    #[serde(default)]
    pub queues: Vec<QueueDecl>,
    /// Bindings of queues to exchanges, made at each connect.
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

fn heartbeat() -> DurationText {
    DurationText::secs(30)
}

fn connect_timeout() -> DurationText {
    DurationText::secs(5)
}

fn publish_timeout() -> DurationText {
    DurationText::secs(10)
}

fn yes() -> bool {
    true
}

/// TLS to the broker (`amqps://`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpTls {
    /// PEM file of the CA certificates that sign the broker's certificate, trusted in place of Mozilla's
    /// roots (relative to the directory relais runs from).
    pub ca: Option<String>,
}

/// An exchange's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeKind {
    /// Routes by exact routing key.
    Direct,
    /// Routes to every bound queue.
    Fanout,
    /// Routes by pattern (`order.*`, `order.#`).
    Topic,
    /// Routes by header values.
    Headers,
}

/// A declared exchange.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type", default = "direct")]
    pub kind: ExchangeKind,
    /// Survives a broker restart.
    #[serde(default = "yes")]
    pub durable: bool,
}

fn direct() -> ExchangeKind {
    ExchangeKind::Direct
}

/// A declared queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueDecl {
    /// Its name.
    pub name: String,
    /// Survives a broker restart (its persistent messages too).
    #[serde(default = "yes")]
    pub durable: bool,
    /// Where the broker sends messages rejected by a listener after `max_deliveries` (an exchange
    /// declared here); without it they become relais dead letters.
    pub dead_letter_exchange: Option<String>,
    /// The routing key of dead-lettered messages (default: their own).
    pub dead_letter_routing_key: Option<String>,
    /// Broker-side arguments (`x-queue-type: quorum`, `x-message-ttl: 60000`).
    #[serde(default)]
    pub arguments: BTreeMap<String, serde_json::Value>,
}

/// A binding of a queue to an exchange.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The queue (declared under `queues`).
    pub queue: String,
    /// The exchange (declared under `exchanges`).
    pub exchange: String,
    /// The routing key or pattern (`order.created`, `order.#`).
    #[serde(default)]
    pub routing_key: String,
}

impl Config for AmqpConfig {
    const NAME: &'static str = "amqp";
    const SUMMARY: &'static str =
        "A RabbitMQ broker (AMQP 0-9-1): one connection, its declared topology, kept up with reconnects.";
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_config(self, at, diags);
    }

    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(Broker::new(cx.name, self)?))
    }
}

/// `amqp.publish`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// The exchange (`""`: the default exchange, which routes to the queue named by the routing key).
    #[serde(default)]
    pub exchange: String,
    /// The routing key; may hold `#[...]`.
    #[serde(default)]
    pub routing_key: String,
    /// Message headers; each value may hold `#[...]`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Delivery mode 2: the broker writes the message to disk in a durable queue.
    #[serde(default = "yes")]
    pub persistent: bool,
    /// A message no queue takes is returned by the broker: the step fails with `AMQP:UNROUTABLE`
    /// instead of the message being dropped.
    #[serde(default = "yes")]
    pub mandatory: bool,
}

impl Step for PublishParams {
    const NAME: &'static str = "amqp.publish";
    const SUMMARY: &'static str =
        "Publishes the payload to a RabbitMQ exchange; succeeds once the broker confirmed it.";
    const CONFIG: Option<ConfigRef> = AMQP;
    const OUTBOUND: bool = true;

    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check::check_publish(self, at, diags);
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        publish::build(self, cx)
    }
}
