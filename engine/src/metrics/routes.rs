//! Per listener route: requests by the status they were answered with. A route is known by its listener
//! config, its flow and its path template (never the path as sent, which a caller chooses).

use super::{header, label};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The statuses HTTP allows (hyper refuses others): one counter each, so counting is one atomic add.
const STATUSES: std::ops::Range<u16> = 100..1000;

/// Requests of one route, by status.
#[derive(Debug)]
pub struct RouteCounters {
    by_status: Vec<AtomicU64>,
}

impl Default for RouteCounters {
    fn default() -> Self {
        RouteCounters { by_status: STATUSES.map(|_| AtomicU64::new(0)).collect() }
    }
}

impl RouteCounters {
    /// One request answered with `status`.
    pub fn answered(&self, status: u16) {
        if let Some(n) = status.checked_sub(STATUSES.start).and_then(|i| self.by_status.get(usize::from(i))) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests answered with `status` so far.
    pub fn count(&self, status: u16) -> u64 {
        status
            .checked_sub(STATUSES.start)
            .and_then(|i| self.by_status.get(usize::from(i)))
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }
}

/// The counters of every route, by listener, flow and template; looked up when a listener is planned.
#[derive(Debug, Default)]
pub(super) struct Routes {
    routes: Mutex<BTreeMap<(String, String, String), Arc<RouteCounters>>>,
}

impl Routes {
    pub(super) fn get(&self, listener: &str, flow: &str, template: &str) -> Arc<RouteCounters> {
        let key = (listener.to_string(), flow.to_string(), template.to_string());
        self.routes.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default().clone()
    }

    pub(super) fn render(&self, out: &mut String) {
        let help = "Requests a listener answered, by route (listener config, flow, path template; \
                    route=\"unmatched\" for none) and status.";
        header(out, "relais_http_requests_total", "counter", help);
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for ((listener, flow, template), counters) in &routes {
            let listener = if listener.is_empty() { "default".to_string() } else { label(listener) };
            let route = if template.is_empty() { "unmatched".to_string() } else { label(template) };
            let flow = label(flow);
            for status in STATUSES {
                let n = counters.count(status);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "relais_http_requests_total{{listener=\"{listener}\",flow=\"{flow}\",route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_counts_its_requests_by_status_under_its_template() {
        let routes = Routes::default();
        let orders = routes.get("api", "accept_order", "/orders/{id}");
        orders.answered(202);
        orders.answered(202);
        routes.get("api", "accept_order", "/orders/{id}").answered(400);
        routes.get("", "", "").answered(404);
        orders.answered(42);
        let mut out = String::new();
        routes.render(&mut out);
        let series = |rest: &str| format!("relais_http_requests_total{{{rest}");
        assert!(
            out.contains(&series("listener=\"api\",flow=\"accept_order\",route=\"/orders/{id}\",status=\"202\"} 2")),
            "{out}"
        );
        assert!(
            out.contains(&series("listener=\"api\",flow=\"accept_order\",route=\"/orders/{id}\",status=\"400\"} 1")),
            "{out}"
        );
        assert!(out.contains(&series("listener=\"default\",flow=\"\",route=\"unmatched\",status=\"404\"} 1")), "{out}");
        assert_eq!(out.matches("relais_http_requests_total{").count(), 3, "{out}");
    }
}
