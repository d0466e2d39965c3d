//! `--state DIR`: where relais keeps what must survive a restart (persistent queues and object stores, dead
//! letters). `memory` keeps it in the process only.

use relais_store::{RedbStore, StateStore};
use std::path::PathBuf;
use std::sync::Arc;

/// The default state directory, relative to where relais runs.
pub const DEFAULT_STATE: &str = ".relais/state";

/// Opens the state named on the command line: a directory (created if needed), or `memory`.
pub fn open(state: &str) -> Result<Arc<dyn StateStore>, String> {
    if state == "memory" {
        return Ok(Arc::new(relais_store::MemoryStore::new()));
    }
    let dir = PathBuf::from(state);
    RedbStore::open(&dir).map(|s| Arc::new(s) as Arc<dyn StateStore>).map_err(|e| e.to_string())
}
