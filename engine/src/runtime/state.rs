//! What outlives a compiled program: object stores, queues and dead letters. A hot reload compiles a new
//! program against the same [`State`], so idempotency keys, cached entries and queued messages survive it.
//! Flow tests give every case a fresh `State`.

use super::queue::{Queue, DEFAULT_CAPACITY};
use super::store::MemoryStore;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How many dead letters the in-memory state keeps (the oldest are forgotten first, and counted).
const MAX_DEAD_LETTERS: usize = 10_000;

/// A message that exhausted its deliveries, with the error that ended it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The queue it came from.
    pub queue: String,
    /// The flow that failed on it.
    pub flow: String,
    /// Its payload, as bytes.
    pub payload: Vec<u8>,
    /// Media type of the payload.
    pub media_type: String,
    /// Correlation id.
    pub correlation_id: String,
    /// Error type of the last failure.
    pub error_type: String,
    /// Description of the last failure.
    pub description: String,
    /// Deliveries attempted.
    pub attempts: u32,
    /// RFC 3339 time of the last failure.
    pub failed_at: String,
}

/// Stores, queues and dead letters shared by successive programs of one daemon.
#[derive(Default)]
pub struct State {
    stores: Mutex<HashMap<String, Arc<MemoryStore>>>,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    dead_letters: Mutex<(VecDeque<DeadLetter>, u64)>,
}

/// Every map here is changed by single inserts, so a poisoned lock still guards a consistent value.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// A fresh, empty state.
    pub fn new() -> Arc<Self> {
        Arc::new(State::default())
    }

    /// The object store called `name` (`""`: the default store of `idempotent`), created on first use;
    /// an existing store keeps its entries and takes the new default TTL.
    pub fn store(&self, name: &str, default_ttl: Option<Duration>) -> Arc<MemoryStore> {
        let mut stores = lock(&self.stores);
        let store = stores.entry(name.to_string()).or_insert_with(|| Arc::new(MemoryStore::new(default_ttl)));
        store.set_default_ttl(default_ttl);
        store.clone()
    }

    /// The object store called `name`, if a program created it.
    pub fn existing_store(&self, name: &str) -> Option<Arc<MemoryStore>> {
        lock(&self.stores).get(name).cloned()
    }

    /// The queue called `name`, created with `capacity` on first use. The bound of an existing queue
    /// cannot change while it holds messages; a different `capacity` after a reload applies at the next
    /// restart (and is logged).
    pub fn queue(&self, name: &str, capacity: usize) -> Arc<Queue> {
        let mut queues = lock(&self.queues);
        let queue = queues.entry(name.to_string()).or_insert_with(|| Arc::new(Queue::new(name, capacity)));
        if queue.capacity() != capacity.max(1) {
            tracing::warn!(queue = name, "queue capacity stays {} until restart (asked {capacity})", queue.capacity());
        }
        queue.clone()
    }

    /// The queue called `name` if it exists, else one with the default bound.
    pub fn queue_or_default(&self, name: &str) -> Arc<Queue> {
        if let Some(q) = lock(&self.queues).get(name) {
            return q.clone();
        }
        self.queue(name, DEFAULT_CAPACITY)
    }

    /// Every queue, by name.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        let mut all: Vec<_> = lock(&self.queues).values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Keeps a dead letter. The caller logs it (with sensitive values scrubbed): a dead letter is never
    /// silent.
    pub fn dead_letter(&self, letter: DeadLetter) {
        let mut dead = lock(&self.dead_letters);
        if dead.0.len() == MAX_DEAD_LETTERS {
            dead.0.pop_front();
        }
        dead.0.push_back(letter);
        dead.1 += 1;
    }

    /// Dead letters kept, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.dead_letters).0.iter().cloned().collect()
    }

    /// Dead letters since start, including those no longer kept.
    pub fn dead_letter_count(&self) -> u64 {
        lock(&self.dead_letters).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_asked_for_again_keeps_its_entries() {
        let state = State::new();
        state.store("seen", None).put("k", serde_json::json!(1), None);
        assert_eq!(state.store("seen", Some(Duration::from_secs(5))).get("k"), Some(serde_json::json!(1)));
        assert!(state.store("other", None).get("k").is_none());
    }

    #[test]
    fn a_queue_asked_for_again_is_the_same_queue() {
        let state = State::new();
        let a = state.queue("orders", 10);
        let b = state.queue_or_default("orders");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(state.queues().len(), 1);
    }
}
