//! The status page: `GET /status` is one self-contained HTML page (no network beyond the admin port, no
//! CDN) that fetches `GET /status.json` every few seconds and shows each flow's events, rate, errors, p99
//! latency, retries and dead letters, the queues' depths, and the open incidents. Its replay and run
//! buttons appear only when the admin port takes tokens; the page then asks for the token and keeps it
//! in the page's memory alone (never in the page, never in storage).

use super::QueueGauge;
use crate::incidents::Incidents;
use crate::metrics::quantile;
use crate::plan::FlowKind;
use crate::runtime::Runtime;
use serde_json::{json, Value};

/// The page itself: the same text for every request (what it shows comes from `/status.json`).
pub const PAGE: &str = include_str!("status.html");

/// A number for JSON, `null` when it is not finite.
fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// What the page shows, read now from the same counters `/metrics` exposes.
pub(super) fn status(runtime: &Runtime, incidents: &Incidents, protected: bool, queues: &[QueueGauge]) -> Value {
    let program = runtime.program();
    let metrics = runtime.metrics();
    let uptime = metrics.uptime().as_secs_f64();
    let open = incidents.open();
    let mut names: Vec<&str> =
        program.flows.values().filter(|f| f.kind == FlowKind::Flow).map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    let flows: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let totals = metrics.flow_totals(name).unwrap_or_default();
            let severity = open.iter().filter(|i| i.flow == name).map(|i| i.severity).min();
            json!({
                "name": name,
                "events": totals.events,
                "errors": totals.errors,
                "retries": totals.retries,
                "rate_per_second": number(if uptime > 0.0 { totals.events as f64 / uptime } else { 0.0 }),
                "p99_seconds": quantile(&totals.latency_buckets, totals.events, 0.99).map(number),
                "dead_letters": program.state.metrics().dead_letters_of(name),
                "incident_severity": severity,
            })
        })
        .collect();
    let queues: Vec<Value> = queues
        .iter()
        .map(|q| {
            json!({
                "name": q.name, "depth": q.depth, "in_flight": q.in_flight,
                "oldest_age_seconds": q.oldest_age.map(number),
            })
        })
        .collect();
    json!({
        "uptime_seconds": number(uptime),
        "protected": protected,
        "flows": flows,
        "queues": queues,
        "incidents": open.iter().map(crate::incidents::incident_json).collect::<Vec<_>>(),
    })
}
