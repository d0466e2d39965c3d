//! Parsing of duration strings such as `"1d"`, `"2h30m"`, `"-15m"` or `"500ms"`.

use chrono::TimeDelta;

/// Parses a duration: an optional sign, then one or more `<integer><unit>` parts with units `w` (7 days), `d`
/// (24 hours), `h`, `m`, `s` and `ms`. Returns a description of the problem on failure.
pub(crate) fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let invalid = || format!("invalid duration '{text}': expected e.g. \"1d\", \"2h30m\", \"-15m\" or \"500ms\"");
    let trimmed = text.trim();
    let (negative, mut rest) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = TimeDelta::zero();
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let amount: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "w" => TimeDelta::try_weeks(amount),
            "d" => TimeDelta::try_days(amount),
            "h" => TimeDelta::try_hours(amount),
            "m" => TimeDelta::try_minutes(amount),
            "s" => TimeDelta::try_seconds(amount),
            "ms" => TimeDelta::try_milliseconds(amount),
            _ => None,
        };
        total = part.and_then(|p| total.checked_add(&p)).ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn compound_durations_add_their_parts() {
        assert_eq!(parse_duration("1d2h30m").unwrap(), TimeDelta::minutes(24 * 60 + 150));
        assert_eq!(parse_duration("-15m").unwrap(), TimeDelta::minutes(-15));
        assert_eq!(parse_duration("500ms").unwrap(), TimeDelta::milliseconds(500));
        assert_eq!(parse_duration("1w").unwrap(), TimeDelta::days(7));
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for bad in ["", "-", "d", "1", "1x", "1.5h", "h1", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
