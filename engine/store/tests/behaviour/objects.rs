//! Object entries with TTL, and `put_if_absent` as the idempotency claim.

use super::{at, ms, T0};
use relais_store::StateStore;
use serde_json::json;

pub fn an_entry_is_visible_until_its_ttl_and_gone_from_then_on(store: &dyn StateStore) {
    store.put("tokens", "crm", &json!({"token": "abc"}), Some(ms(1_000)), T0).unwrap();
    assert_eq!(store.get("tokens", "crm", T0).unwrap(), Some(json!({"token": "abc"})));
    assert_eq!(store.get("tokens", "crm", at(999)).unwrap(), Some(json!({"token": "abc"})));
    assert_eq!(store.get("tokens", "crm", at(1_000)).unwrap(), None);
    assert_eq!(store.get("tokens", "crm", at(50_000)).unwrap(), None);
}

pub fn an_entry_without_a_ttl_never_expires(store: &dyn StateStore) {
    store.put("s", "k", &json!(1), None, T0).unwrap();
    assert_eq!(store.get("s", "k", at(u64::MAX / 2)).unwrap(), Some(json!(1)));
}

pub fn put_replaces_the_value_and_the_ttl(store: &dyn StateStore) {
    store.put("s", "k", &json!("old"), Some(ms(100)), T0).unwrap();
    store.put("s", "k", &json!("new"), None, at(50)).unwrap();
    assert_eq!(store.get("s", "k", at(200)).unwrap(), Some(json!("new")));
    // The old expiry is forgotten: a sweep past it must not delete the new value.
    store.sweep_expired(at(200)).unwrap();
    assert_eq!(store.get("s", "k", at(200)).unwrap(), Some(json!("new")));

    store.put("s", "k", &json!("short"), Some(ms(10)), at(300)).unwrap();
    assert_eq!(store.get("s", "k", at(310)).unwrap(), None);
}

pub fn store_names_keep_keys_apart(store: &dyn StateStore) {
    store.put("a", "k", &json!("in a"), None, T0).unwrap();
    store.put("b", "k", &json!("in b"), None, T0).unwrap();
    assert_eq!(store.get("a", "k", T0).unwrap(), Some(json!("in a")));
    assert_eq!(store.get("b", "k", T0).unwrap(), Some(json!("in b")));
    assert!(store.remove("a", "k", T0).unwrap());
    assert_eq!(store.get("b", "k", T0).unwrap(), Some(json!("in b")));
    assert_eq!(store.get("c", "k", T0).unwrap(), None);
}

pub fn put_if_absent_claims_a_key_only_once(store: &dyn StateStore) {
    assert!(store.put_if_absent("idem", "order-1", &json!(true), Some(ms(60_000)), T0).unwrap());
    assert!(!store.put_if_absent("idem", "order-1", &json!("other"), Some(ms(60_000)), at(1)).unwrap());
    assert_eq!(store.get("idem", "order-1", at(2)).unwrap(), Some(json!(true)), "a failed claim changes nothing");
    assert!(store.put_if_absent("idem", "order-2", &json!(true), None, at(3)).unwrap());
}

pub fn an_expired_key_can_be_claimed_again(store: &dyn StateStore) {
    assert!(store.put_if_absent("idem", "k", &json!(1), Some(ms(100)), T0).unwrap());
    assert!(!store.put_if_absent("idem", "k", &json!(2), Some(ms(100)), at(99)).unwrap());
    // Expired but not swept: still claimable, and the new claim gets its own TTL.
    assert!(store.put_if_absent("idem", "k", &json!(3), Some(ms(100)), at(100)).unwrap());
    assert_eq!(store.get("idem", "k", at(150)).unwrap(), Some(json!(3)));
    assert!(!store.put_if_absent("idem", "k", &json!(4), Some(ms(100)), at(199)).unwrap());
    // The sweep removes the second claim only once it has expired too.
    assert_eq!(store.sweep_expired(at(150)).unwrap(), 0);
    assert_eq!(store.sweep_expired(at(200)).unwrap(), 1);
}

pub fn remove_reports_whether_a_live_entry_was_removed(store: &dyn StateStore) {
    store.put("s", "live", &json!(1), None, T0).unwrap();
    store.put("s", "expired", &json!(1), Some(ms(5)), T0).unwrap();
    assert!(store.remove("s", "live", T0).unwrap());
    assert!(!store.remove("s", "live", T0).unwrap());
    assert!(!store.remove("s", "expired", at(5)).unwrap());
    assert!(!store.remove("s", "never", T0).unwrap());
    assert_eq!(store.sweep_expired(at(10)).unwrap(), 0, "the expired entry was removed, not left for the sweep");
}

pub fn a_sweep_deletes_exactly_the_expired_entries(store: &dyn StateStore) {
    for i in 0..10u64 {
        store.put("s", &format!("k{i}"), &json!(i), Some(ms(100 * (i + 1))), T0).unwrap();
    }
    store.put("other", "forever", &json!("x"), None, T0).unwrap();
    assert_eq!(store.sweep_expired(at(99)).unwrap(), 0);
    assert_eq!(store.sweep_expired(at(300)).unwrap(), 3);
    assert_eq!(store.sweep_expired(at(300)).unwrap(), 0);
    assert_eq!(store.get("s", "k3", at(300)).unwrap(), Some(json!(3)));
    assert_eq!(store.sweep_expired(at(10_000)).unwrap(), 7);
    assert_eq!(store.get("other", "forever", at(10_000)).unwrap(), Some(json!("x")));
}

pub fn compare_and_set_changes_a_value_only_while_it_is_the_expected_one(store: &dyn StateStore) {
    store.put("idem", "k", &json!({"pending": "boot-1"}), Some(ms(1_000)), T0).unwrap();
    assert!(!store.compare_and_set("idem", "k", &json!(true), Some(&json!(false)), None, T0).unwrap());
    assert!(store.compare_and_set("idem", "k", &json!({"pending": "boot-1"}), Some(&json!(true)), None, T0).unwrap());
    assert_eq!(store.get("idem", "k", at(5_000)).unwrap(), Some(json!(true)), "the new value takes the new TTL");
    assert!(!store.compare_and_set("idem", "k", &json!({"pending": "boot-1"}), None, None, T0).unwrap());
    assert!(store.compare_and_set("idem", "k", &json!(true), None, None, T0).unwrap());
    assert_eq!(store.get("idem", "k", T0).unwrap(), None, "a `None` value removes the entry");
    assert!(store.put_if_absent("idem", "k", &json!(1), None, T0).unwrap());
}

pub fn compare_and_set_never_matches_an_absent_or_expired_entry(store: &dyn StateStore) {
    assert!(!store.compare_and_set("idem", "none", &json!(true), Some(&json!(1)), None, T0).unwrap());
    assert_eq!(store.get("idem", "none", T0).unwrap(), None);
    store.put("idem", "old", &json!(true), Some(ms(10)), T0).unwrap();
    assert!(!store.compare_and_set("idem", "old", &json!(true), Some(&json!(2)), None, at(10)).unwrap());
    assert_eq!(store.get("idem", "old", at(10)).unwrap(), None);
}

/// A stream of new keys with a short TTL, one per millisecond, and no sweep ever called: the entries the
/// store holds stay about the live ones (`ttl` worth of keys), not every key ever written.
pub fn expired_entries_stay_bounded_under_a_stream_of_new_keys(store: &dyn StateStore, keys: u64) {
    const TTL_MS: u64 = 50;
    for i in 0..keys {
        store.put("seen", &format!("key-{i}"), &json!(true), Some(ms(TTL_MS)), at(i)).unwrap();
    }
    let held = store.object_entries().unwrap();
    assert!(held <= TTL_MS + 2, "{held} entries held after {keys} keys with a {TTL_MS} ms TTL");
    // Claims (put_if_absent) and confirmations (compare_and_set) sweep as they write too.
    for i in keys..2 * keys {
        let key = format!("claim-{i}");
        assert!(store.put_if_absent("idem", &key, &json!("pending"), Some(ms(TTL_MS)), at(i)).unwrap());
        assert!(store
            .compare_and_set("idem", &key, &json!("pending"), Some(&json!(true)), Some(ms(TTL_MS)), at(i))
            .unwrap());
    }
    let held = store.object_entries().unwrap();
    assert!(held <= TTL_MS + 2, "{held} entries held after {keys} claims with a {TTL_MS} ms TTL");
    assert_eq!(store.get("idem", &format!("claim-{}", 2 * keys - 1), at(2 * keys - 1)).unwrap(), Some(json!(true)));
}
