//! The relais engine: loads flow files, compiles them against the component registry, and (as the runtime
//! lands) runs them. The `relais` binary's CLI lives in [`cli`].

pub mod cli;
pub mod compile;
pub mod components;
pub mod load;
pub mod plan;
pub mod registry;
pub mod runtime;
