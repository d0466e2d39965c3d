//! The clock `now()` and the calendar functions read.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// Where the date functions read the current time.
///
/// A `Clock` is a cheap shared handle: clones see the same setting, so the engine can keep one and fix the time
/// for flow tests after the Rhai engine was built ([`Clock::set_fixed`]).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    fixed: Arc<RwLock<Option<DateTime<Utc>>>>,
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

    /// Stops this clock (and all its clones) at `now`, or lets it follow the system time again with `None`.
    pub fn set_fixed(&self, now: Option<DateTime<Utc>>) {
        // A poisoned lock only means a writer panicked; the stored value is still a plain Option.
        let mut guard = self.fixed.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = now;
    }

    /// The current time: the fixed time if one is set, else the system time.
    pub fn now(&self) -> DateTime<Utc> {
        let fixed = *self.fixed.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        fixed.unwrap_or_else(system_now)
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
}
