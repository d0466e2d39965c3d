//! Reading Rhai code as text, for the mistakes Rhai's own messages place or word badly: a `{` never closed
//! (Rhai notices at the end of the script), `${name}` inside `#[...]`, a file path given as code. Strings and comments are skipped; nothing here runs or compiles the code.

use std::ops::Range;

/// The bytes of `code` that are code (not inside a string literal or a comment), in order.
fn code_bytes(code: &str) -> Vec<(usize, u8)> {
    let bytes = code.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            _ => {
                out.push((i, b));
                i += 1;
            }
        }
    }
    out
}

/// The 1-based line and column (in characters) of byte `offset` of `code`: the position Rhai would give.
pub(super) fn line_column(code: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(code.len());
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A `{` that is never closed, and the first later line indented no deeper than the `{`'s own line: where
/// its `}` most likely belongs.
pub(super) struct Unclosed {
    /// Byte offset of the `{`.
    pub brace: usize,
    /// 1-based line where the block's indentation ends, when one does.
    pub next_line: Option<usize>,
}

fn indent_of_line(code: &str, at: usize) -> (usize, usize) {
    let start = code[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &code[start..];
    (start, line.len() - line.trim_start_matches([' ', '\t']).len())
}

/// The unclosed `{` of code whose braces do not balance (more `{` than `}`). Rhai reports such code at its
/// end ("expecting `}`", or a missing `;` far below); the brace to close is the innermost open one whose
/// block's indentation ended before the end, else the outermost still open.
pub(super) fn unclosed_brace(code: &str) -> Option<Unclosed> {
    let bytes = code_bytes(code);
    let opens = bytes.iter().filter(|(_, b)| *b == b'{').count();
    let closes = bytes.iter().filter(|(_, b)| *b == b'}').count();
    if opens <= closes {
        return None;
    }
    // Walk lines: an open brace whose line is indented at least as deep as a later non-blank,
    // non-closing line is a block that ended without its `}`.
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (offset of `{`, indentation of its line)
    let mut last_line_checked = usize::MAX;
    for &(i, b) in &bytes {
        let (line_start, indent) = indent_of_line(code, i);
        if line_start != last_line_checked {
            last_line_checked = line_start;
            let first = code[line_start + indent..].chars().next();
            if first.is_some_and(|c| c != '}' && c != '\n') {
                if let Some(&(brace, open_indent)) = stack.last() {
                    let brace_line = indent_of_line(code, brace).0;
                    if line_start != brace_line && indent <= open_indent {
                        let next_line = code[..line_start].matches('\n').count() + 1;
                        return Some(Unclosed { brace, next_line: Some(next_line) });
                    }
                }
            }
        }
        match b {
            b'{' => stack.push((i, indent)),
            b'}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.first().map(|&(brace, _)| Unclosed { brace, next_line: None })
}

/// The range of a `${name}` property reference written in code: outside strings (where Rhai refuses the
/// `$`) or inside a `"..."` string (where Rhai keeps it as literal text). Inside a backtick string `${...}`
/// is Rhai's own interpolation and is left alone.
pub(super) fn property_in_expression(code: &str) -> Option<Range<usize>> {
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let end = code[i..].find('}').map(|e| i + e)?;
                let name = &code[i + 2..end];
                let name = name.strip_prefix("secret:").unwrap_or(name);
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
                if valid {
                    return Some(i..end + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offsets of each single `=` of `code` outside strings and comments: not part of `==`, `!=`, `<=`,
/// `>=`, `=>` or a compound assignment. Candidates only: [`super::conditions`] asks the parser which one,
/// if any, is an assignment where a comparison was meant.
pub(super) fn single_equals(code: &str) -> Vec<usize> {
    let bytes = code_bytes(code);
    let mut out = Vec::new();
    for (k, &(offset, b)) in bytes.iter().enumerate() {
        if b != b'=' {
            continue;
        }
        let prev = k.checked_sub(1).and_then(|p| bytes.get(p)).filter(|(o, _)| *o + 1 == offset).map(|(_, b)| *b);
        let next = bytes.get(k + 1).filter(|(o, _)| *o == offset + 1).map(|(_, b)| *b);
        let joined_before = prev.is_some_and(|p| b"=!<>+-*/%&|^".contains(&p));
        let joined_after = next.is_some_and(|n| n == b'=' || n == b'>');
        if !joined_before && !joined_after {
            out.push(offset);
        }
    }
    out
}

/// Whether inline code is in fact a file path (`mappings/order_to_contact.rhai`): one word of path
/// characters ending in `.rhai`, or holding a `/` between names and no operator spacing.
pub(super) fn looks_like_path(code: &str) -> bool {
    let text = code.trim();
    let path_chars =
        !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
    path_chars && (text.ends_with(".rhai") || (text.contains('/') && text.contains('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unclosed_brace_is_the_one_whose_indentation_ends_first() {
        let code = "let out = #{};\nif payload.vip {\n    out.level = \"gold\";\nlet total = 0;\nfor i in x {\n    total += i;\n}\nout\n";
        let found = unclosed_brace(code).map(|u| (line_column(code, u.brace), u.next_line));
        assert_eq!(found, Some(((2, 16), Some(4))));
        assert!(unclosed_brace("if a { b } else { c }").is_none());
        assert!(unclosed_brace("let s = \"{\"; s").is_none());
    }

    #[test]
    fn properties_outside_strings_and_paths_given_as_code_are_recognised() {
        assert_eq!(property_in_expression("payload.id + ${suffix}"), Some(13..22));
        assert_eq!(property_in_expression("`id ${payload.id}`"), None);
        assert_eq!(property_in_expression("payload.id + \"${suffix}\""), Some(14..23));
        assert!(looks_like_path("mappings/order_to_contact.rhai"));
        assert!(looks_like_path("double.rhai"));
        assert!(!looks_like_path("payload.total / 2"));
        assert!(!looks_like_path("payload.items"));
    }
}
