//! Scheduler leases: one holder at a time, renewal, release.

use super::{at, ms, T0};
use relais_store::StateStore;

pub fn a_lease_is_exclusive_until_it_expires(store: &dyn StateStore) {
    assert!(store.try_acquire_lease("sms-reminder", "replica-a", ms(10_000), T0).unwrap());
    assert!(!store.try_acquire_lease("sms-reminder", "replica-b", ms(10_000), at(9_999)).unwrap());
    assert!(store.try_acquire_lease("other-schedule", "replica-b", ms(10_000), T0).unwrap(), "per name");
    assert!(store.try_acquire_lease("sms-reminder", "replica-b", ms(10_000), at(10_000)).unwrap());
    assert!(!store.try_acquire_lease("sms-reminder", "replica-a", ms(10_000), at(10_001)).unwrap());
}

pub fn the_holder_renews_its_own_lease(store: &dyn StateStore) {
    assert!(store.try_acquire_lease("tick", "a", ms(1_000), T0).unwrap());
    assert!(store.try_acquire_lease("tick", "a", ms(1_000), at(900)).unwrap());
    assert!(!store.try_acquire_lease("tick", "b", ms(1_000), at(1_500)).unwrap(), "renewed until 1900");
    assert!(store.try_acquire_lease("tick", "b", ms(1_000), at(1_900)).unwrap());
}

pub fn release_frees_a_lease_only_for_its_holder(store: &dyn StateStore) {
    assert!(store.try_acquire_lease("tick", "a", ms(60_000), T0).unwrap());
    assert!(!store.release_lease("tick", "b").unwrap());
    assert!(!store.try_acquire_lease("tick", "b", ms(60_000), at(1)).unwrap());
    assert!(store.release_lease("tick", "a").unwrap());
    assert!(!store.release_lease("tick", "a").unwrap());
    assert!(store.try_acquire_lease("tick", "b", ms(60_000), at(2)).unwrap());
    assert!(!store.release_lease("never", "a").unwrap());
}
