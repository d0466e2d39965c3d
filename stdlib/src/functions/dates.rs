//! Dates and times with time zones. Instants travel as RFC 3339 strings in UTC (`"2024-07-26T18:00:00Z"`),
//! calendar dates as `"YYYY-MM-DD"`, zones as IANA names (`"Europe/Paris"`). Patterns are chrono's `strftime`.

use std::fmt::Write as _;

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use rhai::{Dynamic, Engine, Map, INT};

use super::durations::parse_duration;
use super::{fail, FnResult};
use crate::docs::FunctionDoc;
use crate::Clock;

const NAIVE_DATETIME_FORMATS: [&str; 4] =
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];

fn zone(name: &str) -> FnResult<Tz> {
    name.trim().parse::<Tz>().map_err(|_| fail(format!("unknown time zone '{name}' (expected e.g. \"Europe/Paris\")")))
}

fn write_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    NAIVE_DATETIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN)))
}

/// Parses an instant: RFC 3339 with an offset, or a date-time or date without one (taken as UTC).
pub(crate) fn parse_instant(text: &str) -> FnResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| parse_naive(text).map(|n| n.and_utc()))
        .ok_or_else(|| fail(format!("invalid date '{text}': expected RFC 3339 such as \"2024-07-26T18:00:00Z\"")))
}

fn parse_calendar_date(text: &str) -> FnResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| fail(format!("invalid calendar date '{text}': expected \"YYYY-MM-DD\"")))
}

/// The UTC instant of a local wall-clock time: the earlier one when a DST change makes it ambiguous, the first
/// instant after the gap when it does not exist.
fn local_to_utc(local: NaiveDateTime, tz: Tz) -> FnResult<DateTime<Utc>> {
    let resolve = |n: NaiveDateTime| match tz.from_local_datetime(&n) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.to_utc()),
        LocalResult::None => None,
    };
    resolve(local)
        .or_else(|| local.checked_add_signed(TimeDelta::hours(1)).and_then(resolve))
        .ok_or_else(|| fail(format!("the local time {local} does not exist in {tz}")))
}

fn parse_with_format(text: &str, format: &str, tz: Option<Tz>) -> FnResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_str(text.trim(), format) {
        return Ok(t.to_utc());
    }
    let naive = NaiveDateTime::parse_from_str(text.trim(), format)
        .or_else(|_| NaiveDate::parse_from_str(text.trim(), format).map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|e| fail(format!("invalid date '{text}' for format '{format}': {e}")))?;
    match tz {
        Some(tz) => local_to_utc(naive, tz),
        None => Ok(naive.and_utc()),
    }
}

fn format_in<Z: TimeZone>(t: DateTime<Z>, pattern: &str) -> FnResult<String>
where
    Z::Offset: std::fmt::Display,
{
    let mut out = String::new();
    write!(out, "{}", t.format(pattern)).map_err(|_| fail(format!("invalid date pattern '{pattern}'")))?;
    Ok(out)
}

fn shift(text: &str, duration: &str, sign: i32) -> FnResult<String> {
    let t = parse_instant(text)?;
    let delta = parse_duration(duration).map_err(fail)?;
    let delta = if sign < 0 { -delta } else { delta };
    t.checked_add_signed(delta).map(write_utc).ok_or_else(|| fail("date out of range"))
}

fn local_date(clock: &Clock, tz: &str, days_ahead: u64) -> FnResult<String> {
    let today = clock.now().with_timezone(&zone(tz)?).date_naive();
    today.checked_add_days(Days::new(days_ahead)).map(|d| d.to_string()).ok_or_else(|| fail("date out of range"))
}

fn day_bounds(date: NaiveDate, tz: Tz) -> FnResult<(DateTime<Utc>, DateTime<Utc>)> {
    let next = date.checked_add_days(Days::new(1)).ok_or_else(|| fail("date out of range"))?;
    Ok((local_to_utc(date.and_time(NaiveTime::MIN), tz)?, local_to_utc(next.and_time(NaiveTime::MIN), tz)?))
}

fn day_range(date: &str, tz: &str) -> FnResult<Map> {
    let date = parse_calendar_date(date)?;
    let (start, end) = day_bounds(date, zone(tz)?)?;
    let mut map = Map::new();
    map.insert("date".into(), Dynamic::from(date.to_string()));
    map.insert("start".into(), Dynamic::from(write_utc(start)));
    map.insert("end".into(), Dynamic::from(write_utc(end)));
    Ok(map)
}

fn day_of(text: &str, tz: &str) -> FnResult<(DateTime<Utc>, DateTime<Utc>)> {
    let tz = zone(tz)?;
    day_bounds(parse_instant(text)?.with_timezone(&tz).date_naive(), tz)
}

fn compare(a: &str, b: &str) -> FnResult<std::cmp::Ordering> {
    Ok(parse_instant(a)?.cmp(&parse_instant(b)?))
}

/// Registers the date functions; `now`, `today`, `tomorrow` and `yesterday` read `clock`.
pub(crate) fn register(engine: &mut Engine, clock: &Clock) {
    let c = clock.clone();
    engine.register_fn("now", move || write_utc(c.now()));
    let c = clock.clone();
    engine.register_fn("today", move |tz: &str| local_date(&c, tz, 0));
    let c = clock.clone();
    engine.register_fn("tomorrow", move |tz: &str| local_date(&c, tz, 1));
    let c = clock.clone();
    engine.register_fn("yesterday", move |tz: &str| {
        let today = c.now().with_timezone(&zone(tz)?).date_naive();
        today.checked_sub_days(Days::new(1)).map(|d| d.to_string()).ok_or_else(|| fail("date out of range"))
    });
    engine.register_fn("parse_date", |s: &str| parse_instant(s).map(write_utc));
    engine.register_fn("parse_date", |s: &str, f: &str| parse_with_format(s, f, None).map(write_utc));
    engine.register_fn("parse_date", |s: &str, f: &str, tz: &str| {
        parse_with_format(s, f, Some(zone(tz)?)).map(write_utc)
    });
    engine.register_fn("is_date", |s: &str| parse_instant(s).is_ok());
    engine.register_fn("format_date", |s: &str, p: &str| format_in(parse_instant(s)?, p));
    engine.register_fn("format_date", |s: &str, p: &str, tz: &str| {
        format_in(parse_instant(s)?.with_timezone(&zone(tz)?), p)
    });
    engine.register_fn("date_add", |s: &str, d: &str| shift(s, d, 1));
    engine.register_fn("date_sub", |s: &str, d: &str| shift(s, d, -1));
    engine.register_fn("seconds_between", |a: &str, b: &str| -> FnResult<INT> {
        Ok((parse_instant(b)? - parse_instant(a)?).num_seconds())
    });
    engine.register_fn("date_compare", |a: &str, b: &str| -> FnResult<INT> { Ok(compare(a, b)? as INT) });
    engine.register_fn("is_before", |a: &str, b: &str| -> FnResult<bool> { Ok(compare(a, b)?.is_lt()) });
    engine.register_fn("is_after", |a: &str, b: &str| -> FnResult<bool> { Ok(compare(a, b)?.is_gt()) });
    engine.register_fn("day_range", day_range);
    engine.register_fn("start_of_day", |s: &str, tz: &str| day_of(s, tz).map(|(start, _)| write_utc(start)));
    engine.register_fn("end_of_day", |s: &str, tz: &str| {
        day_of(s, tz).map(|(_, end)| write_utc(end - TimeDelta::milliseconds(1)))
    });
    engine.register_fn("to_local", |s: &str, tz: &str| -> FnResult<String> {
        Ok(parse_instant(s)?.with_timezone(&zone(tz)?).to_rfc3339_opts(SecondsFormat::AutoSi, true))
    });
    engine.register_fn("to_utc", |s: &str| parse_instant(s).map(write_utc));
    engine.register_fn("to_utc", |s: &str, tz: &str| {
        let naive = parse_naive(s).ok_or_else(|| fail(format!("invalid local date-time '{s}'")))?;
        local_to_utc(naive, zone(tz)?).map(write_utc)
    });
    engine.register_fn("unix_seconds", |s: &str| -> FnResult<INT> { Ok(parse_instant(s)?.timestamp()) });
    engine.register_fn("from_unix_seconds", |n: INT| {
        DateTime::from_timestamp(n, 0).map(write_utc).ok_or_else(|| fail(format!("timestamp {n} out of range")))
    });
}

/// Documentation of the date functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "now",
        signature: "now() -> string",
        summary: "The current instant in UTC, RFC 3339. Reads the engine's clock, which flow tests fix.",
        examples: &[("now()", r#""2024-07-26T16:30:00Z""#)],
    },
    FunctionDoc {
        name: "today",
        signature: "today(tz: string) -> string",
        summary: "Today's calendar date (YYYY-MM-DD) in the time zone `tz`.",
        examples: &[
            (r#"today("Europe/Paris")"#, r#""2024-07-26""#),
            (r#"today("Pacific/Auckland")"#, r#""2024-07-27""#),
        ],
    },
    FunctionDoc {
        name: "tomorrow",
        signature: "tomorrow(tz: string) -> string",
        summary: "Tomorrow's calendar date in `tz`; combine with `day_range` for its UTC bounds.",
        examples: &[
            (r#"tomorrow("Europe/Paris")"#, r#""2024-07-27""#),
            (
                r#"day_range(tomorrow("Europe/Paris"), "Europe/Paris")"#,
                r#"{"date":"2024-07-27","end":"2024-07-27T22:00:00Z","start":"2024-07-26T22:00:00Z"}"#,
            ),
        ],
    },
    FunctionDoc {
        name: "yesterday",
        signature: "yesterday(tz: string) -> string",
        summary: "Yesterday's calendar date in `tz`.",
        examples: &[(r#"yesterday("America/New_York")"#, r#""2024-07-25""#)],
    },
    FunctionDoc {
        name: "parse_date",
        signature: "parse_date(text: string [, format: string [, tz: string]]) -> string",
        summary: "Parses a date to an RFC 3339 UTC instant. Without a format: RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` \
                  (as UTC). With a `strftime` format; a date-time without offset is read in `tz` (default UTC).",
        examples: &[
            (r#"parse_date("2024-07-26T20:00:00+02:00")"#, r#""2024-07-26T18:00:00Z""#),
            (r#"parse_date("26/07/2024 20:00", "%d/%m/%Y %H:%M")"#, r#""2024-07-26T20:00:00Z""#),
            (r#"parse_date("26/07/2024 20:00", "%d/%m/%Y %H:%M", "Europe/Paris")"#, r#""2024-07-26T18:00:00Z""#),
            (r#"parse_date("26/07/2024", "%d/%m/%Y")"#, r#""2024-07-26T00:00:00Z""#),
        ],
    },
    FunctionDoc {
        name: "is_date",
        signature: "is_date(text: string) -> bool",
        summary: "Whether `parse_date(text)` would succeed.",
        examples: &[(r#"is_date("2024-02-29")"#, "true"), (r#"is_date("2023-02-29")"#, "false")],
    },
    FunctionDoc {
        name: "format_date",
        signature: "format_date(instant: string, pattern: string [, tz: string]) -> string",
        summary: "Formats an instant with a `strftime` pattern, in UTC or in the time zone `tz`.",
        examples: &[
            (r#"format_date("2024-07-26T18:00:00Z", "%d/%m/%Y %H:%M")"#, r#""26/07/2024 18:00""#),
            (r#"format_date("2024-07-26T18:00:00Z", "%H:%M %Z", "Europe/Paris")"#, r#""20:00 CEST""#),
        ],
    },
    FunctionDoc {
        name: "date_add",
        signature: "date_add(instant: string, duration: string) -> string",
        summary: "Adds a duration such as \"1d\", \"2h30m\", \"-15m\", \"500ms\" or \"1w\" (a day is 24 hours).",
        examples: &[(r#"date_add("2024-07-26T18:00:00Z", "1d2h")"#, r#""2024-07-27T20:00:00Z""#)],
    },
    FunctionDoc {
        name: "date_sub",
        signature: "date_sub(instant: string, duration: string) -> string",
        summary: "Subtracts a duration (see `date_add`).",
        examples: &[(r#"date_sub("2024-07-26T18:00:00Z", "30m")"#, r#""2024-07-26T17:30:00Z""#)],
    },
    FunctionDoc {
        name: "seconds_between",
        signature: "seconds_between(from: string, to: string) -> int",
        summary: "Whole seconds from `from` to `to` (negative when `to` is earlier).",
        examples: &[(r#"seconds_between("2024-07-26T18:00:00Z", "2024-07-26T20:00:00+02:00")"#, "0")],
    },
    FunctionDoc {
        name: "date_compare",
        signature: "date_compare(a: string, b: string) -> int",
        summary: "-1, 0 or 1 as instant `a` is before, equal to or after `b` (offsets are taken into account).",
        examples: &[(r#"date_compare("2024-07-26T19:00:00+02:00", "2024-07-26T18:00:00Z")"#, "-1")],
    },
    FunctionDoc {
        name: "is_before",
        signature: "is_before(a: string, b: string) -> bool",
        summary: "Whether instant `a` is strictly before `b`.",
        examples: &[(r#"is_before("2024-07-26", now())"#, "true")],
    },
    FunctionDoc {
        name: "is_after",
        signature: "is_after(a: string, b: string) -> bool",
        summary: "Whether instant `a` is strictly after `b`.",
        examples: &[(r#"is_after("2024-07-26", now())"#, "false")],
    },
    FunctionDoc {
        name: "day_range",
        signature: "day_range(date: string, tz: string) -> map",
        summary: "The UTC bounds of a local calendar day: `#{date, start, end}`, `end` exclusive (next local \
                  midnight). DST days last 23 or 25 hours.",
        examples: &[(
            r#"day_range("2024-10-27", "Europe/Paris")"#,
            r#"{"date":"2024-10-27","end":"2024-10-27T23:00:00Z","start":"2024-10-26T22:00:00Z"}"#,
        )],
    },
    FunctionDoc {
        name: "start_of_day",
        signature: "start_of_day(instant: string, tz: string) -> string",
        summary: "The first instant (local midnight) of the day containing `instant` in `tz`, in UTC.",
        examples: &[(r#"start_of_day("2024-07-26T23:30:00Z", "Europe/Paris")"#, r#""2024-07-26T22:00:00Z""#)],
    },
    FunctionDoc {
        name: "end_of_day",
        signature: "end_of_day(instant: string, tz: string) -> string",
        summary: "The last millisecond (23:59:59.999 local) of the day containing `instant` in `tz`, in UTC.",
        examples: &[(r#"end_of_day("2024-07-26T12:00:00Z", "Europe/Paris")"#, r#""2024-07-26T21:59:59.999Z""#)],
    },
    FunctionDoc {
        name: "to_local",
        signature: "to_local(instant: string, tz: string) -> string",
        summary: "The instant as RFC 3339 with the local offset of `tz`.",
        examples: &[(r#"to_local("2024-07-26T18:00:00Z", "Europe/Paris")"#, r#""2024-07-26T20:00:00+02:00""#)],
    },
    FunctionDoc {
        name: "to_utc",
        signature: "to_utc(text: string [, tz: string]) -> string",
        summary: "Normalises an instant to UTC; with `tz`, reads a wall-clock date-time without offset in that zone \
                  (ambiguous times take the earlier instant, times in a DST gap move past it).",
        examples: &[
            (r#"to_utc("2024-07-26T20:00:00+02:00")"#, r#""2024-07-26T18:00:00Z""#),
            (r#"to_utc("2024-07-26 20:00", "Europe/Paris")"#, r#""2024-07-26T18:00:00Z""#),
        ],
    },
    FunctionDoc {
        name: "unix_seconds",
        signature: "unix_seconds(instant: string) -> int",
        summary: "Seconds since 1970-01-01T00:00:00Z.",
        examples: &[(r#"unix_seconds("1970-01-02T00:00:00Z")"#, "86400")],
    },
    FunctionDoc {
        name: "from_unix_seconds",
        signature: "from_unix_seconds(seconds: int) -> string",
        summary: "The RFC 3339 UTC instant `seconds` after the Unix epoch.",
        examples: &[("from_unix_seconds(1722016800)", r#""2024-07-26T18:00:00Z""#)],
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rhai::Scope;

    use super::*;
    use crate::{build_engine_with_clock, compile, run, Limits, Lookups, ScriptError};

    fn eval_at(now: &str, code: &str) -> Result<String, ScriptError> {
        let clock = Clock::fixed(parse_instant(now).unwrap());
        let engine = build_engine_with_clock(&Limits::default(), Lookups::default(), clock);
        let ast = compile(&engine, code, &[])?;
        let value = run(&engine, &ast, &mut Scope::new())?;
        Ok(crate::dynamic_to_json(&value).unwrap().to_string().trim_matches('"').to_string())
    }

    #[test]
    fn tomorrow_in_paris_starts_at_local_midnight() {
        // 23:30 UTC on the 26th is already 01:30 on the 27th in Paris: tomorrow is the 28th.
        let code = r#"let d = tomorrow("Europe/Paris"); let r = day_range(d, "Europe/Paris"); [d, r.start, r.end]"#;
        assert_eq!(
            eval_at("2024-07-26T23:30:00Z", code).unwrap(),
            r#"["2024-07-28","2024-07-27T22:00:00Z","2024-07-28T22:00:00Z"]"#
        );
    }

    #[test]
    fn the_day_clocks_go_back_lasts_twenty_five_hours() {
        let code = r#"let r = day_range("2024-10-27", "Europe/Paris"); seconds_between(r.start, r.end)"#;
        assert_eq!(eval_at("2024-07-26T00:00:00Z", code).unwrap(), "90000");
    }

    #[test]
    fn a_local_time_in_the_spring_gap_moves_past_it() {
        let code = r#"to_utc("2024-03-31 02:30", "Europe/Paris")"#;
        assert_eq!(eval_at("2024-07-26T00:00:00Z", code).unwrap(), "2024-03-31T01:30:00Z");
    }

    #[test]
    fn an_invalid_date_is_a_clear_runtime_error() {
        let err = eval_at("2024-07-26T00:00:00Z", r#"parse_date("2024-13-45")"#).unwrap_err();
        assert!(matches!(&err, ScriptError::Runtime { message, .. } if message.contains("invalid date")), "{err:?}");
    }

    #[test]
    fn an_unknown_time_zone_is_a_clear_runtime_error() {
        let err = eval_at("2024-07-26T00:00:00Z", r#"today("Europe/Pariss")"#).unwrap_err();
        assert!(matches!(&err, ScriptError::Runtime { message, .. } if message.contains("Europe/Pariss")));
    }

    #[test]
    fn an_invalid_pattern_is_an_error_not_a_panic() {
        let err = eval_at("2024-07-26T00:00:00Z", r#"format_date(now(), "%Q")"#).unwrap_err();
        assert!(matches!(&err, ScriptError::Runtime { message, .. } if message.contains("pattern")), "{err:?}");
    }

    #[test]
    fn a_bad_duration_is_a_clear_runtime_error() {
        let err = eval_at("2024-07-26T00:00:00Z", r#"date_add(now(), "tomorrow")"#).unwrap_err();
        assert!(matches!(&err, ScriptError::Runtime { message, .. } if message.contains("invalid duration")));
    }
}
