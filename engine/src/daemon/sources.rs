//! Reads a checked program's sources into what the daemon starts: HTTP listeners (socket settings plus the
//! routing table), schedules and queue listeners. Done before anything changes, so a reload whose sources
//! cannot be set up leaves the running daemon as it was.

use super::http::{Responses, Table};
use super::queue_listener::QueueListener;
use super::response::ResponsePlan;
use super::routes::Router;
use super::scheduler::Schedule;
use crate::components::http_listener::ListenerConfig;
use crate::load::Loaded;
use crate::runtime::Runtime;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

/// One listener config: its settings (compared across reloads) and what it routes to.
pub struct PlannedListener {
    /// Where to bind (port 0: any free port).
    pub addr: SocketAddr,
    /// Limits, routes and responses.
    pub table: Table,
}

/// Everything a program's sources need.
pub struct Sources {
    /// By listener config name (`""`: the default listener on port 8080).
    pub listeners: BTreeMap<String, PlannedListener>,
    /// Scheduled flows.
    pub schedules: Vec<Schedule>,
    /// Queue-consuming flows.
    pub queues: Vec<QueueListener>,
}

fn listener_of(name: &str, config: &serde_json::Value, runtime: &Runtime) -> Result<PlannedListener, String> {
    let settings: ListenerConfig =
        serde_json::from_value(config.clone()).map_err(|e| format!("listener `{name}`: {e}"))?;
    let host = settings.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    let addr: SocketAddr =
        format!("{host}:{}", settings.port).parse().map_err(|e| format!("listener `{name}` address: {e}"))?;
    let limits = super::http::limits::Limits::of_listener(&settings);
    Ok(PlannedListener {
        addr,
        table: Table {
            max_body_size: settings.max_body_size.map_or(10 * 1024 * 1024, |s| s as usize),
            request_timeout: settings.request_timeout.map_or(Duration::from_secs(30), |d| d.0),
            limits: limits.clone(),
            requests: std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_requests_in_flight)),
            tls: settings
                .tls
                .as_ref()
                .map(|files| crate::tls::server_config(files, name).map(tokio_rustls::TlsAcceptor::from))
                .transpose()?,
            runtime: runtime.clone(),
            routes: Router::default(),
            responses: HashMap::new(),
        },
    })
}

/// Plans the sources of `loaded`, whose program `runtime` runs.
pub fn plan(loaded: &Loaded, runtime: &Runtime) -> Result<Sources, String> {
    let mut sources = Sources { listeners: BTreeMap::new(), schedules: Vec::new(), queues: Vec::new() };
    let engine = runtime.program().engine.clone();
    for flow in loaded.set.flows() {
        let Some(source) = &flow.source else { continue };
        let name = &flow.name.value;
        let params = source.params.to_json();
        match source.kind.value.as_str() {
            "http.listener" => {
                let config_name = source.config.as_ref().map_or_else(String::new, |c| c.value.clone());
                if !sources.listeners.contains_key(&config_name) {
                    let config = match loaded.set.config(&config_name) {
                        Some(c) => c.body.to_json(),
                        None => serde_json::json!({ "port": 8080 }),
                    };
                    sources.listeners.insert(config_name.clone(), listener_of(&config_name, &config, runtime)?);
                }
                let Some(planned) = sources.listeners.get_mut(&config_name) else { continue };
                let method = params.get("method").and_then(|m| m.as_str()).map(str::to_string);
                let path = params.get("path").and_then(|p| p.as_str()).unwrap_or("/");
                planned
                    .table
                    .routes
                    .add(method.as_deref(), path, name)
                    .map_err(|e| format!("flow `{name}`: {path} is {e}"))?;
                let compile = |key: &str| -> Result<Option<ResponsePlan>, String> {
                    params
                        .get(key)
                        .map(|spec| {
                            ResponsePlan::compile(&engine, spec).map_err(|e| format!("flow `{name}` {key}: {e}"))
                        })
                        .transpose()
                };
                let expose_upstream_errors =
                    params.get("expose_upstream_errors").and_then(|e| e.as_bool()) == Some(true);
                let responses =
                    Responses { ok: compile("response")?, error: compile("error_response")?, expose_upstream_errors };
                planned.table.responses.insert(name.clone(), responses);
            }
            "scheduler" => match Schedule::from_params(name, &params) {
                Some(schedule) => sources.schedules.push(schedule),
                None => return Err(format!("flow `{name}`: the schedule cannot be read")),
            },
            "queue.listener" => match QueueListener::from_params(name, &params, runtime) {
                Some(listener) => sources.queues.push(listener),
                None => return Err(format!("flow `{name}`: the queue listener cannot be read")),
            },
            other => {
                tracing::warn!(flow = %name, "source `{other}` is not available in this build; the flow is not started")
            }
        }
    }
    Ok(sources)
}
