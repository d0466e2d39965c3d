//! The daemon behind `relais run`: starts the sources of a checked, compiled program (HTTP listeners,
//! schedulers, queue listeners), swaps in a new program on a hot reload, and drains in-flight work on
//! shutdown.
//!
//! Invariants:
//! - a reload is all or nothing: sources are planned and new sockets bound before anything changes;
//! - an event finishes on the program it started on (requests hold their routing table, consumers and
//!   scheduled runs hold their runtime);
//! - stores and queues belong to the [`State`], not to a program, so a reload keeps their content.

mod admin;
pub mod descriptors;
mod http;
mod problem;
mod queue_listener;
pub mod reload;
mod response;
mod routes;
mod scheduler;
mod sources;

use crate::load::Loaded;
use crate::plan::Program;
use crate::runtime::state::State;
use crate::runtime::Runtime;
/// The connection limits of a socket; [`start_with_admin_limits`] takes the admin port's.
pub use http::limits::Limits;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One serving socket.
struct Serving {
    /// The address asked for (port 0 stays 0), compared across reloads.
    configured: SocketAddr,
    /// The address bound.
    bound: SocketAddr,
    table: watch::Sender<Arc<http::Table>>,
    stop: watch::Sender<bool>,
    /// Closes the socket's connections and answers what is still running at shutdown.
    drain: http::drain::Drain,
    task: JoinHandle<()>,
}

/// The schedulers and queue listeners of one program.
struct Generation {
    /// Stops schedulers (first, at shutdown).
    schedules: watch::Sender<bool>,
    /// Stops queue listeners (last, once queues are drained).
    queues: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Generation {
    fn start(sources: sources::Sources, runtime: &Runtime, in_flight: &http::InFlight) -> Generation {
        let (schedules, schedules_rx) = watch::channel(false);
        let (queues, queues_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for schedule in sources.schedules {
            tasks.push(scheduler::start(schedule, runtime.clone(), schedules_rx.clone(), in_flight.clone()));
        }
        for listener in sources.queues {
            tasks.push(queue_listener::start(listener, runtime.clone(), queues_rx.clone(), in_flight.clone()));
        }
        Generation { schedules, queues, tasks }
    }

    /// Stops taking new work; runs already started finish on their own.
    fn stop(self) {
        let _ = self.schedules.send(true);
        let _ = self.queues.send(true);
        drop(self.tasks);
    }
}

/// A running daemon.
pub struct Daemon {
    /// Bound HTTP listener addresses, by listener config name (`""` for the default listener).
    pub listeners: Vec<(String, SocketAddr)>,
    /// Bound address of the admin endpoints, when enabled.
    pub admin: Option<SocketAddr>,
    current: watch::Sender<Runtime>,
    serving: BTreeMap<String, Serving>,
    generation: Generation,
    in_flight: http::InFlight,
    /// Turns true when shutdown starts: `/ready` answers "draining" from then on.
    draining: watch::Sender<bool>,
    /// Dropped (which stops the admin server) when shutdown ends.
    _admin_stop: watch::Sender<bool>,
    admin_task: Option<JoinHandle<()>>,
}

/// Starts every source of the program. Listener configs give host and port (port 0 picks a free port).
pub async fn start(loaded: &Loaded, runtime: Runtime) -> Result<Daemon, String> {
    start_with_admin(loaded, runtime, None).await
}

async fn bind(name: &str, addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr} for `{name}`: {e}"))
}

/// [`start`], plus the admin endpoints (`/health`, `/ready`, `/metrics`) on `admin`.
pub async fn start_with_admin(loaded: &Loaded, runtime: Runtime, admin: Option<SocketAddr>) -> Result<Daemon, String> {
    start_with_admin_limits(loaded, runtime, admin, Limits::admin()).await
}

/// [`start_with_admin`] with other limits for the admin port than its defaults (tests use short timeouts).
pub async fn start_with_admin_limits(
    loaded: &Loaded,
    runtime: Runtime,
    admin: Option<SocketAddr>,
    admin_limits: Limits,
) -> Result<Daemon, String> {
    let planned = sources::plan(loaded, &runtime)?;
    let in_flight = http::InFlight::default();
    let mut serving = BTreeMap::new();
    let mut sources = planned;
    for (name, listener) in std::mem::take(&mut sources.listeners) {
        let socket = bind(&name, listener.addr).await?;
        serving.insert(name, serve(listener.addr, socket, listener.table, &in_flight)?);
    }
    let generation = Generation::start(sources, &runtime, &in_flight);
    let (current, current_rx) = watch::channel(runtime);
    let (admin_stop, admin_stop_rx) = watch::channel(false);
    let (draining, draining_rx) = watch::channel(false);
    let (admin, admin_task) = match admin {
        Some(addr) => {
            let (addr, task) = admin::serve(addr, admin_limits, current_rx, draining_rx, admin_stop_rx)
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
        serving,
        generation,
        in_flight,
        draining,
        _admin_stop: admin_stop,
        admin_task,
    };
    daemon.refresh_listeners();
    Ok(daemon)
}

fn serve(
    configured: SocketAddr,
    socket: tokio::net::TcpListener,
    table: http::Table,
    in_flight: &http::InFlight,
) -> Result<Serving, String> {
    let bound = socket.local_addr().map_err(|e| e.to_string())?;
    let (table, table_rx) = watch::channel(Arc::new(table));
    let (stop, stop_rx) = watch::channel(false);
    let drain = http::drain::Drain::default();
    let task = http::serve(socket, table_rx, stop_rx, in_flight.clone(), drain.clone());
    Ok(Serving { configured, bound, table, stop, drain, task })
}

impl Daemon {
    /// The runtime new events start on.
    pub fn runtime(&self) -> Runtime {
        self.current.borrow().clone()
    }

    /// Serves one already-connected stream as if listener `name` (`""`: the default one) had accepted
    /// it, until the connection ends: what the HTTP fuzz target drives with in-memory streams. False when
    /// there is no such listener.
    pub async fn serve_stream<I>(&self, name: &str, io: I) -> bool
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Some(serving) = self.serving.get(name) else { return false };
        let table = serving.table.subscribe();
        let limits = table.borrow().limits.clone();
        http::serve_connection(io, table, self.in_flight.clone(), serving.drain.clone(), &limits).await;
        true
    }

    /// The stores and queues the running programs share; a reload compiles against it.
    pub fn state(&self) -> Arc<State> {
        self.runtime().program().state.clone()
    }

    fn refresh_listeners(&mut self) {
        self.listeners = self.serving.iter().map(|(name, s)| (name.clone(), s.bound)).collect();
    }

    /// Replaces the running program with `program` (compiled against [`Daemon::state`] from `loaded`).
    /// All or nothing: when the new sources cannot be set up (a port taken, say), the daemon keeps running
    /// the old program and the error says why. Events in flight finish on the program they started on.
    pub async fn reload(&mut self, loaded: &Loaded, program: Program) -> Result<(), String> {
        let runtime = self.runtime().successor(program);
        let mut sources = sources::plan(loaded, &runtime)?;
        // Bind every new address first: a failure here changes nothing.
        let mut fresh = BTreeMap::new();
        for (name, listener) in &sources.listeners {
            let kept = self.serving.get(name).is_some_and(|s| s.configured == listener.addr);
            if !kept {
                fresh.insert(name.clone(), bind(name, listener.addr).await?);
            }
        }
        let mut old = std::mem::take(&mut self.serving);
        for (name, listener) in std::mem::take(&mut sources.listeners) {
            match (old.remove(&name), fresh.remove(&name)) {
                (Some(running), None) => {
                    let mut table = listener.table;
                    // Requests in flight keep counting against the cap across the reload.
                    let previous = running.table.borrow().clone();
                    if previous.limits.max_requests_in_flight == table.limits.max_requests_in_flight {
                        table.requests = previous.requests.clone();
                    }
                    running.table.send_replace(Arc::new(table));
                    self.serving.insert(name, running);
                }
                (previous, Some(socket)) => {
                    if let Some(previous) = previous {
                        let _ = previous.stop.send(true);
                    }
                    self.serving.insert(name, serve(listener.addr, socket, listener.table, &self.in_flight)?);
                }
                (None, None) => {}
            }
        }
        for (_, gone) in old {
            let _ = gone.stop.send(true);
        }
        let generation = Generation::start(sources, &runtime, &self.in_flight);
        std::mem::replace(&mut self.generation, generation).stop();
        self.current.send_replace(runtime);
        self.refresh_listeners();
        Ok(())
    }

    /// Stops accepting work, lets requests, scheduled runs, queued messages and `async` scopes finish up
    /// to `deadline`; true when everything finished. The listeners' connections are told to close when
    /// the drain starts (idle ones close at once, busy ones after their answer, HTTP/2 ones get a GOAWAY);
    /// requests still running at the deadline are answered 503, and what was cut short is logged at error
    /// level (requests answered 503, runs and messages still being processed, `async` scopes still
    /// running, messages still queued in memory).
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.draining.send_replace(true);
        for serving in self.serving.values() {
            let _ = serving.stop.send(true);
            serving.drain.start();
        }
        let _ = self.generation.schedules.send(true);
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
            for serving in self.serving.values() {
                serving.drain.cut();
            }
        }
        // The last answers (a 503 to a request cut short, a response just returned, the end of an HTTP/2
        // GOAWAY) are written before the connections go.
        let written = Instant::now() + ANSWER_GRACE;
        while self.serving.values().any(|s| s.drain.exchanges() > 0) && Instant::now() < written {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.generation.queues.send(true);
        self.runtime().close();
        if let Some(mut unfinished) = unfinished {
            unfinished.answered_503 = self.serving.values().map(|s| s.drain.cut_requests()).sum();
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
        for task in self.generation.tasks {
            task.abort();
        }
        for serving in self.serving.into_values() {
            serving.task.abort();
        }
        if let Some(task) = self.admin_task {
            task.abort();
        }
        drained
    }

    /// What is still running at the drain deadline, before the requests are answered 503.
    fn unfinished(&self) -> Unfinished {
        let requests: usize = self.serving.values().map(|s| s.drain.requests()).sum();
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
