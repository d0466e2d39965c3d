//! Object entries with TTL, in memory.

use crate::time::Timestamp;
use serde_json::Value as Json;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// One stored value and the instant it stops being visible.
#[derive(Debug)]
struct Entry {
    value: Json,
    expires: Option<Timestamp>,
}

impl Entry {
    fn is_live(&self, now: Timestamp) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }
}

/// Every named store, plus an index of expiry instants so a sweep touches only what expired.
#[derive(Debug, Default)]
pub(super) struct Objects {
    stores: HashMap<String, HashMap<String, Entry>>,
    expiries: BTreeSet<(Timestamp, String, String)>,
}

impl Objects {
    pub(super) fn get(&self, store: &str, key: &str, now: Timestamp) -> Option<Json> {
        let entry = self.stores.get(store)?.get(key)?;
        entry.is_live(now).then(|| entry.value.clone())
    }

    pub(super) fn put(&mut self, store: &str, key: &str, value: &Json, ttl: Option<Duration>, now: Timestamp) {
        self.sweep_some(now, crate::SWEEP_PER_WRITE as u64);
        let expires = ttl.map(|ttl| now.saturating_add(ttl));
        let entry = Entry { value: value.clone(), expires };
        let previous = self.stores.entry(store.to_string()).or_default().insert(key.to_string(), entry);
        if let Some(Entry { expires: Some(at), .. }) = previous {
            self.expiries.remove(&(at, store.to_string(), key.to_string()));
        }
        if let Some(at) = expires {
            self.expiries.insert((at, store.to_string(), key.to_string()));
        }
    }

    pub(super) fn put_if_absent(
        &mut self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> bool {
        let taken = self.stores.get(store).and_then(|entries| entries.get(key)).is_some_and(|e| e.is_live(now));
        if !taken {
            self.put(store, key, value, ttl, now);
        }
        !taken
    }

    pub(super) fn compare_and_set(
        &mut self,
        store: &str,
        key: &str,
        expected: &Json,
        value: Option<&Json>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> bool {
        if self.get(store, key, now).as_ref() != Some(expected) {
            return false;
        }
        match value {
            Some(value) => self.put(store, key, value, ttl, now),
            None => {
                self.remove(store, key, now);
            }
        }
        true
    }

    pub(super) fn remove(&mut self, store: &str, key: &str, now: Timestamp) -> bool {
        let Some(entries) = self.stores.get_mut(store) else { return false };
        let Some(entry) = entries.remove(key) else { return false };
        if entries.is_empty() {
            self.stores.remove(store);
        }
        if let Some(at) = entry.expires {
            self.expiries.remove(&(at, store.to_string(), key.to_string()));
        }
        entry.is_live(now)
    }

    /// Entries held, live or expired.
    pub(super) fn len(&self) -> u64 {
        self.stores.values().map(|entries| entries.len() as u64).sum()
    }

    pub(super) fn sweep_expired(&mut self, now: Timestamp) -> u64 {
        self.sweep_some(now, u64::MAX)
    }

    /// Deletes up to `limit` of the entries expired at `now`, oldest expiry first.
    fn sweep_some(&mut self, now: Timestamp, limit: u64) -> u64 {
        let mut removed = 0;
        while removed < limit {
            let Some((at, _, _)) = self.expiries.first() else { break };
            if *at > now {
                break;
            }
            let Some((_, store, key)) = self.expiries.pop_first() else { break };
            if let Some(entries) = self.stores.get_mut(&store) {
                entries.remove(&key);
                if entries.is_empty() {
                    self.stores.remove(&store);
                }
            }
            removed += 1;
        }
        removed
    }
}
