//! The component abstraction: what a step component, a config kind and (in [`crate::source`]) a source
//! are, independent of any one of them. Built-in components live in [`crate::components`], one module
//! each; [`crate::registry`] lists them.
//!
//! A component is a typed configuration (serde + schemars, `deny_unknown_fields`, a doc comment per field,
//! defaults on the type) plus what it builds from it:
//! - a step ([`Step`]) builds a [`ComponentNode`], once per step of a program, and may fail to;
//! - a config kind ([`Config`]) builds a [`Resource`], once per named config whatever the number of steps
//!   naming it (one client pool per `http.client` config), with a lifecycle (ready, close);
//! - a source (`crate::source::Source`) plans what the daemon starts.
//!
//! `relais check` validates the settings against the schema generated from the type, then reads them
//! into the type (the [`Typed`] value the plan compiler builds from): what `check` validated is exactly
//! what runs.
//!
//! Layering: this module knows the event model, the state and compiled scripts, not the plan compiler or
//! the runtime; nodes reach the runtime through [`Context`]. So `plan` (which holds nodes) and `runtime`
//! (which runs plans) do not import each other's internals in a cycle.

mod kind;
pub mod node;
mod reach;
mod resource;
pub mod scope;

pub use kind::{
    downcast, parse, Catalog, Config, ConfigContext, ConfigRef, Role, SettingsError, SourceDecl, Step, StepContext,
    StepSite, Typed,
};
pub use node::{CallFuture, ComponentNode, Context, Replay};
pub use reach::{Direction, Reach};
pub use resource::{Readiness, Resource, Resources};
pub use scope::OpenScope;
