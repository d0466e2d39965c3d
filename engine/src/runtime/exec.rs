//! The executor: runs a flow's steps for one event, one step at a time, dispatching each step kind.

use super::Runtime;
use crate::event::error::FlowError;
use crate::event::payload::Payload;
use crate::event::Event;
use crate::plan::{FlowKind, FlowPlan, Op, StepPlan};
use crate::state::claims::{Claim, Outcome, Unfinished};
use relais_dsl::ir::LogLevel;
use serde_json::Value as Json;
use std::future::Future;
use std::pin::Pin;

/// A failed run: the error and the event as it was when it happened (handlers see that event).
#[derive(Debug)]
pub(crate) struct Failure {
    /// The event at the failing step.
    pub event: Event,
    /// What went wrong.
    pub error: FlowError,
}

/// The future of running some steps; boxed because scopes nest recursively.
pub(crate) type Run<'a> = Pin<Box<dyn Future<Output = Result<Event, Failure>> + Send + 'a>>;

/// A step run without waiting, or the event handed back because the step has to wait.
// Returned once per step and consumed at once, never stored: boxing `Done` would allocate on every step
// that completes, to save a copy of a few hundred bytes on the stack.
#[allow(clippy::large_enum_variant)]
enum Now {
    /// The step ran.
    Done(Result<Event, Failure>),
    /// The step waits (a call, a router, a scope): run it as a future.
    Later(Event),
}

impl Runtime {
    /// Runs a flow's steps, then its handlers if they fail.
    pub(crate) fn run_flow_plan<'a>(&'a self, flow: &'a FlowPlan, ev: Event) -> Run<'a> {
        Box::pin(async move {
            match self.run_steps(flow, &flow.steps, ev).await {
                Ok(ev) => Ok(ev),
                Err(failure) => self.handle(flow, &flow.on_error, failure).await,
            }
        })
    }

    /// Runs a list of steps in order; the first failure stops the list. Steps that never wait (values,
    /// scripts, validation...) run directly; only scopes, routers and components build a future of their own.
    ///
    /// The list is the scope of the idempotency keys its steps claim: they are confirmed when the list
    /// completes and released when it fails, before any handler runs.
    pub(crate) fn run_steps<'a>(&'a self, flow: &'a FlowPlan, steps: &'a [StepPlan], ev: Event) -> Run<'a> {
        Box::pin(async move {
            let held = ev.claims.len();
            // Releases this list's claims if the future is dropped mid-list (see `Unfinished`).
            let mut unfinished = Unfinished::default();
            let mut ev = ev;
            let tracked = self.program().tracks_sensitive;
            let step_spans = crate::trace::steps_on();
            for step in steps {
                if let Some(hits) = flow.hits.get(step.index) {
                    hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if tracked {
                    // What the event holds before each step is what it has carried: the scrubber and the
                    // guard on partner calls know a sensitive value wherever a later step moves it.
                    let program = self.program();
                    program.redactor.carry(&mut ev, &program.readers);
                }
                let span = if step_spans { step_span(flow, step, &mut ev) } else { None };
                let result = match self.run_now(flow, step, ev) {
                    Now::Done(result) => result,
                    Now::Later(ev) => self.run_later(flow, step, ev).await,
                };
                let result = match span {
                    Some((span, outer)) => end_step_span(span, outer, result),
                    None => result,
                };
                ev = match result {
                    Ok(ev) => ev,
                    Err(failure) => {
                        unfinished.disarm();
                        return Err(release_claims(failure, held));
                    }
                };
                if ev.claims.len() > held {
                    unfinished.follow(&ev.claims[held..]);
                }
            }
            unfinished.disarm();
            if ev.claims.len() > held {
                return confirm_claims(flow, steps, ev, held);
            }
            Ok(ev)
        })
    }

    /// Runs a step that needs no waiting; hands the event back for the others.
    fn run_now(&self, flow: &FlowPlan, step: &StepPlan, ev: Event) -> Now {
        let fail = |event: Event, error: FlowError| {
            Now::Done(Err(Failure { event, error: error.at(&flow.name, &step.label, &step.location) }))
        };
        macro_rules! attempt {
            ($ev:expr, $result:expr) => {
                match $result {
                    Ok(v) => v,
                    Err(e) => return fail($ev, e),
                }
            };
        }
        let mut ev = ev;
        match &step.op {
            Op::SetPayload(value, media_type) => {
                let v = attempt!(ev, self.value(value, &ev));
                let mt = media_type.as_deref().unwrap_or(crate::event::payload::default_media_type(&v));
                ev.set_payload(Payload::value_as(v, mt));
            }
            Op::SetFixedPayload(payload) => ev.payload = payload.clone(),
            Op::SetVariable(name, value) => {
                let v = attempt!(ev, self.value(value, &ev));
                ev.set_var(name, v);
            }
            Op::RemoveVariable(name) => ev.remove_var(name),
            Op::Transform(script) => {
                let payload = attempt!(ev, self.eval_payload(script, &ev));
                ev.set_payload(payload);
            }
            Op::Logger(level, message, category) => {
                // Rendering costs script runs: skip it when nobody listens at this level.
                if enabled(*level) {
                    let text = attempt!(ev, self.render(message, &ev));
                    log(*level, &ev, &flow.name, category, &self.scrub(&text, &ev));
                }
            }
            Op::RaiseError(error_type, description) => {
                let text = match description {
                    Some(d) => attempt!(ev, self.render(d, &ev)),
                    None => format!("{error_type} raised"),
                };
                return fail(ev, FlowError::typed(error_type.clone(), text));
            }
            Op::Validate(validator) => {
                if let Some(problems) = attempt!(ev, self.schema_problems(validator, &ev)) {
                    return fail(ev, FlowError::new("VALIDATION:INVALID", problems));
                }
            }
            Op::Idempotent(plan) => {
                let key = match attempt!(ev, self.eval_json(&plan.key, &ev)) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                let outcome = Claim::take(&plan.store, key.clone(), plan.ttl, plan.claim_timeout);
                match attempt!(ev, outcome.map_err(crate::state::object_store::unavailable)) {
                    Outcome::Claimed(claim, recovered) => {
                        if let Some(target) = &plan.target {
                            ev.set_var(target, serde_json::json!({ "key": key, "recovered": recovered }));
                        }
                        std::sync::Arc::make_mut(&mut ev.claims).push(claim)
                    }
                    Outcome::Duplicate => {
                        let error =
                            FlowError::new("IDEMPOTENCY:DUPLICATE", format!("key `{key}` was already processed"));
                        return fail(ev, error);
                    }
                    Outcome::InProgress => {
                        let error = FlowError::new(
                            "IDEMPOTENCY:IN_PROGRESS",
                            format!("key `{key}` is being processed by another event; retry later"),
                        );
                        return fail(ev, error);
                    }
                }
            }
            _ => return Now::Later(ev),
        }
        Now::Done(Ok(ev))
    }

    /// Runs a step that waits: calls, routers and scopes.
    fn run_later<'a>(&'a self, flow: &'a FlowPlan, step: &'a StepPlan, ev: Event) -> Run<'a> {
        Box::pin(async move {
            match &step.op {
                Op::FlowRef(name, target) => self.flow_ref(flow, step, name, target.as_deref(), ev).await,
                Op::Component(node) => {
                    let before = ev.clone();
                    match node.call(self, ev).await {
                        Ok(ev) => Ok(ev),
                        Err(e) => Err(Failure { event: before, error: e.at(&flow.name, &step.label, &step.location) }),
                    }
                }
                Op::Choice(branches, otherwise) => self.choice(flow, step, branches, otherwise.as_deref(), ev).await,
                Op::Foreach { collection, batch_size, counter, root_message, steps } => {
                    self.foreach(flow, step, collection.as_deref(), *batch_size, counter, root_message, steps, ev).await
                }
                Op::ParallelForeach { collection, max_concurrency, timeout, steps } => {
                    self.parallel_foreach(flow, step, collection.as_deref(), *max_concurrency, *timeout, steps, ev)
                        .await
                }
                Op::ScatterGather { timeout, max_concurrency, routes } => {
                    self.scatter_gather(flow, step, *timeout, *max_concurrency, routes, ev).await
                }
                Op::FirstSuccessful(routes) => self.first_successful(flow, step, routes, ev).await,
                Op::Try(steps, handlers) => match self.run_steps(flow, steps, ev).await {
                    Ok(ev) => Ok(ev),
                    Err(failure) => self.handle(flow, handlers, failure).await,
                },
                Op::UntilSuccessful(max_retries, backoff, rule, steps) => {
                    self.until_successful(flow, step, (*max_retries, *backoff, rule), steps, ev).await
                }
                Op::Async(semaphore, steps) => self.spawn_async(flow, semaphore, steps, ev).await,
                Op::Scope(resource, steps) => self.resource_scope(flow, step, resource.as_deref(), steps, ev).await,
                _ => match self.run_now(flow, step, ev) {
                    Now::Done(result) => result,
                    // Every step `run_now` hands back is matched above.
                    Now::Later(ev) => Ok(ev),
                },
            }
        })
    }

    /// What is wrong with the payload according to a schema: every problem, the first
    /// [`crate::json_schema::LISTED`] with the JSON pointer of the offending value (`/buyer/email`; `/` for
    /// the whole payload), then how many more.
    fn schema_problems(&self, validator: &jsonschema::Validator, ev: &Event) -> Result<Option<String>, FlowError> {
        let value = ev.payload.read(&self.program().readers)?;
        let (listed, more) = crate::json_schema::problems(validator, value);
        Ok((!listed.is_empty()).then(|| crate::json_schema::describe(&listed, more)))
    }

    /// `flow_ref`: runs another flow (with its own handlers) or sub-flow (in the caller's error scope) on the
    /// same event; with a target, the result goes to a variable and the payload is kept.
    async fn flow_ref(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        name: &str,
        target: Option<&str>,
        ev: Event,
    ) -> Result<Event, Failure> {
        let Some(called) = self.program().flow(name).cloned() else {
            let error = FlowError::new("FLOW:NOT_FOUND", format!("no flow named `{name}`")).at(
                &flow.name,
                &step.label,
                &step.location,
            );
            return Err(Failure { event: ev, error });
        };
        let original = ev.payload.clone();
        let result = match called.kind {
            FlowKind::Flow => self.run_flow_plan(&called, ev).await,
            FlowKind::SubFlow => self.run_steps(&called, &called.steps, ev).await,
        };
        let mut out = result?;
        if let Some(var) = target {
            let value = match out.payload.read(&self.program().readers) {
                Ok(v) => v.clone(),
                Err(e) => return Err(Failure { event: out, error: e.at(&flow.name, &step.label, &step.location) }),
            };
            out.set_var(var, value);
            out.payload = original;
        }
        Ok(out)
    }
}

/// The span of one step (at debug, see [`crate::trace::steps_on`]), under the span the event is in; the
/// event moves into it, and the span it was in is returned to be restored after the step.
fn step_span(
    flow: &FlowPlan,
    step: &StepPlan,
    ev: &mut Event,
) -> Option<(crate::trace::Span, Option<crate::trace::TraceContext>)> {
    let attributes = vec![
        crate::trace::KeyValue::new("relais.flow", flow.name.clone()),
        crate::trace::KeyValue::new("relais.step", step.label.clone()),
        crate::trace::KeyValue::new("code.location", step.location.clone()),
    ];
    let name = format!("step {}", step.label);
    let span = crate::trace::Span::start(name, crate::trace::SpanKind::Internal, ev.trace.as_ref(), attributes)?;
    let outer = ev.trace.replace(span.context().clone());
    Some((span, outer))
}

/// Ends a step's span (failed with the error's type) and puts the event back in the span it was in.
fn end_step_span(
    mut span: crate::trace::Span,
    outer: Option<crate::trace::TraceContext>,
    result: Result<Event, Failure>,
) -> Result<Event, Failure> {
    let result = match result {
        Ok(mut ev) => {
            ev.trace = outer;
            Ok(ev)
        }
        Err(mut failure) => {
            span.fail(&failure.error.error_type.to_string());
            failure.event.trace = outer;
            Err(failure)
        }
    };
    span.end();
    result
}

fn enabled(level: LogLevel) -> bool {
    match level {
        LogLevel::Trace => tracing::enabled!(tracing::Level::TRACE),
        LogLevel::Debug => tracing::enabled!(tracing::Level::DEBUG),
        LogLevel::Info => tracing::enabled!(tracing::Level::INFO),
        LogLevel::Warn => tracing::enabled!(tracing::Level::WARN),
        LogLevel::Error => tracing::enabled!(tracing::Level::ERROR),
    }
}

fn log(level: LogLevel, ev: &Event, flow: &str, category: &str, text: &str) {
    let id = &*ev.correlation_id;
    let trace_id = crate::trace::log_id(&ev.trace);
    match level {
        LogLevel::Trace => tracing::trace!(correlation_id = id, trace_id, flow, category, "{text}"),
        LogLevel::Debug => tracing::debug!(correlation_id = id, trace_id, flow, category, "{text}"),
        LogLevel::Info => tracing::info!(correlation_id = id, trace_id, flow, category, "{text}"),
        LogLevel::Warn => tracing::warn!(correlation_id = id, trace_id, flow, category, "{text}"),
        LogLevel::Error => tracing::error!(correlation_id = id, trace_id, flow, category, "{text}"),
    }
}

/// Releases the claims made inside a failed step list (those past the `held` it started with), so that the
/// next delivery of the message runs the guarded steps again.
fn release_claims(mut failure: Failure, held: usize) -> Failure {
    if failure.event.claims.len() > held {
        for claim in &failure.event.claims[held..] {
            if let Err(why) = claim.release() {
                tracing::error!(
                    correlation_id = %failure.event.correlation_id,
                    trace_id = crate::trace::log_id(&failure.event.trace),
                    "cannot release idempotency key `{}`: {why}; it frees itself after its claim timeout",
                    claim.key()
                );
            }
        }
        std::sync::Arc::make_mut(&mut failure.event.claims).truncate(held);
    }
    failure
}

/// Confirms the claims made inside a completed step list. A store that cannot record it fails the list:
/// the work is done, but its key would not say so, and a redelivery after the claim timeout would repeat it.
fn confirm_claims(flow: &FlowPlan, steps: &[StepPlan], mut ev: Event, held: usize) -> Result<Event, Failure> {
    for (i, claim) in ev.claims[held..].iter().enumerate() {
        if let Err(why) = claim.confirm() {
            let error = crate::state::object_store::unavailable(why);
            let error = match steps.last() {
                Some(step) => error.at(&flow.name, &step.label, &step.location),
                None => error,
            };
            // The claims confirmed so far stay done; this one and those after it are released.
            std::sync::Arc::make_mut(&mut ev.claims).drain(held..held + i);
            return Err(release_claims(Failure { event: ev, error }, held));
        }
    }
    std::sync::Arc::make_mut(&mut ev.claims).truncate(held);
    Ok(ev)
}
