//! Per queue: messages published, acknowledged (their flow succeeded), redelivered and dead-lettered; and
//! dead letters by flow and error type. Held by the state (`crate::state::State::metrics`), which the queues
//! belong to, so that the counters survive a reload like the queues do. The gauges (depth, in flight, age
//! of the oldest message) are read from the queues themselves when `/metrics` is served.

use super::{header, label};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The counters of one queue, in memory or persistent.
#[derive(Debug, Default)]
pub struct QueueCounters {
    published: AtomicU64,
    acked: AtomicU64,
    redelivered: AtomicU64,
    dead_lettered: AtomicU64,
}

impl QueueCounters {
    /// `n` messages published (by `queue.publish`, or a dead letter replayed into the queue).
    pub fn published(&self, n: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` messages whose flow succeeded, acknowledged.
    pub fn acked(&self, n: u64) {
        self.acked.fetch_add(n, Ordering::Relaxed);
    }

    /// A failed delivery, to be delivered again.
    pub fn redelivered(&self) {
        self.redelivered.fetch_add(1, Ordering::Relaxed);
    }

    /// A message that failed its last delivery, dead-lettered.
    pub fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
}

/// One counter family of the queues: its name, its help, and where each queue keeps it.
type Family = (&'static str, &'static str, fn(&QueueCounters) -> &AtomicU64);

/// The queue and dead-letter counters of a state.
#[derive(Debug, Default)]
pub struct StateMetrics {
    queues: RwLock<HashMap<String, Arc<QueueCounters>>>,
    dead_letters: Mutex<BTreeMap<(String, String), u64>>,
}

impl StateMetrics {
    /// The counters of queue `name`, created on first use.
    pub fn queue(&self, name: &str) -> Arc<QueueCounters> {
        // Single inserts: a poisoned lock is still consistent.
        if let Some(q) = self.queues.read().unwrap_or_else(PoisonError::into_inner).get(name) {
            return q.clone();
        }
        self.queues.write().unwrap_or_else(PoisonError::into_inner).entry(name.to_string()).or_default().clone()
    }

    /// One dead letter of `flow`, ended by an error of `error_type`.
    pub fn dead_letter(&self, flow: &str, error_type: &str) {
        let mut counts = self.dead_letters.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((flow.to_string(), error_type.to_string())).or_default() += 1;
    }

    /// Dead letters of `flow` since start, of every type.
    pub fn dead_letters_of(&self, flow: &str) -> u64 {
        let counts = self.dead_letters.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().filter(|((f, _), _)| f == flow).map(|(_, n)| n).sum()
    }

    /// Dead letters since start, of every flow and type.
    pub fn dead_letters(&self) -> u64 {
        self.dead_letters.lock().unwrap_or_else(PoisonError::into_inner).values().sum()
    }

    /// The counter families, in the text format.
    pub fn render(&self, out: &mut String) {
        let queues: BTreeMap<String, Arc<QueueCounters>> = self
            .queues
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (label(k), v.clone()))
            .collect();
        let families: [Family; 4] = [
            ("relais_queue_published_total", "Messages published to a queue.", |q| &q.published),
            ("relais_queue_acked_total", "Messages whose flow succeeded, acknowledged.", |q| &q.acked),
            ("relais_queue_redelivered_total", "Failed deliveries that will be delivered again.", |q| &q.redelivered),
            ("relais_queue_dead_lettered_total", "Messages dead-lettered after their last delivery.", |q| {
                &q.dead_lettered
            }),
        ];
        for (name, help, field) in families {
            header(out, name, "counter", help);
            for (q, counters) in &queues {
                let _ = writeln!(out, "{name}{{queue=\"{q}\"}} {}", field(counters).load(Ordering::Relaxed));
            }
        }
        header(
            out,
            "relais_dead_letters_total",
            "counter",
            "Messages dead-lettered since start, by flow and error type.",
        );
        for ((flow, error_type), n) in self.dead_letters.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(
                out,
                "relais_dead_letters_total{{flow=\"{}\",type=\"{}\"}} {n}",
                label(flow),
                label(error_type)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_count_what_happened_to_their_messages_and_dead_letters_are_counted_by_flow_and_type() {
        let metrics = StateMetrics::default();
        let orders = metrics.queue("orders");
        orders.published(3);
        orders.acked(1);
        orders.redelivered();
        metrics.queue("orders").dead_lettered();
        metrics.dead_letter("push_to_crm", "HTTP:SERVICE_UNAVAILABLE");
        metrics.dead_letter("push_to_crm", "HTTP:SERVICE_UNAVAILABLE");
        let mut out = String::new();
        metrics.render(&mut out);
        for line in [
            "relais_queue_published_total{queue=\"orders\"} 3\n",
            "relais_queue_acked_total{queue=\"orders\"} 1\n",
            "relais_queue_redelivered_total{queue=\"orders\"} 1\n",
            "relais_queue_dead_lettered_total{queue=\"orders\"} 1\n",
            "relais_dead_letters_total{flow=\"push_to_crm\",type=\"HTTP:SERVICE_UNAVAILABLE\"} 2\n",
        ] {
            assert!(out.contains(line), "{line}in\n{out}");
        }
        assert_eq!(metrics.dead_letters(), 2);
    }
}
