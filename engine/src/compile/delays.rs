//! Literal `time.delay` durations: the step refuses a delay over one hour, and reads only durations and
//! milliseconds, when it runs (`runtime::delay`). A literal is known before traffic, so `relais check`
//! reports it with the same rule (`runtime::delay::read`, `MAX_DELAY`) instead of every event failing.
//! A `#[...]` duration is computed per event and stays a run-time check.

use crate::load::Loaded;
use crate::runtime::delay::{read, MAX_DELAY};
use relais_dsl::ir::{format_duration, StepKind};
use relais_dsl::syntax::Value;
use relais_dsl::{codes, Diagnostic};

pub(super) fn check(loaded: &mut Loaded) {
    let mut found = Vec::new();
    for flow in loaded.set.flows() {
        for step in flow.all_steps() {
            let StepKind::Component(c) = &step.kind else { continue };
            if c.kind.value != "time.delay" {
                continue;
            }
            let Some(node) = c.params.get("duration") else { continue };
            // Anything but text is the registry's finding (the field is a string).
            let Value::Str(text) = &node.value else { continue };
            if text.text.contains("#[") {
                continue;
            }
            found.push(match read(&text.text) {
                None => Diagnostic::error(
                    codes::BAD_DURATION,
                    node.span,
                    format!("`{}` is not a valid delay", text.text.trim()),
                )
                .label("invalid duration")
                .help("write a duration (`250ms`, `2s`, `1m30s`) or a number of milliseconds, at most 1h"),
                Some(d) if d > MAX_DELAY => Diagnostic::error(
                    codes::DURATION_RANGE,
                    node.span,
                    format!("a delay of {} is longer than `time.delay` allows", format_duration(d)),
                )
                .label(format!("out of range: allowed is 0ms to {}", format_duration(MAX_DELAY)))
                .help(
                    "a longer wait belongs to a `scheduler` or a queue's `redelivery_delay`, not to an event in flight",
                ),
                Some(_) => continue,
            });
        }
    }
    loaded.diags.extend(found);
}
