//! Instants as the store sees them: milliseconds since the Unix epoch, always passed in by the caller.
//!
//! The store never reads a clock. Every call that depends on time takes `now`, so tests move time forward by
//! hand and replicas that share a backend agree on what "expired" means as far as their clocks agree.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in milliseconds since the Unix epoch.
///
/// Milliseconds because that is the finest resolution any TTL, visibility timeout or lease in relais is written
/// in, and a `u64` of them is a fixed-width key that sorts by time in redb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch itself; handy as a starting point in tests.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch, as stored.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Converts a wall-clock time; instants before 1970 become the epoch (no relais state predates it).
    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = time.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        Timestamp(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// The wall-clock time this instant stands for.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// This instant plus `duration`, saturating at the end of time rather than overflowing: a TTL of
    /// `Duration::MAX` means "never expires in practice", not a panic.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Timestamp::from_system_time(time)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_time_round_trips_at_millisecond_resolution() {
        let time = UNIX_EPOCH + Duration::from_millis(1_722_000_000_123);
        assert_eq!(Timestamp::from(time).to_system_time(), time);
    }

    #[test]
    fn times_before_the_epoch_become_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(Timestamp::from(before), Timestamp::EPOCH);
    }

    #[test]
    fn adding_a_huge_duration_saturates_instead_of_overflowing() {
        assert_eq!(Timestamp::from_millis(10).saturating_add(Duration::MAX).as_millis(), u64::MAX);
    }
}
