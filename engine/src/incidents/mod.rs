//! Incidents: flows declare objectives (`objectives:` — error share, p99 latency, dead letters an hour,
//! schedule missed); on a tick the daemon reads each flow's counters, grades them against its objectives
//! into severities 4 (minor) to 1 (critical) with the rule of [`grade`] (README, "Incidents"), and each
//! incident that opens, changes severity or closes is logged (target `relais::incidents`), shown at
//! `/incidents` and in `relais_incidents_open`, and sent to the flow's `alert_flow`.
//!
//! The grading ([`evaluator::Evaluator`]) is told the instant and the counters, and holds no clock: the
//! tick ([`watch`]) reads the program's clock and sleeps on tokio's timer, so that both follow a flow
//! test's virtual time as they follow the wall clock under `relais run`.

pub mod evaluator;
pub mod grade;
mod json;
pub mod watch;
pub mod window;

pub use evaluator::{Change, Evaluator, Incident, Kind, Transition};
pub use json::{alert_payload, incident_json};

use crate::runtime::Runtime;
use std::sync::{Mutex, PoisonError};

/// The incidents of a daemon: the evaluator and what it found, shared by the tick, the admin port and the
/// metrics. One per daemon; a reload keeps it (the counters it reads are shared across reloads too).
#[derive(Debug, Default)]
pub struct Incidents {
    evaluator: Mutex<evaluator::Evaluator>,
}

impl Incidents {
    /// Grades every flow of `runtime`'s program that declares objectives, at the program's clock's now.
    pub fn evaluate(&self, runtime: &Runtime) -> Vec<Transition> {
        let program = runtime.program();
        let now = u64::try_from(program.clock.now().timestamp_millis()).unwrap_or(0);
        let state = program.state.metrics();
        let mut flows: Vec<(&str, &relais_dsl::ir::Objectives)> = program
            .flows
            .values()
            .filter_map(|f| f.objectives.as_ref().filter(|o| !o.is_empty()).map(|o| (f.name.as_str(), o)))
            .collect();
        flows.sort_by_key(|(name, _)| *name);
        let observed: Vec<evaluator::Observed<'_>> = flows
            .into_iter()
            .map(|(flow, objectives)| {
                let totals = runtime.metrics().flow_totals(flow).unwrap_or_default();
                let reading = window::Reading {
                    events: totals.events,
                    errors: totals.errors,
                    dead_letters: state.dead_letters_of(flow),
                    latency: totals.latency_buckets,
                };
                evaluator::Observed { flow, objectives, reading }
            })
            .collect();
        // A panic while grading cannot leave the evaluator half-changed in a way that matters more than
        // one tick: its state is readings and open incidents, rebuilt from the counters.
        self.evaluator.lock().unwrap_or_else(PoisonError::into_inner).evaluate(now, &observed)
    }

    /// The open incidents, by flow and objective.
    pub fn open(&self) -> Vec<Incident> {
        self.evaluator.lock().unwrap_or_else(PoisonError::into_inner).open()
    }

    /// `relais_incidents_open{flow,objective,severity}`: 1 for each open incident. Label values come from
    /// the flow files (flow names), the objective keys and the severities, never from a payload.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let help = "Open incidents, by flow, objective and severity (1 critical to 4 minor).";
        crate::metrics::header(out, "relais_incidents_open", "gauge", help);
        for i in self.open() {
            let _ = writeln!(
                out,
                "relais_incidents_open{{flow=\"{}\",objective=\"{}\",severity=\"{}\"}} 1",
                crate::metrics::label(&i.flow),
                i.objective.as_str(),
                i.severity
            );
        }
    }
}
