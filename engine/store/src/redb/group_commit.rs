//! Group commit: changes that arrive while a commit is being fsynced share the next transaction and its one
//! fsync, so that the disk's fsync rate bounds groups of changes rather than each change.
//!
//! Every change still runs its own closure, on its own thread, inside the shared write transaction (redb
//! allows one writer at a time, so closures run one after the other under the group's lock). The last
//! change of a wave to join commits the group; the others wait for that commit. A change returns only once
//! its group is durably committed, so the fsync policy is unchanged: what a call reports done is on disk.
//! A lone change commits at once, with no added wait.
//!
//! A change whose closure fails may have written part of its work into the shared transaction, so its
//! whole group is aborted: the failing change gets its own error, the others `StoreError::Storage` naming
//! it. Closures only fail on storage errors and damaged records, which fail other changes anyway.

use super::{Change, During};
use crate::error::StoreError;
use ::redb::{Database, Durability, WriteTransaction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// What happened to a group: committed (or aborted for having no change), or failed with a reason.
type Outcome = Arc<OnceLock<Result<(), String>>>;

/// The transaction being filled, and where its members learn how it ended.
struct Open {
    tx: WriteTransaction,
    /// Changes that ran their closure in this transaction.
    members: u64,
    changed: bool,
    failed: Option<String>,
    outcome: Outcome,
}

#[derive(Default)]
struct State {
    open: Option<Open>,
    /// Changes that have announced themselves and not yet run their closure.
    arriving: usize,
    /// A group is being committed (outside the lock); new changes wait for it to end.
    committing: bool,
}

/// The group-commit writer of one database.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<State>,
    changed: Condvar,
    /// Groups committed durably (one fsync each), which the tests compare with the changes made.
    commits: AtomicU64,
    /// Changes in the groups counted in `commits`.
    changes: AtomicU64,
    /// Time spent in those groups' commits (writing their pages and the fsync), in nanoseconds.
    committing_nanos: AtomicU64,
}

/// What the durable commits of a store cost so far: how many changes shared each fsync and how long a commit
/// took, which is what decides whether the disk or the callers bound a queue's throughput.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Durable commits (one fsync each).
    pub commits: u64,
    /// Changes (enqueues, leases, acks, puts...) those commits held.
    pub changes: u64,
    /// Time spent committing them: writing their pages and waiting for the fsync.
    pub committing: Duration,
}

impl GroupCommit {
    /// Groups committed durably so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The commits so far, their changes and the time they took.
    pub(super) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            committing: Duration::from_nanos(self.committing_nanos.load(Ordering::Relaxed)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Closures run under this lock; a panic in one leaves at worst an open group that is aborted when
        // the transaction is dropped, so the state is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in the current group's transaction and returns its value once the group is durably
    /// committed (or aborted, when no change of the group changed anything).
    pub(super) fn write<T>(
        &self,
        db: &Database,
        operation: &'static str,
        f: impl FnOnce(&WriteTransaction) -> Result<(T, Change), StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        state.arriving += 1;
        while state.committing {
            state = self.wait(state);
        }
        // The group's transaction is held here while `f` runs (under the lock, so nobody else needs it), and
        // put back for the next member, or committed by the last one.
        let mut group = match state.open.take() {
            Some(group) => group,
            None => match begin(db, operation) {
                Ok(tx) => Open { tx, members: 0, changed: false, failed: None, outcome: Arc::default() },
                Err(e) => {
                    state.arriving -= 1;
                    self.changed.notify_all();
                    return Err(e);
                }
            },
        };
        state.arriving -= 1;
        let result = f(&group.tx);
        group.members += 1;
        match &result {
            Ok((_, Change::Commit)) => group.changed = true,
            Ok((_, Change::Abort)) => {}
            Err(e) => group.failed = Some(format!("{operation} failed: {e}")),
        }
        let outcome = group.outcome.clone();
        if state.arriving == 0 {
            state.committing = true;
            drop(state);
            let started = Instant::now();
            let ended = finish(group.tx, group.changed, group.failed, operation);
            if ended.is_ok() && group.changed {
                let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.committing_nanos.fetch_add(took, Ordering::Relaxed);
                self.changes.fetch_add(group.members, Ordering::Relaxed);
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
            let _ = outcome.set(ended);
            self.lock().committing = false;
            self.changed.notify_all();
        } else {
            state.open = Some(group);
            while outcome.get().is_none() {
                state = self.wait(state);
            }
            drop(state);
        }
        let (value, _) = result?;
        match outcome.get() {
            Some(Ok(())) => Ok(value),
            Some(Err(why)) => Err(StoreError::storage(operation, why.clone())),
            None => Err(StoreError::storage(operation, "its group ended without an outcome")),
        }
    }
}

/// A write transaction with the durability the crate's fsync policy rests on (redb's default, set anyway).
fn begin(db: &Database, operation: &'static str) -> Result<WriteTransaction, StoreError> {
    let mut tx = db.begin_write().during(operation)?;
    tx.set_durability(Durability::Immediate).during(operation)?;
    Ok(tx)
}

/// Commits a group (aborts it when nothing changed or a member failed).
fn finish(tx: WriteTransaction, changed: bool, failed: Option<String>, operation: &'static str) -> Result<(), String> {
    if let Some(why) = failed {
        let _ = tx.abort();
        return Err(format!("a change committed with this one failed ({why}); nothing of the group was written"));
    }
    let done = if changed { tx.commit().during(operation) } else { tx.abort().during(operation) };
    done.map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ::redb::{ReadableDatabase, TableDefinition};

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn insert(group: &GroupCommit, db: &Database, key: u64) -> Result<(), StoreError> {
        group.write(db, "inserting", |tx| {
            tx.open_table(T).during("inserting")?.insert(key, key * 2).during("inserting")?;
            Ok(((), Change::Commit))
        })
    }

    #[test]
    fn concurrent_changes_share_commits_and_every_one_is_on_disk_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.redb");
        let db = Database::create(&path).unwrap();
        let group = GroupCommit::default();
        let (threads, each) = (8u64, 50u64);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (group, db) = (&group, &db);
                scope.spawn(move || {
                    for i in 0..each {
                        insert(group, db, t * 1_000 + i).unwrap();
                    }
                });
            }
        });
        let commits = group.commits();
        let stats = group.stats();
        assert_eq!(stats.commits, commits);
        assert_eq!(stats.changes, threads * each, "every change is counted in the commit that held it");
        assert!(stats.committing > Duration::ZERO, "the commits took some time");
        assert!(
            commits < threads * each,
            "{commits} commits for {} changes: no change shared a commit",
            threads * each
        );
        drop(db);
        let db = Database::open(&path).unwrap();
        let table = db.begin_read().unwrap().open_table(T).unwrap();
        for t in 0..threads {
            for i in 0..each {
                let key = t * 1_000 + i;
                assert_eq!(table.get(key).unwrap().map(|v| v.value()), Some(key * 2), "{key} lost");
            }
        }
    }

    #[test]
    fn a_failing_change_leaves_nothing_behind_and_the_next_change_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("g.redb")).unwrap();
        let group = GroupCommit::default();
        let failed: Result<(), StoreError> = group.write(&db, "inserting", |tx| {
            tx.open_table(T).during("inserting")?.insert(1, 1).during("inserting")?;
            Err(StoreError::storage("inserting", "the disk is full"))
        });
        assert!(failed.unwrap_err().to_string().contains("the disk is full"));
        insert(&group, &db, 2).unwrap();
        let table = db.begin_read().unwrap().open_table(T).unwrap();
        assert_eq!(table.get(1).unwrap().map(|v| v.value()), None, "the failed change was rolled back");
        assert_eq!(table.get(2).unwrap().map(|v| v.value()), Some(4));
        assert_eq!(group.commits(), 1);
    }

    #[test]
    fn a_group_with_a_failed_member_is_aborted_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("g.redb")).unwrap();
        let mut tx = db.begin_write().unwrap();
        tx.set_durability(Durability::Immediate).unwrap();
        tx.open_table(T).unwrap().insert(7, 7).unwrap();
        let ended = finish(tx, true, Some("reading a message failed".into()), "inserting");
        assert!(ended.unwrap_err().contains("reading a message failed"));
        let table = db.begin_read().unwrap().open_table(T);
        assert!(table.is_err() || table.unwrap().get(7).unwrap().is_none());
    }
}
