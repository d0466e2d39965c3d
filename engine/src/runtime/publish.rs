//! The `queue.publish` step: hands the event's payload to a queue and goes on (fire and forget, as Mule's
//! VM publish). A full queue makes the step wait (back-pressure) up to its `timeout`.

use super::components::{CallFuture, ComponentNode, Spec};
use super::queue::{Message, Queue};
use super::{Event, Runtime};
use std::sync::Arc;
use std::time::Duration;

/// A built `queue.publish` step.
pub struct Publish {
    queue: Arc<Queue>,
    flow: String,
    timeout: Duration,
}

impl ComponentNode for Publish {
    fn call<'a>(&'a self, _: &'a Runtime, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let message = Message {
                payload: event.payload.clone(),
                correlation_id: event.correlation_id.clone(),
                published_by: self.flow.clone(),
                published_at: chrono::Utc::now().to_rfc3339(),
            };
            self.queue.publish(message, self.timeout).await?;
            Ok(event)
        })
    }
}

/// The factory of `queue.publish` (parameters were checked against the component's schema).
pub fn publish(spec: Spec) -> Arc<dyn ComponentNode> {
    let name = spec.params.get("queue").and_then(|q| q.as_str()).unwrap_or_default();
    let timeout = spec
        .params
        .get("timeout")
        .and_then(|t| t.as_str())
        .and_then(relais_dsl::ir::parse_duration)
        .unwrap_or(Duration::from_secs(10));
    Arc::new(Publish { queue: spec.state.queue_or_default(name), flow: spec.flow, timeout })
}
