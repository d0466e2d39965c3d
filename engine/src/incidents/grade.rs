//! The grading rule (README, "Incidents"): what is observed, divided by the objective, is a ratio `r`.
//! - **Raising** (and opening): the severity is the most severe whose threshold `r` reaches: 4 (minor) when
//!   `r > 1`, 3 when `r >= 2`, 2 when `r >= 5`, 1 (critical) when `r >= 10`.
//! - **Holding** (hysteresis): an open incident keeps a severity `s` while `r >= 0.8 x threshold(s)`; when
//!   `r` falls below that it drops to the most severe level whose lowered threshold `r` still reaches, and
//!   it closes when `r < 0.8` (below 0.8 x the objective). So a ratio wavering around a threshold changes
//!   nothing until it moves 20 % away from it.
//! - **Evidence**: an objective measured on too few events (error share and latency with fewer than
//!   [`MIN_EVENTS`] in the window) may only lower or close an incident, never open or raise one.

/// A severity: 1 (critical) to 4 (minor).
pub type Severity = u8;

/// The least severe level.
pub const MINOR: Severity = 4;

/// The ratio each severity starts at, most severe first.
const THRESHOLDS: [(Severity, f64); 4] = [(1, 10.0), (2, 5.0), (3, 2.0), (4, 1.0)];

/// How far below its threshold a ratio must fall before an open severity is lowered (or closed).
pub const HOLD: f64 = 0.8;

/// The fewest events in a window for an error share or a latency to open or raise an incident.
pub const MIN_EVENTS: u64 = 20;

fn threshold(severity: Severity) -> f64 {
    THRESHOLDS.iter().find(|(s, _)| *s == severity).map_or(1.0, |(_, t)| *t)
}

/// The severity a ratio reaches on its own: `None` when the objective is met (`ratio <= 1`).
pub fn raised(ratio: f64) -> Option<Severity> {
    if ratio.is_nan() || ratio <= 1.0 {
        return None;
    }
    THRESHOLDS.iter().find(|(_, t)| ratio >= *t).map(|(s, _)| *s).or(Some(MINOR))
}

/// The severity an incident at `current` keeps at `ratio`: `current` while the ratio stays within
/// [`HOLD`] of its threshold, else the most severe level whose lowered threshold it reaches, `None` (closed)
/// below them all.
fn held(ratio: f64, current: Severity) -> Option<Severity> {
    THRESHOLDS.iter().filter(|(s, _)| *s >= current).find(|(s, _)| ratio >= HOLD * threshold(*s)).map(|(s, _)| *s)
}

/// The severity after one evaluation: from the incident's `current` severity (`None`: no incident), the
/// `ratio` observed, and whether the window held enough events to raise (`evidence`).
pub fn grade(current: Option<Severity>, ratio: f64, evidence: bool) -> Option<Severity> {
    let kept = current.and_then(|c| held(ratio, c));
    let up = if evidence { raised(ratio) } else { None };
    match (kept, up) {
        // The more severe wins (the smaller number).
        (Some(k), Some(u)) => Some(k.min(u)),
        (k, u) => k.or(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_opens_at_the_severity_of_the_highest_threshold_it_reaches() {
        assert_eq!(grade(None, 1.0, true), None);
        assert_eq!(grade(None, 1.01, true), Some(4));
        assert_eq!(grade(None, 2.0, true), Some(3));
        assert_eq!(grade(None, 4.99, true), Some(3));
        assert_eq!(grade(None, 5.0, true), Some(2));
        assert_eq!(grade(None, 10.0, true), Some(1));
        assert_eq!(grade(None, 1e9, true), Some(1));
    }

    #[test]
    fn an_open_severity_holds_until_the_ratio_falls_a_fifth_below_its_threshold() {
        assert_eq!(grade(Some(2), 4.5, true), Some(2), "4.5 >= 0.8 x 5");
        assert_eq!(grade(Some(2), 3.9, true), Some(3), "below 4: to the level 3.9 still holds");
        assert_eq!(grade(Some(3), 1.7, true), Some(3));
        assert_eq!(grade(Some(3), 1.5, true), Some(4));
        assert_eq!(grade(Some(4), 0.85, true), Some(4));
        assert_eq!(grade(Some(4), 0.79, true), None, "closed below 0.8");
        assert_eq!(grade(Some(1), 0.1, true), None, "closed from any severity");
        assert_eq!(grade(Some(4), 6.0, true), Some(2), "raised at once");
    }

    #[test]
    fn without_evidence_an_incident_may_only_fall_or_close() {
        assert_eq!(grade(None, 50.0, false), None);
        assert_eq!(grade(Some(3), 50.0, false), Some(3));
        assert_eq!(grade(Some(3), 0.0, false), None);
        assert_eq!(grade(Some(2), f64::NAN, false), None);
    }
}
