//! Scalar text rules shared by the parser and the printer: string escapes, triple-quoted blocks, numbers,
//! and the "does this text read back as the same word?" checks the printer relies on.

use super::{FlowParser, Rule};
use pest::Parser;

/// Undoes the escapes of a `"..."` string. The grammar already checked the escape shapes; `None` means a
/// `\u{...}` names no Unicode scalar value (a surrogate or a value above `10FFFF`).
pub(crate) fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'u' => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Writes `text` as a `"..."` string the parser reads back unchanged.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What a triple-quoted string means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dedented {
    /// The string's value.
    pub text: String,
    /// True when the text started on the line after the opening `"""` (then `indent` applies to every line).
    pub block: bool,
    /// Bytes of indentation stripped from each line.
    pub indent: usize,
}

/// The value of a triple-quoted string from its raw text between the delimiters.
///
/// Rules: `\r\n` reads as `\n`. If the text starts with a line break, that break is dropped and the string is
/// a block: the smallest indentation of its non-blank lines (and of the closing line, when the closing `"""`
/// stands alone on it) is stripped from every line, and a closing line holding only indentation ends the
/// string with a line break. Text starting on the line of the opening `"""` is taken as is.
pub(crate) fn dedent(raw: &str) -> Dedented {
    let normalized = raw.replace("\r\n", "\n");
    let Some(body) = normalized.strip_prefix('\n') else {
        return Dedented { text: normalized, block: false, indent: 0 };
    };
    let mut lines: Vec<&str> = body.split('\n').collect();
    let is_blank = |l: &str| l.bytes().all(|b| b == b' ' || b == b'\t');
    let leading = |l: &str| l.bytes().take_while(|&b| b == b' ' || b == b'\t').count();
    let mut closing = None;
    if lines.len() > 1 && lines.last().is_some_and(|l| is_blank(l)) {
        closing = lines.pop().map(leading);
    }
    let indent = lines.iter().filter(|l| !is_blank(l)).map(|l| leading(l)).chain(closing).min().unwrap_or(0);
    let mut text = lines.iter().map(|l| &l[leading(l).min(indent)..]).collect::<Vec<_>>().join("\n");
    if closing.is_some() {
        text.push('\n');
    }
    Dedented { text, block: true, indent }
}

/// Writes `text` as a triple-quoted block whose lines start at `indent`, if that reads back unchanged.
pub(crate) fn triple_quote(text: &str, indent: &str) -> Option<String> {
    if !text.contains('\n') || text.contains("\"\"\"") || text.contains('\r') || text.ends_with('"') {
        return None;
    }
    let (body, closing_alone) = match text.strip_suffix('\n') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let mut raw = String::from("\n");
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            raw.push('\n');
        }
        if !line.is_empty() {
            raw.push_str(indent);
            raw.push_str(line);
        }
    }
    if closing_alone {
        raw.push('\n');
        raw.push_str(indent);
    }
    (dedent(&raw).text == text).then(|| format!("\"\"\"{raw}\"\"\""))
}

/// An integer when the literal has no fraction or exponent and fits `i64`, else a float.
pub(crate) fn number(text: &str) -> Result<i64, f64> {
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(i);
        }
    }
    // The grammar only admits digit sequences with optional sign, fraction and exponent, which f64 parses
    // (overflowing ones to infinity); the fallback is unreachable but keeps this total.
    Err(text.parse::<f64>().unwrap_or(f64::NAN))
}

/// True when the whole text matches `rule` (one of the `*_only` helper rules).
fn matches(rule: Rule, text: &str) -> bool {
    FlowParser::parse(rule, text).is_ok()
}

/// True when `text` prints bare and reads back as the same string (not a number, keyword, `true`...).
pub(crate) fn is_bare_word(text: &str) -> bool {
    FlowParser::parse(Rule::word_only, text)
        .ok()
        .and_then(|mut pairs| pairs.next())
        .and_then(|only| only.into_inner().next())
        .is_some_and(|word| word.as_rule() == Rule::bare)
}

/// True when `text` is exactly one `#[...]` expression the parser reads back whole.
pub(crate) fn is_expression(text: &str) -> bool {
    matches(Rule::expr_only, text)
}

/// True when `text` can be written bare as a map key, property name or flow name.
pub(crate) fn is_key_word(text: &str) -> bool {
    matches(Rule::key_only, text)
}

/// True when `text` can be written bare as a config name, step id or logger level (no dots, no keyword).
pub(crate) fn is_plain_word(text: &str) -> bool {
    matches(Rule::plain_only, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_through_quote_and_unescape() {
        for text in ["plain", "a \"b\" \\ c", "line\nnext\ttab\r", "emoji 😀", "bell \u{7}"] {
            let quoted = quote(text);
            assert_eq!(unescape(&quoted[1..quoted.len() - 1]).unwrap(), text);
        }
        assert_eq!(unescape("\\u{1F600}").unwrap(), "😀");
        assert_eq!(unescape("\\u{D800}"), None);
    }

    #[test]
    fn blocks_lose_their_common_indentation_and_first_line_break() {
        let d = dedent("\n        let x = 1;\n          x\n        ");
        assert_eq!(d, Dedented { text: "let x = 1;\n  x\n".into(), block: true, indent: 8 });
        assert_eq!(dedent("\n    a\n    b").text, "a\nb");
        assert_eq!(dedent("same line").text, "same line");
        assert_eq!(dedent("\r\n  a\r\n  ").text, "a\n");
    }

    #[test]
    fn triple_quoting_is_refused_when_it_would_not_read_back() {
        assert_eq!(triple_quote("a\nb\n", "    ").unwrap(), "\"\"\"\n    a\n    b\n    \"\"\"");
        assert!(triple_quote("  a\n  b", "    ").is_none());
        assert!(triple_quote("  a\n  b\n", "    ").is_some());
        assert!(triple_quote("one line", "").is_none());
        assert!(triple_quote("a\n\"\"\"\n", "").is_none());
    }

    #[test]
    fn numbers_are_integers_unless_they_need_a_float() {
        assert_eq!(number("42"), Ok(42));
        assert_eq!(number("-7"), Ok(-7));
        assert_eq!(number("1.5"), Err(1.5));
        assert_eq!(number("1e3"), Err(1000.0));
        assert_eq!(number("99999999999999999999"), Err(1e20));
    }

    #[test]
    fn word_checks_agree_with_the_grammar() {
        for bare in ["info", "POST", "crm.base_url", "250ms", "1m30s", "HTTP:NOT_FOUND", "my-flow", "_x"] {
            assert!(is_bare_word(bare), "{bare}");
        }
        for quoted in ["", "42", "1.5", "true", "null", "flow", "transform", "/path", "a b", "-x", "a.", "é"] {
            assert!(!is_bare_word(quoted), "{quoted}");
        }
        assert!(is_expression("#[ a[1] + \"]\" ]"));
        assert!(!is_expression("#[ a ] + #[ b ]"));
        assert!(is_key_word("http.client") && !is_key_word("a b"));
        assert!(is_plain_word("crm") && !is_plain_word("a.b") && !is_plain_word("flow"));
    }
}
