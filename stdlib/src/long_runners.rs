//! The long-runner pool: how many long-running scripts may burn CPU at once, process-wide.
//!
//! A script starts on the async worker that runs its flow, under a small budget ([`MOVE_AFTER_WORK`],
//! [`MOVE_AFTER`]): nearly every mapping ends well within it, without a thread hand-over. One that passes it is
//! stopped and run again from the start off the workers (see [`Place::OnWorker`]), so a runaway holds no
//! worker for more than about a millisecond; but its thread still
//! competes for the CPU, and eight runaways on two cores leave little for healthy requests. So an evaluation
//! that has run past [`LONG_AFTER_WORK`] or [`LONG_AFTER`] (which the reference mappings never reach) takes a
//! slot here before going on, and waits, blocked (not spinning), until one is free or its deadline passes. The
//! meter does this from its progress callback, and only for evaluations allowed to wait (those run off the
//! workers, see [`crate::Place`]): a script on an async worker never blocks.
//!
//! A counting semaphore on `Mutex` + `Condvar`: no I/O, no runtime, so the stdlib stays pure.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Work (operations plus natives' debits) after which an evaluation is a long-runner. The reference mappings
/// (`flows/mappings/`) do a few hundred; a mapping over a large payload a few thousand.
pub const LONG_AFTER_WORK: u64 = 50_000;

/// Wall-clock time after which an evaluation is a long-runner, for scripts whose operations each cost much (a
/// copy of a large array is one operation). Mappings finish in microseconds.
pub const LONG_AFTER: Duration = Duration::from_millis(10);

/// Work after which an evaluation running on an async worker ([`Place::OnWorker`]) is stopped, to be run again
/// off the workers. The realistic mapping of the HTTP benchmark (a helper `fn`, a loop over 12 tickets, two
/// sorts; `tests/bench/flows/http/mappings/order_to_crm.rhai`) does about 1,000; 10,000 operations take
/// 0.2-0.5 ms, the longest a worker is held.
pub const MOVE_AFTER_WORK: u64 = 10_000;

/// Wall-clock time after which an evaluation on an async worker is stopped to be run again off the workers,
/// for scripts whose operations each cost much (a copy of a large array is one operation).
pub const MOVE_AFTER: Duration = Duration::from_millis(1);

/// Where an evaluation runs, which says whether it may wait for a long-runner slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On a thread that must never block: the evaluation never waits for a slot (a current-thread runtime, a
    /// script that cannot run long).
    InPlace,
    /// On an async worker, for a short while: past [`MOVE_AFTER_WORK`] or [`MOVE_AFTER`] the evaluation is
    /// stopped, its result thrown away, and its caller runs it again from the start [`Place::OffWorkers`]
    /// ([`crate::run_on_worker`] says so). Sound because an evaluation has no effect outside its result: the
    /// mapping library does no I/O and writes nothing (no logging, no shared state; `print` and `debug` go
    /// nowhere), so a run stopped half-way leaves no trace; `now()` and `random()` read the clock and the
    /// operating system's generator afresh in the second run, as they would have in one run started later.
    OnWorker,
    /// On a thread of its own (`block_in_place`, the blocking pool): past the thresholds the evaluation takes
    /// a slot, waiting for one if need be.
    OffWorkers,
}

/// The pool's size when nobody says otherwise: half the cores (at least one), so that long-runners leave the
/// other half to healthy requests.
pub fn default_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// A counting semaphore of long-runner slots.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug)]
struct State {
    in_use: usize,
    /// Threads blocked in [`Pool::acquire`].
    waiting: usize,
    /// 0 until set: [`default_slots`] then.
    slots: usize,
}

/// The process-wide pool.
pub(crate) static POOL: Pool = Pool::new();

/// Sets how many long-running scripts may run at once in this process (`relais run --long-scripts`); at least
/// one. Slots already taken stay taken; a smaller size applies as they are released.
pub fn set_long_script_slots(slots: usize) {
    POOL.resize(slots);
}

/// How many long-running scripts may run at once in this process.
pub fn long_script_slots() -> usize {
    POOL.slots()
}

/// How many long-running scripts hold a slot now, and how many wait for one: what an operator (or a test)
/// looks at to see the bound at work.
pub fn long_scripts_now() -> (usize, usize) {
    let state = POOL.lock();
    (state.in_use, state.waiting)
}

impl Pool {
    pub(crate) const fn new() -> Self {
        Pool { state: Mutex::new(State { in_use: 0, waiting: 0, slots: 0 }), freed: Condvar::new() }
    }

    /// A poisoned lock only means a thread panicked while holding it; the counters stay consistent (every
    /// change is one assignment), so the state is used as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn capacity(state: &State) -> usize {
        if state.slots == 0 {
            default_slots()
        } else {
            state.slots
        }
    }

    pub(crate) fn resize(&self, slots: usize) {
        self.lock().slots = slots.max(1);
        self.freed.notify_all();
    }

    pub(crate) fn slots(&self) -> usize {
        Self::capacity(&self.lock())
    }

    /// Takes a slot, waiting until one is free; `false` when `deadline` passed first.
    pub(crate) fn acquire(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        state.waiting += 1;
        let taken = loop {
            if state.in_use < Self::capacity(&state) {
                state.in_use += 1;
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            state = self.freed.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        };
        state.waiting -= 1;
        taken
    }

    /// Gives back a slot taken by [`Pool::acquire`].
    pub(crate) fn release(&self) {
        let mut state = self.lock();
        state.in_use = state.in_use.saturating_sub(1);
        drop(state);
        self.freed.notify_one();
    }

    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.lock().in_use
    }

    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// Held by every test that uses the process-wide [`POOL`], so that they do not take each other's slots.
    pub(crate) fn global_pool_of_one() -> MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        POOL.resize(1);
        guard
    }

    #[test]
    fn a_full_pool_refuses_a_slot_once_the_deadline_passes() {
        let pool = Pool::new();
        pool.resize(1);
        assert!(pool.acquire(Instant::now()));
        assert!(!pool.acquire(Instant::now() + Duration::from_millis(20)));
        pool.release();
        assert!(pool.acquire(Instant::now()));
    }

    #[test]
    fn a_released_slot_wakes_a_waiting_thread() {
        let pool = std::sync::Arc::new(Pool::new());
        pool.resize(1);
        assert!(pool.acquire(Instant::now()));
        let waiter = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.acquire(Instant::now() + Duration::from_secs(60)))
        };
        poll_until(|| pool.waiting() == 1);
        assert!(!waiter.is_finished(), "the waiter got a slot the pool did not have");
        pool.release();
        assert!(waiter.join().unwrap());
        assert_eq!(pool.in_use(), 1);
    }

    /// Polls `condition` every 5 ms, for up to 30 s.
    pub(crate) fn poll_until(condition: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(Instant::now() < until, "the condition did not hold within 30 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_default_size_is_at_least_one() {
        assert!(default_slots() >= 1);
        assert!(Pool::new().slots() >= 1);
    }
}
