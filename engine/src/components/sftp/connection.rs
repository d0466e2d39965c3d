//! What an `sftp` config builds, shared by every step and listener naming it: one SSH connection carrying
//! one SFTP session (requests from several events travel on it at once), opened on first use, checked
//! (the host key before any credential is sent), and opened again after it is lost; and a probe that keeps
//! `/ready` true to whether the server can be reached, logging once per change why it cannot (an unknown
//! host key, refused credentials, a server that is down).
//!
//! The password and the key's passphrase (`${secret:NAME}`) are resolved here, registered with the
//! scrubber, and never written in any message: errors name the config, user, host and port only. A
//! password goes with SSH's `password` method, or, when the server refuses that and offers
//! `keyboard-interactive` (PAM setups), as the answer to its hidden prompts ([`password_login`]).

use super::host_key::{Client, HostKeys};
use super::SftpConfig;
use crate::component::{Readiness, Resource};
use crate::connectors::secrets;
use crate::event::FlowError;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::SftpSession;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Why an SFTP request failed: the server refused it (the connection is fine), or the connection is gone.
#[derive(Debug)]
pub enum Fault {
    /// The server answered with an error status (no such file, permission denied, failure).
    Refused(String),
    /// No answer: the connection broke or the request timed out.
    Lost(String),
}

impl From<SftpError> for Fault {
    fn from(e: SftpError) -> Fault {
        match e {
            SftpError::Status(_) => Fault::Refused(e.to_string()),
            other => Fault::Lost(other.to_string()),
        }
    }
}

/// A file's reads and writes fail as `std::io::Error`s: a lost connection carries the SFTP error inside,
/// a refused write only the server's message.
impl From<std::io::Error> for Fault {
    fn from(e: std::io::Error) -> Fault {
        if let Some(inner) = e.get_ref().and_then(|inner| inner.downcast_ref::<SftpError>()) {
            return inner.clone().into();
        }
        match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                Fault::Lost(e.to_string())
            }
            _ => Fault::Refused(e.to_string()),
        }
    }
}

/// How relais proves who it is.
enum Auth {
    Password(String),
    Key(Arc<PrivateKey>),
}

/// How many rounds of questions a `keyboard-interactive` login may ask before relais gives up (PAM asks
/// one, sometimes followed by an empty one).
const KEYBOARD_INTERACTIVE_ROUNDS: usize = 4;

/// Logs `user` in with `password`: the `password` method first; when the server refuses it but offers
/// `keyboard-interactive` (OpenSSH with PAM and `PasswordAuthentication no`, the way many servers take
/// passwords), that method, answering every hidden prompt with the password. A prompt shown in clear asks
/// for something else (a one-time code, a name) that relais cannot answer: the first refusal stands.
async fn password_login(
    handle: &mut russh::client::Handle<Client>,
    user: &str,
    password: &str,
) -> Result<russh::client::AuthResult, russh::Error> {
    use russh::client::{AuthResult, KeyboardInteractiveAuthResponse as Reply};
    let refused = handle.authenticate_password(user, password).await?;
    let offered = match &refused {
        AuthResult::Failure { remaining_methods, .. } => {
            remaining_methods.contains(&russh::MethodKind::KeyboardInteractive)
        }
        AuthResult::Success => false,
    };
    if !offered {
        return Ok(refused);
    }
    let mut reply = handle.authenticate_keyboard_interactive_start(user, None).await?;
    for _ in 0..KEYBOARD_INTERACTIVE_ROUNDS {
        match reply {
            Reply::Success => return Ok(AuthResult::Success),
            Reply::Failure { remaining_methods, partial_success } => {
                return Ok(AuthResult::Failure { remaining_methods, partial_success })
            }
            Reply::InfoRequest { prompts, .. } if prompts.iter().any(|p| p.echo) => return Ok(refused),
            Reply::InfoRequest { prompts, .. } => {
                let answers = prompts.iter().map(|_| password.to_string()).collect();
                reply = handle.authenticate_keyboard_interactive_respond(answers).await?;
            }
        }
    }
    Ok(refused)
}

/// An open connection and its SFTP session.
struct Live {
    /// Keeps the SSH connection; the session's channel runs on it.
    handle: russh::client::Handle<Client>,
    session: Arc<SftpSession>,
}

/// What the connection needs, shared with the probe.
struct Inner {
    name: String,
    target: String,
    host: String,
    port: u16,
    user: String,
    auth: Auth,
    keys: HostKeys,
    connect_timeout: Duration,
    timeout: Duration,
    /// The open connection, if any; its lock is held while connecting, so one attempt runs at a time.
    live: tokio::sync::Mutex<Option<Live>>,
    /// The probe's last word: `None` while the server could be reached.
    down: Mutex<Option<String>>,
}

/// The shared connection of one `sftp` config.
pub struct Sftp {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
}

/// How often the probe asks while the server cannot be reached, and while it can.
const PROBE_DOWN: Duration = Duration::from_secs(1);
const PROBE_UP: Duration = Duration::from_secs(5);

impl Sftp {
    /// The connection of config `name`: secrets resolved, the key and the known_hosts file read now, so a
    /// missing file or a wrong passphrase refuses the start. The connection opens on first use; the probe
    /// starts when a tokio runtime runs (`relais run`, tests), never during `relais check`.
    pub fn new(name: &str, config: &SftpConfig) -> Result<Sftp, String> {
        let host = secrets::resolve(&config.host)?;
        let user = secrets::resolve(&config.user)?;
        let auth = match (&config.password, &config.private_key) {
            (Some(password), None) => Auth::Password(secrets::resolve(password)?),
            (None, Some(path)) => {
                let passphrase = config.passphrase.as_deref().map(secrets::resolve).transpose()?;
                let key = russh::keys::load_secret_key(path, passphrase.as_deref()).map_err(|e| {
                    let hint = match (&e, passphrase.is_some()) {
                        (russh::keys::Error::KeyIsEncrypted, false) => " (set `passphrase`)",
                        (_, true) => " (is the passphrase right?)",
                        _ => "",
                    };
                    format!("cannot read the private key `{path}`: {e}{hint}")
                })?;
                Auth::Key(Arc::new(key))
            }
            _ => return Err("set exactly one of `password` and `private_key`".into()),
        };
        let keys = match (&config.known_hosts, &config.host_key_fingerprint) {
            (Some(path), None) => {
                let path = PathBuf::from(path);
                std::fs::metadata(&path)
                    .map_err(|e| format!("cannot read the known_hosts file `{}`: {e}", path.display()))?;
                HostKeys::KnownHosts(path)
            }
            (None, Some(fingerprint)) => HostKeys::Fingerprint(fingerprint.clone()),
            _ => return Err("set exactly one of `known_hosts` and `host_key_fingerprint`".into()),
        };
        let inner = Arc::new(Inner {
            name: name.to_string(),
            target: format!("{user}@{host}:{}", config.port),
            host,
            port: config.port,
            user,
            auth,
            keys,
            connect_timeout: config.connect_timeout.0,
            timeout: config.timeout.0,
            live: tokio::sync::Mutex::new(None),
            down: Mutex::new(Some("not connected yet".into())),
        });
        let (stop, _) = watch::channel(false);
        let sftp = Sftp { inner, stop };
        sftp.probe();
        Ok(sftp)
    }

    /// The config's name, in every error of its steps.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `user@host:port`, for messages.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Starts the readiness probe on the current tokio runtime, if there is one.
    fn probe(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let inner = self.inner.clone();
        let mut stop = self.stop.subscribe();
        handle.spawn(async move {
            loop {
                let now = match inner.session().await {
                    Ok(session) => match session.canonicalize(".").await {
                        Ok(_) => None,
                        Err(e) => Some(said(inner.failed(&session, "answer", e.into()).await)),
                    },
                    Err(e) => Some(said(e)),
                };
                let changed = {
                    let mut last = inner.down.lock().unwrap_or_else(PoisonError::into_inner);
                    let changed = *last != now;
                    *last = now.clone();
                    changed
                };
                match (&now, changed) {
                    (Some(why), true) => tracing::error!(config = %inner.name, "cannot reach the SFTP server: {why}"),
                    (None, true) => {
                        tracing::info!(config = %inner.name, target = %inner.target, "connected to the SFTP server")
                    }
                    _ => {}
                }
                let wait = if now.is_some() { PROBE_DOWN } else { PROBE_UP };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
            if let Some(live) = inner.live.lock().await.take() {
                let _ = live.session.close().await;
                let _ = live.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
            }
        });
    }

    /// The SFTP session, opened (again) when there is none: `SFTP:HOST_KEY`, `SFTP:AUTH` or
    /// `SFTP:CONNECTIVITY` when it cannot be.
    pub async fn session(&self) -> Result<Arc<SftpSession>, FlowError> {
        self.inner.session().await
    }

    /// The typed error of a failed request `what` on `session`: the server's refusal (`SFTP:IO`, with its
    /// status), or a lost connection (`SFTP:CONNECTIVITY`; the session is dropped, the next use opens a
    /// new one).
    pub async fn failed(&self, session: &Arc<SftpSession>, what: &str, e: impl Into<Fault>) -> FlowError {
        self.inner.failed(session, what, e.into()).await
    }

    /// A typed error of this config, with what an HTTP caller is told instead of its description.
    pub fn error(&self, kind: &str, description: String) -> FlowError {
        self.inner.error(kind, description)
    }
}

impl Inner {
    fn error(&self, kind: &str, description: String) -> FlowError {
        FlowError::new(kind, format!("config `{}`: {description}", self.name))
            .from_upstream(format!("the SFTP call of config `{}` failed ({kind})", self.name))
    }

    async fn session(&self) -> Result<Arc<SftpSession>, FlowError> {
        let mut live = self.live.lock().await;
        if let Some(open) = live.as_ref() {
            if !open.handle.is_closed() {
                return Ok(open.session.clone());
            }
        }
        *live = None;
        let open = tokio::time::timeout(self.connect_timeout, self.connect()).await.map_err(|_| {
            self.error(
                "SFTP:CONNECTIVITY",
                format!("no SFTP session with {} within {:?} (`connect_timeout`)", self.target, self.connect_timeout),
            )
        })??;
        let session = open.session.clone();
        *live = Some(open);
        Ok(session)
    }

    /// Connects, checks the host key, authenticates and opens the SFTP subsystem.
    async fn connect(&self) -> Result<Live, FlowError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            self.error("SFTP:CONNECTIVITY", format!("cannot open an SSH connection to {}: {e}", self.target))
        };
        let refused = Arc::new(Mutex::new(None));
        let client =
            Client { keys: self.keys.clone(), host: self.host.clone(), port: self.port, refused: refused.clone() };
        let config = russh::client::Config {
            // A dead peer (a cable pulled, a server frozen) is noticed within a minute, not at the next TCP timeout.
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        };
        let connected = russh::client::connect(Arc::new(config), (self.host.as_str(), self.port), client).await;
        let mut handle = match connected {
            Ok(handle) => handle,
            Err(e) => {
                return Err(match refused.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    Some(why) => self.error("SFTP:HOST_KEY", why),
                    None => unreachable(&e),
                })
            }
        };
        let (method, result) = match &self.auth {
            Auth::Password(password) => ("password", password_login(&mut handle, &self.user, password).await),
            Auth::Key(key) => {
                let hash = match key.algorithm().is_rsa() {
                    true => handle.best_supported_rsa_hash().await.map_err(|e| unreachable(&e))?.flatten(),
                    false => None,
                };
                ("key", handle.authenticate_publickey(&self.user, PrivateKeyWithHashAlg::new(key.clone(), hash)).await)
            }
        };
        match result.map_err(|e| unreachable(&e))? {
            russh::client::AuthResult::Success => {}
            russh::client::AuthResult::Failure { remaining_methods, .. } => {
                let accepted: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
                return Err(self.error(
                    "SFTP:AUTH",
                    format!(
                        "{} refused the {method} of user `{}` (it accepts: {})",
                        self.target,
                        self.user,
                        if accepted.is_empty() { "nothing more".to_string() } else { accepted.join(", ") }
                    ),
                ));
            }
        }
        let channel = handle.channel_open_session().await.map_err(|e| unreachable(&e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| unreachable(&e))?;
        // Reads ahead at most 4 requests of up to 255 KiB (OpenSSH's limit) per open file: enough to fill a
        // long link, bounded so a file being read holds about 1 MiB.
        let cfg = russh_sftp::client::Config {
            max_concurrent_reads: 4,
            request_timeout_secs: self.timeout.as_secs().max(1),
            ..Default::default()
        };
        let session = SftpSession::new_with_config(channel.into_stream(), cfg).await.map_err(|e| {
            self.error("SFTP:CONNECTIVITY", format!("{} did not start the SFTP subsystem: {e}", self.target))
        })?;
        Ok(Live { handle, session: Arc::new(session) })
    }

    async fn failed(&self, session: &Arc<SftpSession>, what: &str, fault: Fault) -> FlowError {
        match fault {
            Fault::Refused(why) => self.error("SFTP:IO", format!("{} refused to {what}: {why}", self.target)),
            Fault::Lost(lost) => {
                let mut live = self.live.lock().await;
                if live.as_ref().is_some_and(|open| Arc::ptr_eq(&open.session, session)) {
                    *live = None;
                }
                self.error(
                    "SFTP:CONNECTIVITY",
                    format!("the connection to {} failed while trying to {what}: {lost}", self.target),
                )
            }
        }
    }
}

/// What the probe says of a failure: its type and description (`SFTP:AUTH: config `x`: ...`).
fn said(e: FlowError) -> String {
    format!("{}: {}", e.error_type, e.description)
}

impl Resource for Sftp {
    fn ready(&self) -> Readiness {
        match &*self.inner.down.lock().unwrap_or_else(PoisonError::into_inner) {
            None => Readiness::Ready,
            Some(why) => Readiness::NotReady(format!("SFTP server {} unreachable: {why}", self.inner.target)),
        }
    }

    fn close(&self) {
        self.stop.send_replace(true);
    }
}
