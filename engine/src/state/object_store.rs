//! The object stores steps and `idempotent` use: in memory (the default), or in the durable state store
//! (`persistent: true`), where entries survive restarts. One type with fallible calls for both, so that a
//! step never treats a disk error as "key absent".

use super::store::MemoryStore;
use relais_store::{StateStore, Timestamp};
use serde_json::Value as Json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `default_ttl_ms` value meaning "entries live forever".
const FOREVER: u64 = u64::MAX;

/// A named store in the durable state.
pub struct DurableStore {
    state: Arc<dyn StateStore>,
    name: String,
    default_ttl_ms: AtomicU64,
}

/// An object store.
pub enum ObjectStore {
    /// Lost on restart.
    Memory(MemoryStore),
    /// In the state directory.
    Durable(DurableStore),
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// A state store that cannot be read or written (a disk error): never mistaken for an absent key.
pub fn unavailable(why: String) -> crate::event::FlowError {
    crate::event::FlowError::new("OBJECT_STORE:UNAVAILABLE", format!("the state store failed: {why}"))
}

/// Runs a call into the durable store, which may wait for an fsync, without stalling an async worker.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl ObjectStore {
    /// An in-memory store.
    pub fn memory(default_ttl: Option<Duration>) -> Self {
        ObjectStore::Memory(MemoryStore::new(default_ttl))
    }

    /// The store `name` inside the durable state.
    pub fn durable(state: Arc<dyn StateStore>, name: &str, default_ttl: Option<Duration>) -> Self {
        let store = DurableStore { state, name: name.to_string(), default_ttl_ms: AtomicU64::new(FOREVER) };
        let store = ObjectStore::Durable(store);
        store.set_default_ttl(default_ttl);
        store
    }

    /// Whether entries survive a restart.
    pub fn is_durable(&self) -> bool {
        matches!(self, ObjectStore::Durable(_))
    }

    /// Changes the TTL of entries written from now on (a reloaded config).
    pub fn set_default_ttl(&self, ttl: Option<Duration>) {
        match self {
            ObjectStore::Memory(m) => m.set_default_ttl(ttl),
            ObjectStore::Durable(d) => {
                let ms = ttl.map_or(FOREVER, |t| u64::try_from(t.as_millis()).unwrap_or(FOREVER - 1));
                d.default_ttl_ms.store(ms, Ordering::Relaxed);
            }
        }
    }

    fn ttl(d: &DurableStore, ttl: Option<Duration>) -> Option<Duration> {
        ttl.or(match d.default_ttl_ms.load(Ordering::Relaxed) {
            FOREVER => None,
            ms => Some(Duration::from_millis(ms)),
        })
    }

    /// The live value of a key.
    pub fn get(&self, key: &str) -> Result<Option<Json>, String> {
        match self {
            ObjectStore::Memory(m) => Ok(m.get(key)),
            ObjectStore::Durable(d) => blocking(|| d.state.get(&d.name, key, now())).map_err(|e| e.to_string()),
        }
    }

    /// Stores a value.
    pub fn put(&self, key: &str, value: Json, ttl: Option<Duration>) -> Result<(), String> {
        match self {
            ObjectStore::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            ObjectStore::Durable(d) => {
                let ttl = Self::ttl(d, ttl);
                blocking(|| d.state.put(&d.name, key, &value, ttl, now())).map_err(|e| e.to_string())
            }
        }
    }

    /// Stores a value only if the key is absent or expired; true when stored. Atomic.
    pub fn put_if_absent(&self, key: &str, value: Json, ttl: Option<Duration>) -> Result<bool, String> {
        match self {
            ObjectStore::Memory(m) => Ok(m.put_if_absent(key, value, ttl)),
            ObjectStore::Durable(d) => {
                let ttl = Self::ttl(d, ttl);
                blocking(|| d.state.put_if_absent(&d.name, key, &value, ttl, now())).map_err(|e| e.to_string())
            }
        }
    }

    /// Replaces (or, with `None`, removes) the live value of a key only if it equals `expected`; true when it
    /// did. Atomic.
    pub fn compare_and_set(
        &self,
        key: &str,
        expected: &Json,
        value: Option<Json>,
        ttl: Option<Duration>,
    ) -> Result<bool, String> {
        match self {
            ObjectStore::Memory(m) => Ok(m.compare_and_set(key, expected, value, ttl)),
            ObjectStore::Durable(d) => {
                let ttl = Self::ttl(d, ttl);
                blocking(|| d.state.compare_and_set(&d.name, key, expected, value.as_ref(), ttl, now()))
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Whether no other process uses this store while this one runs: an in-memory store always, a durable
    /// one when its backend is exclusive (see [`StateStore::is_exclusive`]).
    pub fn is_exclusive(&self) -> bool {
        match self {
            ObjectStore::Memory(_) => true,
            ObjectStore::Durable(d) => d.state.is_exclusive(),
        }
    }

    /// Removes a key; true if it was there.
    pub fn remove(&self, key: &str) -> Result<bool, String> {
        match self {
            ObjectStore::Memory(m) => Ok(m.remove(key)),
            ObjectStore::Durable(d) => blocking(|| d.state.remove(&d.name, key, now())).map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_store_namespaces_its_keys_and_keeps_its_default_ttl() {
        let state: Arc<dyn StateStore> = Arc::new(relais_store::MemoryStore::new());
        let seen = ObjectStore::durable(state.clone(), "seen", None);
        let other = ObjectStore::durable(state, "other", Some(Duration::from_secs(60)));
        assert!(seen.put_if_absent("k", Json::Bool(true), None).unwrap());
        assert!(!seen.put_if_absent("k", Json::Bool(true), None).unwrap());
        assert_eq!(other.get("k").unwrap(), None);
        other.put("k", Json::from(2), None).unwrap();
        assert_eq!(other.get("k").unwrap(), Some(Json::from(2)));
        assert!(seen.remove("k").unwrap());
        assert!(seen.is_durable());
    }
}
