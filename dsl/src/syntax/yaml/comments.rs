//! `#[...]` left unquoted in YAML (RL0013). A `#` after a space starts a YAML comment, so
//! `value: #[payload.id]` is the key `value` with a null value and a comment: the expression silently
//! disappears. Every null value whose line goes on with `#[` is reported at the `#[`, with the quoted
//! spelling as the fix.

use crate::codes;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::span::{FileId, Span};
use crate::syntax::{Node, Value};

/// Reports each null value of `doc` that is followed, on its line, by a comment starting with `#[`.
pub(super) fn check(doc: &Node, text: &str, file: FileId, diags: &mut Diagnostics) {
    if !text.contains("#[") {
        return;
    }
    walk(doc, text, file, diags);
}

fn walk(node: &Node, text: &str, file: FileId, diags: &mut Diagnostics) {
    match &node.value {
        Value::Map(entries) => {
            for entry in entries {
                if matches!(entry.value.value, Value::Null) {
                    let after = entry.key_span.end as usize;
                    if let Some(at) = comment_after(text, after, ':') {
                        diags.push(diagnostic(text, file, at, Some(&entry.key)));
                    }
                } else {
                    walk(&entry.value, text, file, diags);
                }
            }
        }
        Value::List(items) => {
            for item in items {
                if matches!(item.value, Value::Null) {
                    let line = text[..(item.span.start as usize).min(text.len())].rfind('\n').map_or(0, |i| i + 1);
                    let indent = text[line..].len() - text[line..].trim_start_matches([' ', '\t']).len();
                    if let Some(at) = comment_after(text, line + indent, '-') {
                        diags.push(diagnostic(text, file, at, None));
                    }
                } else {
                    walk(item, text, file, diags);
                }
            }
        }
        _ => {}
    }
}

/// The offset of `#[` when the text at `from` is `indicator`, blanks, then `#[` on the same line.
fn comment_after(text: &str, from: usize, indicator: char) -> Option<usize> {
    let rest = text.get(from..)?;
    let rest_after = rest.strip_prefix(indicator)?;
    let blanks = rest_after.len() - rest_after.trim_start_matches([' ', '\t']).len();
    if blanks == 0 || !rest_after[blanks..].starts_with("#[") {
        return None;
    }
    Some(from + indicator.len_utf8() + blanks)
}

fn diagnostic(text: &str, file: FileId, at: usize, key: Option<&str>) -> Diagnostic {
    let end = text[at..].find(['\n', '\r']).map_or(text.len(), |i| at + i);
    let written = text[at..end].trim_end();
    let quoted = format!("\"{}\"", written.replace('"', "\\\""));
    let what = key.map_or("this list item".to_string(), |k| format!("`{k}`"));
    Diagnostic::error(
        codes::YAML_COMMENTED_EXPRESSION,
        Span::new(file, at, at + written.len()),
        "`#[` starts a YAML comment here: the expression is ignored",
    )
    .label(format!("YAML reads this as a comment, so {what} is null"))
    .help(format!("quote the expression: {quoted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<Diagnostic> {
        let mut diags = Diagnostics::new();
        let doc = crate::syntax::yaml::parse(text, FileId(0), &mut diags);
        assert!(doc.is_some());
        diags.into_vec()
    }

    #[test]
    fn an_unquoted_expression_after_a_key_or_a_dash_is_reported_at_the_hash() {
        let text = "a:\n  value: #[payload.id]\n  list:\n    - #[payload]\n";
        let diags = found(text);
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert_eq!(diags[0].primary.span.start as usize, text.find("#[payload.id]").unwrap_or(0));
        assert_eq!(diags[0].help.as_deref(), Some("quote the expression: \"#[payload.id]\""));
        assert_eq!(diags[1].primary.span.start as usize, text.find("#[payload]").unwrap_or(0));
    }

    #[test]
    fn quoted_expressions_and_ordinary_comments_are_left_alone() {
        assert!(found("a:\n  value: \"#[payload.id]\"\n  other: # a note\n  code: |\n    x: #[y]\n").is_empty());
    }
}
