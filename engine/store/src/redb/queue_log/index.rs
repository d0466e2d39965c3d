//! The queues in memory: every live message's state and where its body is, each queue's ready set (FIFO by
//! id) and timers (nack delays and lease expiries). Rebuilt at open by replaying the log, then changed in step
//! with each record appended; the log is the truth, this is its summary.

use super::record::Record;
use crate::message::{QueueStats, Visibility};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Where a message's latest `Message` record is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Location {
    pub segment: u64,
    pub offset: u64,
    pub length: usize,
}

/// A message's header and payload, kept in memory until the record holding them is durable (the writer may
/// not have written it yet, so it cannot be read back from the file).
#[derive(Debug)]
pub(super) struct Body {
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
}

/// One live message.
#[derive(Debug)]
pub(super) struct Entry {
    pub queue: Arc<str>,
    pub enqueued_at: Timestamp,
    pub deliveries: u32,
    pub first_failure: Option<Timestamp>,
    pub visibility: Visibility,
    /// Being moved to the dead letters: in no ready set or timer, so nobody leases it meanwhile.
    pub moving: bool,
    pub location: Location,
    pub cached: Option<Arc<Body>>,
}

/// The live messages of one segment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Live {
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct Queue {
    ready: BTreeSet<u64>,
    /// (instant in ms, id).
    timers: BTreeSet<(u64, u64)>,
    /// Messages of the queue, moving ones included.
    total: u64,
}

/// Every queue of the log.
#[derive(Debug, Default)]
pub(super) struct Index {
    entries: HashMap<u64, Entry>,
    queues: HashMap<Arc<str>, Queue>,
    /// Live messages (how many, and the bytes of their records) by the segment of their latest `Message`
    /// record: segments older than the first key hold nothing live and can be deleted.
    live_per_segment: BTreeMap<u64, Live>,
}

impl Index {
    pub(super) fn get(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.get_mut(&id)
    }

    /// The entry of `id` if it belongs to `queue`.
    pub(super) fn in_queue(&self, queue: &str, id: u64) -> Option<&Entry> {
        self.entries.get(&id).filter(|entry| &*entry.queue == queue)
    }

    /// The live messages.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The oldest segment holding a live message's record, if any message is live.
    pub(super) fn oldest_live_segment(&self) -> Option<(u64, Live)> {
        self.live_per_segment.iter().next().map(|(segment, live)| (*segment, *live))
    }

    fn count(&mut self, location: Location) {
        let live = self.live_per_segment.entry(location.segment).or_default();
        live.messages += 1;
        live.bytes += location.length as u64;
    }

    fn uncount(&mut self, location: Location) {
        if let Some(live) = self.live_per_segment.get_mut(&location.segment) {
            live.messages = live.messages.saturating_sub(1);
            live.bytes = live.bytes.saturating_sub(location.length as u64);
            if live.messages == 0 {
                self.live_per_segment.remove(&location.segment);
            }
        }
    }

    /// The ids whose latest record is in `segment`.
    pub(super) fn ids_in_segment(&self, segment: u64) -> Vec<u64> {
        let mut ids: Vec<u64> =
            self.entries.iter().filter(|(_, entry)| entry.location.segment == segment).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Adds (or replaces) a message.
    pub(super) fn insert(&mut self, id: u64, entry: Entry) {
        self.remove(id);
        self.count(entry.location);
        let queue = self.queues.entry(entry.queue.clone()).or_default();
        queue.total += 1;
        if !entry.moving {
            index(queue, id, entry.visibility);
        }
        self.entries.insert(id, entry);
    }

    /// Removes a message and returns it.
    pub(super) fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.uncount(entry.location);
        if let Some(queue) = self.queues.get_mut(&entry.queue) {
            if !entry.moving {
                unindex(queue, id, entry.visibility);
            }
            queue.total = queue.total.saturating_sub(1);
            if queue.total == 0 {
                self.queues.remove(&entry.queue);
            }
        }
        Some(entry)
    }

    /// Moves a message's latest record to `location` (compaction wrote it again).
    pub(super) fn relocate(&mut self, id: u64, location: Location, cached: Arc<Body>) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let old = std::mem::replace(&mut entry.location, location);
        entry.cached = Some(cached);
        self.uncount(old);
        self.count(location);
    }

    /// Changes a message's visibility, moving it between the ready set and the timers.
    pub(super) fn set_visibility(&mut self, id: u64, visibility: Visibility) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let queue = self.queues.entry(entry.queue.clone()).or_default();
        if !entry.moving {
            unindex(queue, id, entry.visibility);
            index(queue, id, visibility);
        }
        entry.visibility = visibility;
    }

    /// Takes a message out of its ready set or timer while it moves to the dead letters (`moving: true`), or
    /// puts it back (`false`).
    pub(super) fn set_moving(&mut self, id: u64, moving: bool) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        if entry.moving == moving {
            return;
        }
        entry.moving = moving;
        let queue = self.queues.entry(entry.queue.clone()).or_default();
        if moving {
            unindex(queue, id, entry.visibility);
        } else {
            index(queue, id, entry.visibility);
        }
    }

    /// Makes every timer of `queue` due at `now` ready (delays passed, leases run out). No record: a
    /// visibility that has passed means ready, in the log as here.
    pub(super) fn promote_due(&mut self, queue: &str, now: Timestamp) {
        let Some(q) = self.queues.get_mut(queue) else { return };
        let due: Vec<(u64, u64)> = q.timers.range(..=(now.as_millis(), u64::MAX)).copied().collect();
        for (at, id) in due {
            q.timers.remove(&(at, id));
            q.ready.insert(id);
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.visibility = Visibility::Ready;
            }
        }
    }

    /// The oldest ready message of `queue` (promote the due timers first).
    pub(super) fn first_ready(&self, queue: &str) -> Option<u64> {
        self.queues.get(queue).and_then(|q| q.ready.iter().next().copied())
    }

    /// Whether `queue` has a message visible at `now`.
    pub(super) fn has_visible(&self, queue: &str, now: Timestamp) -> bool {
        self.queues.get(queue).is_some_and(|q| {
            !q.ready.is_empty() || q.timers.iter().next().is_some_and(|(at, _)| *at <= now.as_millis())
        })
    }

    /// Makes every leased message ready, keeping its delivery count; returns how many.
    pub(super) fn release_leases(&mut self) -> u64 {
        let leased: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, entry)| !entry.moving && matches!(entry.visibility, Visibility::Leased(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in &leased {
            self.set_visibility(*id, Visibility::Ready);
        }
        leased.len() as u64
    }

    pub(super) fn stats(&self, queue: &str, now: Timestamp) -> QueueStats {
        let mut stats = QueueStats::default();
        let Some(q) = self.queues.get(queue) else { return stats };
        stats.ready = q.ready.len() as u64;
        for (at, id) in &q.timers {
            if *at <= now.as_millis() {
                stats.ready += 1;
            } else if self.entries.get(id).is_some_and(|e| matches!(e.visibility, Visibility::Leased(_))) {
                stats.in_flight += 1;
            } else {
                stats.delayed += 1;
            }
        }
        stats
    }

    /// When the first message of `queue`'s ready set was enqueued.
    pub(super) fn oldest_ready(&self, queue: &str) -> Option<Timestamp> {
        self.first_ready(queue).and_then(|id| self.entries.get(&id)).map(|entry| entry.enqueued_at)
    }

    /// Applies a replayed record read at `location` (the message's body stays in the file). Records about a
    /// message no longer live (its `Message` record was in a deleted segment, superseded) change nothing.
    pub(super) fn replay(&mut self, record: &Record<'_>, location: Location) {
        match *record {
            Record::Message { id, queue, enqueued_at, deliveries, first_failure, visibility, .. } => {
                let queue = self.queue_name(queue);
                let entry = Entry {
                    queue,
                    enqueued_at,
                    deliveries,
                    first_failure,
                    visibility,
                    moving: false,
                    location,
                    cached: None,
                };
                self.insert(id, entry);
            }
            Record::Leased { id, deliveries, until } => {
                if let Some(entry) = self.entries.get_mut(&id) {
                    entry.deliveries = deliveries;
                    self.set_visibility(id, Visibility::Leased(until));
                }
            }
            Record::Removed { id } => {
                self.remove(id);
            }
            Record::Nacked { id, visible_at, first_failure } => {
                if let Some(entry) = self.entries.get_mut(&id) {
                    entry.first_failure = Some(first_failure);
                    self.set_visibility(id, Visibility::Delayed(visible_at));
                }
            }
            Record::Unleased { id } => {
                if let Some(entry) = self.entries.get_mut(&id) {
                    entry.deliveries = entry.deliveries.saturating_sub(1);
                    self.set_visibility(id, Visibility::Ready);
                }
            }
        }
    }

    /// The shared name of `queue` (one allocation per queue, not per message).
    pub(super) fn queue_name(&self, queue: &str) -> Arc<str> {
        match self.queues.get_key_value(queue) {
            Some((name, _)) => name.clone(),
            None => Arc::from(queue),
        }
    }
}

fn index(queue: &mut Queue, id: u64, visibility: Visibility) {
    match visibility {
        Visibility::Ready => {
            queue.ready.insert(id);
        }
        Visibility::Delayed(at) | Visibility::Leased(at) => {
            queue.timers.insert((at.as_millis(), id));
        }
    }
}

fn unindex(queue: &mut Queue, id: u64, visibility: Visibility) {
    match visibility {
        Visibility::Ready => {
            queue.ready.remove(&id);
        }
        Visibility::Delayed(at) | Visibility::Leased(at) => {
            queue.timers.remove(&(at.as_millis(), id));
        }
    }
}
