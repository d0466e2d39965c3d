//! The clock `now()` and the calendar functions read.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// How much time has passed since a clock's origin, as whoever owns the time counts it (flow tests: their
/// virtual clock).
type Elapsed = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Where the date functions read the current time.
///
/// A `Clock` is a cheap shared handle: clones see the same setting, so the engine can keep one and fix the time
/// for flow tests after the Rhai engine was built ([`Clock::set_fixed`]).
#[derive(Clone, Default)]
pub struct Clock {
    fixed: Arc<RwLock<Option<DateTime<Utc>>>>,
    /// When set, the unfixed time is this origin plus what the function says has elapsed, instead of the
    /// system time.
    follows: Option<(DateTime<Utc>, Elapsed)>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("fixed", &self.fixed)
            .field("follows_from", &self.follows.as_ref().map(|(origin, _)| origin))
            .finish()
    }
}

impl Clock {
    /// A clock that reads the system time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock stopped at `now`.
    pub fn fixed(now: DateTime<Utc>) -> Self {
        let clock = Self::default();
        clock.set_fixed(Some(now));
        clock
    }

    /// A clock that starts at `origin` and moves on by what `elapsed` says has passed since: a flow test's
    /// scripts read time that advances across a `time.delay` or a retry's backoff although the test's
    /// virtual clock spent no wall time on them.
    pub fn following(origin: DateTime<Utc>, elapsed: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        Clock { fixed: Arc::default(), follows: Some((origin, Arc::new(elapsed))) }
    }

    /// Stops this clock (and all its clones) at `now`, or lets it follow the system time (or what it
    /// follows, see [`Clock::following`]) again with `None`.
    pub fn set_fixed(&self, now: Option<DateTime<Utc>>) {
        // A poisoned lock only means a writer panicked; the stored value is still a plain Option.
        let mut guard = self.fixed.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = now;
    }

    /// The current time: the fixed time if one is set, else the followed time, else the system time.
    pub fn now(&self) -> DateTime<Utc> {
        let fixed = *self.fixed.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        fixed.unwrap_or_else(|| match &self.follows {
            Some((origin, elapsed)) => {
                let passed = chrono::Duration::from_std(elapsed()).unwrap_or(chrono::Duration::MAX);
                origin.checked_add_signed(passed).unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
            None => system_now(),
        })
    }
}

fn system_now() -> DateTime<Utc> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(secs, since_epoch.subsec_nanos()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn clones_of_a_clock_share_the_fixed_time() {
        let clock = Clock::system();
        let clone = clock.clone();
        let at = DateTime::from_timestamp(1_722_000_000, 0).unwrap_or_default();
        clock.set_fixed(Some(at));
        assert_eq!(clone.now(), at);
        clock.set_fixed(None);
        assert_ne!(clone.now(), at);
    }

    #[test]
    fn a_following_clock_moves_by_what_its_source_says_has_elapsed() {
        let passed = Arc::new(AtomicU64::new(0));
        let source = passed.clone();
        let origin = DateTime::from_timestamp(1_722_000_000, 0).unwrap_or_default();
        let clock = Clock::following(origin, move || Duration::from_secs(source.load(Ordering::SeqCst)));
        assert_eq!(clock.now(), origin);
        passed.store(3600, Ordering::SeqCst);
        assert_eq!(clock.now(), origin + chrono::Duration::hours(1));
        let at = DateTime::from_timestamp(1_000_000_000, 0).unwrap_or_default();
        clock.set_fixed(Some(at));
        assert_eq!(clock.now(), at, "a fixed time wins over the followed one");
    }
}
