//! The `scheduler` source at run time: runs a flow at a fixed frequency or on a cron schedule in a time zone, never two
//! runs at once unless asked; a tick that finds the previous run still going is skipped, logged and counted.

use super::SchedulerSource;
use crate::runtime::Runtime;
use crate::source::{InFlight, Working};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// When a schedule fires.
pub enum Timing {
    /// Every this long, after an optional first delay.
    Every(Duration, Duration),
    /// On a cron expression in a time zone.
    Cron(Box<croner::Cron>, chrono_tz::Tz),
}

/// A scheduled flow.
pub struct Schedule {
    /// The flow.
    pub flow: String,
    /// When.
    pub timing: Timing,
    /// Start a run even if the previous one is still going.
    pub allow_overlap: bool,
}

impl Schedule {
    /// The schedule of a `scheduler` source; `None` when its settings hold no valid schedule (which
    /// `check` refuses).
    pub fn new(flow: &str, settings: &SchedulerSource) -> Option<Schedule> {
        let timing = match (&settings.frequency, &settings.cron) {
            (Some(every), _) => Timing::Every(every.0, settings.start_delay.map(|d| d.0).unwrap_or_default()),
            (None, Some(cron)) => Timing::Cron(
                Box::new(super::parse_cron(cron).ok()?),
                chrono_tz::Tz::from_str(&settings.time_zone).ok()?,
            ),
            (None, None) => return None,
        };
        Some(Schedule { flow: flow.to_string(), timing, allow_overlap: settings.allow_overlap })
    }

    /// The first tick strictly after `now` on the grid every replica computes alike: multiples of the
    /// frequency since the Unix epoch shifted by `start_delay`, or the cron expression's next occurrence.
    pub fn next_tick(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match &self.timing {
            Timing::Every(every, start) => {
                let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
                let offset = i64::try_from(start.as_millis()).unwrap_or(0) % every;
                let since = now.timestamp_millis() - offset;
                let next = (since.div_euclid(every) + 1).saturating_mul(every).saturating_add(offset);
                chrono::DateTime::from_timestamp_millis(next).unwrap_or(now + chrono::Duration::seconds(60))
            }
            Timing::Cron(cron, tz) => cron
                .find_next_occurrence(&now.with_timezone(tz), false)
                .map(|next| next.with_timezone(&chrono::Utc))
                .unwrap_or(now + chrono::Duration::seconds(60)),
        }
    }

    fn next_delay(&self, first: bool) -> Duration {
        match &self.timing {
            Timing::Every(every, start) => {
                if first {
                    *start
                } else {
                    *every
                }
            }
            Timing::Cron(cron, tz) => {
                let now = chrono::Utc::now().with_timezone(tz);
                cron.find_next_occurrence(&now, false)
                    .ok()
                    .and_then(|next| (next.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok())
                    .unwrap_or(Duration::from_secs(60))
            }
        }
    }
}

/// Runs a schedule until `stop` turns true; each run counts in `in_flight` so that shutdown waits for it.
/// On a state shared by several replicas, each tick is claimed across them (`shared.rs`); on the process's
/// own state, the schedule simply fires.
pub fn start(
    schedule: Schedule,
    runtime: Runtime,
    mut stop: watch::Receiver<bool>,
    in_flight: InFlight,
) -> tokio::task::JoinHandle<()> {
    if !runtime.program().state.durable().is_exclusive() {
        return super::shared::start(schedule, runtime, stop, in_flight);
    }
    tokio::spawn(async move {
        let running = Arc::new(AtomicBool::new(false));
        let mut first = true;
        loop {
            let delay = schedule.next_delay(first);
            first = false;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => break,
            }
            if !schedule.allow_overlap && running.swap(true, Ordering::SeqCst) {
                runtime.metrics().skipped_tick(&schedule.flow);
                tracing::warn!(flow = %schedule.flow, "scheduler tick skipped: the previous run is still going");
                continue;
            }
            let (runtime, running, flow) = (runtime.clone(), running.clone(), schedule.flow.clone());
            let working = Working::start(&in_flight);
            tokio::spawn(async move {
                let _working = working;
                let _ = runtime.run_flow(&flow, super::fire_event(chrono::Utc::now())).await;
                running.store(false, Ordering::SeqCst);
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap()
    }

    fn every(every_ms: u64, start_ms: u64) -> Schedule {
        let timing = Timing::Every(Duration::from_millis(every_ms), Duration::from_millis(start_ms));
        Schedule { flow: "f".to_string(), timing, allow_overlap: false }
    }

    #[test]
    fn frequency_ticks_are_multiples_of_the_frequency_since_the_epoch_shifted_by_the_start_delay() {
        let schedule = every(1_000, 0);
        assert_eq!(schedule.next_tick(at(1_700_000_000_400)), at(1_700_000_001_000));
        assert_eq!(schedule.next_tick(at(1_700_000_001_000)), at(1_700_000_002_000), "strictly after");
        let shifted = every(60_000, 90_000);
        assert_eq!(shifted.next_tick(at(1_700_000_000_000)), at(1_700_000_010_000), "offset 30 s");
    }

    #[test]
    fn cron_ticks_are_its_occurrences_in_its_time_zone() {
        let timing = Timing::Cron(Box::new(super::super::parse_cron("0 10 * * *").unwrap()), chrono_tz::Europe::Paris);
        let schedule = Schedule { flow: "f".to_string(), timing, allow_overlap: false };
        // 2023-11-14 09:00 UTC is 10:00 in Paris (UTC+1 in November).
        let now = DateTime::parse_from_rfc3339("2023-11-14T08:00:00Z").unwrap().with_timezone(&Utc);
        let expected = DateTime::parse_from_rfc3339("2023-11-14T09:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(schedule.next_tick(now), expected);
    }
}
