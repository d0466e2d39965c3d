//! Scopes: error handlers (`on_error` of flows and `try`), `until_successful`, `async`, and the scopes a
//! resource opens (`db.transaction`).

use super::exec::Failure;
use super::Runtime;
use crate::event::error::{matches, FlowError};
use crate::event::Event;
use crate::plan::{BackoffPlan, FlowPlan, HandlerPlan, RetryRule, StepPlan};
use relais_dsl::ir::HandlerAction;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

impl Runtime {
    /// Runs the first handler whose types and `when` match. `continue` completes the owner with the
    /// handler's result; `propagate` runs the handler, then rethrows. No match: the error goes on.
    pub(crate) async fn handle(
        &self,
        flow: &FlowPlan,
        handlers: &[HandlerPlan],
        failure: Failure,
    ) -> Result<Event, Failure> {
        let Failure { event, error } = failure;
        let mut ev = event;
        ev.error = Some(Arc::new(error.clone()));
        for handler in handlers {
            let type_ok = handler.types.is_empty() || handler.types.iter().any(|t| matches(t, &error.error_type));
            if !type_ok {
                continue;
            }
            if let Some(when) = &handler.when {
                match self.eval_bool(when, &ev) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        let e = self.scrub(&e.to_string(), &ev).into_owned();
                        tracing::warn!(
                            correlation_id = %ev.correlation_id,
                            trace_id = crate::trace::log_id(&ev.trace),
                            flow = %flow.name,
                            "handler condition failed: {e}"
                        );
                        continue;
                    }
                }
            }
            let mut out = self.run_steps(flow, &handler.steps, ev).await?;
            return match handler.action {
                HandlerAction::Continue => {
                    out.error = None;
                    Ok(out)
                }
                HandlerAction::Propagate => Err(Failure { event: out, error }),
            };
        }
        ev.error = None;
        Err(Failure { event: ev, error })
    }

    /// Retries the steps, each attempt from the event as it was before the scope, with exponential backoff
    /// and full jitter; when attempts run out, `RETRY:EXHAUSTED` with the last error as its cause. An error
    /// the scope's [`RetryRule`] does not retry (a permanent one, [`FlowError::is_permanent`], or one outside
    /// `retry_on` / inside `no_retry_on`) leaves at once, as it is.
    pub(crate) async fn until_successful(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        (max_retries, backoff, rule): (u32, BackoffPlan, &RetryRule),
        steps: &[StepPlan],
        ev: Event,
    ) -> Result<Event, Failure> {
        let mut attempt = 0u32;
        loop {
            match self.run_steps(flow, steps, ev.clone()).await {
                Ok(out) => return Ok(out),
                // Another attempt would fail the same way (SENSITIVE:LEAK, CONTRACT:VIOLATION, a 422 when only
                // connectivity and 5xx are retried): the error goes on as it is, so handlers see its own type.
                Err(failure) if !rule.retries(&failure.error) => return Err(failure),
                Err(failure) if attempt >= max_retries => {
                    let why = format!("gave up after {} attempt(s): {}", attempt + 1, failure.error.description);
                    return Err(exhausted(flow, step, why, failure.error, ev));
                }
                Err(failure) => {
                    self.metrics().retry(&flow.name, failure.error.outbound_config());
                    tracing::debug!(
                        correlation_id = %ev.correlation_id,
                        trace_id = crate::trace::log_id(&ev.trace),
                        flow = %flow.name,
                        attempt,
                        "retrying after {}",
                        self.scrub(&failure.error.to_string(), &failure.event)
                    );
                    tokio::time::sleep(delay(backoff, attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Runs the steps inside a scope `resource` opens (a transaction), visible to the steps inside, and
    /// finishes it with their outcome: a failure to open or to finish (a commit refused) fails the step.
    /// Without a resource (flow tests), the steps run as a plain list.
    pub(crate) async fn resource_scope(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        resource: Option<&dyn crate::component::Resource>,
        steps: &[StepPlan],
        ev: Event,
    ) -> Result<Event, Failure> {
        let Some(opening) = resource.and_then(|r| r.open_scope()) else {
            return self.run_steps(flow, steps, ev).await;
        };
        let place = |e: FlowError| e.at(&flow.name, &step.label, &step.location);
        let open = match opening.await {
            Ok(open) => open,
            Err(e) => return Err(Failure { event: ev, error: place(e) }),
        };
        let result = crate::component::scope::within(open.clone(), self.run_steps(flow, steps, ev)).await;
        match (open.finish(result.is_ok()).await, result) {
            (Ok(()), result) => result,
            (Err(e), Ok(event)) => Err(Failure { event, error: place(e) }),
            // The steps' own failure is what the flow sees; the rollback's is logged by the resource.
            (Err(_), Err(failure)) => Err(failure),
        }
    }

    /// Starts the steps in the background on a copy of the event (waiting for a slot when `max_concurrency`
    /// runs are already going) and goes on at once. Errors cannot reach the caller: they are logged with
    /// the correlation id and counted.
    pub(crate) async fn spawn_async(
        &self,
        flow: &FlowPlan,
        semaphore: &Arc<tokio::sync::Semaphore>,
        steps: &Arc<Vec<StepPlan>>,
        ev: Event,
    ) -> Result<Event, Failure> {
        let Ok(permit) = semaphore.clone().acquire_owned().await else { return Ok(ev) };
        let Some(plan) = self.program().flow(&flow.name).cloned() else { return Ok(ev) };
        let runtime = self.clone();
        let steps = steps.clone();
        let copy = ev.clone();
        let running = Running::start(&self.inner.async_running);
        tokio::spawn(async move {
            let _permit = permit;
            let _running = running;
            if let Err(failure) = runtime.run_steps(&plan, &steps, copy).await {
                runtime.inner.async_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    correlation_id = %failure.event.correlation_id,
                    trace_id = crate::trace::log_id(&failure.event.trace),
                    flow = %plan.name,
                    error_type = %failure.error.error_type,
                    "error in async scope: {}",
                    runtime.scrub(&failure.error.to_string(), &failure.event)
                );
            }
        });
        Ok(ev)
    }
}

/// One `async` scope counted as running until its task ends, however it ends (a guard, so that an aborted
/// or panicking task does not leave the drain waiting forever).
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    fn start(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Running(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `RETRY:EXHAUSTED` at the scope, with the last attempt's error as its cause and the event as it was
/// before the scope.
fn exhausted(flow: &FlowPlan, step: &StepPlan, why: String, last: FlowError, ev: Event) -> Failure {
    let error = FlowError::new("RETRY:EXHAUSTED", why).caused_by(last).at(&flow.name, &step.label, &step.location);
    Failure { event: ev, error }
}

/// Delay before retry number `attempt + 1`: `initial * multiplier^attempt`, capped at `max`, and with full
/// jitter a uniform draw in `[0, that]` so that clients retrying together spread out.
fn delay(backoff: BackoffPlan, attempt: u32) -> Duration {
    let base = backoff.initial.as_secs_f64() * backoff.multiplier.powi(attempt.min(64) as i32);
    let capped = base.min(backoff.max.as_secs_f64());
    let seconds = if backoff.jitter { capped * unit_random() } else { capped };
    Duration::from_secs_f64(seconds.max(0.0))
}

/// A uniform number in `[0, 1)`; jitter needs spread, not cryptographic quality.
fn unit_random() -> f64 {
    let id = crate::event::new_correlation_id();
    let bits = u64::from_str_radix(&id[..8], 16).unwrap_or(0);
    bits as f64 / f64::from(u32::MAX).max(1.0) % 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_and_jitter_stays_below_it() {
        let b = BackoffPlan {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: false,
        };
        assert_eq!(delay(b, 0), Duration::from_millis(100));
        assert_eq!(delay(b, 2), Duration::from_millis(400));
        assert_eq!(delay(b, 10), Duration::from_secs(1));
        let j = BackoffPlan { jitter: true, ..b };
        for attempt in 0..20 {
            assert!(delay(j, attempt) <= Duration::from_secs(1));
        }
    }
}
