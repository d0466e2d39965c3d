//! `scheduler`: starts a flow at a fixed frequency or on a cron schedule in a time zone.

use super::types::DurationText;
use crate::registry::{ComponentSpec, Role};
use relais_dsl::codes;
use relais_dsl::syntax::{Node, Value};
use relais_dsl::{Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::Deserialize;
use std::str::FromStr;

/// Parameters of a `scheduler` source: exactly one of `frequency` or `cron`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSource {
    /// Fire every this long (`30s`, `1h`).
    pub frequency: Option<DurationText>,
    /// Cron expression, 5 fields or 6 with seconds (`0 10 * * *` = every day at 10:00).
    pub cron: Option<String>,
    /// IANA time zone for `cron` (default `UTC`), e.g. `Europe/Paris`.
    pub time_zone: Option<String>,
    /// Wait this long before the first run of a `frequency` schedule.
    pub start_delay: Option<DurationText>,
    /// Start a run even when the previous one is still going (default false: the tick is skipped and counted).
    #[serde(default)]
    pub allow_overlap: bool,
}

/// Parses a cron expression the way the scheduler will.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(format!("{fields} field(s), expected 5 or 6"));
    }
    croner::Cron::from_str(expr).map_err(|e| {
        let text = e.to_string();
        let text = text.strip_prefix("Component error: ").unwrap_or(&text);
        text.trim_end_matches('.').to_lowercase()
    })
}

fn check(params: &Node, diags: &mut Diagnostics) {
    let cron = params.get("cron");
    let frequency = params.get("frequency");
    match (cron, frequency) {
        (Some(_), Some(f)) => diags.push(
            Diagnostic::error(codes::CONFLICTING_FIELDS, f.span, "a scheduler takes `cron` or `frequency`, not both")
                .label("remove one of them"),
        ),
        (None, None) => diags.push(
            Diagnostic::error(codes::CONFLICTING_FIELDS, params.span, "a scheduler needs `cron` or `frequency`")
                .label("no schedule")
                .help("`frequency: 30s` or `cron: \"0 10 * * *\"` with `time_zone: Europe/Paris`"),
        ),
        _ => {}
    }
    if let Some(node @ Node { value: Value::Str(s), .. }) = cron {
        if let Err(why) = parse_cron(&s.text) {
            diags.push(
                Diagnostic::error(codes::BAD_CRON, node.span, format!("invalid cron expression `{}`: {why}", s.text))
                    .label("not a valid cron expression")
                    .help(
                        "5 fields (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6), or 6 with seconds first; \
                         `0 10 * * *` is 10:00 daily",
                    ),
            );
        }
    }
    if let Some(node @ Node { value: Value::Str(s), .. }) = params.get("time_zone") {
        if chrono_tz::Tz::from_str(&s.text).is_err() {
            let help = relais_dsl::diagnostic::did_you_mean(&s.text, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
                .unwrap_or_else(|| "use names such as `Europe/Paris`, `UTC`, `America/New_York`".into());
            diags.push(
                Diagnostic::error(codes::BAD_CRON, node.span, format!("unknown time zone `{}`", s.text))
                    .label("not an IANA time zone")
                    .help(help),
            );
        }
    }
}

/// The registry entry.
pub fn specs() -> Vec<ComponentSpec> {
    vec![ComponentSpec::new::<SchedulerSource>(
        "scheduler",
        Role::Source,
        "Starts the flow on a fixed frequency or a cron schedule.",
    )
    .with_check(check)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_accepts_five_and_six_fields_and_rejects_garbage() {
        assert!(parse_cron("0 10 * * *").is_ok());
        assert!(parse_cron("*/5 * * * * *").is_ok());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("every day").is_err());
    }
}
