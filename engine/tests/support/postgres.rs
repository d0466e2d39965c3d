//! The PostgreSQL the replica tests share: one fresh schema per test (dropped when the test ends), SQL on a
//! connection of the test's own, and the message that says how to start the server when it is not running.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The test database (`RELAIS_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`).
pub fn database() -> String {
    std::env::var("RELAIS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The test database's `host:port`, where a [`super::proxy::Proxy`] forwards to.
pub fn address() -> String {
    let database = database();
    let rest = database.split_once('@').map_or("127.0.0.1:5432", |(_, rest)| rest);
    rest.split('/').next().unwrap_or("127.0.0.1:5432").to_string()
}

/// Runs `sql` on the test database; panics, saying how to start PostgreSQL, when it cannot be reached.
pub fn admin(sql: &str) -> Vec<tokio_postgres::SimpleQueryMessage> {
    try_admin(sql).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `sql` on the test database, or says why it could not (never panics: used while unwinding too).
pub fn try_admin(sql: &str) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, String> {
    let sql = sql.to_string();
    // On a thread of its own: callers may be inside a tokio runtime, where a nested `block_on` panics.
    let work = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&database(), tokio_postgres::NoTls).await.map_err(|e| {
                    format!(
                        "PostgreSQL is not reachable at {}: {e}. These tests need it: start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or point \
                         RELAIS_TEST_POSTGRES at a database that trusts this user)",
                        database()
                    )
                })?;
            tokio::spawn(connection);
            client.simple_query(&sql).await.map_err(|e| format!("{sql}: {e}"))
        })
    });
    work.join().unwrap_or_else(|_| Err("the SQL thread panicked".to_string()))
}

/// A schema of the test database for one test; dropped when this is.
pub struct Schema {
    /// Its name.
    pub name: String,
}

impl Schema {
    /// A schema no other test (nor an earlier run) uses; checks that PostgreSQL answers.
    pub fn fresh() -> Schema {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("relais_e2e_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        admin("SELECT 1");
        Schema { name }
    }

    /// The `--state` URL of this schema; `application` names its connections (to terminate them).
    pub fn url(&self, application: &str) -> String {
        format!("{}?schema={}&pool_size=8&application_name={application}", database(), self.name)
    }

    /// The same URL through another address (a proxy), with a short connect timeout.
    pub fn url_via(&self, host_port: &str, application: &str) -> String {
        let database = database();
        let rest = database.split_once('@').map_or(database.as_str(), |(_, rest)| rest);
        let (user, _) = database.trim_start_matches("postgres://").split_once('@').unwrap_or(("postgres", ""));
        let path = rest.split_once('/').map_or("test", |(_, path)| path);
        format!(
            "postgres://{user}@{host_port}/{path}?schema={}&pool_size=8&application_name={application}&connect_timeout=2",
            self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Also when the test failed: its replicas are killed by then, so nothing holds the schema.
        let _ = try_admin(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
    }
}
