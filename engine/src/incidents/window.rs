//! What the evaluator remembers of a flow between ticks: its counters as read at each tick, kept as long as
//! its longest window needs, so that the change over any window is one subtraction.

use crate::metrics::BUCKETS;
use std::collections::VecDeque;

/// A flow's counters read at one tick (totals since the daemon started counting).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// Events that finished the flow.
    pub events: u64,
    /// Of them, those that ended in an unhandled error.
    pub errors: u64,
    /// Dead letters of the flow.
    pub dead_letters: u64,
    /// Cumulative latency bucket counts ([`BUCKETS`]).
    pub latency: [u64; BUCKETS.len()],
}

impl Reading {
    /// What happened between `earlier` and `self` (counters never go down; a saturating subtraction all the same).
    pub fn since(&self, earlier: &Reading) -> Reading {
        Reading {
            events: self.events.saturating_sub(earlier.events),
            errors: self.errors.saturating_sub(earlier.errors),
            dead_letters: self.dead_letters.saturating_sub(earlier.dead_letters),
            latency: std::array::from_fn(|i| self.latency[i].saturating_sub(earlier.latency[i])),
        }
    }

    /// Events that succeeded.
    pub fn successes(&self) -> u64 {
        self.events.saturating_sub(self.errors)
    }
}

/// The readings of one flow, oldest first, each with its instant (ms, on the evaluator's clock).
#[derive(Debug, Default)]
pub struct Window {
    samples: VecDeque<(u64, Reading)>,
}

impl Window {
    /// Adds the reading taken at `now` and forgets those no window of `keep_ms` needs any more (the newest
    /// one at or before `now - keep_ms` stays: it is where such a window starts).
    pub fn push(&mut self, now: u64, reading: Reading, keep_ms: u64) {
        self.samples.push_back((now, reading));
        let cutoff = now.saturating_sub(keep_ms);
        while self.samples.len() > 1 && self.samples.get(1).is_some_and(|(t, _)| *t <= cutoff) {
            self.samples.pop_front();
        }
    }

    /// The newest reading.
    pub fn latest(&self) -> Option<&Reading> {
        self.samples.back().map(|(_, r)| r)
    }

    /// What happened over the last `over_ms` before the newest reading: from the newest reading at or before
    /// its start (the oldest one kept, while the evaluator is younger than the window).
    pub fn over(&self, over_ms: u64) -> Reading {
        let Some((now, last)) = self.samples.back() else { return Reading::default() };
        let start = now.saturating_sub(over_ms);
        let base = self.samples.iter().rev().find(|(t, _)| *t <= start).or(self.samples.front());
        base.map_or_else(Reading::default, |(_, b)| last.since(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(events: u64, errors: u64) -> Reading {
        Reading { events, errors, ..Reading::default() }
    }

    #[test]
    fn a_window_subtracts_the_reading_at_its_start_from_the_newest() {
        let mut w = Window::default();
        w.push(0, reading(0, 0), 10_000);
        w.push(1_000, reading(10, 1), 10_000);
        w.push(2_000, reading(30, 11), 10_000);
        assert_eq!(w.over(1_000), reading(20, 10));
        assert_eq!(w.over(60_000), reading(30, 11), "younger than the window: from the first reading");
    }

    #[test]
    fn readings_no_window_needs_are_forgotten_but_the_one_a_window_starts_at_stays() {
        let mut w = Window::default();
        for t in 0..100 {
            w.push(t * 1_000, reading(t, 0), 5_000);
        }
        assert_eq!(w.samples.len(), 6);
        assert_eq!(w.over(5_000), reading(5, 0));
    }
}
