//! What an `amqp` config builds, shared by every step and listener naming it: one AMQP connection, kept
//! up by a supervisor task that connects, declares the topology, opens the confirming publish channel,
//! and after a loss (broker restart, cut connection, missed heartbeats) connects again with a growing
//! delay. Readiness (`/ready`) follows it, and the reason it is down is logged once per change (bad
//! credentials, an unknown vhost, a broker that is down).
//!
//! The password (`password`, or `${secret:NAME}` inside `url`) is resolved here, registered with the
//! scrubber, and never written in any message: errors name the config, `user@host:port/vhost` only.

use super::topology;
use super::AmqpConfig;
use crate::component::{Readiness, Resource};
use crate::connectors::secrets;
use crate::event::FlowError;
use futures_util::StreamExt;
use lapin::options::ConfirmSelectOptions;
use lapin::tcp::OwnedTLSConfig;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// No connection, or it was lost before the broker answered.
pub const CONNECTIVITY: &str = "AMQP:CONNECTIVITY";
/// No confirm (or no connection) within `publish_timeout`.
pub const TIMEOUT: &str = "AMQP:TIMEOUT";
/// The broker refused the message (a negative confirm).
pub const NACKED: &str = "AMQP:NACKED";
/// No queue took the message (returned as `mandatory`), or the exchange does not exist.
pub const UNROUTABLE: &str = "AMQP:UNROUTABLE";

/// What the supervisor says before its first attempt ended.
const NOT_YET: &str = "not connected yet";
/// The first and the longest wait between two connection attempts.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often the supervisor looks at the connection's state besides listening to its events.
const WATCH: Duration = Duration::from_millis(500);

/// One live connection: what publishers and listeners use until it is lost.
pub struct Session {
    /// The connection (listeners open their own channels on it).
    pub connection: Connection,
    /// The publish channel in confirm mode; reopened when the broker closed it (a publish to an exchange
    /// that does not exist closes its channel).
    publisher: tokio::sync::Mutex<Option<Channel>>,
}

impl Session {
    /// The confirming publish channel, opened again if the broker closed the last one.
    pub async fn publisher(&self) -> Result<Channel, lapin::Error> {
        let mut slot = self.publisher.lock().await;
        if let Some(channel) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = self.connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *slot = Some(channel.clone());
        Ok(channel)
    }
}

/// The shared connection of one `amqp` config.
pub struct Broker {
    /// The config's name, in every error of its steps.
    pub name: String,
    /// `user@host:port/vhost`, for messages (never the password).
    pub target: String,
    /// Time a publish waits for its confirm.
    pub publish_timeout: Duration,
    /// The declared topology, for listeners (dead-letter exchanges).
    pub config: Arc<AmqpConfig>,
    /// The name as the errors of its calls carry it, so `until_successful` counts its retries per config.
    label: Arc<str>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

/// What the supervisor and the broker share.
struct Shared {
    name: String,
    target: String,
    uri: AMQPUri,
    /// The CA trusted for `amqps://` (none: Mozilla's roots).
    tls: OwnedTLSConfig,
    config: Arc<AmqpConfig>,
    /// The current session, `None` while there is none.
    session: watch::Sender<Option<Arc<Session>>>,
    /// The supervisor's last word: `None` while connected.
    down: Mutex<Option<String>>,
}

/// `url` with each `${secret:NAME}` replaced by the secret, percent-encoded (a password holding `@` or `/`
/// stays a password), each value registered with the scrubber.
fn resolve_url(url: &str) -> Result<String, String> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find("${secret:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "${secret:".len()..];
        let end = after.find('}').ok_or_else(|| "an unclosed `${secret:` in `url`".to_string())?;
        let value = secrets::lookup(&after[..end]).map_err(|unset| unset.describe(&after[..end]))?;
        crate::scrub::known::remember_secret(&value);
        out.extend(percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The URI a config connects to: `url` with its secrets, `password` and `vhost` put in, the heartbeat and
/// connect timeout as query settings.
pub fn uri_of(config: &AmqpConfig) -> Result<AMQPUri, String> {
    let url = resolve_url(&config.url)?;
    let mut uri =
        AMQPUri::from_str(&url).map_err(|e| format!("`url` is not an AMQP URL (amqp://user@host:port/vhost): {e}"))?;
    if let Some(password) = &config.password {
        let password = secrets::resolve(password)?;
        crate::scrub::known::remember_secret(&password);
        uri.authority.userinfo.password = password;
    }
    if let Some(vhost) = &config.vhost {
        uri.vhost = vhost.clone();
    }
    uri.query.heartbeat = Some(u16::try_from(config.heartbeat.0.as_secs().max(1)).unwrap_or(u16::MAX));
    uri.query.connection_timeout = Some(u64::try_from(config.connect_timeout.0.as_millis()).unwrap_or(u64::MAX));
    Ok(uri)
}

/// The TLS settings of a config: the CA file's certificates (checked to be PEM certificates) as the chain
/// lapin trusts.
fn tls_of(config: &AmqpConfig) -> Result<OwnedTLSConfig, String> {
    let Some(ca) = config.tls.as_ref().and_then(|t| t.ca.as_deref()) else { return Ok(OwnedTLSConfig::default()) };
    crate::tls::certificates(ca)?;
    let pem = std::fs::read_to_string(ca).map_err(|e| format!("cannot read CA file `{ca}`: {e}"))?;
    Ok(OwnedTLSConfig { identity: None, cert_chain: Some(pem) })
}

impl Broker {
    /// The connection of config `name` (opened by a supervisor started when a tokio runtime runs, that is
    /// under `relais run` and in tests, never during `relais check`).
    pub fn new(name: &str, config: &AmqpConfig) -> Result<Broker, String> {
        let uri = uri_of(config).map_err(|why| format!("config `{name}`: {why}"))?;
        let a = &uri.authority;
        let vhost = percent_encoding::utf8_percent_encode(&uri.vhost, percent_encoding::NON_ALPHANUMERIC);
        let target = format!("{}@{}:{}/{vhost}", a.userinfo.username, a.host, a.port);
        let tls = tls_of(config).map_err(|why| format!("config `{name}`: {why}"))?;
        let config = Arc::new(config.clone());
        let shared = Arc::new(Shared {
            name: name.to_string(),
            target: target.clone(),
            uri,
            tls,
            config: config.clone(),
            session: watch::channel(None).0,
            down: Mutex::new(Some(NOT_YET.into())),
        });
        let (stop, _) = watch::channel(false);
        let broker = Broker {
            name: name.to_string(),
            target,
            publish_timeout: config.publish_timeout.0,
            config,
            label: name.into(),
            shared,
            stop,
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(supervise(broker.shared.clone(), broker.stop.subscribe()));
        }
        Ok(broker)
    }

    /// Sessions as they come and go: a listener consumes on each new one.
    pub fn sessions(&self) -> watch::Receiver<Option<Arc<Session>>> {
        self.shared.session.subscribe()
    }

    /// The current session. Before the first connection (the program just started) it waits for one up
    /// to `connect_timeout`; once the supervisor has said why there is none (bad credentials, a lost
    /// connection being replaced), it answers that at once, so a caller is not held for a connection that
    /// may not come.
    pub async fn session(&self) -> Result<Arc<Session>, String> {
        let mut sessions = self.sessions();
        if let Some(session) = sessions.borrow().clone() {
            return Ok(session);
        }
        if self.down_reason().as_deref() == Some(NOT_YET) {
            let wait = self.config.connect_timeout.0;
            if let Ok(Ok(found)) = tokio::time::timeout(wait, sessions.wait_for(Option::is_some)).await {
                if let Some(session) = found.clone() {
                    return Ok(session);
                }
            }
        }
        Err(format!("no connection to {}: {}", self.target, self.down_reason().unwrap_or_default()))
    }

    fn down_reason(&self) -> Option<String> {
        self.shared.down.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A typed error of this config, with what an HTTP caller is told instead of its description.
    pub fn error(&self, kind: &str, description: String) -> FlowError {
        FlowError::new(kind, format!("config `{}`: {description}", self.name))
            .from_upstream(format!("the message broker call of config `{}` failed ({kind})", self.name))
            .through(&self.label)
    }
}

impl Resource for Broker {
    fn ready(&self) -> Readiness {
        match &*self.shared.down.lock().unwrap_or_else(PoisonError::into_inner) {
            None => Readiness::Ready,
            Some(why) => Readiness::NotReady(format!("RabbitMQ {} unreachable: {why}", self.target)),
        }
    }

    fn close(&self) {
        self.stop.send_replace(true);
    }
}

/// What a failed connection says: the broker's reason when it gave one (`ACCESS_REFUSED - Login was
/// refused`), else the I/O error.
pub fn describe(error: &lapin::Error) -> String {
    match error.kind() {
        lapin::ErrorKind::ProtocolError(e) => format!("{} ({:?})", e.get_message(), e.kind()),
        _ => error.to_string(),
    }
}

impl Shared {
    /// Records the supervisor's word, logging it when it changed.
    fn set_down(&self, now: Option<String>) {
        let changed = {
            let mut last = self.down.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = *last != now;
            *last = now.clone();
            changed
        };
        match (now, changed) {
            (Some(why), true) => {
                tracing::error!(config = %self.name, target = %self.target, "cannot connect to RabbitMQ: {why}")
            }
            (None, true) => tracing::info!(config = %self.name, target = %self.target, "connected to RabbitMQ"),
            _ => {}
        }
    }

    /// One connection with its topology declared and its publish channel open.
    async fn connect(&self) -> Result<Arc<Session>, String> {
        let properties = ConnectionProperties::default().with_connection_name(format!("relais/{}", self.name).into());
        let open = async {
            let runtime = lapin::runtime::default_runtime().map_err(|e| describe(&e))?;
            let connection =
                Connection::connect_uri_with_config(self.uri.clone(), properties, self.tls.clone(), runtime)
                    .await
                    .map_err(|e| describe(&e))?;
            let channel = connection.create_channel().await.map_err(|e| describe(&e))?;
            topology::declare(&channel, &self.config).await?;
            let _ = channel.close(200, "topology declared".into()).await;
            let session = Session { connection, publisher: tokio::sync::Mutex::new(None) };
            session.publisher().await.map_err(|e| describe(&e))?;
            Ok::<_, String>(session)
        };
        match tokio::time::timeout(self.config.connect_timeout.0, open).await {
            Ok(session) => session.map(Arc::new),
            Err(_) => Err(format!("no answer within {:?}", self.config.connect_timeout.0)),
        }
    }
}

/// Keeps a connection up until `stop`: connect, serve until lost, wait, connect again.
async fn supervise(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut wait = RETRY_FIRST;
    loop {
        let attempt = tokio::select! {
            attempt = shared.connect() => attempt,
            _ = stop.changed() => return,
        };
        match attempt {
            Ok(session) => {
                shared.set_down(None);
                shared.session.send_replace(Some(session.clone()));
                let lost = tokio::select! {
                    why = lost(&session) => why,
                    _ = stop.changed() => {
                        shared.session.send_replace(None);
                        let _ = session.connection.close(200, "relais stops".into()).await;
                        return;
                    }
                };
                shared.session.send_replace(None);
                tracing::warn!(config = %shared.name, target = %shared.target, "connection to RabbitMQ lost: {lost}");
                shared.set_down(Some(format!("connection lost: {lost}")));
                wait = RETRY_FIRST;
            }
            Err(why) => shared.set_down(Some(why)),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// Waits until `session`'s connection is lost, and says why.
async fn lost(session: &Session) -> String {
    let mut events = Box::pin(session.connection.events_listener());
    loop {
        tokio::select! {
            event = events.next() => match event {
                // A channel's error (a publish to an exchange that does not exist) leaves the connection up.
                Some(lapin::Event::Error(e)) if !session.connection.status().connected() => return describe(&e),
                Some(_) => {}
                None => return "the connection ended".into(),
            },
            _ = tokio::time::sleep(WATCH) => {}
        }
        if !session.connection.status().connected() {
            let status = session.connection.status();
            return if status.errored() { "the connection failed" } else { "the connection closed" }.into();
        }
    }
}
