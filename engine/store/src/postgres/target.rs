//! What `--state postgres://...` names: the connection settings, the schema relais keeps its tables in, the pool
//! size, and the URL as it may be shown (its password replaced). The URL is a secret: nothing here ever puts the
//! password in a message.

use super::tls::SslMode;
use crate::error::StoreError;
use std::str::FromStr;

/// The schema relais uses when the URL names none.
pub const DEFAULT_SCHEMA: &str = "relais";

/// Connections the pool opens at most when the URL does not say (`pool_size=N`).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// A parsed `postgres://` URL, with relais's own parameters (`schema`, `pool_size`) taken out of it.
#[derive(Clone)]
pub struct Target {
    /// The driver's settings (host, port, user, password, database and the libpq parameters it knows).
    pub(super) config: tokio_postgres::Config,
    /// The schema holding relais's tables.
    pub(super) schema: String,
    /// The most connections the pool opens.
    pub(super) pool_size: usize,
    /// The URL with its password replaced by `***`: the only form that appears in messages.
    pub(super) shown: String,
    /// `sslmode=` (libpq's values; tokio-postgres alone knows only disable/prefer/require).
    pub(super) ssl: SslMode,
    /// `sslrootcert=PATH`: the PEM CA file the server's certificate is checked against.
    pub(super) root_cert: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.shown).field("schema", &self.schema).finish_non_exhaustive()
    }
}

/// Whether `state` names a PostgreSQL database rather than a directory.
pub fn is_postgres_url(state: &str) -> bool {
    state.starts_with("postgres://") || state.starts_with("postgresql://")
}

/// `url` with the password of its user-info (if any) replaced by `***`, and a `password=` query parameter too.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut shown = match base.split_once("://") {
        Some((scheme, rest)) => {
            // The user-info ends at the last `@` before the path (a password may contain `@` percent-encoded
            // only, but be generous).
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((user_info, host)) => match user_info.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
                    None => format!("{scheme}://{user_info}@{host}{path}"),
                },
                None => format!("{scheme}://{rest}"),
            }
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_string(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&params.join("&"));
    }
    shown
}

/// Whether `name` is a schema name relais accepts: it is written into SQL as a quoted identifier, so it is
/// kept to lower-case letters, digits and `_` (no quoting or case-folding surprises between the quoted name
/// relais creates and the `search_path` it sets), at most 63 bytes (PostgreSQL's limit).
fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl Target {
    /// Parses `url`. Relais's parameters are `schema=NAME` (default [`DEFAULT_SCHEMA`]) and `pool_size=N`
    /// (default [`DEFAULT_POOL_SIZE`]), and it reads `sslmode` (libpq's five values, default `prefer`) and
    /// `sslrootcert=PATH` itself (see `tls`); every other parameter goes to the driver (`connect_timeout`,
    /// `application_name`...). Errors show the URL redacted.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let shown = redact(url);
        let bad = |detail: String| StoreError::BadUrl { url: shown.clone(), detail };
        if !is_postgres_url(url) {
            return Err(bad("it must start with postgres:// or postgresql://".to_string()));
        }
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut schema = DEFAULT_SCHEMA.to_string();
        let mut pool_size = DEFAULT_POOL_SIZE;
        let mut ssl = SslMode::default();
        let mut root_cert = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "schema" => {
                    if !valid_schema(value) {
                        return Err(bad(format!(
                            "schema `{value}` is not a plain name (lower-case letters, digits and `_`, not \
                             starting with a digit, at most 63 characters)"
                        )));
                    }
                    schema = value.to_string();
                }
                "pool_size" => {
                    pool_size = match value.parse::<usize>() {
                        Ok(n) if (1..=1_000).contains(&n) => n,
                        _ => return Err(bad(format!("pool_size `{value}` is not a number from 1 to 1000"))),
                    }
                }
                "sslmode" => ssl = value.parse().map_err(bad)?,
                "sslrootcert" if !value.is_empty() => root_cert = Some(value.to_string()),
                _ => rest.push(pair),
            }
        }
        if ssl.needs_ca() && root_cert.is_none() {
            return Err(bad(format!(
                "sslmode={ssl} needs `sslrootcert=PATH`, the PEM file of the CA that signs the server's certificate"
            )));
        }
        let driver_url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
        // The driver's own message may quote the part it rejects; it never holds more than the parameter, but
        // the URL's password could be that part, so only its kind of failure is kept.
        let mut config =
            tokio_postgres::Config::from_str(&driver_url).map_err(|e| bad(redact_text(&e.to_string(), url)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        // Every connection works in the schema: statements name their tables unqualified.
        let search_path = format!("-c search_path={schema}");
        let options = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {search_path}"),
            _ => search_path,
        };
        config.options(&options);
        config.ssl_mode(ssl.driver());
        if config.get_application_name().is_none() {
            config.application_name("relais");
        }
        Ok(Target { config, schema, pool_size, shown, ssl, root_cert })
    }

    /// The URL as it may be shown (password replaced).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The schema relais keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The TLS connector of `sslmode` and `sslrootcert` (whose file is read here, each time a store connects).
    pub(super) fn tls(&self) -> Result<super::tls::MakeRustlsConnect, StoreError> {
        let bad = |detail: String| StoreError::BadUrl { url: self.shown.clone(), detail };
        let ca = match &self.root_cert {
            Some(path) => super::tls::read_ca(path).map_err(bad)?,
            None => Vec::new(),
        };
        super::tls::connector(self.ssl, ca).map_err(bad)
    }

    /// The password of the URL, if it has one: for the caller to register with its log scrubber.
    pub fn password(&self) -> Option<String> {
        self.config.get_password().map(|p| String::from_utf8_lossy(p).into_owned())
    }
}

/// `text` with the password of `url` (if any) replaced by `***`: for driver messages that might quote it.
pub(super) fn redact_text(text: &str, url: &str) -> String {
    let password = tokio_postgres::Config::from_str(url.split('?').next().unwrap_or(url))
        .ok()
        .and_then(|c| c.get_password().map(|p| String::from_utf8_lossy(p).into_owned()))
        .filter(|p| !p.is_empty());
    match password {
        Some(password) => text.replace(&password, "***"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_a_url_is_never_shown() {
        assert_eq!(
            redact("postgres://relais:s3cret@db.internal:5432/state?schema=a"),
            "postgres://relais:***@db.internal:5432/state?schema=a"
        );
        assert_eq!(redact("postgresql://db/state?password=s3cret&x=1"), "postgresql://db/state?password=***&x=1");
        assert_eq!(redact("postgres://root@127.0.0.1/test"), "postgres://root@127.0.0.1/test");
    }

    #[test]
    fn relais_takes_its_own_parameters_out_of_the_url() {
        let target = Target::parse("postgres://root@127.0.0.1/test?schema=t_1&pool_size=4&application_name=x")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((target.schema(), target.pool_size), ("t_1", 4));
        assert_eq!(target.config.get_application_name(), Some("x"));
        let target = Target::parse("postgres://root@127.0.0.1/test").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((target.schema(), target.pool_size), (DEFAULT_SCHEMA, DEFAULT_POOL_SIZE));
        assert_eq!(target.ssl, SslMode::Prefer);
        let target = Target::parse("postgres://root@127.0.0.1/test?sslmode=verify-ca&sslrootcert=/etc/ca.pem")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((target.ssl, target.root_cert.as_deref()), (SslMode::VerifyCa, Some("/etc/ca.pem")));
        assert_eq!(target.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
    }

    #[test]
    fn bad_urls_are_refused_with_the_password_redacted() {
        for (url, expected) in [
            ("postgres://u:pw@h/db?schema=a;drop", "schema `a;drop` is not a plain name"),
            ("postgres://u:pw@h/db?pool_size=0", "pool_size `0` is not a number from 1 to 1000"),
            ("postgres://u:pw@h/db?sslmode=sometimes", "sslmode `sometimes` is not one of"),
            ("postgres://u:pw@h/db?sslmode=verify-full", "needs `sslrootcert=PATH`"),
            ("postgres://u:pw@h/db?connect_timeout=soon", "postgres://u:***@h/db"),
        ] {
            let message = Target::parse(url).map(|_| ()).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("pw@"), "{message}");
        }
    }
}
