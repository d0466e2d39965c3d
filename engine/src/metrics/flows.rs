//! Per-flow counters: events, errors by type, latency histogram, bytes in and out, skipped scheduler
//! ticks, `until_successful` retries.

use super::{header, label, Histogram};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Counters of one flow.
#[derive(Debug, Default)]
pub struct FlowMetrics {
    events: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Histogram,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    skipped_ticks: AtomicU64,
    retries: AtomicU64,
}

/// A flow's counters read at one moment: what the incident evaluator and the status page work from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowTotals {
    /// Events that finished the flow (`relais_flow_events_total`).
    pub events: u64,
    /// Of them, the ones that ended in an unhandled error (every type of `relais_flow_errors_total`).
    pub errors: u64,
    /// Retries of its `until_successful` scopes.
    pub retries: u64,
    /// Scheduler ticks skipped.
    pub skipped_ticks: u64,
    /// The cumulative latency bucket counts (`relais_flow_latency_seconds_bucket`, [`super::histogram::BUCKETS`]).
    pub latency_buckets: [u64; super::histogram::BUCKETS.len()],
}

/// Counters of every flow, created on first use.
#[derive(Debug, Default)]
pub(super) struct Flows {
    /// Read-locked on every event (the flows exist after their first event), write-locked once per flow.
    flows: RwLock<crate::event::NameMap<Arc<FlowMetrics>>>,
}

impl Flows {
    fn flow(&self, name: &str) -> Arc<FlowMetrics> {
        // A panic cannot leave the map half-updated (single inserts), so a poisoned lock is still consistent.
        if let Some(m) = self.flows.read().unwrap_or_else(PoisonError::into_inner).get(name) {
            return m.clone();
        }
        let mut flows = self.flows.write().unwrap_or_else(PoisonError::into_inner);
        flows.entry(name.to_string()).or_default().clone()
    }

    pub(super) fn record(&self, flow: &str, latency: Duration, error_type: Option<String>) {
        let m = self.flow(flow);
        m.events.fetch_add(1, Ordering::Relaxed);
        m.latency.observe(latency);
        if let Some(t) = error_type {
            *m.errors.lock().unwrap_or_else(PoisonError::into_inner).entry(t).or_default() += 1;
        }
    }

    pub(super) fn bytes(&self, flow: &str, received: usize, sent: usize) {
        let m = self.flow(flow);
        m.bytes_in.fetch_add(received as u64, Ordering::Relaxed);
        m.bytes_out.fetch_add(sent as u64, Ordering::Relaxed);
    }

    pub(super) fn skipped_tick(&self, flow: &str) {
        self.flow(flow).skipped_ticks.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn skipped_ticks(&self, flow: &str) -> u64 {
        self.flow(flow).skipped_ticks.load(Ordering::Relaxed)
    }

    pub(super) fn retry(&self, flow: &str) {
        self.flow(flow).retries.fetch_add(1, Ordering::Relaxed);
    }

    /// What one flow has counted so far, `None` before its first event.
    pub(super) fn totals(&self, flow: &str) -> Option<FlowTotals> {
        let flows = self.flows.read().unwrap_or_else(PoisonError::into_inner);
        let m = flows.get(flow)?;
        let errors = m.errors.lock().unwrap_or_else(PoisonError::into_inner).values().sum();
        // The count is read before the buckets: an event observed in between is in a bucket and not yet in
        // the count, never the other way round (the quantile's rank stays within the buckets).
        let events = m.latency.count();
        Some(FlowTotals {
            events,
            errors,
            retries: m.retries.load(Ordering::Relaxed),
            skipped_ticks: m.skipped_ticks.load(Ordering::Relaxed),
            latency_buckets: m.latency.buckets(),
        })
    }

    /// The names of the flows counted so far.
    pub(super) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.flows.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        names.sort();
        names
    }

    pub(super) fn render(&self, out: &mut String) {
        let flows: BTreeMap<String, Arc<FlowMetrics>> = self
            .flows
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (label(k), v.clone()))
            .collect();
        let counter = |out: &mut String, name: &str, help: &str, read: &dyn Fn(&FlowMetrics) -> u64, all: bool| {
            header(out, name, "counter", help);
            for (f, m) in &flows {
                let n = read(m);
                if all || n > 0 {
                    let _ = writeln!(out, "{name}{{flow=\"{f}\"}} {n}");
                }
            }
        };
        counter(
            out,
            "relais_flow_events_total",
            "Events that finished a flow.",
            &|m| m.events.load(Ordering::Relaxed),
            true,
        );
        header(out, "relais_flow_errors_total", "counter", "Events that ended in an unhandled error, by type.");
        for (f, m) in &flows {
            for (t, n) in m.errors.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                let _ = writeln!(out, "relais_flow_errors_total{{flow=\"{f}\",type=\"{}\"}} {n}", label(t));
            }
        }
        header(out, "relais_flow_latency_seconds", "histogram", "Time from event start to result.");
        for (f, m) in &flows {
            m.latency.render(out, "relais_flow_latency_seconds", &format!("flow=\"{f}\""));
        }
        let bytes_in = |m: &FlowMetrics| m.bytes_in.load(Ordering::Relaxed);
        counter(out, "relais_flow_bytes_in_total", "Bytes received by a flow's source.", &bytes_in, true);
        let bytes_out = |m: &FlowMetrics| m.bytes_out.load(Ordering::Relaxed);
        counter(out, "relais_flow_bytes_out_total", "Bytes a flow's source sent back.", &bytes_out, true);
        let skipped = |m: &FlowMetrics| m.skipped_ticks.load(Ordering::Relaxed);
        let help = "Ticks skipped: the previous run was still going.";
        counter(out, "relais_scheduler_skipped_ticks_total", help, &skipped, false);
        let retries = |m: &FlowMetrics| m.retries.load(Ordering::Relaxed);
        let help = "Retries of until_successful scopes (an attempt that failed and was tried again).";
        counter(out, "relais_flow_retries_total", help, &retries, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_carry_no_known_secret() {
        crate::scrub::known::remember_secret("label-secret-77");
        assert_eq!(label("flow \"a\"\\b\nlabel-secret-77"), "flow \\\"a\\\"\\\\b\\n[redacted]");
    }

    #[test]
    fn a_flow_counts_its_events_errors_latency_and_retries() {
        let flows = Flows::default();
        flows.record("orders", Duration::from_millis(2), None);
        flows.record("orders", Duration::from_millis(20), Some("CRM:DOWN".into()));
        flows.retry("orders");
        let mut out = String::new();
        flows.render(&mut out);
        assert!(out.contains("relais_flow_events_total{flow=\"orders\"} 2\n"), "{out}");
        assert!(out.contains("relais_flow_errors_total{flow=\"orders\",type=\"CRM:DOWN\"} 1\n"), "{out}");
        assert!(out.contains("relais_flow_latency_seconds_count{flow=\"orders\"} 2\n"), "{out}");
        assert!(out.contains("relais_flow_retries_total{flow=\"orders\"} 1\n"), "{out}");
        assert!(!out.contains("relais_scheduler_skipped_ticks_total{"), "{out}");
    }
}
