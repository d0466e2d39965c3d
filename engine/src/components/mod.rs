//! Built-in components, one file each: config types (the source of schemas and docs) and, as the runtime
//! lands, the nodes they build.

pub mod dead_letter;
pub mod delay;
pub mod http_listener;
pub mod http_request;
pub mod object_store;
pub mod queue;
pub mod scheduler;
pub mod sensitive;
pub mod types;

use crate::registry::ComponentSpec;

/// Every built-in component, in documentation order.
pub fn specs() -> Vec<ComponentSpec> {
    let mut all = Vec::new();
    all.extend(http_listener::specs());
    all.extend(http_request::specs());
    all.extend(scheduler::specs());
    all.extend(queue::specs());
    all.extend(object_store::specs());
    all.extend(sensitive::specs());
    all.extend(delay::specs());
    all.extend(dead_letter::specs());
    all
}
