//! Incidents as JSON: what `/incidents` lists and what an alert flow receives as its payload.

use super::{Incident, Transition};
use serde_json::{json, Value};

fn instant(ms: u64) -> Value {
    let at = i64::try_from(ms).ok().and_then(chrono::DateTime::from_timestamp_millis);
    at.map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
}

/// Rounds an observed value for showing (the evaluator keeps it whole): 6 significant decimals.
fn shown(value: f64) -> Value {
    let rounded = (value * 1e6).round() / 1e6;
    serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number)
}

/// An open incident, as `/incidents` lists it (`state: "open"`).
pub fn incident_json(i: &Incident) -> Value {
    json!({
        "flow": i.flow,
        "objective": i.objective.as_str(),
        "severity": i.severity,
        "previous_severity": i.previous_severity,
        "observed": shown(i.observed),
        "objective_value": shown(i.objective_value),
        "unit": i.objective.unit(),
        "opened_at": instant(i.opened_at),
        "changed_at": instant(i.changed_at),
        "state": "open",
    })
}

/// The payload an alert flow is called with: the incident after the change, `state` saying which
/// (`opened`, `changed`, `closed`), `severity` null once closed and `previous_severity` what it was.
pub fn alert_payload(t: &Transition) -> Value {
    let mut payload = incident_json(&t.incident);
    payload["state"] = Value::String(t.change.as_str().to_string());
    payload["previous_severity"] = json!(t.previous);
    if t.change == super::Change::Closed {
        payload["severity"] = Value::Null;
    }
    payload
}
