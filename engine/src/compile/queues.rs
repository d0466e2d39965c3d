//! Queues that flows publish to but no flow reads: a typo in a queue name would otherwise show only at run
//! time, as publishers blocking on a full queue.

use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::ir::{Step, StepKind};
use relais_dsl::{Diagnostic, Span};
use std::collections::HashSet;

fn publishes(steps: &[Step], out: &mut Vec<(String, Span)>) {
    for step in steps {
        if let StepKind::Component(c) = &step.kind {
            if c.kind.value == "queue.publish" {
                if let Some(queue) = c.params.get("queue") {
                    if let Some(name) = queue.as_str() {
                        out.push((name.to_string(), queue.span));
                    }
                }
            }
        }
        for children in step.kind.children() {
            publishes(children, out);
        }
    }
}

pub(super) fn check(loaded: &mut Loaded) {
    let listened: HashSet<String> = loaded
        .set
        .flows()
        .filter_map(|f| f.source.as_ref().filter(|s| s.kind.value == "queue.listener"))
        .filter_map(|s| s.params.get("queue").and_then(|q| q.as_str()).map(str::to_string))
        .collect();
    let mut published = Vec::new();
    for flow in loaded.set.flows() {
        publishes(&flow.steps, &mut published);
        for handler in &flow.on_error {
            publishes(&handler.steps, &mut published);
        }
    }
    for (queue, span) in published {
        if !listened.contains(&queue) {
            let mut diag =
                Diagnostic::warning(codes::QUEUE_WITHOUT_LISTENER, span, format!("no flow listens to queue `{queue}`"))
                    .label("published here");
            let close = listened.iter().find(|l| strsim::damerau_levenshtein(l, &queue) <= 2);
            diag = match close {
                Some(name) => diag.help(format!("did you mean `{name}`?")),
                None => diag.help("add a flow with `source: { queue.listener: { queue: ... } }`, or fix the name"),
            };
            loaded.diags.push(diag);
        }
    }
}
