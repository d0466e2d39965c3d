//! Relais mapping library: the sandboxed Rhai engine and the functions flows use in mappings.
//!
//! The crate is pure: no file or network I/O and no async runtime. The engine crate reads files (lookup tables,
//! scripts) and hands their text to this crate.
//!
//! - [`build_engine`] / [`build_engine_with_clock`] build the one sandboxed [`rhai::Engine`] a plan shares.
//! - [`compile`] compiles a script with strict variables ([`SCRIPT_VARIABLES`] are known) and [`run`] /
//!   [`run_until`] evaluate it within a wall-clock [`Deadline`] and a work budget; both classify failures as
//!   [`ScriptError`]; [`run_on_worker`] runs one on an async worker until it passes a small budget.
//! - [`may_run_long`] tells from a compiled script whether it may run long (loops, closures, costly natives).
//! - [`bad_calls`] finds calls to functions that cannot exist (unknown name, wrong arity) for `relais check`.
//! - [`json_to_dynamic`] / [`dynamic_to_json`] convert payloads between `serde_json` and Rhai;
//!   [`check_json_form`] and [`write_json`] check and write a script value as JSON without building one;
//!   [`json_bytes_to_dynamic`] reads JSON text straight into a script value (the payload a script reads first),
//!   [`json_bytes_to_value`] into any serde type, both as `&str` when the bytes are UTF-8.
//! - [`Lookups`] holds the lookup tables scripts query with `lookup(...)`.
//! - [`Clock`] is where `now()`, `today(tz)` and `tomorrow(tz)` read the time; tests fix it.
//! - [`function_docs`] lists every mapping function with examples (which run as a unit test).
//! - [`MAX_DEPTH`] bounds the nesting of every value crossing between the engine and a script
//!   ([`check_depth`] checks a JSON value against it); [`SCRIPT_STACK_SIZE`] is the stack a thread running
//!   scripts needs for the deep values a script can build inside Rhai.

mod calls;
mod clock;
mod convert;
mod cost;
mod docs;
mod error;
mod functions;
mod json_text;
mod limits;
mod long_runners;
mod lookups;
mod meter;
mod sandbox;
mod stack;

// How deep values may nest, and the stack that deep script values need.
pub use convert::{check_depth, MAX_DEPTH};
pub use stack::SCRIPT_STACK_SIZE;

pub use calls::{bad_calls, BadCall, FunctionTable};
pub use clock::Clock;
pub use convert::{check_json_form, dynamic_to_json, json_to_dynamic, write_json, ConversionError};
pub use cost::{may_run_long, COSTLY_NATIVES};
pub use docs::{example_engine, function_docs, FunctionDoc, EXAMPLE_NOW};
pub use error::ScriptError;
/// The mapping library's `title_case`, for Rust code that must word names exactly as mappings do (the
/// benchmark's hand-written ceiling).
pub use functions::strings::title_case;
pub use json_text::{json_bytes_to_dynamic, json_bytes_to_value, JsonTextError};
pub use limits::Limits;
pub use long_runners::{
    default_slots as default_long_script_slots, long_script_slots, long_scripts_now, set_long_script_slots, Place,
    LONG_AFTER, LONG_AFTER_WORK, MOVE_AFTER, MOVE_AFTER_WORK,
};
pub use lookups::{LookupError, Lookups};
pub use meter::{Deadline, DEFAULT_SCRIPT_BUDGET};
pub use sandbox::{
    build_engine, build_engine_with_clock, compile, run, run_at, run_on_worker, run_until, SCRIPT_VARIABLES,
};
