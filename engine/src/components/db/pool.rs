//! What a `db` config builds, shared by every step and listener naming it: one bounded pool of
//! PostgreSQL connections (deadpool-postgres), its timeouts, and a probe that keeps `/ready` true to
//! whether the database can be reached and logs, once per change, why it cannot (bad credentials, a
//! database that does not exist, a server that is down).
//!
//! Connections use TLS as `sslmode` says (the store's `pg_tls`, shared with `--state postgres://`). The
//! password (`${secret:NAME}`) is resolved here, registered with the scrubber, and never written in any
//! message: errors name the config, host, port, database and user only.

use super::DbConfig;
use crate::component::{Readiness, Resource};
use crate::connectors::secrets;
use crate::event::FlowError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// The shared pool of one `db` config.
pub struct Db {
    /// The config's name, in every error of its steps.
    pub name: String,
    /// `user@host:port/database`, for messages (never the password).
    pub target: String,
    pool: Pool,
    /// Client-side bound of one statement (the server's `statement_timeout` plus a margin).
    pub statement_timeout: Duration,
    /// The probe's last word: `None` while it could connect.
    down: Arc<Mutex<Option<String>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// How often the probe asks while the database cannot be reached, and while it can.
const PROBE_DOWN: Duration = Duration::from_secs(1);
const PROBE_UP: Duration = Duration::from_secs(5);

impl Db {
    /// The pool of config `name` (connections open on first use; the probe starts when a tokio runtime
    /// runs, that is under `relais run` and in tests, never during `relais check`).
    pub fn new(name: &str, config: &DbConfig) -> Result<Db, String> {
        let mut pg = tokio_postgres::Config::new();
        let user = secrets::resolve(&config.user)?;
        let database = secrets::resolve(&config.database)?;
        let host = secrets::resolve(&config.host)?;
        pg.host(&host).port(config.port).user(&user).dbname(&database);
        pg.application_name("relais");
        pg.connect_timeout(config.connect_timeout.0);
        pg.options(format!("-c statement_timeout={}", config.statement_timeout.0.as_millis()));
        if let Some(password) = &config.password {
            let password = secrets::resolve(password)?;
            crate::scrub::known::remember_secret(&password);
            pg.password(password);
        }
        pg.ssl_mode(config.sslmode.shared().driver());
        let ca = match config.tls.as_ref().and_then(|t| t.ca.as_deref()) {
            Some(path) => crate::tls::certificates(path).map_err(|e| format!("config `{name}`: {e}"))?,
            None => Vec::new(),
        };
        let tls = relais_store::pg_tls::connector(config.sslmode.shared(), ca)
            .map_err(|e| format!("config `{name}`: {e}"))?;
        let manager = Manager::from_config(pg, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1) as usize)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout.0))
            .create_timeout(Some(config.connect_timeout.0))
            .recycle_timeout(Some(config.connect_timeout.0))
            .build()
            .map_err(|e| format!("config `{name}`: cannot build the connection pool: {e}"))?;
        let (stop, _) = tokio::sync::watch::channel(false);
        let db = Db {
            name: name.to_string(),
            target: format!("{user}@{host}:{}/{database}", config.port),
            pool,
            statement_timeout: config.statement_timeout.0 + Duration::from_secs(1),
            down: Arc::new(Mutex::new(Some("not connected yet".into()))),
            stop,
        };
        db.probe();
        Ok(db)
    }

    /// Starts the readiness probe on the current tokio runtime, if there is one.
    fn probe(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let (pool, down, name, target) = (self.pool.clone(), self.down.clone(), self.name.clone(), self.target.clone());
        let mut stop = self.stop.subscribe();
        handle.spawn(async move {
            loop {
                let now = match pool.get().await {
                    Ok(client) => client.simple_query("SELECT 1").await.err().map(|e| connect_error(&e)),
                    // Every connection busy: the database is reachable, the pool only full.
                    Err(PoolError::Timeout(deadpool_postgres::TimeoutType::Wait)) => None,
                    Err(e) => Some(pool_error(&e)),
                };
                let changed = {
                    let mut last = down.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let changed = *last != now;
                    *last = now.clone();
                    changed
                };
                match (&now, changed) {
                    (Some(why), true) => {
                        tracing::error!(config = %name, target = %target, "cannot connect to PostgreSQL: {why}")
                    }
                    (None, true) => tracing::info!(config = %name, target = %target, "connected to PostgreSQL"),
                    _ => {}
                }
                let wait = if now.is_some() { PROBE_DOWN } else { PROBE_UP };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
        });
    }

    /// A connection from the pool, or the typed error saying why there is none.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, FlowError> {
        self.pool.get().await.map_err(|e| {
            let kind = match e {
                PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => "DB:TIMEOUT",
                _ => "DB:CONNECTIVITY",
            };
            self.error(kind, format!("no connection to {}: {}", self.target, pool_error(&e)))
        })
    }

    /// A typed error of this config, with what an HTTP caller is told instead of its description.
    pub fn error(&self, kind: &str, description: String) -> FlowError {
        FlowError::new(kind, format!("config `{}`: {description}", self.name))
            .from_upstream(format!("the database call of config `{}` failed ({kind})", self.name))
    }

    /// The typed error of a failed statement: a constraint (with its name), a timeout, a lost connection,
    /// or anything else the server refused.
    pub fn statement_error(&self, e: &tokio_postgres::Error) -> FlowError {
        let Some(db) = e.as_db_error() else {
            let kind = if e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) {
                "DB:CONNECTIVITY"
            } else {
                "DB:QUERY"
            };
            return self.error(kind, chain(e));
        };
        let code = db.code();
        let kind = match code.code() {
            c if c.starts_with("23") => "DB:CONSTRAINT",
            _ if *code == SqlState::QUERY_CANCELED => "DB:TIMEOUT",
            c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("28") || c == "3D000" => {
                "DB:CONNECTIVITY"
            }
            _ => "DB:QUERY",
        };
        let mut text = match db.constraint() {
            Some(constraint) => format!("constraint `{constraint}` violated: {}", db.message()),
            None => db.message().to_string(),
        };
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        text.push_str(&format!(" [SQLSTATE {}]", code.code()));
        self.error(kind, text)
    }
}

impl Resource for Db {
    fn ready(&self) -> Readiness {
        match &*self.down.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            None => Readiness::Ready,
            Some(why) => Readiness::NotReady(format!("PostgreSQL {} unreachable: {why}", self.target)),
        }
    }

    fn close(&self) {
        self.stop.send_replace(true);
        self.pool.close();
    }

    fn open_scope(
        &self,
    ) -> Option<futures_util::future::BoxFuture<'_, Result<Arc<dyn crate::component::OpenScope>, FlowError>>> {
        Some(Box::pin(self.begin()))
    }
}

/// An error and its causes, `a: b`.
fn chain(error: &dyn std::error::Error) -> String {
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

/// What a failed connection says: the server's message when it sent one (`role "x" does not exist`).
fn connect_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} [SQLSTATE {}]", db.message(), db.code().code()),
        None => chain(e),
    }
}

fn pool_error(e: &PoolError) -> String {
    match e {
        PoolError::Backend(e) => connect_error(e),
        PoolError::Timeout(kind) => format!("timed out ({kind:?})").to_lowercase(),
        other => other.to_string(),
    }
}
