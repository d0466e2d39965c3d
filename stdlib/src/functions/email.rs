//! E-mail addresses: shape validation and normalisation.
//!
//! Rule for bad input: a string that is not shaped like an address gives `()` from `normalize_email`, so mappings
//! can drop it; `is_email` says whether it would.

use rhai::{Dynamic, Engine};

use crate::docs::FunctionDoc;

const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";

fn valid_local(local: &str) -> bool {
    (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok = labels.last().is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

/// The address trimmed and lower-cased, or `None` when it is not shaped like `local@domain.tld` (ASCII).
pub(crate) fn normalize_email(raw: &str) -> Option<String> {
    let address = raw.trim().to_ascii_lowercase();
    let (local, domain) = address.split_once('@')?;
    (address.len() <= 254 && valid_local(local) && valid_domain(domain)).then_some(address)
}

/// Registers the e-mail functions.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("normalize_email", |raw: &str| normalize_email(raw).map_or(Dynamic::UNIT, Dynamic::from));
    engine.register_fn("normalize_email", |_: ()| Dynamic::UNIT);
    engine.register_fn("is_email", |raw: &str| normalize_email(raw).is_some());
    engine.register_fn("is_email", |_: ()| false);
    engine.register_fn("email_domain", |raw: &str| {
        normalize_email(raw)
            .and_then(|a| a.split_once('@').map(|(_, d)| d.to_string()))
            .map_or(Dynamic::UNIT, Dynamic::from)
    });
}

/// Documentation of the e-mail functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "normalize_email",
        signature: "normalize_email(address: string | ()) -> string | ()",
        summary: "Trims and lower-cases an address (local part and domain); `()` when it is not shaped like \
                  `local@domain.tld`.",
        examples: &[
            (r#"normalize_email("  Jean.Dupont@Example.FR ")"#, r#""jean.dupont@example.fr""#),
            (r#"normalize_email("jean.dupont@localhost")"#, "null"),
            (r#"normalize_email("jean..dupont@example.fr")"#, "null"),
        ],
    },
    FunctionDoc {
        name: "is_email",
        signature: "is_email(address: string | ()) -> bool",
        summary: "Whether `normalize_email` accepts the address.",
        examples: &[(r#"is_email("a+tag@mail.example.com")"#, "true"), (r#"is_email("a@b@c.com")"#, "false")],
    },
    FunctionDoc {
        name: "email_domain",
        signature: "email_domain(address: string) -> string | ()",
        summary: "The lower-case domain of a valid address, else `()`.",
        examples: &[(r#"email_domain("Jean@Example.FR")"#, r#""example.fr""#)],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in
            ["", "@", "a@", "@b.com", "a b@c.com", ".a@b.com", "a.@b.com", "a@-b.com", "a@b.c", "a@b.123", "é@b.com"]
        {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_valid_address_is_trimmed_and_lower_cased() {
        assert_eq!(normalize_email(" A.B+x@Sub.Example.COM\n").as_deref(), Some("a.b+x@sub.example.com"));
    }
}
