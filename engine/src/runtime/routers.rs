//! Routers: `choice`, `foreach`, `parallel_foreach`, `scatter_gather`, `first_successful`.

use super::exec::Failure;
use super::Runtime;
use crate::event::error::FlowError;
use crate::event::payload::{FormatReader, Payload};
use crate::event::Event;
use crate::plan::{FlowPlan, Script, StepPlan};
use futures_util::stream::{self, StreamExt};
use serde_json::Value as Json;
use std::sync::Arc;
use std::time::Duration;

fn at(flow: &FlowPlan, step: &StepPlan, error: FlowError) -> FlowError {
    error.at(&flow.name, &step.label, &step.location)
}

/// `COMPOSITE_ROUTING` naming the failed routes (1-based), with each route's error as a child.
fn composite(what: &str, failures: Vec<(usize, FlowError)>) -> FlowError {
    let names: Vec<String> = failures.iter().map(|(i, e)| format!("{} ({})", i + 1, e.error_type)).collect();
    let mut error = FlowError::new("ROUTING:COMPOSITE", format!("{what} {} failed", names.join(", ")));
    error.children = failures;
    error
}

impl Runtime {
    /// The collection a `foreach` iterates: the expression's value or the payload; a single value is a
    /// one-element collection, a map iterates over its entries as `{ key, value }`.
    fn collection(&self, collection: Option<&Script>, ev: &Event) -> Result<Vec<Json>, FlowError> {
        let value = match collection {
            Some(script) => self.eval_json(script, ev)?,
            None => ev.payload.read(&self.program().readers)?.clone(),
        };
        Ok(match value {
            Json::Array(items) => items,
            Json::Object(map) => map.into_iter().map(|(k, v)| serde_json::json!({ "key": k, "value": v })).collect(),
            Json::Null => Vec::new(),
            other => vec![other],
        })
    }

    pub(crate) async fn choice(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        branches: &[(Arc<Script>, Vec<StepPlan>)],
        otherwise: Option<&[StepPlan]>,
        ev: Event,
    ) -> Result<Event, Failure> {
        for (condition, steps) in branches {
            match self.eval_bool(condition, &ev) {
                Ok(true) => return self.run_steps(flow, steps, ev).await,
                Ok(false) => {}
                Err(e) => return Err(Failure { error: at(flow, step, e), event: ev }),
            }
        }
        match otherwise {
            Some(steps) => self.run_steps(flow, steps, ev).await,
            None => Ok(ev),
        }
    }

    /// Mule semantics: elements (or batches) one after another on the same event; variables set inside stay
    /// visible after; the payload after the scope is the payload before it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn foreach(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        collection: Option<&Script>,
        batch_size: usize,
        counter: &str,
        root_message: &str,
        steps: &[StepPlan],
        ev: Event,
    ) -> Result<Event, Failure> {
        let items = match self.collection(collection, &ev) {
            Ok(items) => items,
            Err(e) => return Err(Failure { error: at(flow, step, e), event: ev }),
        };
        let original = ev.payload.clone();
        let root = ev.payload.read(&self.program().readers).cloned().unwrap_or(Json::Null);
        let mut cur = ev;
        cur.set_var(root_message, root);
        for (i, chunk) in items.chunks(batch_size.max(1)).enumerate() {
            let element = if batch_size > 1 { Json::Array(chunk.to_vec()) } else { chunk[0].clone() };
            cur.set_payload(Payload::value(element));
            cur.set_var(counter, Json::from(i + 1));
            cur = self.run_steps(flow, steps, cur).await?;
        }
        cur.payload = original;
        cur.remove_var(root_message);
        cur.remove_var(counter);
        Ok(cur)
    }

    /// Elements concurrently (at most `max_concurrency` at once) on copies of the event; the payload becomes
    /// the array of results, in input order.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn parallel_foreach(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        collection: Option<&Script>,
        max_concurrency: usize,
        timeout: Option<Duration>,
        steps: &[StepPlan],
        ev: Event,
    ) -> Result<Event, Failure> {
        let items = match self.collection(collection, &ev) {
            Ok(items) => items,
            Err(e) => return Err(Failure { error: at(flow, step, e), event: ev }),
        };
        // Futures are built eagerly: a stream holding closures over borrowed plans trips the compiler's
        // `Send` inference for the boxed step future.
        let mut futures: Vec<super::exec::Run<'_>> = Vec::with_capacity(items.len());
        for item in items {
            let mut copy = ev.clone();
            copy.set_payload(Payload::value(item));
            futures.push(self.run_steps(flow, steps, copy));
        }
        let runs = stream::iter(futures).buffered(max_concurrency.max(1)).collect::<Vec<_>>();
        let results = match timeout {
            Some(limit) => match tokio::time::timeout(limit, runs).await {
                Ok(r) => r,
                Err(_) => {
                    let error = FlowError::new("ROUTING:TIMEOUT", format!("not finished within {limit:?}"));
                    return Err(Failure { error: at(flow, step, error), event: ev });
                }
            },
            None => runs.await,
        };
        collect_results(flow, step, "elements", results, ev, &self.program().readers)
    }

    /// Routes concurrently on copies of the event; the payload becomes the array of route results and
    /// variables set by the routes are merged (later routes win).
    pub(crate) async fn scatter_gather(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        timeout: Option<Duration>,
        max_concurrency: usize,
        routes: &[Vec<StepPlan>],
        ev: Event,
    ) -> Result<Event, Failure> {
        let mut futures: Vec<super::exec::Run<'_>> = Vec::with_capacity(routes.len());
        for route in routes {
            let copy = ev.clone();
            futures.push(match timeout {
                Some(limit) => Box::pin(async move {
                    match tokio::time::timeout(limit, self.run_steps(flow, route, copy.clone())).await {
                        Ok(r) => r,
                        Err(_) => Err(Failure {
                            error: FlowError::new("ROUTING:TIMEOUT", format!("route not finished within {limit:?}")),
                            event: copy,
                        }),
                    }
                }),
                None => self.run_steps(flow, route, copy),
            });
        }
        let results = stream::iter(futures).buffered(max_concurrency.max(1)).collect::<Vec<_>>().await;
        collect_results(flow, step, "routes", results, ev, &self.program().readers)
    }

    /// Routes in order on the original event until one succeeds.
    pub(crate) async fn first_successful(
        &self,
        flow: &FlowPlan,
        step: &StepPlan,
        routes: &[Vec<StepPlan>],
        ev: Event,
    ) -> Result<Event, Failure> {
        let mut failures = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            match self.run_steps(flow, route, ev.clone()).await {
                Ok(out) => return Ok(out),
                Err(f) => failures.push((i, f.error)),
            }
        }
        Err(Failure { error: at(flow, step, composite("every route failed: routes", failures)), event: ev })
    }
}

fn collect_results(
    flow: &FlowPlan,
    step: &StepPlan,
    what: &str,
    results: Vec<Result<Event, Failure>>,
    ev: Event,
    readers: &dyn FormatReader,
) -> Result<Event, Failure> {
    let mut payloads = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    let mut out = ev;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(done) => {
                // A route ending on a component's reply (bytes) is parsed like any payload; one that does not
                // parse fails the route rather than turning into a null.
                match done.payload.read(readers) {
                    Ok(v) => payloads.push(v.clone()),
                    Err(e) => {
                        failures.push((i, e));
                        continue;
                    }
                }
                for (k, v) in done.vars.iter() {
                    if out.vars.get(k) != Some(v) {
                        out.set_var(k, v.clone());
                    }
                }
            }
            Err(f) => failures.push((i, f.error)),
        }
    }
    if !failures.is_empty() {
        return Err(Failure { error: at(flow, step, composite(what, failures)), event: out });
    }
    out.set_payload(Payload::value(Json::Array(payloads)));
    Ok(out)
}
