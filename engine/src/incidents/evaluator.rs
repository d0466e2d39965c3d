//! The evaluator: given, at an instant it is told (so that a test can drive it on any clock), each flow's
//! objectives and counters, it grades every objective ([`super::grade`]) and says which incidents opened,
//! changed severity or closed. It holds no clock, no runtime and no I/O.

use super::grade::{grade, Severity, MIN_EVENTS};
use super::window::{Reading, Window};
use crate::metrics::quantile;
use relais_dsl::ir::Objectives;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The window of `error_share` and `p99_latency` when `over` is not written.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The window of `dead_letters_per_hour` when `over` is not written.
pub const DEFAULT_DEAD_LETTER_WINDOW: Duration = Duration::from_secs(3600);

/// What an objective is about: the `objective` label of `relais_incidents_open` and of the incident JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `error_share`: percent of events ending in an unhandled error.
    ErrorShare,
    /// `p99_latency`: seconds.
    P99Latency,
    /// `dead_letters_per_hour`: dead letters an hour.
    DeadLettersPerHour,
    /// `schedule_missed`: seconds since the last successful run.
    ScheduleMissed,
}

impl Kind {
    /// The key written in `objectives:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ErrorShare => "error_share",
            Kind::P99Latency => "p99_latency",
            Kind::DeadLettersPerHour => "dead_letters_per_hour",
            Kind::ScheduleMissed => "schedule_missed",
        }
    }

    /// The unit of the observed and objective values.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::ErrorShare => "percent",
            Kind::P99Latency | Kind::ScheduleMissed => "seconds",
            Kind::DeadLettersPerHour => "per_hour",
        }
    }
}

/// An open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The flow whose objective is breached.
    pub flow: String,
    /// Which objective.
    pub objective: Kind,
    /// 1 (critical) to 4 (minor).
    pub severity: Severity,
    /// The severity before the last change (`None` while it has not changed since it opened).
    pub previous_severity: Option<Severity>,
    /// What was observed at the last evaluation, in [`Kind::unit`].
    pub observed: f64,
    /// The objective, in the same unit.
    pub objective_value: f64,
    /// When it opened (ms since the epoch, on the evaluator's clock).
    pub opened_at: u64,
    /// When its severity last changed (its opening included).
    pub changed_at: u64,
    /// The flow its changes are sent to.
    pub alert_flow: Option<String>,
}

/// What happened to an incident at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It opened.
    Opened,
    /// Its severity rose or fell.
    Changed,
    /// It closed (the objective is met again, or no longer declared).
    Closed,
}

impl Change {
    /// `opened`, `changed`, `closed`: the `state` of an alert.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Opened => "opened",
            Change::Changed => "changed",
            Change::Closed => "closed",
        }
    }
}

/// One change, with the incident as it is after it (as it was last, for a closed one).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Opened, changed or closed.
    pub change: Change,
    /// The incident.
    pub incident: Incident,
    /// The severity before this change (`None` for an opening).
    pub previous: Option<Severity>,
}

/// What the evaluator keeps of one flow.
#[derive(Debug, Default)]
struct Seen {
    window: Window,
    /// When the flow last had a successful run, or when the evaluator first saw it.
    last_success: u64,
}

/// The evaluator's memory: each flow's readings and the open incidents.
#[derive(Debug, Default)]
pub struct Evaluator {
    seen: HashMap<String, Seen>,
    open: BTreeMap<(String, Kind), Incident>,
}

/// One flow as the evaluator is given it at a tick.
pub struct Observed<'a> {
    /// Its name.
    pub flow: &'a str,
    /// Its objectives.
    pub objectives: &'a Objectives,
    /// Its counters now.
    pub reading: Reading,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Each declared objective of a flow: its kind, its value, what is observed, whether that is evidence
/// enough to open or raise.
fn measure(objectives: &Objectives, seen: &Seen, now: u64) -> Vec<(Kind, f64, f64, bool)> {
    let mut out = Vec::new();
    if let Some(o) = &objectives.error_share {
        let w = seen.window.over(millis(o.over.as_ref().map_or(DEFAULT_WINDOW, |d| d.value)));
        let share = if w.events == 0 { 0.0 } else { 100.0 * w.errors as f64 / w.events as f64 };
        out.push((Kind::ErrorShare, o.max.value, share, w.events >= MIN_EVENTS));
    }
    if let Some(o) = &objectives.p99_latency {
        let w = seen.window.over(millis(o.over.as_ref().map_or(DEFAULT_WINDOW, |d| d.value)));
        let p99 = quantile(&w.latency, w.events, 0.99).unwrap_or(0.0);
        out.push((Kind::P99Latency, o.max.value.as_secs_f64(), p99, w.events >= MIN_EVENTS));
    }
    if let Some(o) = &objectives.dead_letters_per_hour {
        let over = o.over.as_ref().map_or(DEFAULT_DEAD_LETTER_WINDOW, |d| d.value);
        let w = seen.window.over(millis(over));
        let per_hour = w.dead_letters as f64 * 3600.0 / over.as_secs_f64().max(0.001);
        out.push((Kind::DeadLettersPerHour, f64::from(o.max.value), per_hour, true));
    }
    if let Some(max) = &objectives.schedule_missed {
        let since = now.saturating_sub(seen.last_success) as f64 / 1000.0;
        out.push((Kind::ScheduleMissed, max.value.as_secs_f64(), since, true));
    }
    out
}

/// The longest window a flow's objectives read.
fn longest(objectives: &Objectives) -> u64 {
    let windows = [
        objectives.error_share.as_ref().map(|o| o.over.as_ref().map_or(DEFAULT_WINDOW, |d| d.value)),
        objectives.p99_latency.as_ref().map(|o| o.over.as_ref().map_or(DEFAULT_WINDOW, |d| d.value)),
        objectives
            .dead_letters_per_hour
            .as_ref()
            .map(|o| o.over.as_ref().map_or(DEFAULT_DEAD_LETTER_WINDOW, |d| d.value)),
    ];
    windows.into_iter().flatten().map(millis).max().unwrap_or(0)
}

impl Evaluator {
    /// Grades every objective of `flows` at `now` (ms since the epoch); the changes, in flow and
    /// objective order. An open incident whose flow or objective is no longer declared closes.
    pub fn evaluate(&mut self, now: u64, flows: &[Observed<'_>]) -> Vec<Transition> {
        let mut changes = Vec::new();
        let mut declared = std::collections::HashSet::new();
        for f in flows {
            let seen =
                self.seen.entry(f.flow.to_string()).or_insert_with(|| Seen { last_success: now, ..Seen::default() });
            let previous_successes = seen_successes(seen);
            seen.window.push(now, f.reading, longest(f.objectives));
            if f.reading.successes() > previous_successes {
                seen.last_success = now;
            }
            for (kind, objective, observed, evidence) in measure(f.objectives, seen, now) {
                declared.insert((f.flow.to_string(), kind));
                let key = (f.flow.to_string(), kind);
                let current = self.open.get(&key).map(|i| i.severity);
                let ratio = if objective > 0.0 { observed / objective } else { 0.0 };
                let alert_flow = f.objectives.alert_flow.as_ref().map(|a| a.value.clone());
                match (current, grade(current, ratio, evidence)) {
                    (None, None) => {}
                    (None, Some(severity)) => {
                        let incident = Incident {
                            flow: f.flow.to_string(),
                            objective: kind,
                            severity,
                            previous_severity: None,
                            observed,
                            objective_value: objective,
                            opened_at: now,
                            changed_at: now,
                            alert_flow,
                        };
                        self.open.insert(key, incident.clone());
                        changes.push(Transition { change: Change::Opened, incident, previous: None });
                    }
                    (Some(_), None) => {
                        if let Some(mut incident) = self.open.remove(&key) {
                            let previous = Some(incident.severity);
                            incident.observed = observed;
                            incident.alert_flow = alert_flow;
                            changes.push(Transition { change: Change::Closed, incident, previous });
                        }
                    }
                    (Some(was), Some(severity)) => {
                        if let Some(incident) = self.open.get_mut(&key) {
                            incident.observed = observed;
                            incident.objective_value = objective;
                            incident.alert_flow = alert_flow;
                            if severity != was {
                                incident.previous_severity = Some(was);
                                incident.severity = severity;
                                incident.changed_at = now;
                                changes.push(Transition {
                                    change: Change::Changed,
                                    incident: incident.clone(),
                                    previous: Some(was),
                                });
                            }
                        }
                    }
                }
            }
        }
        let gone: Vec<(String, Kind)> = self.open.keys().filter(|k| !declared.contains(*k)).cloned().collect();
        for key in gone {
            if let Some(incident) = self.open.remove(&key) {
                let previous = Some(incident.severity);
                changes.push(Transition { change: Change::Closed, incident, previous });
            }
        }
        let names: std::collections::HashSet<&str> = flows.iter().map(|f| f.flow).collect();
        self.seen.retain(|name, _| names.contains(name.as_str()));
        changes
    }

    /// The open incidents, by flow and objective.
    pub fn open(&self) -> Vec<Incident> {
        self.open.values().cloned().collect()
    }
}

/// Successes in the newest reading of a flow (0 before the first).
fn seen_successes(seen: &Seen) -> u64 {
    seen.window.latest().map_or(0, |r| r.successes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use relais_dsl::ir::Objective;
    use relais_dsl::{Span, Spanned};

    fn share(percent: f64, over: Duration) -> Objectives {
        Objectives {
            error_share: Some(Objective {
                max: Spanned::new(percent, Span::default()),
                over: Some(Spanned::new(over, Span::default())),
            }),
            alert_flow: Some(Spanned::new("on_incident".into(), Span::default())),
            ..Objectives::default()
        }
    }

    /// Drives the evaluator one second a tick, 100 events a tick of which `failing` percent fail.
    struct Drive {
        evaluator: Evaluator,
        objectives: Objectives,
        reading: Reading,
        now: u64,
    }

    impl Drive {
        fn tick(&mut self, failing: u64) -> Vec<(Change, Severity, Option<Severity>)> {
            self.now += 1_000;
            self.reading.events += 100;
            self.reading.errors += failing;
            let flows = [Observed { flow: "orders", objectives: &self.objectives, reading: self.reading }];
            self.evaluator
                .evaluate(self.now, &flows)
                .into_iter()
                .map(|t| (t.change, t.incident.severity, t.previous))
                .collect()
        }
    }

    #[test]
    fn an_error_share_incident_opens_rises_with_the_share_falls_and_closes() {
        let objectives = share(2.0, Duration::from_secs(1));
        let mut d = Drive { evaluator: Evaluator::default(), objectives, reading: Reading::default(), now: 0 };
        assert_eq!(d.tick(1), vec![]);
        assert_eq!(d.tick(3), vec![(Change::Opened, 4, None)], "3 % is 1.5 x 2 %");
        assert_eq!(d.tick(3), vec![]);
        assert_eq!(d.tick(12), vec![(Change::Changed, 2, Some(4))], "12 % is 6 x");
        assert_eq!(d.tick(30), vec![(Change::Changed, 1, Some(2))]);
        assert_eq!(d.tick(17), vec![], "8.5 x holds severity 1 (>= 8)");
        assert_eq!(d.tick(6), vec![(Change::Changed, 3, Some(1))], "3 x");
        let closed = d.tick(0);
        assert_eq!(closed, vec![(Change::Closed, 3, Some(3))]);
        assert!(d.evaluator.open().is_empty());
    }

    #[test]
    fn a_schedule_that_stops_succeeding_opens_an_incident_that_a_success_closes() {
        let objectives = Objectives {
            schedule_missed: Some(Spanned::new(Duration::from_secs(10), Span::default())),
            ..Objectives::default()
        };
        let mut e = Evaluator::default();
        let mut reading = Reading { events: 1, ..Reading::default() };
        let at = |e: &mut Evaluator, now: u64, reading: Reading| {
            let flows = [Observed { flow: "nightly", objectives: &objectives, reading }];
            e.evaluate(now, &flows).into_iter().map(|t| (t.change, t.incident.severity)).collect::<Vec<_>>()
        };
        assert_eq!(at(&mut e, 0, reading), vec![]);
        assert_eq!(at(&mut e, 15_000, reading), vec![(Change::Opened, 4)]);
        assert_eq!(at(&mut e, 25_000, reading), vec![(Change::Changed, 3)]);
        reading.events += 1;
        assert_eq!(at(&mut e, 26_000, reading), vec![(Change::Closed, 3)]);
    }

    #[test]
    fn an_incident_of_an_objective_no_longer_declared_closes() {
        let objectives = share(2.0, Duration::from_secs(1));
        let mut d = Drive { evaluator: Evaluator::default(), objectives, reading: Reading::default(), now: 0 };
        d.tick(0);
        assert_eq!(d.tick(50), vec![(Change::Opened, 1, None)]);
        let closed = d.evaluator.evaluate(d.now + 1_000, &[]);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].change, Change::Closed);
    }
}
