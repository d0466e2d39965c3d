//! SQL text as relais reads it: where its placeholders are (`$1` positional, `:name` named), skipping
//! string literals, quoted identifiers, dollar-quoted bodies and comments, so that `'10:30'`, `"a:b"` and
//! `$1::int` casts are never taken for placeholders. `relais check` uses it to refuse `#[...]` in SQL and
//! to match placeholders with the step's parameters; the step uses it to turn `:name` into `$n`.

/// One placeholder of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `$n` (1-based).
    Positional(usize),
    /// `:name`.
    Named(String),
}

/// A placeholder and the byte range it takes in the SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What it is.
    pub placeholder: Placeholder,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Every placeholder of `sql`, in order.
pub fn placeholders(sql: &str) -> Vec<Found> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i, bytes[i]),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |p| i + 2 + p + 2);
            }
            b'$' => {
                let digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if digits > 0 {
                    let end = i + 1 + digits;
                    let n = sql[i + 1..end].parse().unwrap_or(usize::MAX);
                    found.push(Found { placeholder: Placeholder::Positional(n), start: i, end });
                    i = end;
                } else if let Some(tag_end) = dollar_tag(bytes, i) {
                    // `$tag$ ... $tag$` (or `$$ ... $$`): a body, not placeholders.
                    let tag = &sql[i..tag_end];
                    i = sql[tag_end..].find(tag).map_or(bytes.len(), |p| tag_end + p + tag.len());
                } else {
                    i += 1;
                }
            }
            b':' if bytes.get(i + 1) == Some(&b':') => i += 2,
            b':' if i == 0 || !is_ident(bytes[i - 1]) => {
                let name_len = match bytes.get(i + 1) {
                    Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                        bytes[i + 1..].iter().take_while(|b| is_ident(**b)).count()
                    }
                    _ => 0,
                };
                if name_len > 0 {
                    let end = i + 1 + name_len;
                    found.push(Found { placeholder: Placeholder::Named(sql[i + 1..end].to_string()), start: i, end });
                    i = end;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    found
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of a quoted text starting at `start` (a doubled quote stays inside).
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The end of a dollar-quote tag (`$$`, `$body$`) starting at `start`, if one starts there.
fn dollar_tag(bytes: &[u8], start: usize) -> Option<usize> {
    let name = bytes[start + 1..].iter().take_while(|b| is_ident(**b)).count();
    if name > 0 && bytes[start + 1].is_ascii_digit() {
        return None;
    }
    (bytes.get(start + 1 + name) == Some(&b'$')).then_some(start + name + 2)
}

/// Where `#[` first appears in the SQL text, if anywhere (even inside a literal: SQL is never templated,
/// so an expression there is a mistake either way).
pub fn expression_at(sql: &str) -> Option<(usize, usize)> {
    let start = sql.find("#[")?;
    let end = sql[start..].find(']').map_or(sql.len(), |p| start + p + 1);
    Some((start, end))
}

/// `sql` with each `:name` replaced by `$k`, `k` the name's place in `order` (first appearance), and that
/// order. Positional SQL is returned unchanged with an empty order.
pub fn numbered(sql: &str) -> (String, Vec<String>) {
    let mut order: Vec<String> = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for found in placeholders(sql) {
        if let Placeholder::Named(name) = found.placeholder {
            let k = match order.iter().position(|n| *n == name) {
                Some(k) => k + 1,
                None => {
                    order.push(name);
                    order.len()
                }
            };
            out.push_str(&sql[last..found.start]);
            out.push_str(&format!("${k}"));
            last = found.end;
        }
    }
    out.push_str(&sql[last..]);
    (out, order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<Placeholder> {
        placeholders(sql).into_iter().map(|f| f.placeholder).collect()
    }

    #[test]
    fn positional_and_named_placeholders_are_found_outside_literals_comments_and_casts() {
        assert_eq!(
            names("SELECT * FROM t WHERE a = $1 AND b = $2::int AND c = '$3' -- $4\n AND d = \"x$5\""),
            vec![Placeholder::Positional(1), Placeholder::Positional(2)]
        );
        assert_eq!(
            names("UPDATE t SET at = '10:30', n = :n::int /* :hidden */ WHERE id = :id AND x = $$ :no $$"),
            vec![Placeholder::Named("n".into()), Placeholder::Named("id".into())]
        );
        assert_eq!(names("SELECT 'it''s :not', $body$ $1 $body$, :yes"), vec![Placeholder::Named("yes".into())]);
    }

    #[test]
    fn named_placeholders_are_numbered_by_first_appearance() {
        let (sql, order) = numbered("SELECT * FROM t WHERE a = :b OR c = :a OR d = :b::text");
        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 OR c = $2 OR d = $1::text");
        assert_eq!(order, vec!["b".to_string(), "a".to_string()]);
    }

    #[test]
    fn an_expression_in_sql_text_is_found_with_its_range() {
        assert_eq!(expression_at("SELECT * FROM t WHERE id = #[payload.id]"), Some((27, 40)));
        assert_eq!(expression_at("SELECT 1"), None);
    }
}
