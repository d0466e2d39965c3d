//! In-memory object store with TTL: the default store of `idempotent` and of `object_store.*` until the
//! durable-state issue brings the embedded backend behind the same calls.

use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `default_ttl` value meaning "entries live forever".
const FOREVER: u64 = u64::MAX;

/// A key/value store whose entries expire.
#[derive(Debug)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Json, Option<Instant>)>>,
    /// Milliseconds, or [`FOREVER`]; atomic so that a hot reload can change a store's TTL without
    /// replacing the store (and losing its keys).
    default_ttl_ms: AtomicU64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(None)
    }
}

impl MemoryStore {
    /// A store whose entries live `default_ttl` unless told otherwise (`None`: forever).
    pub fn new(default_ttl: Option<Duration>) -> Self {
        let store = MemoryStore { entries: Mutex::new(HashMap::new()), default_ttl_ms: AtomicU64::new(FOREVER) };
        store.set_default_ttl(default_ttl);
        store
    }

    /// Changes the TTL of entries written from now on (a reloaded config); existing entries keep theirs.
    pub fn set_default_ttl(&self, ttl: Option<Duration>) {
        let ms = ttl.map_or(FOREVER, |t| u64::try_from(t.as_millis()).unwrap_or(FOREVER - 1));
        self.default_ttl_ms.store(ms, Ordering::Relaxed);
    }

    fn default_ttl(&self) -> Option<Duration> {
        match self.default_ttl_ms.load(Ordering::Relaxed) {
            FOREVER => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Json, Option<Instant>)>> {
        // A panic while holding the lock cannot leave a map half-updated (single insert/remove calls), so a
        // poisoned lock is still consistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live value of a key.
    pub fn get(&self, key: &str) -> Option<Json> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((_, Some(expiry))) if *expiry <= Instant::now() => {
                entries.remove(key);
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        }
    }

    /// Stores a value.
    pub fn put(&self, key: &str, value: Json, ttl: Option<Duration>) {
        let expiry = ttl.or(self.default_ttl()).map(|t| Instant::now() + t);
        self.lock().insert(key.to_string(), (value, expiry));
    }

    /// Stores a value only if the key is absent or expired; true when stored. Atomic, so two concurrent
    /// events with the same idempotency key cannot both pass.
    pub fn put_if_absent(&self, key: &str, value: Json, ttl: Option<Duration>) -> bool {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some((_, expiry)) = entries.get(key) {
            if expiry.is_none_or(|e| e > now) {
                return false;
            }
        }
        let expiry = ttl.or(self.default_ttl()).map(|t| now + t);
        entries.insert(key.to_string(), (value, expiry));
        true
    }

    /// Replaces (or, with `None`, removes) the live value of a key only if it equals `expected`; true when it
    /// did. Atomic: an idempotency claim is confirmed or released only while it is still the one taken.
    pub fn compare_and_set(&self, key: &str, expected: &Json, value: Option<Json>, ttl: Option<Duration>) -> bool {
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some((current, expiry)) if current == expected && expiry.is_none_or(|e| e > now) => {}
            _ => return false,
        }
        match value {
            Some(value) => {
                let expiry = ttl.or(self.default_ttl()).map(|t| now + t);
                entries.insert(key.to_string(), (value, expiry));
            }
            None => {
                entries.remove(key);
            }
        }
        true
    }

    /// Removes a key; true if it was there.
    pub fn remove(&self, key: &str) -> bool {
        self.lock().remove(key).is_some()
    }

    /// Live entries (expired ones still waiting for removal are not counted).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|(_, expiry)| expiry.is_none_or(|e| e > now)).count()
    }

    /// Whether the store holds no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_ttl() {
        let store = MemoryStore::new(None);
        store.put("a", Json::from(1), Some(Duration::from_millis(20)));
        assert_eq!(store.get("a"), Some(Json::from(1)));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.get("a"), None);
    }

    #[test]
    fn put_if_absent_lets_one_key_through_until_it_expires() {
        let store = MemoryStore::new(Some(Duration::from_millis(20)));
        assert!(store.put_if_absent("k", Json::Null, None));
        assert!(!store.put_if_absent("k", Json::Null, None));
        std::thread::sleep(Duration::from_millis(40));
        assert!(store.put_if_absent("k", Json::Null, None));
    }

    #[test]
    fn compare_and_set_acts_only_on_the_expected_live_value() {
        let store = MemoryStore::new(None);
        store.put("k", Json::from(1), None);
        assert!(!store.compare_and_set("k", &Json::from(2), Some(Json::from(3)), None));
        assert!(store.compare_and_set("k", &Json::from(1), Some(Json::from(3)), None));
        assert_eq!(store.get("k"), Some(Json::from(3)));
        assert!(store.compare_and_set("k", &Json::from(3), None, None));
        assert_eq!(store.get("k"), None);
        assert!(!store.compare_and_set("k", &Json::from(3), None, None));
    }
}
