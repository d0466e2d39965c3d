//! Per-flow counters the daemon exports on `/metrics` (Prometheus text format): events, errors by type,
//! latency histogram, bytes in and out.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A label value as the exposition writes it: scrubbed of every secret known (a label is a way out of the
/// process like any other) and escaped as the text format requires (`\\`, `\"`, `\n`).
pub fn label(value: &str) -> String {
    let scrubbed = crate::scrub::Scrub::secrets().text(value).into_owned();
    scrubbed.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Counters of one flow.
#[derive(Debug, Default)]
pub struct FlowMetrics {
    events: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_sum_micros: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    skipped_ticks: AtomicU64,
}

/// Counters of every flow, created on first use.
#[derive(Debug)]
pub struct Metrics {
    /// Read-locked on every event (the flows exist after their first event), write-locked once per flow.
    flows: RwLock<crate::event::NameMap<std::sync::Arc<FlowMetrics>>>,
    /// When counting started: counters over this are rates (`relais graph --metrics`).
    started: std::time::Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { flows: RwLock::default(), started: std::time::Instant::now() }
    }
}

impl Metrics {
    fn flow(&self, name: &str) -> std::sync::Arc<FlowMetrics> {
        // A panic cannot leave the map half-updated (single inserts), so a poisoned lock is still consistent.
        if let Some(m) = self.flows.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(name) {
            return m.clone();
        }
        let mut flows = self.flows.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        flows.entry(name.to_string()).or_default().clone()
    }

    /// Records one finished event.
    pub fn record(&self, flow: &str, latency: Duration, error_type: Option<String>) {
        let m = self.flow(flow);
        m.events.fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                m.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        m.latency_sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        if let Some(t) = error_type {
            *m.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(t).or_default() += 1;
        }
    }

    /// Records bytes received and sent for a flow (HTTP bodies).
    pub fn bytes(&self, flow: &str, received: usize, sent: usize) {
        let m = self.flow(flow);
        m.bytes_in.fetch_add(received as u64, Ordering::Relaxed);
        m.bytes_out.fetch_add(sent as u64, Ordering::Relaxed);
    }

    /// Records a scheduler tick skipped because the flow's previous run was still going.
    pub fn skipped_tick(&self, flow: &str) {
        self.flow(flow).skipped_ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// Scheduler ticks skipped for a flow since start.
    pub fn skipped_ticks(&self, flow: &str) -> u64 {
        self.flow(flow).skipped_ticks.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let flows: BTreeMap<String, std::sync::Arc<FlowMetrics>> = self
            .flows
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (label(k), v.clone()))
            .collect();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP relais_uptime_seconds Seconds since the counters started.\n# TYPE relais_uptime_seconds gauge\nrelais_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        out.push_str(
            "# HELP relais_flow_events_total Events that finished a flow.\n# TYPE relais_flow_events_total counter\n",
        );
        for (f, m) in &flows {
            let _ = writeln!(out, "relais_flow_events_total{{flow=\"{f}\"}} {}", m.events.load(Ordering::Relaxed));
        }
        out.push_str("# HELP relais_flow_errors_total Events that ended in an unhandled error, by type.\n# TYPE relais_flow_errors_total counter\n");
        for (f, m) in &flows {
            for (t, n) in m.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter() {
                let _ = writeln!(out, "relais_flow_errors_total{{flow=\"{f}\",type=\"{}\"}} {n}", label(t));
            }
        }
        out.push_str("# HELP relais_flow_latency_seconds Time from event start to result.\n# TYPE relais_flow_latency_seconds histogram\n");
        for (f, m) in &flows {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "relais_flow_latency_seconds_bucket{{flow=\"{f}\",le=\"{bound}\"}} {}",
                    m.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = m.events.load(Ordering::Relaxed);
            let _ = writeln!(out, "relais_flow_latency_seconds_bucket{{flow=\"{f}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(
                out,
                "relais_flow_latency_seconds_sum{{flow=\"{f}\"}} {}",
                m.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "relais_flow_latency_seconds_count{{flow=\"{f}\"}} {count}");
        }
        out.push_str("# HELP relais_flow_bytes_in_total Bytes received by a flow's source.\n# TYPE relais_flow_bytes_in_total counter\n");
        for (f, m) in &flows {
            let _ = writeln!(out, "relais_flow_bytes_in_total{{flow=\"{f}\"}} {}", m.bytes_in.load(Ordering::Relaxed));
        }
        out.push_str("# HELP relais_flow_bytes_out_total Bytes a flow's source sent back.\n# TYPE relais_flow_bytes_out_total counter\n");
        for (f, m) in &flows {
            let _ =
                writeln!(out, "relais_flow_bytes_out_total{{flow=\"{f}\"}} {}", m.bytes_out.load(Ordering::Relaxed));
        }
        out.push_str("# HELP relais_scheduler_skipped_ticks_total Ticks skipped: the previous run was still going.\n# TYPE relais_scheduler_skipped_ticks_total counter\n");
        for (f, m) in &flows {
            let n = m.skipped_ticks.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(out, "relais_scheduler_skipped_ticks_total{{flow=\"{f}\"}} {n}");
            }
        }
        out
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
}
