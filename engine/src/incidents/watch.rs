//! The tick: every period (tokio's timer: the wall clock under `relais run`, virtual time in a flow test)
//! the incidents are graded against the current program; each change is logged and sent, in order, to the
//! flow's alert flow by one sender task, so that an alert never overtakes the one before it.

use super::{alert_payload, Change, Incidents, Transition};
use crate::runtime::{Event, Runtime};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The tracing target of incident lines (`RELAIS_LOG=relais::incidents=info`).
pub const TARGET: &str = "relais::incidents";

/// How often the incidents are graded when `relais run` is not told (`--incident-tick`).
pub const DEFAULT_TICK: Duration = Duration::from_secs(10);

/// Alerts waiting for their flow: past this many, further ones are logged as not sent (an alert flow
/// stuck for minutes must not hold memory without bound).
const ALERTS_QUEUED: usize = 1024;

fn log(t: &Transition) {
    let i = &t.incident;
    let (flow, objective, observed, objective_value) = (&i.flow, i.objective.as_str(), i.observed, i.objective_value);
    match t.change {
        Change::Opened => tracing::warn!(
            target: TARGET, flow = %flow, objective, severity = i.severity, observed, objective_value,
            "incident opened: {flow} {objective} at severity {}", i.severity
        ),
        Change::Changed => tracing::warn!(
            target: TARGET, flow = %flow, objective, severity = i.severity, previous_severity = t.previous,
            observed, objective_value,
            "incident changed: {flow} {objective} from severity {} to {}", t.previous.unwrap_or(0), i.severity
        ),
        Change::Closed => tracing::info!(
            target: TARGET, flow = %flow, objective, previous_severity = t.previous, observed, objective_value,
            "incident closed: {flow} {objective}"
        ),
    }
}

/// Runs the alert flows of the changes it is sent, one after the other, on the runtime current then.
async fn send_alerts(current: watch::Receiver<Runtime>, mut alerts: mpsc::Receiver<(String, Transition)>) {
    while let Some((alert_flow, t)) = alerts.recv().await {
        let runtime = current.borrow().clone();
        let event = Event::new(alert_payload(&t));
        if let Err(e) = runtime.run_flow(&alert_flow, event).await {
            tracing::error!(
                target: TARGET, flow = %t.incident.flow, alert_flow = %alert_flow,
                "the alert flow failed on an incident {} ({}): {e}", t.change.as_str(), t.incident.objective.as_str()
            );
        }
    }
}

/// Grades the incidents every `every` (changed at any time through its sender) until `stop` changes or
/// its sender goes.
pub async fn watch(
    current: watch::Receiver<Runtime>,
    incidents: Arc<Incidents>,
    mut every: watch::Receiver<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let (alerts, queued) = mpsc::channel(ALERTS_QUEUED);
    let sender = tokio::spawn(send_alerts(current.clone(), queued));
    // The first reading is the baseline every window starts from.
    incidents.evaluate(&current.borrow().clone());
    loop {
        let period = (*every.borrow()).max(Duration::from_millis(10));
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            changed = every.changed() => {
                if changed.is_err() { break; }
                continue;
            }
            _ = stop.changed() => break,
        }
        let runtime = current.borrow().clone();
        for t in incidents.evaluate(&runtime) {
            log(&t);
            let Some(alert_flow) = t.incident.alert_flow.clone() else { continue };
            if let Err(mpsc::error::TrySendError::Full((_, t)) | mpsc::error::TrySendError::Closed((_, t))) =
                alerts.try_send((alert_flow.clone(), t))
            {
                tracing::error!(
                    target: TARGET, flow = %t.incident.flow, alert_flow = %alert_flow,
                    "alert not sent: {ALERTS_QUEUED} alerts are waiting for their flow"
                );
            }
        }
    }
    sender.abort();
}
