//! In-memory object store with TTL: the default store of `idempotent` and of `object_store.*` until the
//! durable-state issue brings the embedded backend behind the same calls.

use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
// tokio's clock: the system one, except in a flow test, where expiry follows the case's virtual time.
use tokio::time::Instant;

/// `default_ttl` value meaning "entries live forever".
const FOREVER: u64 = u64::MAX;

/// The fewest entries at which a write sweeps the expired ones out.
const MIN_SWEEP_AT: usize = 1024;

type Entries = HashMap<String, (Json, Option<Instant>)>;

/// A key/value store whose entries expire.
#[derive(Debug)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Json, Option<Instant>)>>,
    /// Milliseconds, or [`FOREVER`]; atomic so that a hot reload can change a store's TTL without
    /// replacing the store (and losing its keys).
    default_ttl_ms: AtomicU64,
    /// Amortised sweeping: a write that finds this many entries first drops the expired ones, then sets it
    /// to twice the live entries (at least [`MIN_SWEEP_AT`]). Each sweep is paid for by the writes that
    /// doubled the map since the last, and expired entries never outnumber the live ones by much: a stream of
    /// new keys with a short TTL keeps the map bounded without a background task.
    sweep_at: AtomicUsize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(None)
    }
}

impl MemoryStore {
    /// A store whose entries live `default_ttl` unless told otherwise (`None`: forever).
    pub fn new(default_ttl: Option<Duration>) -> Self {
        let store = MemoryStore {
            entries: Mutex::new(HashMap::new()),
            default_ttl_ms: AtomicU64::new(FOREVER),
            sweep_at: AtomicUsize::new(MIN_SWEEP_AT),
        };
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave a map half-updated (single insert/remove calls), so a
        // poisoned lock is still consistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Inserts an entry, sweeping the expired ones first when the map has grown enough (see `sweep_at`).
    fn insert(&self, entries: &mut Entries, key: &str, value: Json, expiry: Option<Instant>) {
        if entries.len() >= self.sweep_at.load(Ordering::Relaxed) {
            let now = Instant::now();
            entries.retain(|_, (_, expiry)| expiry.is_none_or(|e| e > now));
            self.sweep_at.store((entries.len() * 2).max(MIN_SWEEP_AT), Ordering::Relaxed);
        }
        entries.insert(key.to_string(), (value, expiry));
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
        self.insert(&mut self.lock(), key, value, expiry);
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
        self.insert(&mut entries, key, value, expiry);
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
                self.insert(&mut entries, key, value, expiry);
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

    /// Entries held, live or expired but not yet swept: what amortised sweeping keeps bounded.
    pub fn held(&self) -> usize {
        self.lock().len()
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
    fn expired_entries_stay_bounded_under_a_stream_of_new_keys() {
        let store = MemoryStore::new(Some(Duration::ZERO));
        for i in 0..100_000 {
            store.put(&format!("key-{i}"), Json::Bool(true), None);
            assert!(store.put_if_absent(&format!("claim-{i}"), Json::Bool(true), None));
        }
        // Every entry expired as it was written (a zero TTL), so what is held is only the unswept rest.
        assert_eq!(store.len(), 0);
        let held = store.held();
        assert!(held <= 2 * MIN_SWEEP_AT, "{held} entries held after 200,000 expired ones");
    }

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
