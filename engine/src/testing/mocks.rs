//! Mocked, spied and refused component steps, and the log of calls tests assert on.

use crate::component::{CallFuture, ComponentNode, Context, StepSite};
use crate::event::{Event, FlowError, Payload};
use relais_dsl::ir::{Answer, StepSelector};
use serde_json::Value as Json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Where a call happened.
#[derive(Debug, Clone)]
pub struct Site {
    /// Flow.
    pub flow: String,
    /// Step id.
    pub step_id: Option<String>,
    /// Component name.
    pub kind: String,
    /// Config name.
    pub config: Option<String>,
    /// Parameters.
    pub params: Json,
    /// The variable the step's answer goes to: a mocked answer lands where the real one would (the payload
    /// is kept).
    pub target: Option<String>,
}

impl Site {
    pub(crate) fn of(site: &StepSite) -> Self {
        Site {
            flow: site.flow.clone(),
            step_id: site.step_id.clone(),
            kind: site.kind.clone(),
            config: site.config_name.clone(),
            params: site.settings.clone(),
            target: site.target.clone(),
        }
    }

    /// Whether a selector designates this site.
    pub fn matches(&self, select: &StepSelector) -> bool {
        match select {
            StepSelector::Id(id) => self.step_id.as_deref() == Some(id.value.as_str()),
            StepSelector::Component { kind, config, with } => {
                kind.value == self.kind
                    && config.as_ref().is_none_or(|c| self.config.as_deref() == Some(c.value.as_str()))
                    && with
                        .as_ref()
                        .is_none_or(|w| super::compare::differences(&w.to_json(), &self.params, true).is_empty())
            }
        }
    }

    /// How failure messages name the step.
    pub fn describe(&self) -> String {
        let name = self.step_id.as_ref().map_or_else(|| self.kind.clone(), |id| format!("`{id}` ({})", self.kind));
        match &self.config {
            Some(c) => format!("step {name} with config `{c}` in flow `{}`", self.flow),
            None => format!("step {name} in flow `{}`", self.flow),
        }
    }
}

/// One recorded call: where, and the event the step received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Where.
    pub site: Arc<Site>,
    /// The event received.
    pub event: Event,
}

/// Calls recorded during one test case, and the unmocked steps that were reached.
#[derive(Debug, Default)]
pub struct CallLog {
    /// Every call to a component step, in order.
    pub calls: Mutex<Vec<Call>>,
    /// Unmocked outbound steps that were called.
    pub unmocked: Mutex<Vec<String>>,
}

impl CallLog {
    fn record(&self, site: &Arc<Site>, event: &Event) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call { site: site.clone(), event: event.clone() });
        }
    }
}

/// A step answering from a mock's list of answers (the last one repeats), after the checks the real
/// call makes before sending (`check`: the partner guard and contract of an `http.request`), so that a
/// mapping that leaks or breaks its contract fails the test as it would fail in `relais run`.
pub struct MockNode {
    pub(crate) site: Arc<Site>,
    pub(crate) answers: Arc<Vec<Answer>>,
    pub(crate) next: Arc<AtomicUsize>,
    pub(crate) log: Arc<CallLog>,
    pub(crate) check: Option<Arc<dyn ComponentNode>>,
}

impl ComponentNode for MockNode {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            self.log.record(&self.site, &event);
            let event = match &self.check {
                Some(check) => check.call(cx, event).await?,
                None => event,
            };
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(answer) = self.answers.get(n.min(self.answers.len().saturating_sub(1))) else {
                return Ok(event);
            };
            if let Some(delay) = answer.delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(t) = &answer.raise {
                let description = answer.description.clone().unwrap_or_else(|| format!("{} (mocked)", t.value));
                return Err(FlowError::typed(t.value.clone(), description));
            }
            let mut ev = event;
            if let Some(p) = &answer.payload {
                match &self.site.target {
                    Some(var) => ev.set_var(var, p.to_json()),
                    None => ev.set_payload(Payload::value(p.to_json())),
                }
            }
            if let Some(a) = &answer.attributes {
                ev.attributes = a.to_json().into();
            }
            Ok(ev)
        })
    }
}

/// A real step whose calls are recorded (object-store steps).
pub struct SpyNode {
    pub(crate) site: Arc<Site>,
    pub(crate) inner: Arc<dyn ComponentNode>,
    pub(crate) log: Arc<CallLog>,
}

impl ComponentNode for SpyNode {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        self.log.record(&self.site, &event);
        self.inner.call(cx, event)
    }
}

/// An outbound step no mock covers: the test fails, whatever the flow's handlers do with the error.
pub struct Unmocked {
    pub(crate) site: Arc<Site>,
    pub(crate) log: Arc<CallLog>,
}

impl ComponentNode for Unmocked {
    fn call<'a>(&'a self, _: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            self.log.record(&self.site, &event);
            let message = format!(
                "{} was called without a mock; tests never reach the network: add a mock (`step: ID` or `component: {}`)",
                self.site.describe(),
                self.site.kind
            );
            if let Ok(mut u) = self.log.unmocked.lock() {
                u.push(message.clone());
            }
            Err(FlowError::new("TEST:UNMOCKED", message))
        })
    }
}
