//! The daemon behind `relais run`: starts the sources of a checked, compiled program (HTTP listeners,
//! schedulers), and drains in-flight work on shutdown.

mod admin;
mod http;
mod problem;
mod routes;
mod scheduler;

use crate::components::http_listener::ListenerConfig;
use crate::load::Loaded;
use crate::runtime::Runtime;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A running daemon.
pub struct Daemon {
    /// Bound HTTP listener addresses, by listener config name (`""` for the default listener).
    pub listeners: Vec<(String, SocketAddr)>,
    /// Bound address of the admin endpoints, when enabled.
    pub admin: Option<SocketAddr>,
    runtime: Runtime,
    stop: watch::Sender<bool>,
    /// Kept apart from `stop` so that `/ready` answers "draining" while requests finish; dropped (which
    /// stops the admin server) when shutdown ends.
    _admin_stop: watch::Sender<bool>,
    in_flight: http::InFlight,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts every source of the program. Listener configs give host and port (port 0 picks a free port).
pub async fn start(loaded: &Loaded, runtime: Runtime) -> Result<Daemon, String> {
    start_with_admin(loaded, runtime, None).await
}

/// [`start`], plus the admin endpoints (`/health`, `/ready`, `/metrics`) on `admin`.
pub async fn start_with_admin(loaded: &Loaded, runtime: Runtime, admin: Option<SocketAddr>) -> Result<Daemon, String> {
    let (stop, stop_rx) = watch::channel(false);
    let in_flight = http::InFlight::default();
    let mut listeners: HashMap<String, http::Listener> = HashMap::new();
    let mut tasks = Vec::new();
    for flow in loaded.set.flows() {
        let Some(source) = &flow.source else { continue };
        let params = source.params.to_json();
        match source.kind.value.as_str() {
            "http.listener" => {
                let name = source.config.as_ref().map_or_else(String::new, |c| c.value.clone());
                if !listeners.contains_key(&name) {
                    let config: ListenerConfig =
                        match loaded.set.config(&name) {
                            Some(c) => serde_json::from_value(c.body.to_json())
                                .map_err(|e| format!("listener `{name}`: {e}"))?,
                            None => serde_json::from_value(serde_json::json!({ "port": 8080 }))
                                .map_err(|e| e.to_string())?,
                        };
                    let host = config.host.clone().unwrap_or_else(|| "127.0.0.1".into());
                    let addr: SocketAddr =
                        format!("{host}:{}", config.port).parse().map_err(|e| format!("listener `{name}`: {e}"))?;
                    listeners.insert(
                        name.clone(),
                        http::Listener {
                            addr,
                            max_body_size: config.max_body_size.unwrap_or(10 * 1024 * 1024) as usize,
                            request_timeout: config.request_timeout.map_or(Duration::from_secs(30), |d| d.0),
                            routes: Vec::new(),
                            statuses: HashMap::new(),
                        },
                    );
                }
                let Some(listener) = listeners.get_mut(&name) else { continue };
                let method = params.get("method").and_then(|m| m.as_str()).map(str::to_string);
                let path = params.get("path").and_then(|p| p.as_str()).unwrap_or("/");
                listener.routes.push(routes::Route::new(method, path, &flow.name.value));
                if let Some(status) = params.pointer("/response/status").and_then(|s| s.as_u64()) {
                    listener.statuses.insert(flow.name.value.clone(), status as u16);
                }
            }
            "scheduler" => {
                if let Some(schedule) = scheduler::Schedule::from_params(&flow.name.value, &params) {
                    tasks.push(scheduler::start(schedule, runtime.clone(), stop_rx.clone()));
                }
            }
            other => {
                tracing::warn!(flow = %flow.name.value, "source `{other}` is not available in this build; the flow is not started")
            }
        }
    }
    let mut bound = Vec::new();
    for (name, listener) in listeners {
        let (addr, task) = http::serve(listener, runtime.clone(), stop_rx.clone(), in_flight.clone())
            .await
            .map_err(|e| format!("cannot listen for `{name}`: {e}"))?;
        bound.push((name, addr));
        tasks.push(task);
    }
    bound.sort();
    let (admin_stop, admin_stop_rx) = watch::channel(false);
    let admin = match admin {
        Some(addr) => {
            let (addr, task) = admin::serve(addr, runtime.clone(), admin_stop_rx)
                .await
                .map_err(|e| format!("cannot listen for the admin endpoints on {addr}: {e}"))?;
            tasks.push(task);
            Some(addr)
        }
        None => None,
    };
    Ok(Daemon { listeners: bound, admin, runtime, stop, _admin_stop: admin_stop, in_flight, tasks })
}

impl Daemon {
    /// Stops accepting work, waits for in-flight requests up to `deadline`; true when all finished.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.runtime.close();
        let _ = self.stop.send(true);
        let until = Instant::now() + deadline;
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drained = self.in_flight.load(Ordering::SeqCst) == 0;
        for task in self.tasks {
            task.abort();
        }
        drained
    }
}
