//! Idempotency claims: how `idempotent` takes a key, and how the block that took it confirms the key when
//! the block completes or releases it when the block fails.
//!
//! A key is in one of three states in its object store:
//! - absent (or expired): no event processed the message, or its mark ran out;
//! - pending, `{"pending": PROCESS, "since": MILLIS}` with the TTL `claim_timeout`: an event of process
//!   `PROCESS` is running the steps the key guards;
//! - done, `true` with the step's `ttl`: an event completed those steps.
//!
//! The steps a key guards are the rest of the block (step list) holding the `idempotent` step: the flow's
//! steps, a `try` body, a `foreach` or `parallel_foreach` body, a route. So a key is done exactly when the
//! work it guards is, and a failure anywhere before that (caught by a handler or not, retried or not) frees
//! it for the next delivery.
//!
//! A `kill -9` leaves a key pending. Its claim lapses after `claim_timeout`; and when the state store is
//! exclusive to one process (the embedded backend), a pending claim of another process id can only be the
//! orphan of a crash, so the next event with that key takes it over at once.

use super::object_store::ObjectStore;
use serde_json::{json, Value as Json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
// tokio's clock: the system one, except in a flow test, where a claim lapses on the case's virtual time.
use tokio::time::Instant;

/// How long a key stays pending when the step sets no `claim_timeout`.
pub const DEFAULT_CLAIM_TIMEOUT: Duration = Duration::from_secs(300);

/// Attempts at taking a key whose entry keeps changing under us (expiring, released) before giving up
/// with "in progress".
const CONTENDED_ATTEMPTS: usize = 3;

/// An idempotency key an event holds pending, in the store it was claimed in.
#[derive(Clone)]
pub struct Claim {
    store: Arc<ObjectStore>,
    key: String,
    /// The pending entry as written: confirming or releasing acts only while the entry is still this one.
    pending: Json,
    /// The `ttl` of the done mark.
    ttl: Option<Duration>,
    /// When the claim was taken, and for how long it holds.
    taken: Instant,
    claim_timeout: Duration,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Claim({})", self.key)
    }
}

/// What trying to claim a key found.
#[derive(Debug)]
pub enum Outcome {
    /// The key is ours until the block completes or fails; `true` when it was taken over from a process
    /// that stopped while holding it, so the guarded steps may have partly run before.
    Claimed(Claim, bool),
    /// An event completed the guarded steps for this key already.
    Duplicate,
    /// Another event is running the guarded steps for this key now.
    InProgress,
}

/// This process's id in pending claims (and scheduler tick claims): random per process start.
pub fn process_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(crate::event::new_correlation_id)
}

impl Claim {
    /// Tries to claim `key` in `store`: pending for `claim_timeout`, then (once confirmed) done for `ttl`.
    pub fn take(
        store: &Arc<ObjectStore>,
        key: String,
        ttl: Option<Duration>,
        claim_timeout: Duration,
    ) -> Result<Outcome, String> {
        let pending = json!({ "pending": process_id(), "since": super::now().as_millis() });
        for _ in 0..CONTENDED_ATTEMPTS {
            if store.put_if_absent(&key, pending.clone(), Some(claim_timeout))? {
                let claim = Claim { store: store.clone(), key, pending, ttl, taken: Instant::now(), claim_timeout };
                return Ok(Outcome::Claimed(claim, false));
            }
            let Some(current) = store.get(&key)? else { continue };
            match current.get("pending").and_then(Json::as_str) {
                None => return Ok(Outcome::Duplicate),
                Some(owner) if owner != process_id() && store.is_exclusive() => {
                    if store.compare_and_set(&key, &current, Some(pending.clone()), Some(claim_timeout))? {
                        tracing::warn!(
                            "idempotency key `{key}` was left pending by a process that stopped while running the \
                             steps it guards; taking it over, so those steps run again"
                        );
                        let claim =
                            Claim { store: store.clone(), key, pending, ttl, taken: Instant::now(), claim_timeout };
                        return Ok(Outcome::Claimed(claim, true));
                    }
                }
                Some(_) => return Ok(Outcome::InProgress),
            }
        }
        Ok(Outcome::InProgress)
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Marks the key done: the guarded steps completed. Only while the claim is still the one taken: a key
    /// the steps removed themselves (`object_store.remove`) stays removed, and one whose claim lapsed and
    /// changed hands is left to its new holder (with a warning: the timeout is shorter than the steps).
    pub fn confirm(&self) -> Result<(), String> {
        if self.store.compare_and_set(&self.key, &self.pending, Some(Json::Bool(true)), self.ttl)? {
            return Ok(());
        }
        if self.taken.elapsed() >= self.claim_timeout {
            tracing::warn!(
                "the claim on idempotency key `{}` lapsed before its steps completed ({:?} > claim_timeout {:?}); \
                 raise the step's `claim_timeout` above their longest run",
                self.key,
                self.taken.elapsed(),
                self.claim_timeout
            );
        }
        Ok(())
    }

    /// Frees the key for the next delivery: the guarded steps failed. A claim that lapsed and changed
    /// hands is left to its new holder.
    pub fn release(&self) -> Result<(), String> {
        self.store.compare_and_set(&self.key, &self.pending, None, None).map(|_| ())
    }
}

/// The claims a running step list made, held so that they are released if the list's future is dropped
/// before the list completes or fails: an event cancelled mid-flow (a listener's `request_timeout`, a client
/// gone, a shutdown) must not leave its keys pending until `claim_timeout`. The list disarms it when it
/// confirms or releases its claims itself.
#[derive(Default)]
pub(crate) struct Unfinished {
    claims: Vec<Claim>,
}

impl Unfinished {
    /// Follows the claims the list holds now (`made`: those past the ones it started with). Claims of a list
    /// only grow while it runs (inner lists settle theirs before they return), so only new ones are copied.
    pub(crate) fn follow(&mut self, made: &[Claim]) {
        if made.len() > self.claims.len() {
            self.claims.extend_from_slice(&made[self.claims.len()..]);
        }
    }

    /// The list settles its claims itself.
    pub(crate) fn disarm(&mut self) {
        self.claims.clear();
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        for claim in self.claims.drain(..) {
            claim.release_abandoned();
        }
    }
}

impl Claim {
    /// Releases the claim of a cancelled event from a destructor: at once for an in-memory store; for a
    /// durable one (an fsync) on tokio's blocking pool when a runtime is there, so that no async worker
    /// waits on the disk inside a drop. A release that cannot run (the runtime is shutting down) leaves the
    /// key pending, and it frees itself as any orphan does (claim timeout, or take-over on an exclusive
    /// store).
    fn release_abandoned(self) {
        let durable = self.store.is_durable();
        let release = move || {
            if let Err(why) = self.release() {
                tracing::error!(
                    "cannot release idempotency key `{}` of a cancelled event: {why}; it frees itself after its \
                     claim timeout",
                    self.key
                );
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if durable => {
                handle.spawn_blocking(release);
            }
            _ => release(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relais_store::StateStore;

    fn durable() -> (Arc<dyn StateStore>, Arc<ObjectStore>) {
        let state: Arc<dyn StateStore> = Arc::new(relais_store::MemoryStore::new());
        let store = Arc::new(ObjectStore::durable(state.clone(), "seen", None));
        (state, store)
    }

    fn take(store: &Arc<ObjectStore>, key: &str) -> Outcome {
        Claim::take(store, key.to_string(), None, DEFAULT_CLAIM_TIMEOUT).unwrap()
    }

    #[test]
    fn a_pending_key_is_in_progress_and_a_confirmed_one_a_duplicate() {
        let (_, store) = durable();
        let Outcome::Claimed(claim, false) = take(&store, "k") else { panic!("the first claim must win") };
        assert!(matches!(take(&store, "k"), Outcome::InProgress));
        claim.confirm().unwrap();
        assert!(matches!(take(&store, "k"), Outcome::Duplicate));
        assert_eq!(store.get("k").unwrap(), Some(Json::Bool(true)));
    }

    #[test]
    fn a_released_key_can_be_claimed_again() {
        let (_, store) = durable();
        let Outcome::Claimed(claim, false) = take(&store, "k") else { panic!("the first claim must win") };
        claim.release().unwrap();
        assert!(matches!(take(&store, "k"), Outcome::Claimed(_, false)));
    }

    #[test]
    fn a_key_left_pending_by_another_process_is_taken_over_on_an_exclusive_store() {
        let (state, store) = durable();
        let orphan = json!({ "pending": "a-process-that-was-killed", "since": 1 });
        state.put("seen", "k", &orphan, None, crate::state::now()).unwrap();
        let Outcome::Claimed(claim, true) = take(&store, "k") else { panic!("the orphaned claim must be taken over") };
        claim.confirm().unwrap();
        assert!(matches!(take(&store, "k"), Outcome::Duplicate));
    }

    #[test]
    fn a_key_the_steps_removed_stays_removed() {
        let (_, store) = durable();
        let Outcome::Claimed(claim, false) = take(&store, "k") else { panic!("the first claim must win") };
        store.remove("k").unwrap();
        claim.confirm().unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }

    #[test]
    fn a_lapsed_claim_that_changed_hands_is_left_to_its_new_holder() {
        let store = Arc::new(ObjectStore::memory(None));
        let Outcome::Claimed(first, _) = Claim::take(&store, "k".into(), None, Duration::from_millis(1)).unwrap()
        else {
            panic!("the first claim must win")
        };
        std::thread::sleep(Duration::from_millis(5));
        let Outcome::Claimed(second, _) = take(&store, "k") else { panic!("a lapsed claim frees the key") };
        first.release().unwrap();
        assert!(matches!(take(&store, "k"), Outcome::InProgress), "the second holder keeps the key");
        first.confirm().unwrap();
        assert!(matches!(take(&store, "k"), Outcome::InProgress), "still the second holder's");
        second.confirm().unwrap();
        assert!(matches!(take(&store, "k"), Outcome::Duplicate));
    }
}
