//! A flow's objectives (`objectives:`): what its operators promise about it, which the daemon grades what
//! it sees against, opening, changing and closing incidents (README, "Incidents"). Each objective keeps what
//! the author wrote: an `over` window left out stays `None` and the engine picks the default.

use crate::span::{Span, Spanned};
use std::time::Duration;

/// The objectives of one flow.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Objectives {
    /// The largest share of the flow's events that may end in an unhandled error, over a window.
    pub error_share: Option<Objective<f64>>,
    /// The longest 99th percentile of the flow's latency, over a window.
    pub p99_latency: Option<Objective<Duration>>,
    /// The most dead letters of the flow an hour (counted over `over`, scaled to an hour).
    pub dead_letters_per_hour: Option<Objective<u32>>,
    /// The longest time the flow may go without a successful run (a scheduled flow that stopped running).
    pub schedule_missed: Option<Spanned<Duration>>,
    /// The flow called with each incident of this flow as it opens, changes severity or closes.
    pub alert_flow: Option<Spanned<String>>,
    /// The whole block.
    #[serde(skip)]
    pub span: Span,
}

impl Objectives {
    /// Whether the block declares no objective at all (an `alert_flow` alone grades nothing).
    pub fn is_empty(&self) -> bool {
        self.error_share.is_none()
            && self.p99_latency.is_none()
            && self.dead_letters_per_hour.is_none()
            && self.schedule_missed.is_none()
    }
}

/// One objective: its limit (`max`, a percentage for `error_share`), and the window it is measured over.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Objective<T> {
    /// The limit: the objective is breached when what is observed exceeds it.
    pub max: Spanned<T>,
    /// The window (`over`); the engine's default when `None`.
    pub over: Option<Spanned<Duration>>,
}

/// The keys of an `objectives:` block.
pub const OBJECTIVE_KEYS: &[&str] =
    &["error_share", "p99_latency", "dead_letters_per_hour", "schedule_missed", "alert_flow"];

/// Reads a percentage: a number from 0 (excluded) to 100 followed by `%` (`2%`, `0.5%`).
pub fn parse_percentage(text: &str) -> Option<f64> {
    let number = text.trim().strip_suffix('%')?.trim_end();
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    (value > 0.0 && value <= 100.0).then_some(value)
}

/// Prints a percentage as [`parse_percentage`] reads it back (`2%`, `0.5%`).
pub fn format_percentage(value: f64) -> String {
    format!("{value}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_from_just_above_zero_to_a_hundred_and_print_back() {
        assert_eq!(parse_percentage("2%"), Some(2.0));
        assert_eq!(parse_percentage("0.5%"), Some(0.5));
        assert_eq!(parse_percentage("100%"), Some(100.0));
        for bad in ["0%", "150%", "5", "-1%", "%", "abc%", "1e2%", "5 %x"] {
            assert_eq!(parse_percentage(bad), None, "{bad}");
        }
        for value in [2.0, 0.5, 0.25, 33.3, 100.0] {
            assert_eq!(parse_percentage(&format_percentage(value)), Some(value));
        }
    }
}
