//! Durable-queue semantics in memory: the same states and indexes as the redb backend, in maps and sets.

use crate::dead_letter::DeadLetter;
use crate::message::{Failure, Leased, Message, MessageId, QueueStats, Visibility};
use crate::time::Timestamp;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// A message and its delivery bookkeeping.
#[derive(Debug)]
struct Stored {
    message: Message,
    deliveries: u32,
    first_failure: Option<Timestamp>,
    visibility: Visibility,
    /// When it was enqueued, for the age of the oldest ready message.
    enqueued_at: Timestamp,
}

/// One queue: messages by id, the ids visible now in FIFO order, and the ids waiting for an instant.
#[derive(Debug, Default)]
pub(super) struct Queue {
    messages: HashMap<MessageId, Stored>,
    ready: BTreeSet<MessageId>,
    timers: BTreeSet<(Timestamp, MessageId)>,
}

/// What a nack decided, for the store to act on (a dead letter needs the dead-letter map, which the queue does
/// not own).
pub(super) enum Nacked {
    Redelivered(Timestamp),
    Dead(Box<DeadLetter>),
    NotLeased,
}

impl Queue {
    pub(super) fn enqueue(&mut self, id: MessageId, message: &Message, now: Timestamp) {
        let stored = Stored {
            message: message.clone(),
            deliveries: 0,
            first_failure: None,
            visibility: Visibility::Ready,
            enqueued_at: now,
        };
        self.messages.insert(id, stored);
        self.ready.insert(id);
    }

    /// When the first message of the ready index (the next a consumer gets) was enqueued.
    pub(super) fn oldest_ready(&self) -> Option<Timestamp> {
        self.ready.first().and_then(|id| self.messages.get(id)).map(|s| s.enqueued_at)
    }

    pub(super) fn lease(&mut self, visibility_timeout: Duration, now: Timestamp) -> Option<Leased> {
        self.promote_due(now);
        let id = self.ready.pop_first()?;
        let stored = self.messages.get_mut(&id)?;
        let until = now.saturating_add(visibility_timeout);
        stored.deliveries = stored.deliveries.saturating_add(1);
        stored.visibility = Visibility::Leased(until);
        self.timers.insert((until, id));
        Some(Leased { id, message: stored.message.clone(), deliveries: stored.deliveries, lease_expires: until })
    }

    /// Makes a leased message visible again without counting its delivery; `false` if it is not leased.
    pub(super) fn unlease(&mut self, id: MessageId) -> bool {
        let Some(stored) = self.messages.get_mut(&id) else { return false };
        let Visibility::Leased(until) = stored.visibility else { return false };
        self.timers.remove(&(until, id));
        stored.deliveries = stored.deliveries.saturating_sub(1);
        stored.visibility = Visibility::Ready;
        self.ready.insert(id);
        true
    }

    /// Makes every leased message visible; returns how many.
    pub(super) fn release_leases(&mut self) -> u64 {
        let leased: Vec<(Timestamp, MessageId)> = self
            .timers
            .iter()
            .filter(|(_, id)| self.messages.get(id).is_some_and(|s| matches!(s.visibility, Visibility::Leased(_))))
            .copied()
            .collect();
        for (at, id) in &leased {
            self.timers.remove(&(*at, *id));
            if let Some(stored) = self.messages.get_mut(id) {
                stored.visibility = Visibility::Ready;
                self.ready.insert(*id);
            }
        }
        leased.len() as u64
    }

    /// Moves every message whose delay or lease has run out at `now` to the ready index.
    fn promote_due(&mut self, now: Timestamp) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(stored) = self.messages.get_mut(&id) {
                stored.visibility = Visibility::Ready;
                self.ready.insert(id);
            }
        }
    }

    pub(super) fn ack(&mut self, id: MessageId) -> bool {
        match self.messages.remove(&id) {
            Some(stored) => {
                self.unindex(id, stored.visibility);
                true
            }
            None => false,
        }
    }

    fn unindex(&mut self, id: MessageId, visibility: Visibility) {
        match visibility {
            Visibility::Ready => self.ready.remove(&id),
            Visibility::Delayed(at) | Visibility::Leased(at) => self.timers.remove(&(at, id)),
        };
    }

    pub(super) fn nack(
        &mut self,
        queue: &str,
        id: MessageId,
        delay: Duration,
        max_deliveries: u32,
        failure: &Failure,
        now: Timestamp,
    ) -> Nacked {
        let Some(stored) = self.messages.get_mut(&id) else { return Nacked::NotLeased };
        let Visibility::Leased(until) = stored.visibility else { return Nacked::NotLeased };
        self.timers.remove(&(until, id));
        let first_failure = *stored.first_failure.get_or_insert(now);
        if stored.deliveries >= max_deliveries {
            let deliveries = stored.deliveries;
            let Some(stored) = self.messages.remove(&id) else { return Nacked::NotLeased };
            let letter = DeadLetter::new(stored.message, failure, deliveries, first_failure, now);
            let letter = DeadLetter { queue: Some(queue.to_string()), ..letter };
            return Nacked::Dead(Box::new(letter));
        }
        let visible_at = now.saturating_add(delay);
        stored.visibility = Visibility::Delayed(visible_at);
        self.timers.insert((visible_at, id));
        Nacked::Redelivered(visible_at)
    }

    pub(super) fn stats(&self, now: Timestamp) -> QueueStats {
        let mut stats = QueueStats { ready: self.ready.len() as u64, ..QueueStats::default() };
        for (at, id) in &self.timers {
            let leased = self.messages.get(id).is_some_and(|s| matches!(s.visibility, Visibility::Leased(_)));
            match (*at <= now, leased) {
                (true, _) => stats.ready += 1,
                (false, true) => stats.in_flight += 1,
                (false, false) => stats.delayed += 1,
            }
        }
        stats
    }

    pub(super) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}
