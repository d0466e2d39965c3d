//! Built-in components, one module each: a component's typed config (the source of its schema, its
//! defaults and its docs) together with the node, resource or source it builds. Adding one is its own
//! module plus one line in [`specs`]; see ARCHITECTURE.md, "Adding a component".

pub mod amqp;
pub mod db;
pub mod dead_letter;
pub mod delay;
pub mod file;
pub mod http_listener;
pub mod http_request;
pub mod nats;
pub mod object_store;
pub mod queue;
pub mod scheduler;
pub mod sensitive;
pub mod sftp;
pub mod types;

use crate::registry::{ComponentSpec, Registry};
use std::sync::OnceLock;

/// Every built-in component, in documentation order: the one list that names them.
pub fn specs() -> Vec<ComponentSpec> {
    vec![
        ComponentSpec::config::<http_listener::ListenerConfig>(),
        ComponentSpec::source::<http_listener::ListenerSource>(),
        ComponentSpec::config::<http_request::ClientConfig>(),
        ComponentSpec::step::<http_request::RequestParams>(),
        ComponentSpec::source::<scheduler::SchedulerSource>(),
        ComponentSpec::step::<queue::PublishParams>(),
        ComponentSpec::source::<queue::ListenerParams>(),
        ComponentSpec::config::<db::DbConfig>(),
        ComponentSpec::step::<db::QueryParams>(),
        ComponentSpec::step::<db::ExecuteParams>(),
        ComponentSpec::source::<db::ListenerParams>(),
        ComponentSpec::config::<amqp::AmqpConfig>(),
        ComponentSpec::step::<amqp::PublishParams>(),
        ComponentSpec::source::<amqp::ListenerParams>(),
        ComponentSpec::config::<nats::NatsConfig>(),
        ComponentSpec::step::<nats::PublishParams>(),
        ComponentSpec::source::<nats::ListenerParams>(),
        ComponentSpec::source::<file::ListenerParams>(),
        ComponentSpec::step::<file::WriteParams>(),
        ComponentSpec::config::<sftp::SftpConfig>(),
        ComponentSpec::source::<sftp::ListenerParams>(),
        ComponentSpec::step::<sftp::WriteParams>(),
        ComponentSpec::config::<object_store::StoreConfig>(),
        ComponentSpec::step::<object_store::GetParams>(),
        ComponentSpec::step::<object_store::PutParams>(),
        ComponentSpec::step::<object_store::RemoveParams>(),
        ComponentSpec::config::<sensitive::SensitiveConfig>(),
        ComponentSpec::step::<delay::DelayParams>(),
        ComponentSpec::step::<dead_letter::DeadLetterParams>(),
    ]
}

/// The registry of the built-in components, built (its schemas generated) once per process.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new(specs()))
}
