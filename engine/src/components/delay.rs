//! `time.delay`: waits before the next step, as Camel's `delay` and Benthos' `sleep`: an async sleep (the
//! worker serves other events meanwhile). Simulated systems use it to answer late (fault injection); flows
//! use it to pace calls.

use crate::component::{CallFuture, ComponentNode, Context, Step, StepContext};
use crate::event::{Event, FlowError};
use crate::script::{compile_template_text, TemplatePlan};
use relais_dsl::ir::format_duration;
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Parameters of `time.delay`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayParams {
    /// How long: a duration (`250ms`, `2s`), or `#[...]` giving one (a duration text or milliseconds); at
    /// most one hour.
    pub duration: String,
}

impl Step for DelayParams {
    const NAME: &'static str = "time.delay";
    const SUMMARY: &'static str = "Waits before the next step.";

    /// A literal duration is known before traffic: checked with the rule the step applies when it runs
    /// ([`read`], [`MAX_DELAY`]), instead of every event failing. A `#[...]` one stays a run-time check.
    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        let text = self.duration.trim();
        if text.contains("#[") {
            return;
        }
        let span = at.get("duration").map_or(at.span, |n| n.span);
        match read(text) {
            None => diags.push(
                Diagnostic::error(codes::BAD_DURATION, span, format!("`{text}` is not a valid delay"))
                    .label("invalid duration")
                    .help("write a duration (`250ms`, `2s`, `1m30s`) or a number of milliseconds, at most 1h"),
            ),
            Some(d) if d > MAX_DELAY => diags.push(
                Diagnostic::error(
                    codes::DURATION_RANGE,
                    span,
                    format!("a delay of {} is longer than `time.delay` allows", format_duration(d)),
                )
                .label(format!("out of range: allowed is 0ms to {}", format_duration(MAX_DELAY)))
                .help(
                    "a longer wait belongs to a `scheduler` or a queue's `redelivery_delay`, not to an event in flight",
                ),
            ),
            Some(_) => {}
        }
    }

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        Ok(Arc::new(Delay { duration: compile_template_text(cx.engine, &self.duration)? }))
    }
}

/// A built `time.delay` step.
struct Delay {
    duration: TemplatePlan,
}

/// Longest accepted delay: a computed duration beyond it is an error, not a stuck event; a literal one is
/// refused by `relais check` ([`DelayParams`]'s `check`).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(3600);

/// A delay's text as the step reads it: milliseconds or a duration (`250ms`, `2s`), whatever its length.
pub(crate) fn read(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => relais_dsl::ir::parse_duration(text),
    }
}

fn parse(text: &str) -> Result<Duration, FlowError> {
    let text = text.trim();
    match read(text) {
        Some(d) if d <= MAX_DELAY => Ok(d),
        Some(_) => Err(FlowError::new("EXPRESSION:RUNTIME", format!("delay `{text}` is longer than one hour"))),
        None => Err(FlowError::new(
            "EXPRESSION:RUNTIME",
            format!("delay `{text}` is neither a duration (`250ms`, `2s`) nor milliseconds"),
        )),
    }
}

impl ComponentNode for Delay {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let duration = parse(&cx.render(&self.duration, &event)?)?;
            if !duration.is_zero() {
                tokio::time::sleep(duration).await;
            }
            Ok(event)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn delays_read_durations_or_milliseconds_and_refuse_the_rest() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse(" 40 ").unwrap(), Duration::from_millis(40));
        assert!(parse("soon").unwrap_err().description.contains("neither a duration"));
        assert!(parse("2h").unwrap_err().description.contains("longer than one hour"));
    }
}
