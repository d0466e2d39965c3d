//! Per outbound system, that is per named `http.client` config (and broker, database and file server
//! config: `amqp`, `nats`, `db`, `sftp`): requests by
//! status, errors by type and status, a latency histogram, and the `until_successful` retries its failures
//! caused. What answers "what is failing right now, and where".

use super::{header, label, Histogram};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// The counters of one outbound config.
#[derive(Debug, Default)]
pub struct OutboundMetrics {
    /// Requests sent, by the status of their answer (0: none came: unreachable, timed out).
    requests: Mutex<BTreeMap<u16, u64>>,
    /// Failed calls, by error type and status (0: no answer).
    errors: Mutex<BTreeMap<(String, u16), u64>>,
    /// Time from sending a request to its whole answer (or its failure).
    duration: Histogram,
    retries: AtomicU64,
}

impl OutboundMetrics {
    /// One request sent, answered with `status` (or not answered), after `elapsed`.
    pub fn exchange(&self, elapsed: Duration, status: Option<u16>) {
        *self.requests.lock().unwrap_or_else(PoisonError::into_inner).entry(status.unwrap_or(0)).or_default() += 1;
        self.duration.observe(elapsed);
    }

    /// One message a broker acknowledged (a JetStream publish), after `elapsed`: counted under the status
    /// `acked`.
    pub fn acknowledged(&self, elapsed: Duration) {
        *self.requests.lock().unwrap_or_else(PoisonError::into_inner).entry(ACKED).or_default() += 1;
        self.duration.observe(elapsed);
    }

    /// One call that failed with `error_type` (an engine-defined `HTTP:*` type), answered with `status`
    /// or not at all.
    pub fn error(&self, error_type: &str, status: Option<u16>) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        *errors.entry((error_type.to_string(), status.unwrap_or(0))).or_default() += 1;
    }

    /// One retry its failure caused.
    pub(super) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// The status a broker's acknowledgement is kept under (no HTTP status is below 100).
const ACKED: u16 = 1;

/// A status label: the code, `acked` for a broker's acknowledgement, or `none` when no answer came.
fn status(code: u16) -> String {
    match code {
        0 => "none".to_string(),
        ACKED => "acked".to_string(),
        _ => code.to_string(),
    }
}

/// The counters of every outbound config, created on first use.
#[derive(Debug, Default)]
pub(super) struct Outbound {
    configs: RwLock<HashMap<String, Arc<OutboundMetrics>>>,
}

impl Outbound {
    pub(super) fn get(&self, config: &str) -> Arc<OutboundMetrics> {
        // Single inserts: a poisoned lock is still consistent.
        if let Some(m) = self.configs.read().unwrap_or_else(PoisonError::into_inner).get(config) {
            return m.clone();
        }
        self.configs.write().unwrap_or_else(PoisonError::into_inner).entry(config.to_string()).or_default().clone()
    }

    pub(super) fn render(&self, out: &mut String) {
        let configs: BTreeMap<String, Arc<OutboundMetrics>> = self
            .configs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (label(k), v.clone()))
            .collect();
        let help =
            "Requests sent to an outbound system (http.client, amqp, nats, db or sftp config), by the status of the answer (acked: a broker's acknowledgement, none: no answer).";
        header(out, "relais_outbound_requests_total", "counter", help);
        for (c, m) in &configs {
            for (code, n) in m.requests.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                let _ =
                    writeln!(out, "relais_outbound_requests_total{{config=\"{c}\",status=\"{}\"}} {n}", status(*code));
            }
        }
        let help = "Calls to an outbound system that failed, by error type and status (none: no answer).";
        header(out, "relais_outbound_errors_total", "counter", help);
        for (c, m) in &configs {
            for ((t, code), n) in m.errors.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                let (t, code) = (label(t), status(*code));
                let _ =
                    writeln!(out, "relais_outbound_errors_total{{config=\"{c}\",type=\"{t}\",status=\"{code}\"}} {n}");
            }
        }
        let name = "relais_outbound_request_duration_seconds";
        header(out, name, "histogram", "Time from sending a request to an outbound system to its whole answer.");
        for (c, m) in &configs {
            m.duration.render(out, name, &format!("config=\"{c}\""));
        }
        let help = "Retries of until_successful scopes after a failed call to an outbound system.";
        header(out, "relais_outbound_retries_total", "counter", help);
        for (c, m) in &configs {
            let _ =
                writeln!(out, "relais_outbound_retries_total{{config=\"{c}\"}} {}", m.retries.load(Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbound_system_counts_answers_errors_by_type_and_status_latency_and_retries() {
        let outbound = Outbound::default();
        let crm = outbound.get("crm");
        crm.exchange(Duration::from_millis(4), Some(200));
        crm.exchange(Duration::from_millis(40), Some(503));
        crm.error("HTTP:SERVICE_UNAVAILABLE", Some(503));
        crm.exchange(Duration::from_secs(5), None);
        crm.error("HTTP:TIMEOUT", None);
        outbound.get("crm").retried();
        outbound.get("events").acknowledged(Duration::from_millis(2));
        let mut out = String::new();
        outbound.render(&mut out);
        for line in [
            "relais_outbound_requests_total{config=\"crm\",status=\"200\"} 1\n",
            "relais_outbound_requests_total{config=\"crm\",status=\"503\"} 1\n",
            "relais_outbound_requests_total{config=\"crm\",status=\"none\"} 1\n",
            "relais_outbound_errors_total{config=\"crm\",type=\"HTTP:SERVICE_UNAVAILABLE\",status=\"503\"} 1\n",
            "relais_outbound_errors_total{config=\"crm\",type=\"HTTP:TIMEOUT\",status=\"none\"} 1\n",
            "relais_outbound_request_duration_seconds_count{config=\"crm\"} 3\n",
            "relais_outbound_retries_total{config=\"crm\"} 1\n",
            "relais_outbound_requests_total{config=\"events\",status=\"acked\"} 1\n",
        ] {
            assert!(out.contains(line), "{line}in\n{out}");
        }
    }
}
