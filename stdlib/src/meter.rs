//! The meter of one evaluation: a wall-clock deadline and the work native functions did.
//!
//! Rhai counts one operation per expression or statement, so a native call weighs one operation whatever it
//! costs (hashing 1 MiB, sorting 100 000 maps) and nothing bounds the time a script takes. The meter closes both
//! gaps: natives debit it by the work they do ([`charge`], [`charge_bytes`]), and the engine's progress
//! callback ([`on_progress`]) stops the script when the operations plus that work pass `max_operations`, or
//! when its deadline has passed. The deadline is the earlier of the script's own budget and an outer one (the
//! request's). Both stops are limit errors (`EXPRESSION:LIMIT` in the engine).
//!
//! An evaluation on an async worker ([`Place::OnWorker`]) that passes [`MOVE_AFTER_WORK`] or [`MOVE_AFTER`] is
//! stopped (and stays stopped: every later operation or debit stops it again, should a native swallow the
//! error) so that its caller can run it again off the workers.
//!
//! An evaluation run off the workers that passes the long-runner thresholds also takes a slot of the
//! [long-runner pool](crate::long_runners) from the progress callback, waiting for one until its deadline,
//! and gives it back when the evaluation ends, however it ends.
//!
//! The meter is thread-local: an evaluation runs on one thread from start to end and the shared engine is
//! used by many threads at once, so per-evaluation state cannot live in the engine.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic, EvalAltResult, Map, Position};

use crate::long_runners::{Place, LONG_AFTER, LONG_AFTER_WORK, MOVE_AFTER, MOVE_AFTER_WORK, POOL};

/// How long one script may run when nobody says otherwise. Mappings of large payloads finish in milliseconds;
/// two seconds leaves a wide margin on a loaded machine while keeping a runaway script short.
pub const DEFAULT_SCRIPT_BUDGET: Duration = Duration::from_secs(2);

/// Bytes a native may scan or produce for the price of one operation: about what one Rhai operation costs in
/// time (tens of nanoseconds).
pub(crate) const BYTES_PER_OPERATION: usize = 64;

/// Operations between two clock reads: reading the clock costs about one operation, so checking it every
/// 64 operations adds under 2 % while stopping a script within microseconds of its deadline.
const CLOCK_EVERY: u64 = 64;

/// Operations between two clock reads on an async worker ([`Place::OnWorker`]): one operation may copy a
/// large value (`let b = a` of a 100,000-item array: about half a millisecond), so 64 of them would hold
/// the worker for tens of milliseconds before the move threshold is seen (`tests/bench/runaway.sh` measured
/// a 512 ms p99 for a healthy endpoint). Every 8 costs about 1 % of a short mapping.
const CLOCK_ON_WORKER_EVERY: u64 = 8;

/// Why a script must stop at [`Deadline::at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The script's own wall-clock budget.
    Budget(Duration),
    /// The deadline of whatever runs the script (an HTTP request's timeout).
    Outer,
}

/// When a script must stop: the earlier of its own budget counted from now and an outer deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    cause: Cause,
}

impl Deadline {
    /// `budget` from now, or `outer` when that comes first.
    pub fn new(budget: Duration, outer: Option<Instant>) -> Self {
        let now = Instant::now();
        // A budget too large to add to the clock is no deadline at all: a year stands for it.
        let own = now.checked_add(budget).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        match outer {
            Some(outer) if outer <= own => Deadline { at: outer, cause: Cause::Outer },
            _ => Deadline { at: own, cause: Cause::Budget(budget) },
        }
    }

    /// [`DEFAULT_SCRIPT_BUDGET`] from now.
    pub fn default_budget() -> Self {
        Deadline::new(DEFAULT_SCRIPT_BUDGET, None)
    }

    fn message(&self) -> String {
        match self.cause {
            Cause::Budget(budget) => format!("the script ran longer than its {budget:?} budget"),
            Cause::Outer => "the deadline of the event passed while the script ran".to_string(),
        }
    }
}

/// The state of the evaluation running on this thread.
#[derive(Debug, Clone, Copy)]
struct Meter {
    deadline: Deadline,
    /// Operations done plus operations' worth of work debited by natives.
    work: u64,
    /// Operations done, for the cadence of clock reads.
    ticks: u64,
    /// The operations of the current batch, counted into `work` and `ticks` when it ends (see [`LEFT`]).
    batch: u64,
    /// The engine's `max_operations` (operations plus work), `u64::MAX` when unlimited.
    max_work: u64,
    /// When the evaluation started, for [`LONG_AFTER`] and [`MOVE_AFTER`] (only read while `slot` is
    /// [`Slot::NotYet`] or [`Slot::Tentative`]).
    started: Instant,
    slot: Slot,
}

/// Where an evaluation stands with the long-runner pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// It runs on an async worker and must never wait: it takes no slot.
    Never,
    /// It may take a slot once it passes the thresholds, and has not yet.
    NotYet,
    /// It holds a slot, released when its meter is disarmed.
    Held,
    /// An enclosing evaluation on this thread holds the slot: this one runs under it (taking a second slot
    /// could wait forever on a pool of one).
    Inherited,
    /// It runs on an async worker until it passes the move thresholds ([`Place::OnWorker`]).
    Tentative,
    /// It passed the move thresholds on a worker and was stopped: its caller runs it again off the workers.
    Moved,
}

/// The reason a stopped evaluation gives Rhai; never seen by anyone, as the run's result is thrown away.
const MOVED: &str = "the script ran past its in-place budget and moves off the async workers";

thread_local! {
    static CURRENT: Cell<Option<Meter>> = const { Cell::new(None) };
    /// The operations left in the current batch of the evaluation running on this thread, the one that
    /// ends it included; 0 when none runs. The progress callback runs once per operation: it only counts
    /// this down, and looks at the meter when a batch ends. A batch ends at the next operation due to read
    /// the clock, or at the first one past `max_work`, whichever comes first (see [`next_batch`]), so the
    /// meter stops a script at the very operation it stopped it at when it looked at every one; a debit
    /// ([`charge`]) counts the batch's operations so far and starts a new one.
    static LEFT: Cell<u64> = const { Cell::new(0) };
}

/// The length of the batch starting now: up to the next operation that reads the clock, or the first one
/// whose work passes `max_work`; one operation at a time once the evaluation was moved (each one stops it).
fn next_batch(meter: &Meter) -> u64 {
    if meter.slot == Slot::Moved {
        return 1;
    }
    let every = if meter.slot == Slot::Tentative { CLOCK_ON_WORKER_EVERY } else { CLOCK_EVERY };
    let to_clock = every - meter.ticks % every;
    let to_limit = meter.max_work.saturating_sub(meter.work).saturating_add(1);
    to_clock.min(to_limit).max(1)
}

/// Counts the operations of the current batch done so far into `meter`, leaving the rest of it as its
/// batch.
fn count_batch(meter: &mut Meter) {
    let left = LEFT.get().min(meter.batch);
    let done = meter.batch - left;
    meter.work = meter.work.saturating_add(done);
    meter.ticks = meter.ticks.wrapping_add(done);
    meter.batch = left;
}

/// Sets `meter` as this thread's meter, with a new batch from here.
fn store(mut meter: Meter) {
    meter.batch = next_batch(&meter);
    LEFT.set(meter.batch);
    CURRENT.set(Some(meter));
}

/// The meter of an evaluation, armed on this thread until dropped; dropping restores the meter of an enclosing
/// evaluation, if any.
pub(crate) struct Armed {
    previous: Option<Meter>,
}

/// Arms a fresh meter for an evaluation on this thread, running at `place`. A nested evaluation keeps the
/// enclosing deadline when it is earlier, and runs under the enclosing evaluation's long-runner slot if it
/// holds one.
pub(crate) fn arm(deadline: Deadline, max_operations: u64, place: Place) -> Armed {
    let previous = CURRENT.get().map(|mut previous| {
        count_batch(&mut previous);
        previous
    });
    let deadline = match previous {
        Some(p) if p.deadline.at < deadline.at => p.deadline,
        _ => deadline,
    };
    let slot = match (previous.map(|p| p.slot), place) {
        (Some(Slot::Held | Slot::Inherited), _) => Slot::Inherited,
        (_, Place::InPlace) => Slot::Never,
        (_, Place::OnWorker) => Slot::Tentative,
        (_, Place::OffWorkers) => Slot::NotYet,
    };
    let max_work = if max_operations == 0 { u64::MAX } else { max_operations };
    // Only an evaluation that may take a slot or move reads the clock here: the others never look at `started`.
    let started = if matches!(slot, Slot::NotYet | Slot::Tentative) { Instant::now() } else { deadline.at };
    store(Meter { deadline, work: 0, ticks: 0, batch: 0, max_work, started, slot });
    Armed { previous }
}

impl Armed {
    /// Whether the evaluation was stopped at the move thresholds ([`Place::OnWorker`]): its result means
    /// nothing and it must run again off the workers.
    pub(crate) fn moved(&self) -> bool {
        CURRENT.get().is_some_and(|m| m.slot == Slot::Moved)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if CURRENT.get().is_some_and(|m| m.slot == Slot::Held) {
            POOL.release();
        }
        CURRENT.set(self.previous);
        // The enclosing evaluation's batch goes on where it stopped (its operations so far were counted).
        LEFT.set(self.previous.map_or(0, |previous| previous.batch));
    }
}

/// The engine's progress callback, called once per operation: `Some(reason)` stops the script (Rhai's
/// `ErrorTerminated`, classified as a limit error). It counts the operation down in the current batch and
/// looks at the meter only at a batch's end ([`LEFT`]).
///
/// The meter counts the operations itself rather than trusting the count Rhai passes: a closure called by a
/// native (`map`, `filter`, `reduce`...) runs on a copy of the evaluation's counter that is thrown away when
/// it returns, so Rhai's count never grows inside them and a `map` over 100 000 items weighed a handful of
/// operations.
pub(crate) fn on_progress(_operations: u64) -> Option<Dynamic> {
    let left = LEFT.get();
    if left > 1 {
        LEFT.set(left - 1);
        return None;
    }
    end_of_batch()
}

/// The last operation of a batch: the batch is counted, then the limits, the clock and the thresholds are
/// looked at as they were after each operation.
fn end_of_batch() -> Option<Dynamic> {
    let mut meter = CURRENT.get()?;
    meter.work = meter.work.saturating_add(meter.batch);
    meter.ticks = meter.ticks.wrapping_add(meter.batch);
    let stop = look_at(&mut meter);
    store(meter);
    stop
}

/// What the meter says after an operation: `Some(reason)` to stop; moves `meter` to another slot when it
/// passes a threshold.
fn look_at(meter: &mut Meter) -> Option<Dynamic> {
    if meter.work > meter.max_work {
        return Some(too_much_work(meter.max_work).into());
    }
    let every = if meter.slot == Slot::Tentative { CLOCK_ON_WORKER_EVERY } else { CLOCK_EVERY };
    if meter.ticks.is_multiple_of(every) || meter.slot == Slot::Moved {
        let now = Instant::now();
        if now >= meter.deadline.at {
            return Some(meter.deadline.message().into());
        }
        if meter.slot == Slot::Moved
            || (meter.slot == Slot::Tentative && (meter.work >= MOVE_AFTER_WORK || now - meter.started >= MOVE_AFTER))
        {
            meter.slot = Slot::Moved;
            return Some(MOVED.into());
        }
        if meter.slot == Slot::NotYet && (meter.work >= LONG_AFTER_WORK || now - meter.started >= LONG_AFTER) {
            if !POOL.acquire(meter.deadline.at) {
                return Some(meter.deadline.message().into());
            }
            meter.slot = Slot::Held;
        }
    }
    None
}

fn too_much_work(max: u64) -> String {
    format!("the script did more than {max} operations' worth of work (native functions count the bytes and items they process)")
}

/// Debits `units` operations' worth of work; an error once the evaluation has done more work than allowed or
/// its deadline has passed. Outside an evaluation (a native called directly) it does nothing.
pub(crate) fn charge(units: u64) -> Result<(), Box<EvalAltResult>> {
    let Some(mut meter) = CURRENT.get() else { return Ok(()) };
    count_batch(&mut meter);
    meter.work = meter.work.saturating_add(units);
    store(meter);
    if meter.work > meter.max_work {
        return Err(EvalAltResult::ErrorTerminated(too_much_work(meter.max_work).into(), Position::NONE).into());
    }
    if units > 0 && Instant::now() >= meter.deadline.at {
        return Err(EvalAltResult::ErrorTerminated(meter.deadline.message().into(), Position::NONE).into());
    }
    // A costly native debits before it works: past the move threshold it stops before doing the work on
    // the worker.
    if meter.slot == Slot::Moved || (meter.slot == Slot::Tentative && meter.work >= MOVE_AFTER_WORK) {
        meter.slot = Slot::Moved;
        store(meter);
        return Err(EvalAltResult::ErrorTerminated(MOVED.into(), Position::NONE).into());
    }
    Ok(())
}

/// Debits the work of scanning or producing `bytes` bytes.
pub(crate) fn charge_bytes(bytes: usize) -> Result<(), Box<EvalAltResult>> {
    charge((bytes / BYTES_PER_OPERATION) as u64)
}

/// Debits the work of sorting `items` items (`n log n` comparisons).
pub(crate) fn charge_sort(items: usize) -> Result<(), Box<EvalAltResult>> {
    let n = items as u64;
    charge(n.saturating_mul(u64::from(u64::BITS - n.leading_zeros())))
}

/// The length of `value` as text (string bytes plus a few bytes per item), counted until it passes `limit`:
/// `Err` with the size so far as soon as it does. Lets a native refuse an output before building it, even
/// when an array holds the same large string many times (cheap to hold, huge to print). Debits the items it
/// walks.
pub(crate) fn text_size(value: &Dynamic, limit: usize) -> Result<usize, Box<EvalAltResult>> {
    let mut size = 0usize;
    let mut items = 0usize;
    let result = walk(value, limit, &mut size, &mut items);
    charge((items / 8) as u64)?;
    result
        .map(|()| size)
        .map_err(|()| EvalAltResult::ErrorDataTooLarge("Length of string".into(), Position::NONE).into())
}

fn walk(value: &Dynamic, limit: usize, size: &mut usize, items: &mut usize) -> Result<(), ()> {
    *items += 1;
    // Punctuation and small scalars: a few bytes each.
    *size = size.saturating_add(4);
    if value.is_string() {
        if let Ok(s) = value.as_immutable_string_ref() {
            *size = size.saturating_add(s.len());
        }
    } else if value.is_array() {
        if let Ok(array) = value.as_array_ref() {
            walk_all(&array, limit, size, items)?;
        }
    } else if value.is_map() {
        if let Ok(map) = value.as_map_ref() {
            walk_map(&map, limit, size, items)?;
        }
    }
    if *size > limit {
        Err(())
    } else {
        Ok(())
    }
}

fn walk_all(array: &Array, limit: usize, size: &mut usize, items: &mut usize) -> Result<(), ()> {
    array.iter().try_for_each(|item| walk(item, limit, size, items))
}

fn walk_map(map: &Map, limit: usize, size: &mut usize, items: &mut usize) -> Result<(), ()> {
    map.iter().try_for_each(|(key, item)| {
        *size = size.saturating_add(key.len());
        walk(item, limit, size, items)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_deadline_wins() {
        let soon = Instant::now() + Duration::from_millis(10);
        assert_eq!(Deadline::new(Duration::from_secs(60), Some(soon)).cause, Cause::Outer);
        let late = Instant::now() + Duration::from_secs(600);
        assert_eq!(Deadline::new(Duration::from_secs(1), Some(late)).cause, Cause::Budget(Duration::from_secs(1)));
    }

    #[test]
    fn work_past_the_maximum_is_refused() {
        let _armed = arm(Deadline::default_budget(), 100, Place::InPlace);
        assert!(charge(60).is_ok());
        assert!(charge(60).is_err());
    }

    #[test]
    fn a_nested_evaluation_restores_the_enclosing_meter() {
        let _outer = arm(Deadline::default_budget(), 100, Place::InPlace);
        charge(50).unwrap();
        {
            let _inner = arm(Deadline::default_budget(), 1000, Place::InPlace);
            charge(500).unwrap();
        }
        assert!(charge(60).is_err());
    }

    /// Ticks the progress callback `n` times, as `n` operations would.
    fn operations(n: u64) -> Option<Dynamic> {
        (0..n).find_map(on_progress)
    }

    #[test]
    fn a_nested_evaluation_runs_under_the_enclosing_slot_and_only_the_outer_one_releases_it() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        let outer = arm(Deadline::default_budget(), 0, Place::OffWorkers);
        assert!(operations(LONG_AFTER_WORK + CLOCK_EVERY).is_none());
        assert_eq!(POOL.in_use(), 1);
        {
            // With a pool of one, taking a second slot would wait until the deadline and fail.
            let _inner = arm(Deadline::new(Duration::from_millis(200), None), 0, Place::OffWorkers);
            assert!(operations(LONG_AFTER_WORK + CLOCK_EVERY).is_none());
            assert_eq!(POOL.in_use(), 1);
        }
        assert_eq!(POOL.in_use(), 1, "the nested evaluation released the enclosing one's slot");
        drop(outer);
        assert_eq!(POOL.in_use(), 0);
    }

    #[test]
    fn a_nested_evaluation_that_took_the_slot_gives_it_back_when_it_ends() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        let outer = arm(Deadline::default_budget(), 0, Place::OffWorkers);
        {
            let _inner = arm(Deadline::default_budget(), 0, Place::OffWorkers);
            assert!(operations(LONG_AFTER_WORK + CLOCK_EVERY).is_none());
            assert_eq!(POOL.in_use(), 1);
        }
        assert_eq!(POOL.in_use(), 0);
        drop(outer);
        assert_eq!(POOL.in_use(), 0);
    }

    #[test]
    fn an_evaluation_in_place_never_takes_a_slot() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        assert!(POOL.acquire(Instant::now()));
        {
            let _armed = arm(Deadline::default_budget(), 0, Place::InPlace);
            assert!(operations(2 * LONG_AFTER_WORK).is_none());
        }
        POOL.release();
        assert_eq!(POOL.in_use(), 0);
    }

    #[test]
    fn an_evaluation_on_a_worker_stops_at_the_move_threshold_and_stays_stopped() {
        let armed = arm(Deadline::default_budget(), 0, Place::OnWorker);
        // No clock read before the first `CLOCK_ON_WORKER_EVERY` operations (past that, a slow machine may
        // pass `MOVE_AFTER` before `MOVE_AFTER_WORK`, so only the stop itself is certain).
        assert!(operations(CLOCK_ON_WORKER_EVERY - 1).is_none());
        assert!(!armed.moved());
        assert!(operations(MOVE_AFTER_WORK + CLOCK_EVERY).is_some());
        assert!(armed.moved());
        assert!(on_progress(0).is_some(), "a native that swallowed the stop would run on");
        assert!(charge(0).is_err());
    }

    #[test]
    fn a_costly_native_on_a_worker_is_stopped_before_it_works() {
        let armed = arm(Deadline::default_budget(), 0, Place::OnWorker);
        assert!(charge(MOVE_AFTER_WORK).is_err());
        assert!(armed.moved());
    }

    #[test]
    fn an_evaluation_on_a_worker_never_takes_a_slot() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        let armed = arm(Deadline::default_budget(), 0, Place::OnWorker);
        assert!(operations(2 * LONG_AFTER_WORK).is_some());
        assert_eq!(POOL.in_use(), 0);
        drop(armed);
        assert_eq!(POOL.in_use(), 0);
    }

    #[test]
    fn an_evaluation_stops_at_the_first_operation_past_its_maximum() {
        // On a worker, only below the first clock read (past it, a slow machine may pass `MOVE_AFTER`).
        let cases = [1, 7, 8, 9, 63, 64, 65, 100, 1000].map(|max| (max, Place::InPlace));
        for (max, place) in cases.into_iter().chain([(1, Place::OnWorker), (7, Place::OnWorker)]) {
            let _armed = arm(Deadline::default_budget(), max, place);
            assert!(operations(max).is_none(), "{max} {place:?}");
            assert!(on_progress(0).is_some(), "{max} {place:?}: operation {} passed", max + 1);
        }
    }

    #[test]
    fn debits_between_operations_count_with_them() {
        let _armed = arm(Deadline::default_budget(), 100, Place::InPlace);
        assert!(operations(10).is_none());
        charge(50).unwrap();
        assert!(operations(37).is_none());
        charge(3).unwrap();
        assert!(on_progress(0).is_some(), "10 + 50 + 37 + 3 + 1 operations' worth passed 100");
        let _armed = arm(Deadline::default_budget(), 100, Place::InPlace);
        assert!(operations(30).is_none());
        assert!(charge(71).is_err(), "30 + 71 passed 100");
        assert!(on_progress(0).is_some(), "and stays past it");
    }

    #[test]
    fn a_nested_evaluation_leaves_the_enclosing_count_where_it_was() {
        let _outer = arm(Deadline::default_budget(), 100, Place::InPlace);
        assert!(operations(30).is_none());
        {
            let _inner = arm(Deadline::default_budget(), 1000, Place::InPlace);
            assert!(operations(500).is_none());
        }
        assert!(operations(70).is_none());
        assert!(on_progress(0).is_some(), "30 + 70 + 1 operations passed 100");
    }

    #[test]
    fn charging_outside_an_evaluation_is_free() {
        assert!(charge(u64::MAX).is_ok());
    }

    #[test]
    fn a_shared_string_counts_every_time_it_is_held() {
        let big: Dynamic = "x".repeat(1000).into();
        let array: Array = vec![big; 100];
        assert!(text_size(&Dynamic::from_array(array), 50_000).is_err());
    }
}
