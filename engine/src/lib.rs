//! The relais engine: loads flow files, compiles them against the component registry, and (as the runtime
//! lands) runs them. The `relais` binary's CLI lives in [`cli`].

// `FlowError` carries its type, description, place and cause by value: errors are the rare path, and boxing
// them would add an allocation to every failure without making the success path any faster.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod compile;
pub mod component;
pub mod components;
pub mod connectors;
pub mod daemon;
pub mod event;
pub mod graph;
pub mod http_headers;
pub mod http_server;
pub mod incidents;
pub mod json_schema;
pub mod load;
pub mod metrics;
pub mod plan;
pub mod registry;
pub mod runtime;
pub mod script;
pub mod scrub;
pub mod source;
pub mod state;
pub mod testing;
pub mod tls;
pub mod trace;
