//! The daemon behind `relais run`: starts the sources of a checked, compiled program, swaps in a new program
//! on a hot reload, and drains in-flight work on shutdown. It knows sources only through
//! [`crate::source`]'s traits: which kinds exist is the registry's business.
//!
//! Invariants:
//! - a reload is all or nothing: sources are planned and prepared (new sockets bound) before anything changes;
//! - an event finishes on the program it started on (requests hold their routing table, consumers and
//!   scheduled runs hold their runtime);
//! - stores and queues belong to the [`State`], not to a program, so a reload keeps their content.

mod admin;
pub mod descriptors;
pub mod reload;

/// The connection limits of a socket; [`start_with_admin_limits`] takes the admin port's.
pub use crate::http_server::limits::Limits;
use crate::plan::Program;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::source::{InFlight, Planned, Running, Stage};
use crate::state::State;
/// Who may see dead letters and act on the admin port (a token, or the loopback-only insecure opt-in), and
/// the tracing target of its audit lines.
pub use admin::access::{token_file_exposure, AdminAccess, AUDIT_TARGET};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running daemon.
pub struct Daemon {
    /// Bound listener addresses, by name (`""` for the default HTTP listener).
    pub listeners: Vec<(String, SocketAddr)>,
    /// Bound address of the admin endpoints, when enabled.
    pub admin: Option<SocketAddr>,
    current: watch::Sender<Runtime>,
    /// The running source units, by key.
    running: BTreeMap<String, Box<dyn Running>>,
    in_flight: InFlight,
    /// Turns true when shutdown starts: `/ready` answers "draining" from then on.
    draining: watch::Sender<bool>,
    /// Dropped (which stops the admin server) when shutdown ends.
    _admin_stop: watch::Sender<bool>,
    admin_task: Option<JoinHandle<()>>,
    /// The incidents graded against the flows' objectives, shown by the admin port.
    incidents: Arc<crate::incidents::Incidents>,
    /// How often they are graded ([`Daemon::grade_incidents_every`]).
    incident_tick: watch::Sender<Duration>,
    incidents_task: JoinHandle<()>,
}

/// Starts every source of the program, planned by the components of `registry`.
pub async fn start(registry: &Registry, runtime: Runtime) -> Result<Daemon, String> {
    start_with_admin(registry, runtime, None).await
}

/// [`start`], plus the admin endpoints (`/health`, `/ready`, `/metrics`) on `admin`; dead letters and
/// actions stay closed ([`AdminAccess::closed`]).
pub async fn start_with_admin(
    registry: &Registry,
    runtime: Runtime,
    admin: Option<SocketAddr>,
) -> Result<Daemon, String> {
    start_with_admin_options(registry, runtime, admin, Limits::admin(), AdminAccess::closed()).await
}

/// [`start_with_admin`], with dead letters and actions allowed as `access` says.
pub async fn start_with_admin_access(
    registry: &Registry,
    runtime: Runtime,
    admin: Option<SocketAddr>,
    access: AdminAccess,
) -> Result<Daemon, String> {
    start_with_admin_options(registry, runtime, admin, Limits::admin(), access).await
}

/// Plans the sources of `runtime`'s program and prepares every unit against what runs now: nothing
/// running changes, so a failure (a port taken) leaves the daemon as it was.
async fn prepare(
    registry: &Registry,
    runtime: &Runtime,
    running: &BTreeMap<String, Box<dyn Running>>,
) -> Result<Vec<Box<dyn Planned>>, String> {
    let mut planned = registry.plan_sources(&runtime.program().sources, runtime)?;
    for unit in &mut planned {
        let key = unit.key();
        unit.prepare(running.get(&key).map(|r| r.as_ref())).await?;
    }
    Ok(planned)
}

/// Starts prepared units, each taking over the running unit of its key; the units whose key is gone stop.
fn launch(
    planned: Vec<Box<dyn Planned>>,
    mut old: BTreeMap<String, Box<dyn Running>>,
    in_flight: &InFlight,
) -> BTreeMap<String, Box<dyn Running>> {
    let mut running = BTreeMap::new();
    for unit in planned {
        let key = unit.key();
        match unit.start(old.remove(&key), in_flight) {
            Ok(started) => {
                running.insert(key, started);
            }
            Err(why) => tracing::error!(source = %key, "source not started: {why}"),
        }
    }
    for (_, gone) in old {
        gone.stop();
    }
    running
}

/// [`start_with_admin`] with other limits for the admin port than its defaults (tests use short timeouts).
pub async fn start_with_admin_limits(
    registry: &Registry,
    runtime: Runtime,
    admin: Option<SocketAddr>,
    admin_limits: Limits,
) -> Result<Daemon, String> {
    start_with_admin_options(registry, runtime, admin, admin_limits, AdminAccess::closed()).await
}

/// Starts the sources and the admin port with its limits and access rules: what every `start_*` comes to.
/// An `access` that would open a non-loopback address to anyone is refused before anything starts.
pub async fn start_with_admin_options(
    registry: &Registry,
    runtime: Runtime,
    admin: Option<SocketAddr>,
    admin_limits: Limits,
    access: AdminAccess,
) -> Result<Daemon, String> {
    if let Some(addr) = admin {
        access.check_bind(addr)?;
    }
    let in_flight = InFlight::default();
    let planned = prepare(registry, &runtime, &BTreeMap::new()).await?;
    let running = launch(planned, BTreeMap::new(), &in_flight);
    let (current, current_rx) = watch::channel(runtime);
    let (admin_stop, admin_stop_rx) = watch::channel(false);
    let (draining, draining_rx) = watch::channel(false);
    let incidents = Arc::new(crate::incidents::Incidents::default());
    let (incident_tick, incident_tick_rx) = watch::channel(crate::incidents::watch::DEFAULT_TICK);
    let incidents_task = tokio::spawn(crate::incidents::watch::watch(
        current_rx.clone(),
        incidents.clone(),
        incident_tick_rx,
        admin_stop_rx.clone(),
    ));
    let (admin, admin_task) = match admin {
        Some(addr) => {
            let admin_ctx = admin::Shared { access, incidents: incidents.clone() };
            let (addr, task) = admin::serve(addr, admin_limits, admin_ctx, current_rx, draining_rx, admin_stop_rx)
                .await
                .map_err(|e| format!("cannot listen for the admin endpoints on {addr}: {e}"))?;
            (Some(addr), Some(task))
        }
        None => (None, None),
    };
    let mut daemon = Daemon {
        listeners: Vec::new(),
        admin,
        current,
        running,
        in_flight,
        draining,
        _admin_stop: admin_stop,
        admin_task,
        incidents,
        incident_tick,
        incidents_task,
    };
    daemon.refresh_listeners();
    Ok(daemon)
}

impl Daemon {
    /// The runtime new events start on.
    pub fn runtime(&self) -> Runtime {
        self.current.borrow().clone()
    }

    /// The incidents open now, by flow and objective.
    pub fn incidents(&self) -> Vec<crate::incidents::Incident> {
        self.incidents.open()
    }

    /// Grades the incidents every `every` from now on (`relais run --incident-tick`; the default is
    /// [`crate::incidents::watch::DEFAULT_TICK`]).
    pub fn grade_incidents_every(&self, every: Duration) {
        self.incident_tick.send_replace(every);
    }

    /// The running source unit known as `key` (`http.listener:api`): what a source's own helpers look up.
    pub fn running(&self, key: &str) -> Option<&dyn Running> {
        self.running.get(key).map(|r| r.as_ref())
    }

    /// The stores and queues the running programs share; a reload compiles against it.
    pub fn state(&self) -> Arc<State> {
        self.runtime().program().state.clone()
    }

    fn refresh_listeners(&mut self) {
        self.listeners = self.running.values().flat_map(|r| r.endpoints()).collect();
    }

    /// Replaces the running program with `program` (compiled against [`Daemon::state`]), its sources
    /// planned by `registry`. All or nothing: when the new sources cannot be set up (a port taken, say), the
    /// daemon keeps running the old program and the error says why. Events in flight finish on the program
    /// they started on.
    pub async fn reload(&mut self, registry: &Registry, program: Program) -> Result<(), String> {
        let runtime = self.runtime().successor(program);
        let planned = prepare(registry, &runtime, &self.running).await?;
        let old = std::mem::take(&mut self.running);
        self.running = launch(planned, old, &self.in_flight);
        self.current.send_replace(runtime);
        self.refresh_listeners();
        Ok(())
    }

    /// Stops accepting work, lets requests, scheduled runs, queued messages and `async` scopes finish up
    /// to `deadline`; true when everything finished. The intake sources stop first (the HTTP listeners'
    /// connections are told to close: idle ones at once, busy ones after their answer, HTTP/2 ones get a
    /// GOAWAY), the internal ones (queue consumers) once the work in flight is done. At the deadline what is
    /// still running is cut (a request gets a 503), and what was cut short is logged at error level
    /// (requests answered 503, runs and messages still being processed, `async` scopes still running,
    /// messages still queued in memory).
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.draining.send_replace(true);
        let stop = |stage: Stage| self.running.values().filter(|r| r.stage() == stage).for_each(|r| r.stop());
        stop(Stage::Intake);
        let state = self.state();
        let until = Instant::now() + deadline;
        let runtime = self.runtime();
        let idle = || {
            self.in_flight.load(Ordering::SeqCst) == 0
                && state.queues().iter().all(|q| q.depth() + q.in_flight() == 0)
                && runtime.async_running() == 0
        };
        while !idle() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drained = idle();
        let unfinished = (!drained).then(|| self.unfinished());
        if !drained {
            self.running.values().for_each(|r| r.cut());
        }
        // The last answers (a 503 to a request cut short, a response just returned, the end of an HTTP/2
        // GOAWAY) are written before the connections go.
        let written = Instant::now() + ANSWER_GRACE;
        while self.running.values().any(|r| r.exchanges() > 0) && Instant::now() < written {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop(Stage::Internal);
        runtime.close();
        runtime.program().resources.close();
        if let Some(mut unfinished) = unfinished {
            unfinished.answered_503 = self.running.values().map(|r| r.cut_requests()).sum();
            tracing::error!(
                requests_answered_503 = unfinished.answered_503,
                runs_stopped = unfinished.runs,
                async_scopes_stopped = unfinished.async_scopes,
                "the drain deadline ({deadline:?}) passed before all work finished: {unfinished}"
            );
        }
        for queue in state.queues() {
            if queue.depth() > 0 {
                tracing::error!(
                    queue = queue.name(),
                    "{} queued messages were not processed before the drain deadline and are lost (in-memory queue)",
                    queue.depth()
                );
            }
        }
        for unit in self.running.values() {
            unit.abort();
        }
        if let Some(task) = self.admin_task {
            task.abort();
        }
        self.incidents_task.abort();
        drained
    }

    /// What is still running at the drain deadline, before the requests are answered 503.
    fn unfinished(&self) -> Unfinished {
        let requests: usize = self.running.values().map(|r| r.requests()).sum();
        Unfinished {
            answered_503: 0,
            runs: self.in_flight.load(Ordering::SeqCst).saturating_sub(requests),
            queued: self.state().queues().iter().map(|q| q.depth()).sum(),
            async_scopes: self.runtime().async_running(),
        }
    }
}

/// How long shutdown waits, once the work is done or cut short, for the listeners' connections to write
/// their last answers: a few round trips on any real network, and short enough not to hold an exit up.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// What a drain cut short, for the log line that says so.
struct Unfinished {
    /// Requests answered 503.
    answered_503: usize,
    /// Scheduled runs and queue messages still being processed (stopped).
    runs: usize,
    /// Messages still waiting in in-memory queues (lost; each queue is reported on its own line).
    queued: usize,
    /// `async` scopes still running (stopped).
    async_scopes: usize,
}

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} request(s) answered 503, {} scheduled run(s) or queue message(s) stopped while being processed, \
             {} message(s) left in in-memory queues, {} async scope(s) stopped",
            self.answered_503, self.runs, self.queued, self.async_scopes
        )
    }
}
