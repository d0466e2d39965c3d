//! The `http.listener` source planned and running: one server socket per listener config, routing to every
//! flow that names the config. A reload that keeps a config's address keeps its socket and swaps what it
//! routes to (no connection refused during the swap); a new address is bound before the old socket closes.

use super::response::ResponsePlan;
use super::routes::Router;
use super::serve::{self as http, Responses, Table};
use super::{ListenerConfig, ListenerSource};
use crate::http_server::drain::Drain;
use crate::runtime::Runtime;
use crate::source::{InFlight, Planned, Running, SourceUse, Stage};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Groups the flows by listener config and plans one socket for each.
pub(super) fn plan(uses: Vec<SourceUse<ListenerSource>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
    let mut planned = Vec::new();
    for (name, (settings, table)) in tables(uses, runtime)? {
        planned.push(Box::new(PlannedListener::new(&name, &settings, table)?) as Box<dyn Planned>);
    }
    Ok(planned)
}

/// What each listener config routes to, by config name (`""`: the default listener), with its settings: the
/// routes and responses of every flow naming it. The sockets' tables, and the one a flow test sends its
/// request through (`super::exchange`), so both route and answer alike.
pub(super) fn tables(
    uses: Vec<SourceUse<ListenerSource>>,
    runtime: &Runtime,
) -> Result<BTreeMap<String, (Arc<ListenerConfig>, Table)>, String> {
    let engine = runtime.program().engine.clone();
    let mut listeners: BTreeMap<String, (Arc<ListenerConfig>, Table)> = BTreeMap::new();
    for u in uses {
        let name = u.config_name.clone().unwrap_or_default();
        let (_, table) = match listeners.entry(name.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let settings = if name.is_empty() {
                    Arc::new(ListenerConfig::default_listener())
                } else {
                    runtime
                        .program()
                        .resources
                        .get_as::<ListenerConfig>(&name)
                        .ok_or_else(|| format!("flow `{}`: no `http.listener` config named `{name}`", u.flow))?
                };
                let table = table(&name, &settings, runtime);
                e.insert((settings, table))
            }
        };
        let settings = &u.settings;
        let flow = &u.flow;
        let method = settings.method.map(|m| m.as_str());
        table
            .routes
            .add(method, &settings.path, flow)
            .map_err(|e| format!("flow `{flow}`: {} is {e}", settings.path))?;
        let compile = |spec: &Option<super::ResponseSpec>, key: &str| {
            spec.as_ref()
                .map(|spec| ResponsePlan::compile(&engine, spec).map_err(|e| format!("flow `{flow}` {key}: {e}")))
                .transpose()
        };
        let responses = Responses {
            ok: compile(&settings.response, "response")?,
            error: compile(&settings.error_response, "error_response")?,
            expose_upstream_errors: settings.expose_upstream_errors,
            route: Arc::new(http::RouteInfo {
                template: settings.path.clone(),
                counters: runtime.metrics().route(&name, flow, &settings.path),
            }),
        };
        table.responses.insert(flow.clone(), responses);
    }
    Ok(listeners)
}

/// A listener config's table with no route yet, and no TLS (that is the socket's: [`PlannedListener::new`]).
fn table(name: &str, settings: &ListenerConfig, runtime: &Runtime) -> Table {
    let limits = settings.limits();
    Table {
        listener: name.to_string(),
        access_log: settings.access_log,
        unmatched: runtime.metrics().route(name, "", ""),
        max_body_size: usize::try_from(settings.max_body_size).unwrap_or(usize::MAX),
        request_timeout: settings.request_timeout.0,
        requests: Arc::new(tokio::sync::Semaphore::new(limits.max_requests_in_flight)),
        limits,
        tls: None,
        runtime: runtime.clone(),
        routes: Router::default(),
        responses: Default::default(),
    }
}

/// One listener config, planned: where to bind, and what to route to.
struct PlannedListener {
    name: String,
    /// Where to bind (port 0: any free port).
    addr: SocketAddr,
    table: Table,
    /// The socket bound by `prepare`, when the running one cannot be kept.
    socket: Option<tokio::net::TcpListener>,
}

impl PlannedListener {
    fn new(name: &str, settings: &ListenerConfig, mut table: Table) -> Result<Self, String> {
        let addr: SocketAddr = format!("{}:{}", settings.host, settings.port)
            .parse()
            .map_err(|e| format!("listener `{name}` address: {e}"))?;
        table.tls = settings
            .tls
            .as_ref()
            .map(|files| crate::tls::server_config(files, name).map(tokio_rustls::TlsAcceptor::from))
            .transpose()?;
        Ok(PlannedListener { name: name.to_string(), addr, table, socket: None })
    }
}

fn key(name: &str) -> String {
    format!("http.listener:{name}")
}

/// The running listener of `previous`, if it is one.
fn as_serving(previous: &dyn Running) -> Option<&Serving> {
    let any: &dyn std::any::Any = previous;
    any.downcast_ref::<Serving>()
}

impl Planned for PlannedListener {
    fn key(&self) -> String {
        key(&self.name)
    }

    fn prepare<'a>(&'a mut self, previous: Option<&'a dyn Running>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let kept = previous.and_then(as_serving).is_some_and(|s| s.configured == self.addr);
            if !kept {
                let socket = tokio::net::TcpListener::bind(self.addr)
                    .await
                    .map_err(|e| format!("cannot listen on {} for `{}`: {e}", self.addr, self.name))?;
                self.socket = Some(socket);
            }
            Ok(())
        })
    }

    fn start(
        self: Box<Self>,
        previous: Option<Box<dyn Running>>,
        in_flight: &InFlight,
    ) -> Result<Box<dyn Running>, String> {
        let PlannedListener { name, addr, mut table, socket } = *self;
        let previous = previous.map(|p| {
            let any: Box<dyn std::any::Any + Send + Sync> = p;
            any.downcast::<Serving>()
        });
        match (socket, previous) {
            // The same address: the running socket routes to the new table from now on.
            (None, Some(Ok(running))) => {
                let current = running.table.borrow().clone();
                // Requests in flight keep counting against the cap across the reload.
                if current.limits.max_requests_in_flight == table.limits.max_requests_in_flight {
                    table.requests = current.requests.clone();
                }
                running.table.send_replace(Arc::new(table));
                Ok(running)
            }
            (socket, previous) => {
                if let Some(Ok(previous)) = &previous {
                    previous.stop();
                }
                // `prepare` binds whenever the running socket cannot be kept: no socket here means a unit
                // started without being prepared.
                let socket = socket.ok_or_else(|| format!("listener `{name}` was started before it was prepared"))?;
                Ok(Box::new(Serving::start(name, addr, socket, table, in_flight)))
            }
        }
    }
}

/// One serving socket.
struct Serving {
    name: String,
    /// The address asked for (port 0 stays 0), compared across reloads.
    configured: SocketAddr,
    /// The address bound.
    bound: SocketAddr,
    table: watch::Sender<Arc<Table>>,
    stop: watch::Sender<bool>,
    /// Closes the socket's connections when it stops and answers what is still running at the deadline.
    drain: Drain,
    task: Mutex<Option<JoinHandle<()>>>,
    in_flight: InFlight,
}

impl Serving {
    fn start(
        name: String,
        configured: SocketAddr,
        socket: tokio::net::TcpListener,
        table: Table,
        in_flight: &InFlight,
    ) -> Self {
        let bound = socket.local_addr().unwrap_or(configured);
        let (table, table_rx) = watch::channel(Arc::new(table));
        let (stop, stop_rx) = watch::channel(false);
        let drain = Drain::default();
        let task = http::serve(socket, table_rx, stop_rx, in_flight.clone(), drain.clone());
        Serving {
            name,
            configured,
            bound,
            table,
            stop,
            drain,
            task: Mutex::new(Some(task)),
            in_flight: in_flight.clone(),
        }
    }
}

impl Running for Serving {
    fn stage(&self) -> Stage {
        Stage::Intake
    }

    /// At shutdown, and when a reload moves or removes the listener: no new connection, and the open ones
    /// close (idle ones at once, busy ones after their answer, HTTP/2 with a GOAWAY).
    fn stop(&self) {
        self.stop.send_replace(true);
        self.drain.start();
    }

    fn cut(&self) {
        self.drain.cut();
    }

    fn exchanges(&self) -> usize {
        self.drain.exchanges()
    }

    fn requests(&self) -> usize {
        self.drain.requests()
    }

    fn cut_requests(&self) -> usize {
        self.drain.cut_requests()
    }

    fn abort(&self) {
        // A poisoned lock only means a panic while taking the handle; the handle is still whole.
        if let Some(task) = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            task.abort();
        }
    }

    fn endpoints(&self) -> Vec<(String, SocketAddr)> {
        vec![(self.name.clone(), self.bound)]
    }
}

/// Serves one already-connected stream as if listener `name` (`""`: the default one) of `daemon` had
/// accepted it, until the connection ends: what the HTTP fuzz target drives with in-memory streams. False
/// when there is no such listener.
pub async fn serve_stream<I>(daemon: &crate::daemon::Daemon, name: &str, io: I) -> bool
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(serving) = daemon.running(&key(name)).and_then(as_serving) else { return false };
    let table = serving.table.subscribe();
    let limits = table.borrow().limits.clone();
    http::serve_connection(io, table, serving.in_flight.clone(), serving.drain.clone(), &limits).await;
    true
}
