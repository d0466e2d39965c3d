//! Queues that flows publish to but no flow reads: a typo in a queue name would otherwise show only at run
//! time, as publishers blocking on a full queue.

use crate::components::queue::{ListenerParams, PublishParams};
use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::ir::{Step, StepKind};
use relais_dsl::{Diagnostic, Span};
use std::collections::HashSet;

/// The settings `check` read for the component at `at`, if they are a `T`.
fn typed<T: 'static>(loaded: &Loaded, at: Span) -> Option<&T> {
    loaded.typed.get(&at).and_then(|t| t.downcast_ref::<T>())
}

fn publishes(loaded: &Loaded, steps: &[Step], out: &mut Vec<(String, Span)>) {
    for step in steps {
        if let StepKind::Component(c) = &step.kind {
            if let Some(publish) = typed::<PublishParams>(loaded, c.span) {
                out.push((publish.queue.clone(), c.span_of("queue")));
            }
        }
        for children in step.kind.children() {
            publishes(loaded, children, out);
        }
    }
}

pub(super) fn check(loaded: &mut Loaded) {
    let listened: HashSet<String> = loaded
        .set
        .flows()
        .filter_map(|f| f.source.as_ref())
        .filter_map(|s| typed::<ListenerParams>(loaded, s.span).map(|l| l.queue.clone()))
        .collect();
    let mut published = Vec::new();
    for flow in loaded.set.flows() {
        publishes(loaded, &flow.steps, &mut published);
        for handler in &flow.on_error {
            publishes(loaded, &handler.steps, &mut published);
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
