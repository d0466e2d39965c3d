//! `flow_ref` cycles: a flow that reaches itself through references would recurse forever.

use crate::codes;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::ir::{Flow, FlowSet, StepKind};
use crate::span::Spanned;
use std::collections::HashMap;

pub(super) fn check(set: &FlowSet, diags: &mut Diagnostics) {
    let flows: Vec<&Flow> = set.flows().collect();
    let index: HashMap<&str, usize> = flows.iter().enumerate().rev().map(|(i, f)| (f.name.value.as_str(), i)).collect();
    // Edges: for each flow, the flows it references (with the span of the reference).
    let edges: Vec<Vec<(usize, &Spanned<String>)>> = flows
        .iter()
        .map(|flow| {
            flow.all_steps()
                .into_iter()
                .filter_map(|step| match &step.kind {
                    StepKind::FlowRef { name, .. } => index.get(name.value.as_str()).map(|&to| (to, name)),
                    _ => None,
                })
                .collect()
        })
        .collect();
    // Iterative DFS with colours; each back edge is one cycle, reported once at the reference closing it.
    let mut colour = vec![0u8; flows.len()];
    for root in 0..flows.len() {
        if colour[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(to, reference)) = edges[node].get(*next) {
                *next += 1;
                match colour[to] {
                    0 => {
                        colour[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let start = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let path: Vec<&str> =
                            stack[start..].iter().map(|(n, _)| flows[*n].name.value.as_str()).collect();
                        diags.push(
                            Diagnostic::error(
                                codes::FLOW_REF_CYCLE,
                                reference.span,
                                format!("`flow_ref` cycle: {} -> {}", path.join(" -> "), flows[to].name.value),
                            )
                            .label("this reference closes the cycle")
                            .with_label(flows[to].name.span, "cycle starts here")
                            .help("flows that call each other recurse without end; break the cycle"),
                        );
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
}
