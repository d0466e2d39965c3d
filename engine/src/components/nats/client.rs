//! What a `nats` config builds, shared by every step and listener naming it: one NATS connection
//! (async-nats), opened by a background task from `relais run` on and retried every second until it
//! succeeds, then kept up by the client itself (it reconnects with a backoff of at most 4 s). Its state
//! feeds `/ready` (503 naming the config and the reason: `authorization violation`, `connection refused`)
//! and the log, once per change. The config's stream is declared at each (re)connection, so a server that
//! lost it (memory storage, a new server) gets it back.
//!
//! The password or token (`${secret:NAME}`) is resolved here, registered with the scrubber, and never in
//! any message: errors name the config and the servers only.

use super::{NatsConfig, Retention, Storage, StreamDecl};
use crate::component::{Readiness, Resource};
use crate::connectors::secrets;
use crate::event::FlowError;
use async_nats::jetstream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// How long the first connection is retried after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// A live connection: the client and its JetStream context.
#[derive(Clone)]
pub struct Link {
    /// The core client (connection state, reconnects).
    pub client: async_nats::Client,
    /// JetStream on it, with the config's request timeout.
    pub jetstream: jetstream::Context,
}

/// The shared connection of one `nats` config.
pub struct Nats {
    /// The config's name, in every error of its steps.
    pub name: String,
    /// The servers, for messages (never a credential).
    pub target: String,
    /// The stream the config declares.
    pub stream: Option<StreamDecl>,
    /// Time a step waits for the connection.
    pub connect_timeout: Duration,
    /// Time a publish waits for its acknowledgement.
    pub request_timeout: Duration,
    link: watch::Sender<Option<Link>>,
    /// Why the config cannot serve, `None` while it can.
    down: Arc<Mutex<Option<String>>>,
    stop: watch::Sender<bool>,
}

/// What connecting needs, resolved once (secrets included).
struct Settings {
    servers: Vec<String>,
    auth: Auth,
    tls: Option<rustls::ClientConfig>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

enum Auth {
    None,
    User(String, String),
    Token(String),
}

impl Nats {
    /// The connection of config `name`, opened in the background when a tokio runtime runs (under
    /// `relais run` and in tests, never during `relais check`).
    pub fn new(name: &str, config: &NatsConfig) -> Result<Nats, String> {
        let secret = |text: &str| -> Result<String, String> {
            let value = secrets::resolve(text)?;
            crate::scrub::known::remember_secret(&value);
            Ok(value)
        };
        let auth = match (&config.user, &config.password, &config.token) {
            (Some(user), password, None) => {
                Auth::User(secrets::resolve(user)?, password.as_deref().map(secret).transpose()?.unwrap_or_default())
            }
            (None, None, Some(token)) => Auth::Token(secret(token)?),
            (None, None, None) => Auth::None,
            _ => return Err(format!("config `{name}`: give `user` and `password`, or `token`, not both")),
        };
        let servers = config.servers.iter().map(|s| secrets::resolve(s)).collect::<Result<Vec<_>, _>>()?;
        // The tree's rustls (ring, Mozilla's roots unless `tls.ca`), also for a `tls://` URL without `tls:`.
        let tls = match &config.tls {
            Some(files) => Some(crate::tls::client_config(Some(files), name)?),
            None if servers.iter().any(|s| s.starts_with("tls://")) => Some(crate::tls::client_config(None, name)?),
            None => None,
        };
        let settings = Settings {
            servers: servers.clone(),
            auth,
            tls,
            connect_timeout: config.connect_timeout.0,
            request_timeout: config.request_timeout.0,
        };
        let (link, _) = watch::channel(None);
        let (stop, _) = watch::channel(false);
        let nats = Nats {
            name: name.to_string(),
            target: servers.join(", "),
            stream: config.stream.clone(),
            connect_timeout: config.connect_timeout.0,
            request_timeout: config.request_timeout.0,
            link,
            down: Arc::new(Mutex::new(Some("not connected yet".into()))),
            stop,
        };
        nats.connect(settings);
        Ok(nats)
    }

    /// Starts connecting on the current tokio runtime, if there is one.
    fn connect(&self, settings: Settings) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let mut stop = self.stop.subscribe();
        let (link, down, name, target, stream) =
            (self.link.clone(), self.down.clone(), self.name.clone(), self.target.clone(), self.stream.clone());
        handle.spawn(async move {
            let state = State { down, name, target };
            let connected = Arc::new(tokio::sync::Notify::new());
            let client = loop {
                match settings.options(&state, &connected).connect(settings.servers.clone()).await {
                    Ok(client) => break client,
                    Err(e) => state.set(Some(connect_error(&e))),
                }
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.changed() => return,
                }
            };
            let jetstream = jetstream::ContextBuilder::new().timeout(settings.request_timeout).build(client.clone());
            let mut linked = false;
            loop {
                if let Some(stream) = &stream {
                    while let Err(why) = declare(&jetstream, stream).await {
                        state.set(Some(why));
                        tokio::select! {
                            _ = tokio::time::sleep(RETRY) => {}
                            _ = stop.changed() => return,
                        }
                    }
                    state.set(None);
                }
                if !linked {
                    state.set(None);
                    link.send_replace(Some(Link { client: client.clone(), jetstream: jetstream.clone() }));
                    linked = true;
                }
                // Each reconnection declares the stream again (a server that lost it gets it back).
                tokio::select! {
                    _ = connected.notified() => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// The connection, waiting for it up to `connect_timeout`; `NATS:CONNECTIVITY` saying why there is none.
    pub async fn link(&self) -> Result<Link, FlowError> {
        let mut watch = self.link.subscribe();
        let found = tokio::time::timeout(self.connect_timeout, watch.wait_for(Option::is_some)).await;
        match found {
            Ok(Ok(link)) => link.clone().ok_or_else(|| self.unreachable()),
            _ => Err(self.unreachable()),
        }
    }

    /// The connection if there is one now.
    pub fn current(&self) -> Option<Link> {
        self.link.borrow().clone()
    }

    fn unreachable(&self) -> FlowError {
        let why = self.down.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let why = why.unwrap_or_else(|| "not connected".into());
        self.error("NATS:CONNECTIVITY", format!("no connection to {}: {why}", self.target))
    }

    /// A typed error of this config, with what an HTTP caller is told instead of its description.
    pub fn error(&self, kind: &str, description: String) -> FlowError {
        FlowError::new(kind, format!("config `{}`: {description}", self.name))
            .from_upstream(format!("the NATS call of config `{}` failed ({kind})", self.name))
    }
}

impl Resource for Nats {
    fn ready(&self) -> Readiness {
        match &*self.down.lock().unwrap_or_else(PoisonError::into_inner) {
            None => Readiness::Ready,
            Some(why) => Readiness::NotReady(format!("NATS {} unreachable: {why}", self.target)),
        }
    }

    /// Stops connecting; the client flushes what it buffered and closes once the last step holding it
    /// ends.
    fn close(&self) {
        self.stop.send_replace(true);
        self.link.send_replace(None);
    }
}

/// The readiness and log of one config, changed by the connecting task and the client's events.
#[derive(Clone)]
struct State {
    down: Arc<Mutex<Option<String>>>,
    name: String,
    target: String,
}

impl State {
    /// Records why the config cannot serve (`None`: it can), logging a change.
    fn set(&self, now: Option<String>) {
        let changed = {
            let mut last = self.down.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = *last != now;
            *last = now.clone();
            changed
        };
        match (now, changed) {
            (Some(why), true) => {
                tracing::error!(config = %self.name, servers = %self.target, "cannot connect to NATS: {why}")
            }
            (None, true) => tracing::info!(config = %self.name, servers = %self.target, "connected to NATS"),
            _ => {}
        }
    }
}

impl Settings {
    /// The client's options: credentials, TLS, timeouts, and the events that keep [`State`] true.
    fn options(&self, state: &State, connected: &Arc<tokio::sync::Notify>) -> async_nats::ConnectOptions {
        let mut options = match &self.auth {
            Auth::None => async_nats::ConnectOptions::new(),
            Auth::User(user, password) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            Auth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
        };
        if let Some(tls) = &self.tls {
            options = options.tls_client_config(tls.clone()).require_tls(true);
        }
        let (state, connected) = (state.clone(), connected.clone());
        options
            .name("relais")
            .connection_timeout(self.connect_timeout)
            .request_timeout(Some(self.request_timeout))
            .event_callback(move |event| {
                let (state, connected) = (state.clone(), connected.clone());
                async move { on_event(&state, &connected, event) }
            })
    }
}

/// Keeps readiness true to the client's events, and tells the connecting task of each (re)connection.
fn on_event(state: &State, connected: &tokio::sync::Notify, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => {
            state.set(None);
            connected.notify_one();
        }
        async_nats::Event::Disconnected => state.set(Some("connection lost; reconnecting".into())),
        async_nats::Event::Closed => state.set(Some("connection closed".into())),
        async_nats::Event::ClientError(e) => state.set(Some(e.to_string())),
        async_nats::Event::ServerError(e) => {
            tracing::warn!(config = %state.name, servers = %state.target, "NATS server error: {e}")
        }
        async_nats::Event::SlowConsumer(_) | async_nats::Event::LameDuckMode | async_nats::Event::Draining => {}
    }
}

/// Creates the stream, or updates it to the declared settings.
pub async fn declare(jetstream: &jetstream::Context, stream: &StreamDecl) -> Result<(), String> {
    let config = jetstream::stream::Config {
        name: stream.name.clone(),
        subjects: stream.subjects.clone(),
        storage: match stream.storage {
            Storage::File => jetstream::stream::StorageType::File,
            Storage::Memory => jetstream::stream::StorageType::Memory,
        },
        retention: match stream.retention {
            Retention::Limits => jetstream::stream::RetentionPolicy::Limits,
            Retention::Interest => jetstream::stream::RetentionPolicy::Interest,
            Retention::WorkQueue => jetstream::stream::RetentionPolicy::WorkQueue,
        },
        max_age: stream.max_age.0,
        duplicate_window: stream.duplicate_window.0,
        ..Default::default()
    };
    jetstream
        .create_or_update_stream(config)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot declare stream `{}`: {}", stream.name, chain(&e)))
}

/// What a failed connection says (`authorization violation`, `connection refused`).
fn connect_error(e: &async_nats::ConnectError) -> String {
    match e.kind() {
        async_nats::ConnectErrorKind::AuthorizationViolation => {
            "authorization violation (the server refused the user, password or token)".into()
        }
        _ => chain(e),
    }
}

/// An error and its causes, `a: b`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
