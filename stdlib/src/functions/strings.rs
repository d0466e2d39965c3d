//! String functions. They all return new strings and never change their argument.

use rhai::{Array, Dynamic, Engine, EvalAltResult, Position, INT};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::{fail, scan, FnResult};
use crate::docs::FunctionDoc;
use crate::Limits;

/// Removes diacritics ("Élodie Lefèvre" -> "Elodie Lefevre") and spells out common ligatures and letters that
/// have no decomposition ("æ" -> "ae", "ß" -> "ss", "ø" -> "o", "ł" -> "l").
pub(crate) fn strip_accents(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'æ' => out.push_str("ae"),
            'Æ' => out.push_str("AE"),
            'œ' => out.push_str("oe"),
            'Œ' => out.push_str("OE"),
            'ß' => out.push_str("ss"),
            'ø' => out.push('o'),
            'Ø' => out.push('O'),
            'ł' => out.push('l'),
            'Ł' => out.push('L'),
            'đ' => out.push('d'),
            'Đ' => out.push('D'),
            other => out.push(other),
        }
    }
    out
}

/// Every word's first letter upper case and the rest lower case, a word starting after any character that is
/// not alphanumeric (`jean-pierre O'NEIL` -> `Jean-Pierre O'Neil`): how names are written in a CRM.
pub fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        at_word_start = !c.is_alphanumeric();
    }
    out
}

fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in strip_accents(text).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

fn join(items: Array, separator: &str, max_len: usize) -> FnResult<String> {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            super::metered::ensure_fits(out.len() + separator.len(), max_len)?;
            out.push_str(separator);
        }
        if !item.is_unit() {
            let text = item.to_string();
            super::metered::ensure_fits(out.len() + text.len(), max_len)?;
            out.push_str(&text);
        }
    }
    scan(&out)?;
    Ok(out)
}

fn pad(text: &str, width: INT, filler: &str, left: bool, max_len: usize) -> FnResult<String> {
    let mut fill = filler.chars();
    let (Some(fill_char), None) = (fill.next(), fill.next()) else {
        return Err(fail(format!("padding must be one character, got '{filler}'")));
    };
    let have = text.chars().count();
    let width = usize::try_from(width).unwrap_or(0);
    let missing = width.saturating_sub(have);
    let len = text.len().saturating_add(missing.saturating_mul(fill_char.len_utf8()));
    if len > max_len {
        return Err(EvalAltResult::ErrorDataTooLarge("Length of string".into(), Position::NONE).into());
    }
    crate::meter::charge_bytes(len)?;
    let padding: String = std::iter::repeat_n(fill_char, missing).collect();
    Ok(if left { padding + text } else { text.to_string() + padding.as_str() })
}

fn truncate(text: &str, max_chars: INT, suffix: &str) -> String {
    let max_chars = usize::try_from(max_chars).unwrap_or(0);
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let suffix_len = suffix.chars().count();
    if suffix_len >= max_chars {
        return suffix.chars().take(max_chars).collect();
    }
    let mut out: String = text.chars().take(max_chars - suffix_len).collect();
    out.push_str(suffix);
    out
}

/// Registers the string functions; padding respects the maximum string size of `limits`.
pub(crate) fn register(engine: &mut Engine, limits: &Limits) {
    engine.register_fn("upper", |s: &str| scan(s).map(|()| s.to_uppercase()));
    engine.register_fn("lower", |s: &str| scan(s).map(|()| s.to_lowercase()));
    engine.register_fn("title_case", |s: &str| scan(s).map(|()| title_case(s)));
    engine.register_fn("trim", |s: &str| scan(s).map(|()| s.trim().to_string()));
    engine.register_fn("slug", |s: &str| scan(s).map(|()| slug(s)));
    engine.register_fn("strip_accents", |s: &str| scan(s).map(|()| strip_accents(s)));
    let max = limits.max_string_size;
    engine.register_fn("join", move |items: Array, separator: &str| join(items, separator, max));
    engine.register_fn("pad_left", move |s: &str, w: INT| pad(s, w, " ", true, max));
    engine.register_fn("pad_left", move |s: &str, w: INT, f: &str| pad(s, w, f, true, max));
    engine.register_fn("pad_right", move |s: &str, w: INT| pad(s, w, " ", false, max));
    engine.register_fn("pad_right", move |s: &str, w: INT, f: &str| pad(s, w, f, false, max));
    engine.register_fn("truncate", |s: &str, n: INT| scan(s).map(|()| truncate(s, n, "")));
    engine.register_fn("truncate", |s: &str, n: INT, suffix: &str| scan(s).map(|()| truncate(s, n, suffix)));
    engine.register_fn("is_blank", |s: &str| scan(s).map(|()| s.trim().is_empty()));
    engine.register_fn("is_blank", |v: Dynamic| v.is_unit());
}

/// Documentation of the string functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "upper",
        signature: "upper(text: string) -> string",
        summary: "Upper case (Unicode aware).",
        examples: &[(r#"upper("Élodie")"#, r#""ÉLODIE""#)],
    },
    FunctionDoc {
        name: "lower",
        signature: "lower(text: string) -> string",
        summary: "Lower case (Unicode aware).",
        examples: &[(r#"lower("DUPONT")"#, r#""dupont""#)],
    },
    FunctionDoc {
        name: "title_case",
        signature: "title_case(text: string) -> string",
        summary:
            "Upper-cases the first letter of every word (after a space, hyphen or apostrophe), lower-cases the rest.",
        examples: &[(r#"title_case("jean-pierre O'NEIL")"#, r#""Jean-Pierre O'Neil""#)],
    },
    FunctionDoc {
        name: "trim",
        signature: "trim(text: string) -> string",
        summary: "The text without leading and trailing white space (returns a new string).",
        examples: &[(r#"trim("  a b  ")"#, r#""a b""#), (r#"let s = " x "; s.trim() + "|""#, r#""x|""#)],
    },
    FunctionDoc {
        name: "slug",
        signature: "slug(text: string) -> string",
        summary: "A lower-case ASCII identifier: accents stripped, runs of other characters turned into one `-`.",
        examples: &[(r#"slug("  Athlétisme : 100 m Hommes! ")"#, r#""athletisme-100-m-hommes""#)],
    },
    FunctionDoc {
        name: "strip_accents",
        signature: "strip_accents(text: string) -> string",
        summary: "Removes diacritics and spells out ligatures (æ -> ae, œ -> oe, ß -> ss).",
        examples: &[(r#"strip_accents("Élodie Lefèvre, Œuvre")"#, r#""Elodie Lefevre, OEuvre""#)],
    },
    FunctionDoc {
        name: "join",
        signature: "join(items: array, separator: string) -> string",
        summary: "Joins the items' text with `separator`; `()` items count as empty strings.",
        examples: &[(r#"join(["a", 1, (), true], ",")"#, r#""a,1,,true""#)],
    },
    FunctionDoc {
        name: "pad_left",
        signature: "pad_left(text: string, width: int [, fill: string]) -> string",
        summary: "Pads on the left with `fill` (one character, default space) up to `width` characters.",
        examples: &[(r#"pad_left("42", 5, "0")"#, r#""00042""#), (r#"pad_left("toolong", 3)"#, r#""toolong""#)],
    },
    FunctionDoc {
        name: "pad_right",
        signature: "pad_right(text: string, width: int [, fill: string]) -> string",
        summary: "Pads on the right with `fill` (one character, default space) up to `width` characters.",
        examples: &[(r#"pad_right("ab", 4, ".")"#, r#""ab..""#)],
    },
    FunctionDoc {
        name: "truncate",
        signature: "truncate(text: string, max_chars: int [, suffix: string]) -> string",
        summary: "Cuts the text to at most `max_chars` characters, the `suffix` included when the text was cut.",
        examples: &[
            (r#"truncate("Athlétisme", 4)"#, r#""Athl""#),
            (r#"truncate("Athlétisme", 6, "…")"#, r#""Athlé…""#),
            (r#"truncate("Judo", 6, "…")"#, r#""Judo""#),
        ],
    },
    FunctionDoc {
        name: "is_blank",
        signature: "is_blank(value: string | ()) -> bool",
        summary: "Whether the value is `()` or a string of white space only.",
        examples: &[(r#"is_blank("  ")"#, "true"), ("is_blank(())", "true"), (r#"is_blank("x")"#, "false")],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_are_stripped_from_names() {
        assert_eq!(strip_accents("Élodie Lefèvre"), "Elodie Lefevre");
        assert_eq!(strip_accents("Łukasz Żółć, Ørsted, Straße"), "Lukasz Zolc, Orsted, Strasse");
    }

    #[test]
    fn a_slug_of_symbols_only_is_empty() {
        assert_eq!(slug("!!! ???"), "");
    }

    #[test]
    fn padding_with_several_characters_is_an_error() {
        assert!(pad("1", 3, "ab", true, 100).is_err());
    }
}
