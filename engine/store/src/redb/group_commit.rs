//! Group commit by a dedicated writer: one thread owns redb's write transactions. Callers hand it their change
//! (an owned closure) and wait; it takes every change waiting, runs them one after the other in one write
//! transaction, commits it (one fsync) and answers them all. While it commits, new changes queue up, and they
//! form the next group: the disk's fsync rate bounds groups, not changes.
//!
//! Why a thread rather than callers taking turns on a lock (the earlier design): when each change ran on its
//! caller's thread, every member of a group had to be woken and scheduled in turn, inside the group, before it
//! could commit; with many concurrent callers those wake-ups dominated (on the 2-core machine it was measured
//! on, 256 publishers made commits slower than 64 did). The writer runs a group's changes back to back on one
//! thread; callers are woken after the commit, in parallel, off the critical path.
//!
//! A change returns only once its group is durably committed, so the fsync policy is unchanged: what a call
//! reports done is on disk. A lone change commits at once, with no added wait. A change whose closure fails
//! may have written part of its work into the shared transaction, so its whole group is aborted: the failing
//! change gets its own error, the others `StoreError::Storage` naming it. Closures only fail on storage errors
//! and damaged records, which fail other changes anyway.

use super::{Change, During};
use crate::error::StoreError;
use ::redb::{Database, Durability, WriteTransaction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The most changes one transaction takes: bounds the work (and the memory) of one commit.
const MAX_GROUP: usize = 1024;

/// What a change did in the group's transaction: whether it changed anything (or why it failed), and how to
/// answer its caller once the group ended.
struct Ran {
    change: Result<Change, String>,
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

/// A change as the writer receives it: run in the group's transaction (or told that none could be begun).
type Job = Box<dyn FnOnce(Result<&WriteTransaction, &str>) -> Ran + Send>;

/// The dedicated writer of one database.
pub(super) struct GroupCommit {
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Groups committed durably (one fsync each), which the tests and benchmarks compare with the changes.
    commits: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the writer of `db`.
    pub(super) fn start(db: Arc<Database>) -> Result<GroupCommit, StoreError> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        let thread = std::thread::Builder::new()
            .name("relais-state-writer".to_string())
            .spawn(move || run(&db, &receiver, &counted))
            .map_err(|e| StoreError::storage("starting the state writer", e))?;
        Ok(GroupCommit { jobs: Mutex::new(Some(sender)), thread: Mutex::new(Some(thread)), commits })
    }

    /// Groups committed durably so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `f` in the next group's transaction and returns its value once the group is durably committed
    /// (or aborted, when no change of the group changed anything).
    pub(super) fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&WriteTransaction) -> Result<(T, Change), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel::<Result<T, StoreError>>(1);
        let job: Job = Box::new(move |tx| {
            let result = match tx {
                Ok(tx) => f(tx),
                Err(why) => Err(StoreError::storage(operation, why.to_string())),
            };
            match result {
                Ok((value, change)) => Ran {
                    change: Ok(change),
                    answer: Box::new(move |ended| {
                        let outcome = ended.map(|()| value).map_err(|why| StoreError::storage(operation, why));
                        let _ = reply.send(outcome);
                    }),
                },
                Err(e) => Ran {
                    change: Err(format!("{operation} failed: {e}")),
                    answer: Box::new(move |_| {
                        let _ = reply.send(Err(e));
                    }),
                },
            }
        });
        let sent = match &*self.jobs.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::storage(operation, "the state writer has stopped"));
        }
        answer
            .recv()
            .unwrap_or_else(|_| Err(StoreError::storage(operation, "the state writer stopped before answering")))
    }

    /// Stops the writer once the changes already handed to it are done, and waits for it: after this the
    /// writer holds no reference to the database.
    pub(super) fn stop(&self) {
        drop(self.jobs.lock().unwrap_or_else(PoisonError::into_inner).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() {
            // A writer that panicked has nothing left to clean up; its callers were answered with an error.
            let _ = thread.join();
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer's loop: a group per turn until every sender is gone.
fn run(db: &Database, jobs: &Receiver<Job>, commits: &AtomicU64) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let tx = match begin(db) {
            Ok(tx) => tx,
            Err(e) => {
                let why = e.to_string();
                for job in group {
                    let ran = job(Err(&why));
                    (ran.answer)(Err(why.clone()));
                }
                continue;
            }
        };
        let mut changed = false;
        let mut failed = None;
        let mut answers = Vec::with_capacity(group.len());
        for job in group {
            let ran = job(Ok(&tx));
            match &ran.change {
                Ok(Change::Commit) => changed = true,
                Ok(Change::Abort) => {}
                Err(why) => failed = failed.or_else(|| Some(why.clone())),
            }
            answers.push(ran.answer);
        }
        let ended = finish(tx, changed, failed);
        if ended.is_ok() && changed {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        for answer in answers {
            answer(ended.clone());
        }
    }
}

/// A write transaction with the durability the crate's fsync policy rests on (redb's default, set anyway).
fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    const BEGIN: &str = "beginning a write transaction";
    let mut tx = db.begin_write().during(BEGIN)?;
    tx.set_durability(Durability::Immediate).during(BEGIN)?;
    Ok(tx)
}

/// Commits a group (aborts it when nothing changed or a member failed).
fn finish(tx: WriteTransaction, changed: bool, failed: Option<String>) -> Result<(), String> {
    const COMMIT: &str = "committing a group of changes";
    if let Some(why) = failed {
        let _ = tx.abort();
        return Err(format!("a change committed with this one failed ({why}); nothing of the group was written"));
    }
    let done = if changed { tx.commit().during(COMMIT) } else { tx.abort().during(COMMIT) };
    done.map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ::redb::{ReadableDatabase, TableDefinition};

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn insert(group: &GroupCommit, key: u64) -> Result<(), StoreError> {
        group.write("inserting", move |tx| {
            tx.open_table(T).during("inserting")?.insert(key, key * 2).during("inserting")?;
            Ok(((), Change::Commit))
        })
    }

    #[test]
    fn concurrent_changes_share_commits_and_every_one_is_on_disk_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        let group = GroupCommit::start(db.clone()).unwrap();
        let (threads, each) = (8u64, 50u64);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let group = &group;
                scope.spawn(move || {
                    for i in 0..each {
                        insert(group, t * 1_000 + i).unwrap();
                    }
                });
            }
        });
        let commits = group.commits();
        assert!(
            commits < threads * each,
            "{commits} commits for {} changes: no change shared a commit",
            threads * each
        );
        group.stop();
        drop(Arc::into_inner(db).unwrap());
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
        let db = Arc::new(Database::create(dir.path().join("g.redb")).unwrap());
        let group = GroupCommit::start(db.clone()).unwrap();
        let failed: Result<(), StoreError> = group.write("inserting", |tx| {
            tx.open_table(T).during("inserting")?.insert(1, 1).during("inserting")?;
            Err(StoreError::storage("inserting", "the disk is full"))
        });
        assert!(failed.unwrap_err().to_string().contains("the disk is full"));
        insert(&group, 2).unwrap();
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
        let ended = finish(tx, true, Some("reading a message failed".into()));
        assert!(ended.unwrap_err().contains("reading a message failed"));
        let table = db.begin_read().unwrap().open_table(T);
        assert!(table.is_err() || table.unwrap().get(7).unwrap().is_none());
    }

    #[test]
    fn a_stopped_writer_refuses_changes_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let group = GroupCommit::start(Arc::new(Database::create(dir.path().join("g.redb")).unwrap())).unwrap();
        group.stop();
        assert!(insert(&group, 1).unwrap_err().to_string().contains("stopped"));
    }
}
