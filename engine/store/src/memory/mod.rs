//! The in-memory backend: for tests and `--state memory`. Same semantics as the redb backend (the behaviour
//! suite in `tests/` runs against both), nothing survives the process.

mod objects;
mod queues;

use crate::dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
use crate::error::StoreError;
use crate::message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery};
use crate::time::Timestamp;
use crate::StateStore;
use objects::Objects;
use queues::{Nacked, Queue};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// All state in one mutex: every call is a short critical section, and one lock makes each call atomic with
/// respect to all others, as a redb write transaction is.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    objects: Objects,
    queues: HashMap<String, Queue>,
    /// The last message id handed out (ids start at 1).
    last_message_id: u64,
    dead_letters: BTreeMap<DeadLetterId, DeadLetter>,
    /// The last dead-letter id handed out (ids start at 1).
    last_dead_letter_id: u64,
    /// Scheduler leases: name -> (holder, expiry).
    leases: HashMap<String, (String, Timestamp)>,
}

impl State {
    fn add_dead_letter(&mut self, letter: DeadLetter) -> DeadLetterId {
        self.last_dead_letter_id += 1;
        let id = DeadLetterId(self.last_dead_letter_id);
        self.dead_letters.insert(id, letter);
        id
    }

    /// The ids of the dead letters matching `filter`, in id order, `after` applied.
    fn matching_dead_letters<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
    ) -> impl Iterator<Item = (&'a DeadLetterId, &'a DeadLetter)> + 'a {
        let start = filter.after.map_or(0, |after| after.0.saturating_add(1));
        self.dead_letters.range(DeadLetterId(start)..).filter(|(_, letter)| filter.matches(letter))
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only a bug in this module could panic while the lock is held, and the maps are updated by whole-entry
        // inserts and removes, so they stay structurally valid: recover a poisoned lock rather than fail every
        // later call.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateStore for MemoryStore {
    fn get(&self, store: &str, key: &str, now: Timestamp) -> Result<Option<Json>, StoreError> {
        Ok(self.lock().objects.get(store, key, now))
    }

    fn put(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().objects.put(store, key, value, ttl, now);
        Ok(())
    }

    fn put_if_absent(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.lock().objects.put_if_absent(store, key, value, ttl, now))
    }

    fn compare_and_set(
        &self,
        store: &str,
        key: &str,
        expected: &Json,
        value: Option<&Json>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.lock().objects.compare_and_set(store, key, expected, value, ttl, now))
    }

    fn remove(&self, store: &str, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.lock().objects.remove(store, key, now))
    }

    fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        Ok(self.lock().objects.sweep_expired(now))
    }

    fn object_entries(&self) -> Result<u64, StoreError> {
        Ok(self.lock().objects.len())
    }

    fn enqueue(&self, queue: &str, message: &Message, now: Timestamp) -> Result<MessageId, StoreError> {
        let mut state = self.lock();
        state.last_message_id += 1;
        let id = MessageId(state.last_message_id);
        state.queues.entry(queue.to_string()).or_default().enqueue(id, message, now);
        Ok(id)
    }

    fn lease(&self, queue: &str, visibility_timeout: Duration, now: Timestamp) -> Result<Option<Leased>, StoreError> {
        Ok(self.lock().queues.get_mut(queue).and_then(|q| q.lease(visibility_timeout, now)))
    }

    fn ack(&self, queue: &str, id: MessageId) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(q) = state.queues.get_mut(queue) else { return Ok(false) };
        let acked = q.ack(id);
        if q.is_empty() {
            state.queues.remove(queue);
        }
        Ok(acked)
    }

    fn ack_and_lease(
        &self,
        queue: &str,
        acks: &[MessageId],
        max: usize,
        visibility_timeout: Duration,
        now: Timestamp,
    ) -> Result<Vec<Leased>, StoreError> {
        let mut state = self.lock();
        let Some(q) = state.queues.get_mut(queue) else { return Ok(Vec::new()) };
        for id in acks {
            q.ack(*id);
        }
        let mut leased = Vec::new();
        while leased.len() < max {
            match q.lease(visibility_timeout, now) {
                Some(message) => leased.push(message),
                None => break,
            }
        }
        if q.is_empty() {
            state.queues.remove(queue);
        }
        Ok(leased)
    }

    fn unlease(&self, queue: &str, ids: &[MessageId]) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let Some(q) = state.queues.get_mut(queue) else { return Ok(0) };
        Ok(ids.iter().filter(|id| q.unlease(**id)).count() as u64)
    }

    fn nack(
        &self,
        queue: &str,
        id: MessageId,
        redelivery: Redelivery,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<NackOutcome, StoreError> {
        let mut state = self.lock();
        let Some(q) = state.queues.get_mut(queue) else { return Ok(NackOutcome::NotLeased) };
        let nacked = q.nack(queue, id, redelivery.delay, redelivery.max_deliveries, failure, now);
        let now_empty = q.is_empty();
        if now_empty {
            state.queues.remove(queue);
        }
        Ok(match nacked {
            Nacked::Redelivered(visible_at) => NackOutcome::Redelivered { visible_at },
            Nacked::Dead(letter) => NackOutcome::DeadLettered(state.add_dead_letter(*letter)),
            Nacked::NotLeased => NackOutcome::NotLeased,
        })
    }

    fn release_leases(&self) -> Result<u64, StoreError> {
        Ok(self.lock().queues.values_mut().map(Queue::release_leases).sum())
    }

    fn queue_stats(&self, queue: &str, now: Timestamp) -> Result<QueueStats, StoreError> {
        Ok(self.lock().queues.get(queue).map(|q| q.stats(now)).unwrap_or_default())
    }

    fn oldest_ready(&self, queue: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.lock().queues.get(queue).and_then(|q| q.oldest_ready()))
    }

    fn dead_letter(&self, letter: &DeadLetter) -> Result<DeadLetterId, StoreError> {
        Ok(self.lock().add_dead_letter(letter.clone()))
    }

    fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let state = self.lock();
        let matching = state.matching_dead_letters(filter);
        let letters = matching.take(filter.limit.unwrap_or(usize::MAX));
        Ok(letters.map(|(id, letter)| StoredDeadLetter { id: *id, letter: letter.clone() }).collect())
    }

    fn get_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
        Ok(self.lock().dead_letters.get(&id).map(|letter| StoredDeadLetter { id, letter: letter.clone() }))
    }

    fn take_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
        Ok(self.lock().dead_letters.remove(&id).map(|letter| StoredDeadLetter { id, letter }))
    }

    fn replay_dead_letter(
        &self,
        id: DeadLetterId,
        now: Timestamp,
    ) -> Result<Option<(StoredDeadLetter, MessageId)>, StoreError> {
        let mut state = self.lock();
        let Some(queue) = state.dead_letters.get(&id).and_then(|letter| letter.queue.clone()) else { return Ok(None) };
        let Some(letter) = state.dead_letters.remove(&id) else { return Ok(None) };
        state.last_message_id += 1;
        let message = MessageId(state.last_message_id);
        state.queues.entry(queue).or_default().enqueue(message, &letter.to_message(), now);
        Ok(Some((StoredDeadLetter { id, letter }, message)))
    }

    fn purge_dead_letters(&self, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let ids: Vec<DeadLetterId> = state.matching_dead_letters(filter).map(|(id, _)| *id).collect();
        for id in &ids {
            state.dead_letters.remove(id);
        }
        Ok(ids.len() as u64)
    }

    fn try_acquire_lease(&self, name: &str, holder: &str, ttl: Duration, now: Timestamp) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let free = match state.leases.get(name) {
            Some((current, expires)) => current == holder || *expires <= now,
            None => true,
        };
        if free {
            state.leases.insert(name.to_string(), (holder.to_string(), now.saturating_add(ttl)));
        }
        Ok(free)
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let held = state.leases.get(name).is_some_and(|(current, _)| current == holder);
        if held {
            state.leases.remove(name);
        }
        Ok(held)
    }
}
