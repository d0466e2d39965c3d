//! The virtual clock of a test case: a current-thread runtime whose time starts paused and jumps to the next
//! timer whenever nothing else can run (tokio's auto-advance), and the script clock that follows it.
//!
//! Every `time.delay`, retry backoff, redelivery delay, router or request timeout is a tokio timer, so on this
//! runtime it takes no wall time, yet timers still fire in the order of their deadlines: a route that would
//! take an hour under a one-second timeout still times out, a retry still runs each attempt. The clock does
//! not jump while a `spawn_blocking` task runs (tokio holds auto-advance back until it ends). Script budgets
//! stay on wall time: they bound real work, which virtual time does not shorten.

use relais_stdlib::Clock;

/// A runtime for one case: one thread (the caller's), paused time, I/O and timers enabled.
pub(super) fn case_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
}

/// The clock scripts read in a case: stopped at the case's `now` when it gives one, otherwise starting at the
/// system time and advancing with the case's virtual time, as it would across real delays. Built inside the
/// case's runtime (the virtual time is read from there).
pub(super) fn script_clock(now: Option<chrono::DateTime<chrono::Utc>>) -> Clock {
    match now {
        Some(now) => Clock::fixed(now),
        None => {
            let start = tokio::time::Instant::now();
            Clock::following(Clock::system().now(), move || start.elapsed())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    /// Runs `work` on its own thread, failing when it takes longer than a generous real-time deadline
    /// (the hour it waits on the virtual clock would never fit in it).
    fn within_real_patience<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(work());
        });
        finished.recv_timeout(Duration::from_secs(30)).expect("the work did not finish within 30 s of wall time")
    }

    #[test]
    fn an_hour_passes_on_a_case_runtime_and_the_script_clock_follows_it() {
        let moved = within_real_patience(|| {
            case_runtime().unwrap().block_on(async {
                let clock = script_clock(None);
                let before = clock.now();
                tokio::time::sleep(Duration::from_secs(3600)).await;
                clock.now() - before
            })
        });
        assert!(
            moved >= chrono::Duration::hours(1) && moved < chrono::Duration::hours(1) + chrono::Duration::seconds(1)
        );
    }

    #[test]
    fn a_timeout_shorter_than_the_work_still_fires_on_a_case_runtime() {
        let outcome = within_real_patience(|| {
            case_runtime().unwrap().block_on(async {
                tokio::time::timeout(Duration::from_secs(1), tokio::time::sleep(Duration::from_secs(3600))).await
            })
        });
        assert!(outcome.is_err(), "the hour-long sleep must lose to the one-second timeout");
    }

    #[test]
    fn a_fixed_script_clock_stays_where_the_case_put_it() {
        let at = chrono::DateTime::from_timestamp(1_722_000_000, 0).unwrap();
        let clock = case_runtime().unwrap().block_on(async {
            let clock = script_clock(Some(at));
            tokio::time::sleep(Duration::from_secs(60)).await;
            clock
        });
        assert_eq!(clock.now(), at);
    }
}
