//! Steps after `raise_error` in the same list never run: a warning, since it is dead code, not a crash.

use crate::codes;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::ir::{FlowSet, Step, StepKind};

pub(super) fn check(set: &FlowSet, diags: &mut Diagnostics) {
    for flow in set.flows() {
        check_list(&flow.steps, diags);
        for h in &flow.on_error {
            check_list(&h.steps, diags);
        }
    }
}

fn check_list(steps: &[Step], diags: &mut Diagnostics) {
    if let Some(pos) = steps.iter().position(|s| matches!(s.kind, StepKind::RaiseError { .. })) {
        if let Some(first_dead) = steps.get(pos + 1) {
            let last = steps.last().map_or(first_dead.span, |s| s.span);
            diags.push(
                Diagnostic::warning(
                    codes::UNREACHABLE_STEP,
                    first_dead.span.to(last),
                    "steps after `raise_error` never run",
                )
                .label(match steps.len() - pos - 1 {
                    1 => "this step is unreachable".to_string(),
                    n => format!("these {n} steps are unreachable"),
                })
                .with_label(steps[pos].span, "this always raises")
                .help("remove the dead steps, or make `raise_error` the last step of its list"),
            );
        }
    }
    for step in steps {
        step.kind.for_each_child(&mut |child| check_list(child, diags));
    }
}
