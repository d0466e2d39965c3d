//! What relais counts, and the Prometheus text exposition `/metrics` serves: per flow ([`flows`]), per
//! outbound system, that is per named `http.client` config ([`outbound`]), per listener route ([`routes`]),
//! and per queue and dead-letter kind ([`queues`], held by the state, which the queues belong to).
//!
//! Naming follows Prometheus' conventions: `relais_` prefix, base units (`_seconds`, `_bytes`), `_total` on
//! counters. Label values come only from the flow files (flow, config, queue and listener names, route
//! templates, error types) or from a bounded set the engine defines (an HTTP status code, `none`): never
//! from a payload, a path as sent, or a header. Each is scrubbed and escaped by [`label`] all the same.
//!
//! The exposition is written by hand, as it was: the text format is a few lines per family, and the
//! counters are plain atomics on the hot paths (an HTTP request costs one atomic add per route).

pub mod flows;
mod histogram;
pub mod outbound;
pub mod queues;
pub mod routes;

pub use flows::{FlowMetrics, FlowTotals};
pub use histogram::{quantile, Histogram, BUCKETS};
pub use outbound::OutboundMetrics;
pub use queues::{QueueCounters, StateMetrics};
pub use routes::RouteCounters;

use std::sync::Arc;
use std::time::Duration;

/// A label value as the exposition writes it: scrubbed of every secret known (a label is a way out of the
/// process like any other) and escaped as the text format requires (`\\`, `\"`, `\n`).
pub fn label(value: &str) -> String {
    let scrubbed = crate::scrub::Scrub::secrets().text(value).into_owned();
    scrubbed.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The `# HELP` and `# TYPE` lines of a family (every exposition of relais writes them the same way).
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write;
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// The counters of a daemon, shared by the runtimes of successive reloads so that nothing resets.
#[derive(Debug)]
pub struct Metrics {
    flows: flows::Flows,
    outbound: outbound::Outbound,
    routes: routes::Routes,
    /// When counting started: counters over this are rates (`relais graph --metrics`).
    started: std::time::Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            flows: flows::Flows::default(),
            outbound: outbound::Outbound::default(),
            routes: routes::Routes::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl Metrics {
    /// Records one finished event of `flow`.
    pub fn record(&self, flow: &str, latency: Duration, error_type: Option<String>) {
        self.flows.record(flow, latency, error_type);
    }

    /// Records bytes received and sent for a flow (HTTP bodies).
    pub fn bytes(&self, flow: &str, received: usize, sent: usize) {
        self.flows.bytes(flow, received, sent);
    }

    /// Records a scheduler tick skipped because the flow's previous run was still going.
    pub fn skipped_tick(&self, flow: &str) {
        self.flows.skipped_tick(flow);
    }

    /// Scheduler ticks skipped for a flow since start.
    pub fn skipped_ticks(&self, flow: &str) -> u64 {
        self.flows.skipped_ticks(flow)
    }

    /// Records one retry of an `until_successful` scope in `flow`, after a failure that came from a call
    /// through the outbound config `config` (when it did).
    pub fn retry(&self, flow: &str, config: Option<&str>) {
        self.flows.retry(flow);
        if let Some(config) = config {
            self.outbound(config).retried();
        }
    }

    /// What `flow` has counted so far (`None` before its first event).
    pub fn flow_totals(&self, flow: &str) -> Option<FlowTotals> {
        self.flows.totals(flow)
    }

    /// The flows counted so far, by name.
    pub fn flow_names(&self) -> Vec<String> {
        self.flows.names()
    }

    /// Seconds since counting started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The counters of the outbound system (named `http.client` config) `config`.
    pub fn outbound(&self, config: &str) -> Arc<OutboundMetrics> {
        self.outbound.get(config)
    }

    /// The request counters of one listener route (`flow` and `template` empty: requests no route took).
    pub fn route(&self, listener: &str, flow: &str, template: &str) -> Arc<RouteCounters> {
        self.routes.get(listener, flow, template)
    }

    /// The Prometheus text exposition of every counter here.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        self.flows.render(&mut out);
        header(&mut out, "relais_uptime_seconds", "gauge", "Seconds since the counters started.");
        let _ = writeln!(out, "relais_uptime_seconds {:.3}", self.started.elapsed().as_secs_f64());
        self.outbound.render(&mut out);
        self.routes.render(&mut out);
        header(
            &mut out,
            "relais_trace_spans_dropped_total",
            "counter",
            "Spans not exported: the export queue was full or the collector failed (tracing never holds a flow up).",
        );
        let _ = writeln!(out, "relais_trace_spans_dropped_total {}", crate::trace::spans_dropped());
        out
    }
}
