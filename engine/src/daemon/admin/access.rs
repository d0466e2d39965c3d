//! Who may act on the admin port. `/health`, `/ready`, `/metrics`, `/incidents` and the status page are
//! open (probes and scrapers carry no credentials, and nothing there changes state or shows a message);
//! everything else (dead letters, which hold messages, and the actions: replay, purge, run a flow) needs
//! one of:
//! - a bearer token (`Authorization: Bearer TOKEN`), one of the tokens `relais run` was given
//!   (`--admin-token-file`, `--admin-token-secret`), compared in constant time on their SHA-256 digests;
//! - or the explicit opt-in `--admin-insecure`, accepted only on a loopback address, which lets every local
//!   user act (a laptop, a demo).
//!
//! Without either, those requests are refused (403): an operator who configured nothing gets a closed
//! door, not an open one. Every request past the open endpoints, allowed or refused, is an audit line
//! ([`audit`]).

use hyper::header::HeaderMap;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// The shortest token accepted: 16 characters (`openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 16;

/// The largest token file read (a handful of tokens fit many times over).
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// The tracing target of audit lines, so that they can be routed on their own (`RELAIS_LOG=relais::audit=info`).
pub const AUDIT_TARGET: &str = "relais::audit";

/// One accepted token, kept only as its digest, with the id audit lines name it by.
#[derive(Clone)]
struct Token {
    digest: [u8; 32],
    /// `sha256:` and the first 12 hex digits of the digest: tells tokens apart in the audit log (rotation)
    /// without saying anything usable about the token.
    id: String,
}

impl Token {
    fn new(text: &str) -> Token {
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let id = digest.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>();
        Token { digest, id: format!("sha256:{id}") }
    }
}

/// What the admin port requires before it shows dead letters or acts.
#[derive(Clone, Default)]
pub struct AdminAccess {
    tokens: Vec<Token>,
    insecure: bool,
}

/// Who made a request that was let through, as the audit line names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// A token, by its id.
    Token(String),
    /// Anyone on the host (`--admin-insecure`), known only by the peer address.
    Local,
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operator::Token(id) => write!(f, "token {id}"),
            Operator::Local => f.write_str("anonymous (--admin-insecure)"),
        }
    }
}

/// Why a request was refused, and how it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Tokens are configured and the request carried none, or one that is not among them: 401.
    Unauthenticated(&'static str),
    /// No token is configured and the insecure opt-in was not given: 403.
    Closed,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Unauthenticated(_) => 401,
            Refusal::Closed => 403,
        }
    }

    /// The problem+json `detail`.
    pub fn detail(&self) -> String {
        match self {
            Refusal::Unauthenticated(why) => {
                format!("{why}: send `Authorization: Bearer TOKEN` with a token relais run was given")
            }
            Refusal::Closed => "admin actions and dead letters are disabled: relais run was given no admin token \
                                (start it with --admin-token-file FILE, or --admin-insecure on a loopback \
                                --admin address)"
                .into(),
        }
    }
}

impl AdminAccess {
    /// Nothing but the open endpoints: the default.
    pub fn closed() -> AdminAccess {
        AdminAccess::default()
    }

    /// Anyone who can reach the port may act; only accepted on a loopback address ([`AdminAccess::check_bind`]).
    pub fn insecure_loopback() -> AdminAccess {
        AdminAccess { tokens: Vec::new(), insecure: true }
    }

    /// Bearer tokens, each at least [`MIN_TOKEN_LEN`] characters; each is registered with the scrubber, so
    /// that no log line or answer ever shows it.
    pub fn with_tokens<I: IntoIterator<Item = String>>(tokens: I) -> Result<AdminAccess, String> {
        let mut access = AdminAccess::default();
        for (i, token) in tokens.into_iter().enumerate() {
            access.add(&token).map_err(|why| format!("admin token {} {why}", i + 1))?;
        }
        if access.tokens.is_empty() {
            return Err("no admin token given".into());
        }
        Ok(access)
    }

    fn add(&mut self, token: &str) -> Result<(), String> {
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(format!(
                "is {} characters long; use at least {MIN_TOKEN_LEN} (`openssl rand -hex 32` makes one)",
                token.chars().count()
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains a space or a control character".into());
        }
        crate::scrub::known::remember_secret(token);
        self.tokens.push(Token::new(token));
        Ok(())
    }

    /// The tokens of a file: one per line; empty lines and lines starting with `#` are skipped, so that
    /// a rotation can list the new token beside the old one.
    pub fn from_token_file(path: &std::path::Path) -> Result<AdminAccess, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("--admin-token-file `{shown}`: {e}"))?;
        if !meta.is_file() {
            return Err(format!("--admin-token-file `{shown}` is not a regular file"));
        }
        if meta.len() > MAX_TOKEN_FILE {
            return Err(format!("--admin-token-file `{shown}` is over {MAX_TOKEN_FILE} bytes; it holds tokens only"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("--admin-token-file `{shown}`: {e}"))?;
        let mut access = AdminAccess::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            access.add(line).map_err(|why| format!("--admin-token-file `{shown}` line {}: the token {why}", n + 1))?;
        }
        if access.tokens.is_empty() {
            return Err(format!("--admin-token-file `{shown}` holds no token (one per line)"));
        }
        Ok(access)
    }

    /// How many tokens are accepted.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Whether every local user may act (`--admin-insecure`).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Refuses the insecure opt-in on an address other hosts can reach.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), String> {
        if self.insecure && self.tokens.is_empty() && !addr.ip().is_loopback() {
            return Err(format!(
                "--admin-insecure is accepted only on a loopback --admin address (127.0.0.1, [::1]), not {addr}: \
                 anyone who can reach it could replay, purge and run flows; give --admin-token-file instead"
            ));
        }
        Ok(())
    }

    /// Who is asking, from the request's `Authorization` header, or why they may not.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<Operator, Refusal> {
        if self.tokens.is_empty() {
            return if self.insecure { Ok(Operator::Local) } else { Err(Refusal::Closed) };
        }
        let Some(value) = headers.get(hyper::header::AUTHORIZATION) else {
            return Err(Refusal::Unauthenticated("no Authorization header"));
        };
        let given = value.as_bytes();
        let Some(token) = strip_bearer(given) else {
            return Err(Refusal::Unauthenticated("the Authorization header is not `Bearer TOKEN`"));
        };
        let digest: [u8; 32] = Sha256::digest(token).into();
        // Every token is compared, in constant time each, so the answer's timing says nothing of which
        // (or how much of one) matched.
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            if bool::from(t.digest.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        match found {
            Some(t) => Ok(Operator::Token(t.id.clone())),
            None => Err(Refusal::Unauthenticated("the bearer token is not one relais run was given")),
        }
    }
}

/// Why a token file is readable by more than its owner (its group or everyone: they could act as the
/// operator), or `None` when it is not, or when the platform has no such permission bits.
pub fn token_file_exposure(path: &std::path::Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "--admin-token-file `{}` may be read by other users (mode {mode:o}): `chmod 600` it",
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The token of `Bearer TOKEN` (the scheme case-insensitive, as RFC 9110 says).
fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = (value.get(..7)?, value.get(7..)?);
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Writes the audit line of one admin request: who (the token id, or anonymous), from where (the peer
/// address), what (the action and its object), and how it ended (its status and outcome).
pub fn audit(who: Option<&Operator>, peer: SocketAddr, action: &str, object: &str, status: u16, outcome: &str) {
    let who = who.map_or_else(|| "unauthenticated".to_string(), ToString::to_string);
    if status == 401 || status == 403 {
        tracing::warn!(target: AUDIT_TARGET, who = %who, peer = %peer, action, object, status, outcome, "admin request refused");
    } else {
        tracing::info!(target: AUDIT_TARGET, who = %who, peer = %peer, action, object, status, outcome, "admin action");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(hyper::header::AUTHORIZATION, authorization.parse().unwrap_or_else(|e| panic!("{e}")));
        h
    }

    #[test]
    fn only_a_given_token_lets_a_request_through() {
        let access = AdminAccess::with_tokens(["0123456789abcdef-old".into(), "0123456789abcdef-new".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let old = access.authorize(&headers("Bearer 0123456789abcdef-old"));
        let new = access.authorize(&headers("bearer  0123456789abcdef-new "));
        assert!(matches!(&old, Ok(Operator::Token(id)) if id.starts_with("sha256:") && id.len() == 19), "{old:?}");
        assert!(new.is_ok() && new != old, "two tokens have two ids");
        assert_eq!(access.authorize(&headers("Bearer 0123456789abcdef-bad")).map_err(|r| r.status()), Err(401));
        assert_eq!(access.authorize(&headers("Basic 0123456789abcdef-old")).map_err(|r| r.status()), Err(401));
        assert_eq!(access.authorize(&HeaderMap::new()).map_err(|r| r.status()), Err(401));
    }

    #[test]
    fn without_a_token_the_door_is_closed_unless_opened_on_loopback() {
        assert_eq!(AdminAccess::closed().authorize(&HeaderMap::new()), Err(Refusal::Closed));
        assert_eq!(AdminAccess::insecure_loopback().authorize(&HeaderMap::new()), Ok(Operator::Local));
        let loopback: SocketAddr = "127.0.0.1:9464".parse().unwrap_or_else(|e| panic!("{e}"));
        let everywhere: SocketAddr = "0.0.0.0:9464".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(AdminAccess::insecure_loopback().check_bind(loopback).is_ok());
        let refused = AdminAccess::insecure_loopback().check_bind(everywhere).unwrap_err();
        assert!(refused.contains("--admin-insecure is accepted only on a loopback"), "{refused}");
        assert!(AdminAccess::closed().check_bind(everywhere).is_ok());
    }

    #[test]
    fn short_or_spaced_tokens_and_empty_files_are_refused_with_their_place() {
        let short = AdminAccess::with_tokens(["short".to_string()]).err().unwrap_or_default();
        assert!(short.contains("admin token 1 is 5 characters long; use at least 16"), "{short}");
        let dir = std::env::temp_dir().join(format!("relais-admin-token-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("tokens");
        let _ = std::fs::write(&file, "# rotated on monday\n\n0123456789abcdef0123\ntoo short\n");
        let err = AdminAccess::from_token_file(&file).err().unwrap_or_default();
        assert!(err.contains("line 4: the token is 9 characters long"), "{err}");
        let _ = std::fs::write(&file, "# nothing yet\n");
        let err = AdminAccess::from_token_file(&file).err().unwrap_or_default();
        assert!(err.contains("holds no token"), "{err}");
        let _ = std::fs::write(&file, "0123456789abcdef0123\n");
        assert_eq!(AdminAccess::from_token_file(&file).map(|a| a.token_count()).ok(), Some(1));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644));
            let exposed = token_file_exposure(&file).unwrap_or_default();
            assert!(exposed.contains("may be read by other users (mode 644): `chmod 600` it"), "{exposed}");
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            assert_eq!(token_file_exposure(&file), None);
        }
        let missing = AdminAccess::from_token_file(&dir.join("absent")).err().unwrap_or_default();
        assert!(missing.starts_with("--admin-token-file `") && missing.contains("absent"), "{missing}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
