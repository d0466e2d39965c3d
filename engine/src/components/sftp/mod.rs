//! The SFTP connector: an `sftp` config kind (one checked SSH connection per config, [`connection`],
//! [`host_key`]), the `sftp.listener` source picking up files dropped in a remote directory
//! ([`listener`]) and the `sftp.write` step writing one atomically ([`write`]), with the semantics of
//! `file.listener` and `file.write` (whose record splitting they share).

mod connection;
mod host_key;
mod listener;
mod write;

pub use connection::Sftp;

use super::file::{IfExists, Split};
use super::types::DurationText;
use crate::component::{ComponentNode, Config, ConfigContext, ConfigRef, Resource, Step, StepContext};
use crate::runtime::Runtime;
use crate::source::{Planned, Source, SourceUse, Stage, TaskPlanned};
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

const SFTP: Option<ConfigRef> = Some(ConfigRef { kind: "sftp", required: true });

/// An SFTP server. Exactly one of `password` and `private_key`, and exactly one of `known_hosts` and
/// `host_key_fingerprint`: the server's host key is always checked, an unknown or changed one refused.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    /// Host name or address of the server.
    pub host: String,
    /// Port of the server.
    #[serde(default = "port")]
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password (use `${secret:NAME}`; never logged): sent with SSH's `password` method, or as the
    /// answer to a `keyboard-interactive` prompt when the server takes passwords only that way (PAM).
    pub password: Option<String>,
    /// Path of the private key file (OpenSSH or PEM format: Ed25519, ECDSA or RSA), read at start.
    pub private_key: Option<String>,
    /// Passphrase of an encrypted private key (use `${secret:NAME}`; never logged).
    pub passphrase: Option<String>,
    /// Path of a known_hosts file (as OpenSSH writes it; hashed names work) that must list the server's
    /// host key for `host` (`[host]:port` when the port is not 22). Read at each connection.
    pub known_hosts: Option<String>,
    /// The server's host key fingerprint instead of a known_hosts file: `SHA256:...` as
    /// `ssh-keygen -lf <key>.pub` prints it.
    pub host_key_fingerprint: Option<String>,
    /// Time allowed to open the connection (TCP, key exchange, authentication, SFTP); then
    /// `SFTP:CONNECTIVITY`.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: DurationText,
    /// Time one SFTP request may wait for its answer (whole seconds); then `SFTP:CONNECTIVITY`, and the
    /// connection is opened again.
    #[serde(default = "timeout")]
    pub timeout: DurationText,
}

fn port() -> u16 {
    22
}

fn connect_timeout() -> DurationText {
    DurationText::secs(10)
}

fn timeout() -> DurationText {
    DurationText::secs(30)
}

impl Config for SftpConfig {
    const NAME: &'static str = "sftp";
    const SUMMARY: &'static str = "An SFTP server: one checked SSH connection shared by its steps and listeners.";
    const OUTBOUND: bool = true;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        let span_of = |key: &str| at.get(key).map_or(at.span, |n| n.span);
        let pairs = [
            ("password", self.password.is_some(), "private_key", self.private_key.is_some(), "how relais logs in"),
            (
                "known_hosts",
                self.known_hosts.is_some(),
                "host_key_fingerprint",
                self.host_key_fingerprint.is_some(),
                "how the server's host key is checked",
            ),
        ];
        for (a, has_a, b, has_b, what) in pairs {
            match (has_a, has_b) {
                (true, true) => diags.push(
                    Diagnostic::error(codes::CONFLICTING_FIELDS, span_of(b), format!("both `{a}` and `{b}`"))
                        .label(format!("`{a}` is set too"))
                        .help(format!("keep one: they both say {what}")),
                ),
                (false, false) => diags.push(
                    Diagnostic::error(codes::MISSING_FIELD, at.span, format!("an `sftp` config needs `{a}` or `{b}`"))
                        .label(format!("says nothing of {what}"))
                        .help(match a {
                            "password" => "add `private_key: /path/to/id_ed25519` or `password: \"${secret:NAME}\"`",
                            _ => {
                                "add `known_hosts: /path/to/known_hosts` (`ssh-keyscan -p PORT HOST` after checking \
                                  the fingerprint) or `host_key_fingerprint: \"SHA256:...\"`: an unchecked server \
                                  could be anyone"
                            }
                        }),
                ),
                _ => {}
            }
        }
        if self.passphrase.is_some() && self.private_key.is_none() {
            diags.push(
                Diagnostic::error(codes::BAD_VALUE, span_of("passphrase"), "a `passphrase` without `private_key`")
                    .label("unlocks nothing")
                    .help("the passphrase is for an encrypted `private_key`; remove it or add the key"),
            );
        }
        if let Some(fingerprint) = &self.host_key_fingerprint {
            if !host_key::is_fingerprint(fingerprint) {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_VALUE,
                        span_of("host_key_fingerprint"),
                        format!("`{fingerprint}` is not a SHA-256 host key fingerprint"),
                    )
                    .label("expected `SHA256:` and 43 base64 characters")
                    .help("print it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server"),
                );
            }
        }
    }

    fn build(&self, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(Sftp::new(cx.name, self)?))
    }
}

/// `sftp.listener`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerParams {
    /// The remote directory watched (created if missing); `processed/` and `failed/` are made inside it.
    /// Relative paths start at the user's login directory.
    pub directory: String,
    /// File names taken (`*.csv`, `orders_??.json`); other files are left alone.
    #[serde(default = "any")]
    pub pattern: String,
    /// Time between two looks at the directory. A file is taken once two looks in a row saw the same size
    /// and modification time, so a file still being uploaded is not read half-way.
    #[serde(default = "frequency")]
    pub frequency: DurationText,
    /// How a file becomes events.
    #[serde(default = "split_none")]
    pub split: Split,
    /// Bytes per event with `split: chunks`.
    #[serde(default = "chunk_size")]
    #[schemars(range(min = 1))]
    pub chunk_size: u32,
    /// Largest file read whole with `split: none`; a larger one goes to `failed/`.
    #[serde(default = "max_size")]
    #[schemars(range(min = 1))]
    pub max_size: u64,
    /// Runs of an event's flow (a file's, or a record's with `split`) before it is kept as a dead letter.
    #[serde(default = "max_deliveries")]
    #[schemars(range(min = 1))]
    pub max_deliveries: u32,
    /// Records of one file processed at once (with `split`).
    #[serde(default = "consumers")]
    #[schemars(range(min = 1))]
    pub consumers: u32,
}

fn any() -> String {
    "*".into()
}

fn frequency() -> DurationText {
    DurationText::secs(5)
}

fn split_none() -> Split {
    Split::None
}

fn chunk_size() -> u32 {
    64 * 1024
}

fn max_size() -> u64 {
    16 * 1024 * 1024
}

fn max_deliveries() -> u32 {
    3
}

fn consumers() -> u32 {
    4
}

impl Source for ListenerParams {
    const NAME: &'static str = "sftp.listener";
    const SUMMARY: &'static str =
        "Starts the flow for each file (or each line, CSV record or chunk of it) dropped in a directory of an SFTP server.";
    const CONFIG: Option<ConfigRef> = SFTP;

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        if self.pattern.contains(['/', '\\']) {
            diags.push(
                Diagnostic::error(
                    codes::BAD_VALUE,
                    at.get("pattern").map_or(at.span, |n| n.span),
                    "a file pattern with a path",
                )
                .label("patterns match file names only")
                .help("put the remote directory in `directory:` and the name pattern (`*.csv`) in `pattern:`"),
            );
        }
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        let mut planned = Vec::new();
        for u in uses {
            let name = u.config_name.clone().unwrap_or_default();
            let sftp = runtime
                .program()
                .resources
                .get_as::<Sftp>(&name)
                .ok_or_else(|| format!("flow `{}`: no `sftp` config named `{name}`", u.flow))?;
            let poller = listener::Poller::new(&u.flow, u.settings.clone(), sftp, runtime);
            let runtime = runtime.clone();
            planned.push(TaskPlanned::planned(
                format!("sftp.listener:{}", u.flow),
                Stage::Intake,
                Box::new(move |stop, in_flight| tokio::spawn(poller.run(runtime, stop, in_flight))),
            ));
        }
        Ok(planned)
    }
}

fn overwrite() -> IfExists {
    IfExists::Overwrite
}

/// `sftp.write`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    /// The remote directory written to (created if missing). Relative paths start at the user's login
    /// directory.
    pub directory: String,
    /// The file name; may hold `#[...]` (a value holding `/` or `..` is refused: the file stays in
    /// `directory`).
    pub name: String,
    /// What is written (default: the payload's bytes); may hold `#[...]`.
    pub content: Option<String>,
    /// When the file exists.
    #[serde(default = "overwrite")]
    pub if_exists: IfExists,
}

impl Step for WriteParams {
    const NAME: &'static str = "sftp.write";
    const SUMMARY: &'static str =
        "Writes a file on an SFTP server atomically (a temporary name, then a rename on the server).";
    const CONFIG: Option<ConfigRef> = SFTP;
    const OUTBOUND: bool = true;

    /// A file handed over, nothing read back: drawn as `sends` by `relais graph`.
    fn direction(&self) -> crate::component::Direction {
        crate::component::Direction::Sends
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        write::build(self, cx)
    }
}
