//! The scheduler on a shared state (PostgreSQL, several replicas): each tick of a schedule runs once across
//! every replica naming the state.
//!
//! Ticks are instants every replica computes alike from the wall clock: for `frequency`, the multiples of the
//! frequency since the Unix epoch (shifted by `start_delay`); for `cron`, its occurrences. At a tick every
//! replica tries to claim `(flow, tick)` in the state store (an object entry, `put_if_absent`); the one that
//! gets it runs the flow, renewing the claim every third of [`TICK_LEASE`] while it runs, and marks the tick
//! done when the run ends. The others watch the claim until it is done; if it lapses first (its runner died),
//! the first to claim it again runs the tick ("taken over"). So a tick runs once, or again after a runner
//! died mid-run, and the schedule keeps running whichever replica dies.
//!
//! Without `allow_overlap`, a tick claimed by a replica still running the flow's previous run is skipped,
//! logged and counted, as on one process. Across replicas nothing holds a run back: a replica cannot tell a
//! run still going elsewhere from one whose replica was killed before its claim lapses, and waiting for
//! that would skip every tick for [`TICK_LEASE`] after a kill. So a run longer than the schedule's
//! interval may overlap with the next tick's run on another replica.

use super::run::Schedule;
use crate::runtime::Runtime;
use crate::source::{InFlight, Working};
use chrono::{DateTime, Utc};
use relais_store::StateStore;
use serde_json::{json, Value as Json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a claim on a tick (and the lease on its flow) holds without renewal: a tick whose runner died is
/// taken over this long after its last renewal.
pub const TICK_LEASE: Duration = Duration::from_secs(10);

/// How long a done tick is remembered: far longer than any replica could be late to claim it.
const DONE_TTL: Duration = Duration::from_secs(3600);

/// The object store (namespace) of tick claims in the state.
const TICKS: &str = "relais.scheduler.ticks";

/// The value of a done tick.
const DONE: &str = "done";

/// A replica stops watching a tick (giving up on taking it over) this long after the tick.
const WATCH_FOR: Duration = Duration::from_secs(1800);

/// Runs `schedule` on a shared state until `stop` turns true.
pub fn start(
    schedule: Schedule,
    runtime: Runtime,
    mut stop: watch::Receiver<bool>,
    in_flight: InFlight,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let schedule = Arc::new(schedule);
        let running = Arc::new(AtomicBool::new(false));
        let mut last: Option<DateTime<Utc>> = None;
        loop {
            let now = Utc::now();
            let mut tick = schedule.next_tick(now);
            // Never the same tick twice (a clock step back, a tick computed as now).
            if last.is_some_and(|l| tick <= l) {
                tick = schedule.next_tick(last.unwrap_or(now));
            }
            let delay = (tick - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => break,
            }
            last = Some(tick);
            let tick = Tick { schedule: schedule.clone(), at: tick, running: running.clone() };
            tokio::spawn(tick.claim(runtime.clone(), stop.clone(), in_flight.clone()));
        }
    })
}

/// One tick of one schedule, as this replica sees it.
struct Tick {
    schedule: Arc<Schedule>,
    at: DateTime<Utc>,
    /// Whether this replica is running the flow (for `allow_overlap: false`).
    running: Arc<AtomicBool>,
}

/// What a claim attempt found.
enum Claimed {
    /// The tick is ours to run.
    Mine,
    /// Another replica runs it (or ran it): watch.
    Theirs,
    /// It is done.
    Done,
}

impl Tick {
    fn key(&self) -> String {
        format!("{}@{}", self.schedule.flow, self.at.timestamp_millis())
    }

    fn store(runtime: &Runtime) -> Arc<dyn StateStore> {
        runtime.program().state.durable().clone()
    }

    fn try_claim(&self, store: &Arc<dyn StateStore>, mine: &Json) -> Result<Claimed, relais_store::StoreError> {
        let key = self.key();
        let now = crate::state::now();
        if blocking(|| store.put_if_absent(TICKS, &key, mine, Some(TICK_LEASE), now))? {
            return Ok(Claimed::Mine);
        }
        Ok(match blocking(|| store.get(TICKS, &key, now))? {
            Some(Json::String(s)) if s == DONE => Claimed::Done,
            // Lapsed between the two calls: try again at the next look.
            _ => Claimed::Theirs,
        })
    }

    /// Claims the tick, or watches it until it is done, taking it over if its claim lapses.
    async fn claim(self, runtime: Runtime, mut stop: watch::Receiver<bool>, in_flight: InFlight) {
        let store = Self::store(&runtime);
        let mine = json!({ "running": crate::state::claims::process_id() });
        let mut taken_over = false;
        loop {
            match self.try_claim(&store, &mine) {
                Ok(Claimed::Mine) => {
                    self.run(&runtime, &store, &mine, taken_over, &in_flight).await;
                    return;
                }
                Ok(Claimed::Done) => return,
                Ok(Claimed::Theirs) => taken_over = true,
                // The state is out of reach: this replica gives the tick up (another that reaches the state
                // claims it), so an outage never piles up retrying ticks.
                Err(e) => {
                    if !taken_over {
                        runtime.metrics().skipped_tick(&self.schedule.flow);
                    }
                    tracing::warn!(flow = %self.schedule.flow, tick = %self.at.to_rfc3339(),
                        "scheduler tick skipped: cannot claim it in the state store ({e})");
                    return;
                }
            }
            if (Utc::now() - self.at).to_std().is_ok_and(|late| late > WATCH_FOR) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK_LEASE / 3) => {}
                // A replica shutting down takes over nothing.
                _ = stop.changed() => return,
            }
        }
    }

    /// Runs the claimed tick, renewing the claim (and the flow's lease) while it runs, then marks it done.
    async fn run(
        &self,
        runtime: &Runtime,
        store: &Arc<dyn StateStore>,
        mine: &Json,
        taken_over: bool,
        in_flight: &InFlight,
    ) {
        let flow = &self.schedule.flow;
        let key = self.key();
        if !self.schedule.allow_overlap && self.running.swap(true, Ordering::SeqCst) {
            runtime.metrics().skipped_tick(flow);
            tracing::warn!(flow = %flow, "scheduler tick skipped: the previous run is still going");
            self.finish(store, mine, &key);
            return;
        }
        if taken_over {
            tracing::warn!(flow = %flow, tick = %self.at.to_rfc3339(),
                "the replica running this scheduler tick stopped before it was done; taking it over");
        }
        let working = Working::start(in_flight);
        let run = runtime.run_flow(flow, super::fire_event(self.at));
        tokio::pin!(run);
        loop {
            tokio::select! {
                _ = &mut run => break,
                _ = tokio::time::sleep(TICK_LEASE / 3) => {
                    let now = crate::state::now();
                    let renewed = blocking(|| store.compare_and_set(TICKS, &key, mine, Some(mine), Some(TICK_LEASE), now));
                    if !matches!(renewed, Ok(true)) {
                        tracing::warn!(flow = %flow, "cannot renew the claim on the running scheduler tick; \
                            another replica may run it too once it lapses");
                    }
                }
            }
        }
        drop(working);
        self.finish(store, mine, &key);
        if !self.schedule.allow_overlap {
            self.running.store(false, Ordering::SeqCst);
        }
    }

    /// Marks the tick done, if the claim is still ours.
    fn finish(&self, store: &Arc<dyn StateStore>, mine: &Json, key: &str) {
        let done = Json::String(DONE.to_string());
        let now = crate::state::now();
        if let Err(e) = blocking(|| store.compare_and_set(TICKS, key, mine, Some(&done), Some(DONE_TTL), now)) {
            tracing::warn!(flow = %self.schedule.flow, "cannot mark the scheduler tick done ({e}); another replica \
                may run it again once its claim lapses");
        }
    }
}

fn blocking<T>(work: impl FnOnce() -> T) -> T {
    crate::state::object_store::blocking(work)
}
