//! The runtime as component nodes see it ([`crate::component::Context`]).

use super::Runtime;
use crate::component::Context;
use crate::event::{Event, FlowError, Payload};
use crate::script::{TemplatePlan, ValuePlan};
use crate::state::State;
use serde_json::Value as Json;
use std::sync::Arc;

impl Context for Runtime {
    fn render(&self, template: &TemplatePlan, event: &Event) -> Result<String, FlowError> {
        Runtime::render(self, template, event)
    }

    fn value(&self, plan: &ValuePlan, event: &Event) -> Result<Json, FlowError> {
        Runtime::value(self, plan, event)
    }

    fn read<'p>(&self, payload: &'p Payload) -> Result<&'p Json, FlowError> {
        payload.read(&self.program().readers)
    }

    fn state(&self) -> &Arc<State> {
        &self.program().state
    }

    fn dead_letter(
        &self,
        flow: &str,
        event: &Event,
        error: &FlowError,
        queue: Option<String>,
        replay: crate::component::Replay,
    ) {
        let attempts = event.attributes.get("delivery").and_then(Json::as_u64).and_then(|d| u32::try_from(d).ok());
        let now = crate::state::now();
        super::dead_letter::keep_as(self, flow, event, error, attempts.unwrap_or(1), now, queue, replay);
    }

    fn metrics(&self) -> &crate::metrics::Metrics {
        Runtime::metrics(self)
    }
}
