//! Phone numbers to E.164 (`+33612345678`).
//!
//! Rule for bad input: an unknown default country is a script bug and raises a runtime error; a number that cannot
//! be read as a phone number of plausible length is data and gives `()`, so mappings can drop it.

use rhai::{Dynamic, Engine};

use super::calling_codes::{plan_by_iso2, plan_by_prefix, CountryPlan};
use super::{fail, FnResult};
use crate::docs::FunctionDoc;

/// Total digits allowed by E.164, calling code included.
const E164_MIN: usize = 7;
const E164_MAX: usize = 15;

/// Normalises `raw` to E.164, reading national numbers with the plan of `country`. `Ok(None)` when `raw` is not a
/// plausible phone number, `Err` when `country` is unknown.
pub(crate) fn to_e164(raw: &str, country: &str) -> FnResult<Option<String>> {
    let default = plan_by_iso2(country)
        .ok_or_else(|| fail(format!("unknown country '{country}' for phone numbers (expected e.g. \"FR\")")))?;
    Ok(normalise(raw, default))
}

fn normalise(raw: &str, default: &CountryPlan) -> Option<String> {
    // "(0)" in "+33 (0)6 ..." is the national trunk prefix written inside an international number.
    let text = raw.trim().replace("(0)", "");
    let mut digits = String::with_capacity(text.len());
    let mut plus = false;
    for (i, c) in text.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '.' | '-' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return None,
        }
    }
    let international = if plus { Some(digits.as_str()) } else { digits.strip_prefix("00") };
    match international {
        Some(rest) => international_number(rest),
        None => national_number(&digits, default),
    }
}

fn international_number(digits: &str) -> Option<String> {
    match plan_by_prefix(digits) {
        Some(plan) => {
            let national = &digits[plan.code.len()..];
            check_national(national, plan).then(|| format!("+{}{national}", plan.code))
        }
        None => (E164_MIN..=E164_MAX).contains(&digits.len()).then(|| format!("+{digits}")),
    }
}

fn national_number(digits: &str, plan: &CountryPlan) -> Option<String> {
    let without_trunk = (!plan.trunk.is_empty()).then(|| digits.strip_prefix(plan.trunk)).flatten();
    without_trunk
        .into_iter()
        .chain([digits])
        .find(|national| check_national(national, plan))
        .map(|national| format!("+{}{national}", plan.code))
}

fn check_national(national: &str, plan: &CountryPlan) -> bool {
    // Where the trunk prefix starts with 0, no national significant number does.
    let trunk_leftover = plan.trunk.starts_with('0') && national.starts_with('0');
    (plan.min_len..=plan.max_len).contains(&national.len()) && !trunk_leftover
}

/// Registers the phone functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("to_e164", |raw: &str, country: &str| -> FnResult<Dynamic> {
        Ok(to_e164(raw, country)?.map_or(Dynamic::UNIT, Dynamic::from))
    });
    engine.register_fn("to_e164", |_: (), country: &str| -> FnResult<Dynamic> {
        to_e164("", country).map(|_| Dynamic::UNIT)
    });
    engine
        .register_fn("is_phone", |raw: &str, country: &str| -> FnResult<bool> { Ok(to_e164(raw, country)?.is_some()) });
    engine.register_fn("calling_code", |country: &str| -> FnResult<String> {
        plan_by_iso2(country)
            .map(|p| format!("+{}", p.code))
            .ok_or_else(|| fail(format!("unknown country '{country}' for phone numbers")))
    });
}

/// Documentation of the phone functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "to_e164",
        signature: "to_e164(number: string | (), country: string) -> string | ()",
        summary: "Normalises a phone number to E.164. National numbers (trunk `0` dropped) use the ISO `country`'s \
                  calling code; `+` and `00` mark international ones. Spaces, dots, dashes, slashes, parentheses and \
                  `(0)` are ignored. Gives `()` for a number of implausible length or with other characters; an \
                  unknown `country` is an error. About 50 countries are known (FR, GB, US, CA, DE, ES, IT, BE, CH, \
                  NL, PT, BR, JP, CN, AU, IN...).",
        examples: &[
            (r#"to_e164("06 12 34 56 78", "FR")"#, r#""+33612345678""#),
            (r#"to_e164("+44 (0)20 7946 0958", "FR")"#, r#""+442079460958""#),
            (r#"to_e164("0049 30 901820", "FR")"#, r#""+4930901820""#),
            (r#"to_e164("(415) 555-2671", "US")"#, r#""+14155552671""#),
            (r#"to_e164("06 12 34", "FR")"#, "null"),
            (r#"to_e164("call me", "FR")"#, "null"),
        ],
    },
    FunctionDoc {
        name: "is_phone",
        signature: "is_phone(number: string, country: string) -> bool",
        summary: "Whether `to_e164(number, country)` gives a number.",
        examples: &[(r#"is_phone("06.12.34.56.78", "FR")"#, "true"), (r#"is_phone("12", "FR")"#, "false")],
    },
    FunctionDoc {
        name: "calling_code",
        signature: "calling_code(country: string) -> string",
        summary: "The international calling code of an ISO country, with `+`.",
        examples: &[(r#"calling_code("jp")"#, r#""+81""#)],
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn e164(raw: &str, country: &str) -> Option<String> {
        to_e164(raw, country).unwrap()
    }

    #[test]
    fn french_mobiles_in_every_spelling_give_the_same_number() {
        for raw in [
            "06 12 34 56 78",
            "06.12.34.56.78",
            "0612345678",
            "+33 6 12 34 56 78",
            "0033612345678",
            "+33 (0)6 12 34 56 78",
            "612345678",
        ] {
            assert_eq!(e164(raw, "FR").as_deref(), Some("+33612345678"), "{raw}");
        }
    }

    #[test]
    fn italian_numbers_keep_their_leading_zero() {
        assert_eq!(e164("06 6982 1234", "IT").as_deref(), Some("+390669821234"));
    }

    #[test]
    fn north_american_numbers_accept_the_leading_one() {
        assert_eq!(e164("1 (416) 555-0123", "CA").as_deref(), Some("+14165550123"));
    }

    #[test]
    fn an_international_number_ignores_the_default_country() {
        assert_eq!(e164("+81 3-1234-5678", "FR").as_deref(), Some("+81312345678"));
    }

    #[test]
    fn invalid_numbers_give_nothing() {
        for raw in ["", "   ", "abc", "06 12", "06 12 34 56 78 90 12", "+33 0612345678", "+", "06-12-34-56-7x"] {
            assert_eq!(e164(raw, "FR"), None, "{raw}");
        }
    }

    #[test]
    fn german_numbers_of_variable_length_drop_their_trunk_prefix() {
        assert_eq!(e164("030 901820", "DE").as_deref(), Some("+4930901820"));
        assert_eq!(e164("0151 23456789", "DE").as_deref(), Some("+4915123456789"));
    }

    #[test]
    fn russian_toll_free_numbers_keep_their_eight() {
        assert_eq!(e164("8 800 123 45 67", "RU").as_deref(), Some("+78001234567"));
    }

    #[test]
    fn an_unknown_country_is_an_error() {
        assert!(to_e164("0612345678", "XX").is_err());
    }
}
