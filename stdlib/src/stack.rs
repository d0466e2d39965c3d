//! The stack a thread running scripts needs.
//!
//! The conversions in [`crate::convert`] never let a value deeper than [`crate::MAX_DEPTH`] into or out of a
//! script, but a script can build a deeper one inside Rhai (`for i in 0..10000 { a = [a] }`), and Rhai clones,
//! drops, compares, prints and size-checks such a value recursively, one native frame per level, on the thread
//! that runs the script. Nothing inside Rhai bounds the depth except its data-size limits (each level counts
//! one array item or map entry), and the cost of building: every `a = [a]` copies the whole value, so depth `n`
//! costs `n²/2` copies (10,000 levels: about 8 s on a 2-core machine in a release build, 30,000: 80 s).

/// Stack size for the threads of a runtime that runs scripts (the `relais run` daemon, `relais test`): 64 MiB.
///
/// Measured per level of nesting in a release build: about 220 bytes to clone or drop a nested array, 370 a
/// nested map, 1.9 KB to compare or print one. 64 MiB therefore holds the clone and drop of the deepest value
/// the default data-size limits let a script build (100,000 array items plus 50,000 map entries: 150,000
/// levels, 33 MB), and comparing or printing 34,000 levels, which takes minutes of copying to build. Tokio's
/// default of 2 MiB overflows at about 9,000 levels of a plain clone. Only the pages a thread touches are
/// backed by memory; the rest is address space.
pub const SCRIPT_STACK_SIZE: usize = 64 * 1024 * 1024;
