//! `scheduler`: starts a flow at a fixed frequency or on a cron schedule in a time zone; the task that
//! fires it is in [`run`], and on a state shared by replicas in [`shared`] (each tick once across them).

mod run;
mod shared;

use super::types::DurationText;
use crate::runtime::Runtime;
use crate::source::{Planned, Source, SourceUse, Stage, TaskPlanned};
use relais_dsl::codes;
use relais_dsl::syntax::Node;
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
    /// IANA time zone for `cron`, e.g. `Europe/Paris`.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Wait this long before the first run of a `frequency` schedule.
    pub start_delay: Option<DurationText>,
    /// Start a run even when the previous one is still going (default false: the tick is skipped and counted).
    #[serde(default)]
    pub allow_overlap: bool,
}

/// The event a tick at `at` starts its flow with: no payload, `attributes.fired_at` the tick's instant (RFC 3339,
/// UTC). What every scheduler fires, and what a flow test with `fire_time` runs.
pub fn fire_event(at: chrono::DateTime<chrono::Utc>) -> crate::runtime::Event {
    let mut event = crate::runtime::Event::new(serde_json::Value::Null);
    event.attributes = serde_json::json!({ "fired_at": at.to_rfc3339() }).into();
    event
}

fn utc() -> String {
    "UTC".into()
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

/// The field of a cron expression holding a number out of its field's range, and what the range is: the
/// cron parser only says "number out of bounds". Five fields are minute to weekday; six put seconds first.
fn field_out_of_range(cron: &str) -> Option<(std::ops::Range<usize>, String)> {
    let fields: Vec<(usize, &str)> = cron
        .split(' ')
        .scan(0usize, |at, f| {
            let start = *at;
            *at += f.len() + 1;
            Some((start, f))
        })
        .filter(|(_, f)| !f.is_empty())
        .collect();
    const FIVE: &[(&str, u32, u32)] =
        &[("minute", 0, 59), ("hour", 0, 23), ("day of the month", 1, 31), ("month", 1, 12), ("weekday", 0, 7)];
    const SECONDS: (&str, u32, u32) = ("second", 0, 59);
    let ranges: Vec<(&str, u32, u32)> = match fields.len() {
        5 => FIVE.to_vec(),
        6 => std::iter::once(SECONDS).chain(FIVE.iter().copied()).collect(),
        _ => return None,
    };
    fields.iter().zip(ranges).find_map(|(&(start, field), (name, low, high))| {
        // The values of each comma-separated part, before any `/step`.
        let mut values = field.split(',').flat_map(|part| part.split('/').next().unwrap_or_default().split('-'));
        let out = values.any(|n| n.parse::<u32>().is_ok_and(|n| n < low || n > high));
        out.then(|| (start..start + field.len(), format!("the {name} is {low} to {high}")))
    })
}

/// Where setting `key` is written, or the whole source when it is not.
fn span_of(at: &Node, key: &str) -> relais_dsl::Span {
    at.get(key).map_or(at.span, |n| n.span)
}

impl SchedulerSource {
    /// Exactly one schedule, a cron expression the scheduler can read, a time zone that exists.
    fn check_schedule(&self, at: &Node, diags: &mut Diagnostics) {
        match (&self.cron, &self.frequency) {
            (Some(_), Some(_)) => diags.push(
                Diagnostic::error(
                    codes::CONFLICTING_FIELDS,
                    span_of(at, "frequency"),
                    "a scheduler takes `cron` or `frequency`, not both",
                )
                .label("remove one of them"),
            ),
            (None, None) => diags.push(
                Diagnostic::error(codes::CONFLICTING_FIELDS, at.span, "a scheduler needs `cron` or `frequency`")
                    .label("no schedule")
                    .help("`frequency: 30s` or `cron: \"0 10 * * *\"` with `time_zone: Europe/Paris`"),
            ),
            _ => {}
        }
        if let Some(cron) = &self.cron {
            if let Err(why) = parse_cron(cron) {
                let (span, label) = match (at.get("cron"), field_out_of_range(cron)) {
                    (Some(node), Some((range, what))) => (node.sub_span(range), what),
                    _ => (span_of(at, "cron"), "not a valid cron expression".to_string()),
                };
                diags.push(
                    Diagnostic::error(codes::BAD_CRON, span, format!("invalid cron expression `{cron}`: {why}"))
                        .label(label)
                        .help(
                            "5 fields (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6), or 6 with seconds first; \
                             `0 10 * * *` is 10:00 daily",
                        ),
                );
            }
        }
        let zone = &self.time_zone;
        if chrono_tz::Tz::from_str(zone).is_err() {
            let city = format!("/{}", zone.to_ascii_lowercase().replace(' ', "_"));
            let by_city = chrono_tz::TZ_VARIANTS
                .iter()
                .find(|tz| tz.name().to_ascii_lowercase().ends_with(&city))
                .map(|tz| format!("did you mean `{}`? (zones are named by region and city)", tz.name()));
            let help = abbreviation_help(zone)
                .or(by_city)
                .or_else(|| {
                    relais_dsl::diagnostic::did_you_mean(zone, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
                })
                .unwrap_or_else(|| "use names such as `Europe/Paris`, `UTC`, `America/New_York`".into());
            diags.push(
                Diagnostic::error(codes::BAD_CRON, span_of(at, "time_zone"), format!("unknown time zone `{zone}`"))
                    .label("not an IANA time zone")
                    .help(help),
            );
        }
    }
}

/// For a zone abbreviation (`CEST`, `PST`): abbreviations are not zones (they name one half of the year,
/// and the same letters mean different places), so the help names the zone to write, for the common ones.
fn abbreviation_help(zone: &str) -> Option<String> {
    let letters = zone.len();
    if !(2..=5).contains(&letters) || !zone.chars().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    const KNOWN: &[(&[&str], &str)] = &[
        (&["CET", "CEST", "MET", "MEST"], "Europe/Paris` or `Europe/Berlin"),
        (&["BST", "GMT", "WET", "WEST"], "Europe/London"),
        (&["EET", "EEST"], "Europe/Athens"),
        (&["EST", "EDT", "ET"], "America/New_York"),
        (&["CST", "CDT", "CT"], "America/Chicago"),
        (&["MST", "MDT", "MT"], "America/Denver"),
        (&["PST", "PDT", "PT"], "America/Los_Angeles"),
        (&["JST"], "Asia/Tokyo"),
        (&["IST"], "Asia/Kolkata"),
        (&["AEST", "AEDT"], "Australia/Sydney"),
    ];
    let example = KNOWN.iter().find(|(names, _)| names.contains(&zone)).map_or("Europe/Paris", |(_, zone)| zone);
    Some(format!(
        "`{zone}` is an abbreviation, not a time zone: write the zone's name, such as `{example}`, and summer time \
         follows by itself"
    ))
}

impl Source for SchedulerSource {
    const NAME: &'static str = "scheduler";
    const SUMMARY: &'static str = "Starts the flow on a fixed frequency or a cron schedule.";

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        self.check_schedule(at, diags);
    }

    fn trigger(&self) -> Option<String> {
        match (&self.cron, &self.frequency) {
            (Some(cron), _) => Some(format!("cron {cron} {}", self.time_zone)),
            (None, Some(every)) => Some(format!("every {}", relais_dsl::ir::format_duration(every.0))),
            (None, None) => None,
        }
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        let mut planned = Vec::new();
        for u in uses {
            let schedule = run::Schedule::new(&u.flow, &u.settings)
                .ok_or_else(|| format!("flow `{}`: the schedule cannot be read", u.flow))?;
            let runtime = runtime.clone();
            planned.push(TaskPlanned::planned(
                format!("scheduler:{}", u.flow),
                Stage::Intake,
                Box::new(move |stop, in_flight| run::start(schedule, runtime, stop, in_flight)),
            ));
        }
        Ok(planned)
    }
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
