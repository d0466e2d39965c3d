//! Sources as plug-ins: what a source component implements so that the daemon can start, reload and drain
//! it without knowing what it is (an HTTP listener, a schedule, a queue consumer, a broker subscription).
//!
//! A program declares its sources ([`SourceDecl`], one per flow with a `source:`). At start and at each
//! reload the registry hands every source kind the declarations of its flows, and the kind plans them
//! into [`Planned`] units, grouped as it needs (the HTTP listener: one unit per listener config, one
//! socket routing to many flows; a schedule: one unit per flow). The daemon then:
//! 1. prepares every unit ([`Planned::prepare`]: binding a socket, anything that can fail), handing it the
//!    running unit with the same [`Planned::key`] if there is one; a failure here changes nothing;
//! 2. starts every unit ([`Planned::start`]), which takes over the running unit of its key (keeping its
//!    socket) or stops it; running units whose key is gone are stopped;
//! 3. at shutdown stops the [`Stage::Intake`] units (no new work from outside), waits for the work in
//!    flight, then stops the [`Stage::Internal`] units (consumers of in-process queues), then aborts what is left.

mod in_flight;
mod task;

pub use in_flight::{InFlight, Working};
pub use task::{Spawn, TaskPlanned};

pub use crate::component::SourceDecl;
use crate::component::{ConfigRef, Readiness};
use crate::runtime::Runtime;
use futures_util::future::BoxFuture;
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

/// A flow's source with its settings typed, as a kind's [`Source::plan`] receives it.
pub struct SourceUse<T> {
    /// The flow it starts.
    pub flow: String,
    /// Its settings.
    pub settings: Arc<T>,
    /// The config it names.
    pub config_name: Option<String>,
}

/// When a running source stops at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Takes work from outside the process (requests, schedules): stopped first.
    Intake,
    /// Consumes work the process holds (in-process queues): stopped once the intake's work is done, so
    /// what the intake accepted is processed.
    Internal,
}

/// A source component: its config type is the `source:` settings.
pub trait Source: DeserializeOwned + JsonSchema + Send + Sync + Sized + 'static {
    /// Name (`http.listener`).
    const NAME: &'static str;
    /// One line for `relais schema`, `relais explain` and the README table.
    const SUMMARY: &'static str;
    /// The config kind `config:` names, if the source takes one.
    const CONFIG: Option<ConfigRef> = None;

    /// Checks beyond the schema, on the typed settings, with spans from `at`.
    fn check(&self, _at: &Node, _diags: &mut Diagnostics) {}

    /// A system the source receives from that no `config:` names (a queue by its name), for the map
    /// `relais graph` draws.
    fn reaches(&self) -> Option<crate::component::Reach> {
        None
    }

    /// What starts the flow when no system does (a schedule: `cron 0 8 * * * Europe/Paris`), for the map.
    fn trigger(&self) -> Option<String> {
        None
    }

    /// Sets up the state before the program's steps are built (a queue listener bounds its queue).
    fn declare(&self, _state: &Arc<crate::state::State>) {}

    /// Plans the flows using this source kind in the program `runtime` runs.
    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String>;
}

/// A unit of a source, planned and not yet running.
pub trait Planned: Send {
    /// Identity across reloads (`http.listener:api`, `scheduler:sms_reminder`).
    fn key(&self) -> String;

    /// Acquires what can fail (a socket), knowing the running unit of the same key, before anything
    /// running changes.
    fn prepare<'a>(&'a mut self, previous: Option<&'a dyn Running>) -> BoxFuture<'a, Result<(), String>>;

    /// Starts taking work, taking over `previous` (same key): reusing what it holds, or stopping it. Fails
    /// only when [`Planned::prepare`] was not called or did not succeed.
    fn start(
        self: Box<Self>,
        previous: Option<Box<dyn Running>>,
        in_flight: &InFlight,
    ) -> Result<Box<dyn Running>, String>;
}

/// A running unit of a source.
pub trait Running: Any + Send + Sync {
    /// When it stops at shutdown.
    fn stage(&self) -> Stage;

    /// Stops taking new work; work already started finishes on its own (and connections are asked to
    /// close once their answer is out).
    fn stop(&self);

    /// The drain deadline passed: what is still running is answered now (an HTTP request gets a 503
    /// saying the server is shutting down) rather than dropped silently.
    fn cut(&self) {}

    /// Exchanges still being written (an answer on its way out); shutdown waits briefly for them after
    /// [`Running::cut`] before it aborts.
    fn exchanges(&self) -> usize {
        0
    }

    /// Requests being processed right now: part of the work in flight, told apart in the drain's report.
    fn requests(&self) -> usize {
        0
    }

    /// Requests [`Running::cut`] answered, for the drain's report.
    fn cut_requests(&self) -> usize {
        0
    }

    /// Ends whatever it still runs (the drain deadline passed).
    fn abort(&self);

    /// The addresses it listens on, by name (`""` for the default listener): announced at start.
    fn endpoints(&self) -> Vec<(String, SocketAddr)> {
        Vec::new()
    }

    /// Whether it takes work now (`/ready`).
    fn ready(&self) -> Readiness {
        Readiness::Ready
    }
}
