//! The runtime: events, the executor that drives compiled plans on tokio, and error handling.
//!
//! [`Runtime::run_flow`] is the one entry point sources (HTTP listeners, schedulers, queues) and
//! `relais test` use: it runs a flow for one event under the flow's concurrency bound and returns the
//! resulting event or the typed error that escaped every handler.

mod context;
pub(crate) mod dead_letter;
mod exec;
mod routers;
mod scopes;
mod script;

// The event model and the state moved below the runtime (`crate::event`, `crate::state`) so that plans can
// name them without importing the runtime; these paths stay for code written against them.
pub use crate::event::{self, error, payload, Event, FlowError, Payload};
pub use crate::state::{self, claims, object_store, queue, store};
// The counters moved out of the runtime (`crate::metrics`) so that components and the state can count too.
pub use crate::metrics;

use crate::plan::Program;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

struct Inner {
    program: Arc<Program>,
    /// Shared with the runtimes a hot reload creates, so counters do not reset.
    metrics: Arc<metrics::Metrics>,
    async_errors: Arc<AtomicU64>,
    /// `async` scopes running in the background, shared with successors: the daemon's drain waits for them.
    async_running: Arc<AtomicUsize>,
    /// Set once by [`Runtime::close`]; sources wait on it ([`Runtime::closed`]) to stop pulling work.
    closing: tokio::sync::watch::Sender<bool>,
}

/// Runs events through a program's flows. Cheap to clone: clones share the program and counters.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// A runtime for a compiled program.
    pub fn new(program: Program) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                program: Arc::new(program),
                metrics: Arc::default(),
                async_errors: Arc::default(),
                async_running: Arc::default(),
                closing: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    /// A runtime for the program a hot reload compiled: new events run on it, events already running
    /// finish on `self`; both count into the same metrics.
    pub fn successor(&self, program: Program) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                program: Arc::new(program),
                metrics: self.inner.metrics.clone(),
                async_errors: self.inner.async_errors.clone(),
                async_running: self.inner.async_running.clone(),
                closing: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    /// The program being run.
    pub fn program(&self) -> &Program {
        &self.inner.program
    }

    /// Per-flow counters (events, errors by type, latency, bytes).
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Whether [`Runtime::close`] was called.
    pub fn is_closing(&self) -> bool {
        *self.inner.closing.borrow()
    }

    /// Resolves once [`Runtime::close`] was called (at once if it already was): what a source's loop
    /// selects on to stop taking new work.
    pub async fn closed(&self) {
        let mut rx = self.inner.closing.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail while we hold it.
        let _ = rx.wait_for(|closing| *closing).await;
    }

    /// Fixes the time scripts read with `now()`, `today(tz)`, `tomorrow(tz)` (flow tests, replays), or
    /// lets it follow the system clock again with `None`.
    pub fn set_now(&self, now: Option<chrono::DateTime<chrono::Utc>>) {
        self.program().clock.set_fixed(now);
    }

    /// `text` without the event's sensitive values or any secret: what every log line about an event goes
    /// through.
    pub(crate) fn scrub<'t>(&self, text: &'t str, event: &Event) -> std::borrow::Cow<'t, str> {
        let program = self.program();
        program.redactor.text(text, event, &program.readers)
    }

    /// `error` scrubbed of the event's sensitive values and every secret: the error as it leaves the runtime
    /// (to a caller, into a dead letter); the flow's handlers saw it whole.
    pub(crate) fn scrub_error(&self, error: FlowError, event: &Event) -> FlowError {
        let program = self.program();
        program.redactor.error(error, event, &program.readers)
    }

    /// Errors raised inside `async` scopes since start: they cannot reach the caller, so they are logged
    /// and counted here (and exported as a metric by the daemon).
    pub fn async_errors(&self) -> u64 {
        self.inner.async_errors.load(Ordering::Relaxed)
    }

    /// `async` scopes still running in the background, on this runtime and the ones before and after it
    /// in a chain of reloads: shutdown drains them like requests.
    pub fn async_running(&self) -> usize {
        self.inner.async_running.load(Ordering::SeqCst)
    }

    /// Stops accepting new events: later [`Runtime::run_flow`] calls fail with `RUNTIME:SHUTTING_DOWN`,
    /// events already running finish (the daemon drains them up to its deadline).
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// The span of one run of `flow` (`None` when tracing is off), under the span the event is in (its
    /// source's); the event moves into it. The correlation id rides along, scrubbed.
    fn flow_span(&self, flow: &str, event: &mut Event) -> Option<crate::trace::Span> {
        if !crate::trace::is_on() {
            return None;
        }
        let attributes = vec![crate::trace::KeyValue::new("relais.flow", flow.to_string())];
        let name = format!("flow {flow}");
        let mut span =
            crate::trace::Span::start(name, crate::trace::SpanKind::Internal, event.trace.as_ref(), attributes)?;
        span.set_scrubbed("relais.correlation_id", self.scrub(&event.correlation_id, event).into_owned());
        event.trace = Some(span.context().clone());
        Some(span)
    }

    /// Runs flow `name` for one event, under the flow's `max_concurrency`, with its error handlers.
    pub async fn run_flow(&self, name: &str, event: Event) -> Result<Event, FlowError> {
        self.run_flow_admitted(name, event, None).await
    }

    /// [`Runtime::run_flow`] for a caller that took a permit of the flow's `max_concurrency` itself
    /// (`admitted`), before doing work the bound should cover: the HTTP listener takes it before reading a
    /// request's body. Without one, the run waits for a permit as `run_flow` does.
    pub async fn run_flow_admitted(
        &self,
        name: &str,
        event: Event,
        admitted: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<Event, FlowError> {
        if self.is_closing() {
            return Err(FlowError::new("RUNTIME:SHUTTING_DOWN", "the engine is shutting down"));
        }
        let Some(flow) = self.program().flow(name).cloned() else {
            return Err(FlowError::new("FLOW:NOT_FOUND", format!("no flow named `{name}`")));
        };
        self.run_plan_admitted(flow, event, admitted).await
    }

    /// [`Runtime::run_flow_admitted`] of a flow the caller already looked up (the HTTP listener does, to
    /// take its permit), so that a request looks its flow up once.
    pub async fn run_plan_admitted(
        &self,
        flow: Arc<crate::plan::FlowPlan>,
        event: Event,
        admitted: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<Event, FlowError> {
        if self.is_closing() {
            return Err(FlowError::new("RUNTIME:SHUTTING_DOWN", "the engine is shutting down"));
        }
        let _permit = match (admitted, &flow.concurrency) {
            (Some(permit), _) => Some(permit),
            (None, Some(sem)) => Some(
                sem.clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| FlowError::new("RUNTIME:SHUTTING_DOWN", "the flow is closed"))?,
            ),
            (None, None) => None,
        };
        let correlation_id = event.correlation_id.clone();
        let mut event = event;
        if event.origin.is_none() {
            event.origin = Some(Arc::new(crate::event::Origin {
                flow: flow.shared_name.clone(),
                payload: event.payload.clone(),
                attributes: event.attributes.clone(),
            }));
        }
        let span = self.flow_span(&flow.name, &mut event);
        let trace = event.trace.clone();
        let started = std::time::Instant::now();
        let result = self.run_flow_plan(&flow, event).await;
        let error_type = result.as_ref().err().map(|f| f.error.error_type.to_string());
        if let Some(mut span) = span {
            if let Some(error_type) = &error_type {
                span.fail(error_type);
            }
            span.end();
        }
        self.inner.metrics.record(&flow.name, started.elapsed(), error_type);
        match result {
            Ok(ev) => Ok(ev),
            Err(failure) => {
                tracing::error!(
                    correlation_id = %correlation_id,
                    trace_id = crate::trace::log_id(&trace),
                    flow = %flow.name,
                    error_type = %failure.error.error_type,
                    "unhandled error: {}",
                    self.scrub(&failure.error.to_string(), &failure.event)
                );
                Err(self.scrub_error(failure.error, &failure.event))
            }
        }
    }
}
