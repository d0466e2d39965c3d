//! Whole-program checks over a [`FlowSet`](crate::ir::FlowSet): names, references, cycles, lints, and
//! property references. Each check is one file and reports every finding it sees.

mod cycles;
mod names;
mod properties;
mod unreachable;

pub use properties::{has_property_refs, property_refs, substitute_properties, PropertyRef};

use crate::diagnostic::Diagnostics;
use crate::ir::FlowSet;

/// Runs every IR-level check. Component configs, scripts and files are checked by the engine, which owns
/// the registry and the file system.
pub fn check_flow_set(set: &FlowSet, diags: &mut Diagnostics) {
    names::check(set, diags);
    cycles::check(set, diags);
    unreachable::check(set, diags);
}
