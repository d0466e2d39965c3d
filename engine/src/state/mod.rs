//! What outlives a compiled program: object stores, queues and dead letters. A hot reload compiles a new
//! program against the same [`State`], so idempotency keys, cached entries and queued messages survive it.
//! Flow tests give every case a fresh `State`.
//!
//! Behind it, the durable state store (`relais_store::StateStore`): in memory by default, on disk with
//! `relais run --state DIR`. Dead letters and `persistent: true` object stores live there.

pub mod claims;
pub mod letters;
pub mod object_store;
pub mod queue;
pub mod replays;
pub mod store;

use object_store::{blocking, ObjectStore};
use queue::{Queue, DEFAULT_CAPACITY};
use relais_store::{DeadLetterFilter, StateStore, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// A message that exhausted its deliveries, with the error that ended it (a view of a stored dead letter).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The id `relais dlq` and the admin endpoints know it by.
    pub id: u64,
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
pub struct State {
    durable: Arc<dyn StateStore>,
    stores: Mutex<HashMap<String, Arc<ObjectStore>>>,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    /// Wakes the consumers of a persistent queue when a message is published in this process; a queue
    /// with an entry here is persistent.
    signals: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// The `capacity` the listener of each persistent queue asked for (set at every compile, so a reload
    /// changes it at once).
    persistent_capacities: Mutex<HashMap<String, usize>>,
    /// Queue and dead-letter counters, kept with the queues so that they survive a reload too.
    metrics: crate::metrics::StateMetrics,
}

/// Messages a persistent queue holds before its publishers wait, when its listener sets no `capacity`: a
/// bound on the disk a stalled consumer can fill, high enough for bursts that the queue is there to absorb.
pub const PERSISTENT_DEFAULT_CAPACITY: usize = 100_000;

impl Default for State {
    fn default() -> Self {
        State::with_store(Arc::new(relais_store::MemoryStore::new()))
    }
}

/// Every map here is changed by single inserts, so a poisoned lock still guards a consistent value.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// A fresh state in memory.
    pub fn new() -> Arc<Self> {
        Arc::new(State::default())
    }

    /// A state over a durable store (`relais run --state DIR`).
    pub fn with_store(durable: Arc<dyn StateStore>) -> Self {
        State {
            durable,
            stores: Mutex::default(),
            queues: Mutex::default(),
            signals: Mutex::default(),
            persistent_capacities: Mutex::default(),
            metrics: crate::metrics::StateMetrics::default(),
        }
    }

    /// The durable state store.
    pub fn durable(&self) -> &Arc<dyn StateStore> {
        &self.durable
    }

    /// The object store called `name` (`""`: the default store of `idempotent`), created on first use, in
    /// the durable state when `persistent`; an existing store keeps its entries and takes the new default
    /// TTL (switching `persistent` takes a restart).
    pub fn store(&self, name: &str, default_ttl: Option<Duration>, persistent: bool) -> Arc<ObjectStore> {
        let mut stores = lock(&self.stores);
        let store = stores.entry(name.to_string()).or_insert_with(|| {
            Arc::new(if persistent {
                ObjectStore::durable(self.durable.clone(), name, default_ttl)
            } else {
                ObjectStore::memory(default_ttl)
            })
        });
        if store.is_durable() != persistent {
            tracing::warn!(store = name, "`persistent` of an object store changes at the next restart");
        }
        store.set_default_ttl(default_ttl);
        store.clone()
    }

    /// The object store called `name`, if a program created it.
    pub fn existing_store(&self, name: &str) -> Option<Arc<ObjectStore>> {
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

    /// The wake-up of the consumers of persistent queue `name`.
    pub fn signal(&self, name: &str) -> Arc<tokio::sync::Notify> {
        lock(&self.signals).entry(name.to_string()).or_default().clone()
    }

    /// Sets how many messages persistent queue `name` holds before its publishers wait.
    pub fn bound_persistent_queue(&self, name: &str, capacity: usize) {
        lock(&self.persistent_capacities).insert(name.to_string(), capacity.max(1));
    }

    /// How many messages persistent queue `name` holds before its publishers wait.
    pub fn persistent_capacity(&self, name: &str) -> usize {
        lock(&self.persistent_capacities).get(name).copied().unwrap_or(PERSISTENT_DEFAULT_CAPACITY)
    }

    /// The persistent queues known to this process, by name.
    pub fn persistent_queues(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.signals).keys().cloned().collect();
        names.sort();
        names
    }

    /// Whether `name` is a persistent queue (one a persistent publisher or listener named).
    pub fn is_persistent(&self, name: &str) -> bool {
        lock(&self.signals).contains_key(name)
    }

    /// Puts a dead letter back on the queue it came from: the persistent queue in the state store (a
    /// broker listener's replay queue is one, [`replays`]), or the in-memory queue of this process; taken
    /// out of the dead letters only once queued.
    pub async fn replay(&self, id: u64) -> Result<String, String> {
        let durable = self.durable.clone();
        let Some(stored) =
            blocking(|| durable.get_dead_letter(relais_store::DeadLetterId(id))).map_err(|e| e.to_string())?
        else {
            return Err(format!("no dead letter {id}"));
        };
        let Some(queue) = stored.letter.queue.clone() else {
            return Err(format!("dead letter {id} did not come from a queue"));
        };
        if self.is_persistent(&queue) || replays::is_replay_queue(&queue) {
            // Taken and queued in one change: of two replicas replaying the letter at once, one publishes it.
            let replayed = blocking(|| durable.replay_dead_letter(relais_store::DeadLetterId(id), now()))
                .map_err(|e| e.to_string())?;
            if replayed.is_none() {
                return Err(format!("dead letter {id} was replayed or purged meanwhile"));
            }
            self.signal(&queue).notify_one();
            return Ok(queue);
        } else {
            let message = queue::Message {
                payload: Arc::new(crate::event::payload::Payload::bytes(
                    stored.letter.payload.clone(),
                    &stored.letter.media_type,
                )),
                correlation_id: stored.letter.correlation_id.as_str().into(),
                published_by: "relais dlq replay".into(),
                published_at: chrono::Utc::now().to_rfc3339(),
                // The replayed run continues the trace the letter was written in.
                trace: crate::trace::stored(stored.letter.trace.as_ref()),
            };
            self.queue_or_default(&queue).publish(message, Duration::from_secs(10)).await.map_err(|e| e.description)?;
        }
        self.metrics.queue(&queue).published(1);
        blocking(|| durable.take_dead_letter(relais_store::DeadLetterId(id))).map_err(|e| e.to_string())?;
        Ok(queue)
    }

    /// Replays every dead letter matching `filter`, oldest first, each as [`State::replay`] does: the id of
    /// each with the queue it went to, or why it did not (no queue, replayed meanwhile by another).
    pub async fn replay_matching(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<(u64, Result<String, String>)>, String> {
        let mut outcomes = Vec::new();
        for letter in self.stored_dead_letters(filter)? {
            outcomes.push((letter.id.0, self.replay(letter.id.0).await));
        }
        Ok(outcomes)
    }

    /// The stored dead letters matching `filter`, oldest first, as the store holds them.
    pub fn stored_dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<relais_store::StoredDeadLetter>, String> {
        let durable = self.durable.clone();
        blocking(|| durable.list_dead_letters(filter)).map_err(|e| e.to_string())
    }

    /// One stored dead letter.
    pub fn stored_dead_letter(&self, id: u64) -> Result<Option<relais_store::StoredDeadLetter>, String> {
        let durable = self.durable.clone();
        blocking(|| durable.get_dead_letter(relais_store::DeadLetterId(id))).map_err(|e| e.to_string())
    }

    /// Deletes a dead letter; true if it was there.
    pub fn purge(&self, id: u64) -> Result<bool, String> {
        let durable = self.durable.clone();
        blocking(|| durable.take_dead_letter(relais_store::DeadLetterId(id)))
            .map(|l| l.is_some())
            .map_err(|e| e.to_string())
    }

    /// Counts a dead letter of `flow` the state store made itself (a `nack` past the last delivery).
    pub fn count_dead_letter(&self, flow: &str, error_type: &str) {
        self.metrics.dead_letter(flow, error_type);
    }

    /// The queue and dead-letter counters.
    pub fn metrics(&self) -> &crate::metrics::StateMetrics {
        &self.metrics
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

    /// Keeps a dead letter in the state store (the caller has logged it: a dead letter is never silent).
    /// If even that fails (a disk error), the letter is logged in full at error level, so that it is not
    /// lost.
    pub fn dead_letter(&self, letter: relais_store::DeadLetter) {
        self.metrics.dead_letter(&letter.flow, &letter.error_type);
        if let Err(e) = blocking(|| self.durable.dead_letter(&letter)) {
            let trace_id = letter.trace.as_ref().and_then(|t| crate::trace::w3c::trace_id(&t.traceparent));
            tracing::error!(
                correlation_id = %letter.correlation_id,
                trace_id = trace_id.as_deref(),
                flow = %letter.flow,
                error_type = %letter.error_type,
                payload = %String::from_utf8_lossy(&letter.payload),
                "cannot store a dead letter ({e}); its content is in this line"
            );
        }
    }

    /// Dead letters kept, oldest first (at most `limit`).
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        let filter = DeadLetterFilter { limit: Some(10_000), ..DeadLetterFilter::default() };
        let stored = blocking(|| self.durable.list_dead_letters(&filter)).unwrap_or_default();
        stored
            .into_iter()
            .map(|s| DeadLetter {
                id: s.id.0,
                queue: s.letter.queue.clone().unwrap_or_default(),
                flow: s.letter.flow.clone(),
                payload: s.letter.payload.clone(),
                media_type: s.letter.media_type.clone(),
                correlation_id: s.letter.correlation_id.clone(),
                error_type: s.letter.error_type.clone(),
                description: s.letter.error_description.clone(),
                attempts: s.letter.attempts,
                failed_at: rfc3339(s.letter.last_failure),
            })
            .collect()
    }

    /// Dead letters since start.
    pub fn dead_letter_count(&self) -> u64 {
        self.metrics.dead_letters()
    }
}

/// The current time as the state store counts it.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// An instant of the state store as RFC 3339.
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::<chrono::Utc>::from(t.to_system_time()).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_asked_for_again_keeps_its_entries() {
        let state = State::new();
        state.store("seen", None, false).put("k", serde_json::json!(1), None).unwrap();
        let again = state.store("seen", Some(Duration::from_secs(5)), false);
        assert_eq!(again.get("k").unwrap(), Some(serde_json::json!(1)));
        assert!(state.store("other", None, true).get("k").unwrap().is_none());
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
