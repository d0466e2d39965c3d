//! The `time.delay` step: an async sleep (the worker serves other events meanwhile).

use super::components::{compile_template, CallFuture, ComponentNode, Spec};
use super::{Event, FlowError, Runtime};
use crate::plan::TemplatePlan;
use std::sync::Arc;
use std::time::Duration;

/// Longest accepted delay: a computed duration beyond it is an error, not a stuck event; a literal one is
/// refused by `relais check` (`compile::delays`).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(3600);

/// A built `time.delay` step.
pub struct Delay {
    duration: Result<TemplatePlan, String>,
}

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
    fn call<'a>(&'a self, runtime: &'a Runtime, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let template = self.duration.as_ref().map_err(|e| FlowError::new("EXPRESSION:RUNTIME", e.clone()))?;
            let duration = parse(&runtime.render(template, &event)?)?;
            if !duration.is_zero() {
                tokio::time::sleep(duration).await;
            }
            Ok(event)
        })
    }
}

/// The factory of `time.delay`.
pub fn delay(spec: Spec) -> Arc<dyn ComponentNode> {
    let text = spec.params.get("duration").and_then(|d| d.as_str()).unwrap_or("0ms");
    Arc::new(Delay { duration: compile_template(&spec.engine, text) })
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
