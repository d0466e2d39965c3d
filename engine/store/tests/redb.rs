//! The behaviour suite on the redb backend, each test in a fresh temporary state directory.

mod behaviour;

use relais_store::RedbStore;
use std::ops::Deref;

/// A store and the directory that holds it, removed when the test ends.
struct Fixture {
    store: RedbStore,
    _dir: tempfile::TempDir,
}

impl Deref for Fixture {
    type Target = RedbStore;
    fn deref(&self) -> &RedbStore {
        &self.store
    }
}

#[allow(clippy::unwrap_used)] // Part of every test: a failure to set up is a failed test.
fn fresh() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Fixture { store: RedbStore::open(dir.path()).unwrap(), _dir: dir }
}

behaviour_suite!(fresh(), stream_keys: 500);
