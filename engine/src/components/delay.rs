//! `time.delay`: waits before the next step, as Camel's `delay` and Benthos' `sleep`: an async sleep (the
//! worker serves other events meanwhile). Simulated systems use it to answer late (fault injection); flows
//! use it to pace calls.

use crate::component::{CallFuture, ComponentNode, Context, Step, StepContext};
use crate::event::{Event, FlowError};
use crate::script::{compile_template_text, TemplatePlan};
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

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        Ok(Arc::new(Delay { duration: compile_template_text(cx.engine, &self.duration)? }))
    }
}

/// A built `time.delay` step.
struct Delay {
    duration: TemplatePlan,
}

/// Longest accepted delay: a computed duration beyond it is an error, not a stuck event.
const MAX_DELAY: Duration = Duration::from_secs(3600);

fn parse(text: &str) -> Result<Duration, FlowError> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => relais_dsl::ir::parse_duration(text),
    };
    match duration {
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
