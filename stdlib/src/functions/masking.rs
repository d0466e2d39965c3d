//! Masking, pseudonymisation and redaction of sensitive data.

use rhai::{Array, Dynamic, Engine, Map, INT};

use super::crypto::{hex, hmac_sha256};
use super::{fail, FnResult};
use crate::docs::FunctionDoc;

/// Hex characters of a pseudonym (128 bits of the HMAC).
const PSEUDONYM_LEN: usize = 32;

fn mask(text: &str, keep: INT) -> String {
    let total = text.chars().count();
    let keep = usize::try_from(keep).unwrap_or(0);
    // A value no longer than what would be kept is masked entirely.
    let keep = if keep >= total { 0 } else { keep };
    let hidden = total - keep;
    text.chars().enumerate().map(|(i, c)| if i < hidden { '*' } else { c }).collect()
}

fn mask_email(address: &str) -> String {
    match address.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        _ => mask(address, 0),
    }
}

fn pseudonymise(value: &Dynamic, secret: &str) -> FnResult<Dynamic> {
    if secret.is_empty() {
        return Err(fail("pseudonymise needs a non-empty secret"));
    }
    if value.is_unit() {
        return Ok(Dynamic::UNIT);
    }
    let mut token = hex(&hmac_sha256(&value.to_string(), secret));
    token.truncate(PSEUDONYM_LEN);
    Ok(Dynamic::from(token))
}

/// Applies `action` to the field at `path` in `value`, descending into arrays of maps on the way.
fn redact_path(value: &mut Dynamic, path: &[&str], replacement: Option<&Dynamic>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(mut items) = value.write_lock::<Array>() {
        for item in items.iter_mut() {
            redact_path(item, path, replacement);
        }
        return;
    }
    let Some(mut map) = value.write_lock::<Map>() else {
        return;
    };
    if rest.is_empty() {
        match replacement {
            Some(r) => {
                if let Some(field) = map.get_mut(*first) {
                    *field = r.clone();
                }
            }
            None => {
                map.remove(*first);
            }
        }
    } else if let Some(child) = map.get_mut(*first) {
        redact_path(child, rest, replacement);
    }
}

fn redact(value: Dynamic, paths: &Array, replacement: Option<&Dynamic>) -> FnResult<Dynamic> {
    let mut value = value;
    for path in paths {
        let path =
            path.as_immutable_string_ref().map_err(|t| fail(format!("redact: a path must be a string, not {t}")))?;
        let steps: Vec<&str> = path.split('.').collect();
        redact_path(&mut value, &steps, replacement);
    }
    Ok(value)
}

/// Registers the masking functions.
pub(crate) fn register(engine: &mut Engine, limits: &crate::Limits) {
    engine.register_fn("mask", |s: &str| super::scan(s).map(|()| mask(s, 4)));
    engine.register_fn("mask", |s: &str, n: INT| super::scan(s).map(|()| mask(s, n)));
    engine.register_fn("mask", |_: ()| ());
    engine.register_fn("mask_email", mask_email);
    engine.register_fn("mask_email", |_: ()| ());
    let max = limits.max_string_size;
    engine.register_fn("pseudonymise", move |v: Dynamic, secret: &str| {
        super::scan_value(&v, max)?;
        pseudonymise(&v, secret)
    });
    engine.register_fn("redact", move |v: Dynamic, paths: Array| {
        super::scan_value(&v, max)?;
        redact(v, &paths, None)
    });
    engine.register_fn("redact", move |v: Dynamic, paths: Array, r: Dynamic| {
        super::scan_value(&v, max)?;
        redact(v, &paths, Some(&r))
    });
}

/// Documentation of the masking functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "mask",
        signature: "mask(text: string | () [, keep: int]) -> string | ()",
        summary: "Replaces every character but the last `keep` (default 4) with `*`; a text no longer than `keep` \
                  is masked entirely.",
        examples: &[
            (r#"mask("12345678")"#, r#""****5678""#),
            (r#"mask("AB1234567", 2)"#, r#""*******67""#),
            (r#"mask("123")"#, r#""***""#),
        ],
    },
    FunctionDoc {
        name: "mask_email",
        signature: "mask_email(address: string | ()) -> string | ()",
        summary: "Keeps the first character of the local part and the domain: `j***@example.com`.",
        examples: &[(r#"mask_email("jean.dupont@example.com")"#, r#""j***@example.com""#)],
    },
    FunctionDoc {
        name: "pseudonymise",
        signature: "pseudonymise(value: any, secret: string) -> string | ()",
        summary: "A stable token for a value: 32 hex characters of HMAC-SHA256(value as text, secret). The same \
                  value and secret always give the same token; without the secret it cannot be reversed or \
                  recomputed. `()` stays `()`.",
        examples: &[
            (r#"pseudonymise("P1234567", "s3cret").len()"#, "32"),
            (r#"pseudonymise("P1234567", "s3cret") == pseudonymise("P1234567", "s3cret")"#, "true"),
            (r#"pseudonymise(42, "s3cret") == pseudonymise("42", "s3cret")"#, "true"),
        ],
    },
    FunctionDoc {
        name: "redact",
        signature: "redact(value: map, paths: array [, replacement: any]) -> map",
        summary: "Removes the fields at the dotted `paths` (through arrays of maps too), or replaces those present \
                  with `replacement`.",
        examples: &[
            (
                r#"redact(#{ id: 1, person: #{ name: "A", passport_number: "X1" } }, ["person.passport_number"])"#,
                r#"{"id":1,"person":{"name":"A"}}"#,
            ),
            (
                r#"redact(#{ people: [#{ dob: "2000-01-01" }, #{ id: 2 }] }, ["people.dob"], "[redacted]")"#,
                r#"{"people":[{"dob":"[redacted]"},{"id":2}]}"#,
            ),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_counts_characters_not_bytes() {
        assert_eq!(mask("éééé1234", 4), "****1234");
    }

    #[test]
    fn an_address_without_at_sign_is_masked_entirely() {
        assert_eq!(mask_email("nope"), "****");
    }

    #[test]
    fn pseudonymising_without_a_secret_is_an_error() {
        assert!(pseudonymise(&Dynamic::from("x"), "").is_err());
    }

    #[test]
    fn different_secrets_give_different_pseudonyms() {
        let a = pseudonymise(&Dynamic::from("x"), "a").map(|d| d.to_string()).unwrap_or_default();
        let b = pseudonymise(&Dynamic::from("x"), "b").map(|d| d.to_string()).unwrap_or_default();
        assert_ne!(a, b);
    }
}
