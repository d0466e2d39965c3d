//! `--state`: where relais keeps what must survive a restart (persistent queues and object stores, dead
//! letters, scheduler leases): a directory (the embedded redb file), `memory` (in the process only), or a
//! PostgreSQL URL (`postgres://user:password@host/db?schema=NAME`), shared by every replica naming it.
//!
//! A URL is a secret: its password is registered with the scrubber before anything can print it, and every
//! message about the state shows the URL with the password replaced. So that the password need not be on
//! the command line (where `ps` shows it to every user of the host), the URL may hold `${secret:NAME}`,
//! resolved like the flows' secrets (the environment variable `NAME`, or the file `NAME_FILE` names).

use relais_store::{PgStore, RedbStore, StateStore};
use std::path::PathBuf;
use std::sync::Arc;

/// The default state directory, relative to where relais runs.
pub const DEFAULT_STATE: &str = ".relais/state";

/// Whether `state` names a state shared by several processes (PostgreSQL), which a running daemon does not
/// hold for itself.
pub fn is_shared(state: &str) -> bool {
    relais_store::is_postgres_url(state)
}

/// Opens the state named on the command line: a PostgreSQL URL (connected, its schema created or migrated), a
/// directory (created if needed), or `memory`. The error never holds a password.
pub fn open(state: &str) -> Result<Arc<dyn StateStore>, String> {
    if state == "memory" {
        return Ok(Arc::new(relais_store::MemoryStore::new()));
    }
    if is_shared(state) {
        // Resolving registers each secret's value with the scrubber, before the URL can be printed.
        let resolved = crate::connectors::secrets::resolve(state)
            .map_err(|why| format!("the state URL {}: {why}", relais_store::redact(state)))?;
        let state = resolved.as_str();
        if let Ok(target) = relais_store::Target::parse(state) {
            if let Some(password) = target.password().filter(|p| !p.is_empty()) {
                crate::scrub::known::remember_secret(&password);
            }
        }
        return PgStore::connect(state).map(|s| Arc::new(s) as Arc<dyn StateStore>).map_err(|e| e.to_string());
    }
    let dir = PathBuf::from(state);
    RedbStore::open(&dir).map(|s| Arc::new(s) as Arc<dyn StateStore>).map_err(|e| e.to_string())
}

/// The state as it may appear in a message or a log line (a URL's password replaced).
pub fn shown(state: &str) -> String {
    if is_shared(state) {
        relais_store::redact(state)
    } else {
        state.to_string()
    }
}
