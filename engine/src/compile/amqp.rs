//! AMQP names a step or a source uses that its `amqp` config does not declare (RL0520, a warning): an
//! `amqp.publish` to an exchange, an `amqp.listener` on a queue. The connector declares a config's topology
//! at every connect, so a declared name exists after a broker restart; another may be owned by another
//! system, or be a typo that would show only at run time.

use crate::components::amqp::{AmqpConfig, ListenerParams, PublishParams};
use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::ir::{Component, Step, StepKind};
use relais_dsl::{Diagnostic, Span};
use std::collections::HashMap;

/// The settings `check` read for the component at `at`, if they are a `T`.
fn typed<T: 'static>(loaded: &Loaded, at: Span) -> Option<&T> {
    loaded.typed.get(&at).and_then(|t| t.downcast_ref::<T>())
}

/// A finding: what is named, its kind (`exchange`, `queue`), where, and the config that should declare it.
struct Use {
    what: &'static str,
    name: String,
    span: Span,
    config: String,
}

fn publishes(loaded: &Loaded, steps: &[Step], out: &mut Vec<Use>) {
    for step in steps {
        if let StepKind::Component(c) = &step.kind {
            if let (Some(publish), Some(config)) = (typed::<PublishParams>(loaded, c.span), &c.config) {
                out.push(Use {
                    what: "exchange",
                    name: publish.exchange.clone(),
                    span: c.span_of("exchange"),
                    config: config.value.clone(),
                });
            }
        }
        for children in step.kind.children() {
            publishes(loaded, children, out);
        }
    }
}

fn listens(loaded: &Loaded, source: &Component, out: &mut Vec<Use>) {
    if let (Some(listener), Some(config)) = (typed::<ListenerParams>(loaded, source.span), &source.config) {
        out.push(Use {
            what: "queue",
            name: listener.queue.clone(),
            span: source.span_of("queue"),
            config: config.value.clone(),
        });
    }
}

pub(super) fn check(loaded: &mut Loaded) {
    let configs: HashMap<&str, &AmqpConfig> = loaded
        .set
        .configs()
        .filter_map(|c| typed::<AmqpConfig>(loaded, c.span).map(|t| (c.name.value.as_str(), t)))
        .collect();
    if configs.is_empty() {
        return;
    }
    let mut uses = Vec::new();
    for flow in loaded.set.flows() {
        if let Some(source) = &flow.source {
            listens(loaded, source, &mut uses);
        }
        publishes(loaded, &flow.steps, &mut uses);
        for handler in &flow.on_error {
            publishes(loaded, &handler.steps, &mut uses);
        }
    }
    let mut diags = Vec::new();
    for u in uses {
        let Some(config) = configs.get(u.config.as_str()) else { continue };
        if u.name.is_empty() || u.name.starts_with("amq.") {
            continue;
        }
        let declared: Vec<&str> = match u.what {
            "exchange" => config.exchanges.iter().map(|x| x.name.as_str()).collect(),
            _ => config.queues.iter().map(|q| q.name.as_str()).collect(),
        };
        if declared.contains(&u.name.as_str()) {
            continue;
        }
        let key = if u.what == "exchange" { "exchanges" } else { "queues" };
        let help = did_you_mean(&u.name, declared.iter().copied()).unwrap_or_else(|| {
            format!(
                "declare it under `{key}` of config `{}`, or keep this warning if another system declares it",
                u.config
            )
        });
        diags.push(
            Diagnostic::warning(
                codes::AMQP_UNDECLARED,
                u.span,
                format!("{} `{}` is not declared by config `{}`", u.what, u.name, u.config),
            )
            .label("not in the config's topology")
            .help(help),
        );
    }
    loaded.diags.extend(diags);
}
