//! Strings with `#[...]` expressions: templates, whole expressions and structured values holding them.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::ir::{Data, Expr, Template, TemplatePart};
use crate::span::Span;
use crate::syntax::{Node, Origin, Str, Value};

/// Finds the `]` closing a `#[` whose body starts at `from`, skipping nested `[...]` and Rhai string
/// literals (which may hold `]`). Only square brackets count: an unbalanced `(` inside is Rhai's to report,
/// at its own position. Returns the byte index of the closing bracket.
pub fn find_expr_end(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' => depth += 1,
            b']' if depth == 0 => return Some(i),
            b']' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

impl Lowerer<'_> {
    /// An expression whose code is the substring `code_start..code_end` of a string node.
    fn sub_expr(&self, node: &Node, s: &Str, code_start: usize, code_end: usize) -> Expr {
        let code = s.text[code_start..code_end].to_string();
        match s.origin {
            Origin::Verbatim { start } => {
                let begin = start as usize + code_start;
                Expr {
                    code,
                    span: Span::new(node.span.file, begin, start as usize + code_end),
                    origin: Origin::Verbatim { start: begin as u32 },
                }
            }
            Origin::Block { .. } if code_start == 0 && code_end == s.text.len() => {
                Expr { code, span: node.span, origin: s.origin }
            }
            _ => Expr { code, span: node.span, origin: Origin::Opaque },
        }
    }

    /// Splits a string into literal and `#[...]` parts.
    pub(crate) fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        let Value::Str(s) = &node.value else {
            self.wrong_type(node, "a string", what);
            return None;
        };
        let text = &s.text;
        let mut parts = Vec::new();
        let mut rest = 0;
        while let Some(found) = text[rest..].find("#[") {
            let open = rest + found;
            if open > rest {
                parts.push(TemplatePart::Literal(text[rest..open].to_string()));
            }
            let Some(close) = find_expr_end(text, open + 2) else {
                let span = match s.origin {
                    Origin::Verbatim { start } => {
                        Span::new(node.span.file, start as usize + open, start as usize + open + 2)
                    }
                    _ => node.span,
                };
                self.error(
                    Diagnostic::error(codes::UNCLOSED_EXPRESSION, span, format!("unclosed `#[` in {what}"))
                        .label("this `#[` has no matching `]`")
                        .help("close the expression with `]`; brackets inside it must balance"),
                );
                return None;
            };
            parts.push(TemplatePart::Expr(self.sub_expr(node, s, open + 2, close)));
            rest = close + 1;
        }
        if rest < text.len() || parts.is_empty() {
            parts.push(TemplatePart::Literal(text[rest..].to_string()));
        }
        Some(Template { source: text.clone(), parts, span: node.span })
    }

    /// A string that must be exactly one `#[...]` expression (conditions, keys, collections).
    pub(crate) fn expr(&mut self, node: &Node, what: &str) -> Option<Expr> {
        let template = self.template(node, what)?;
        match template.parts.as_slice() {
            [TemplatePart::Expr(e)] => Some(e.clone()),
            _ => {
                self.error(
                    Diagnostic::error(codes::WRONG_TYPE, node.span, format!("{what} must be an expression `#[...]`"))
                        .label("expected `#[...]`")
                        .help(format!("wrap it: \"#[{}]\"", template.source)),
                );
                None
            }
        }
    }

    /// Raw Rhai code (a transform's `code`): the whole string is the script.
    pub(crate) fn code(&mut self, node: &Node, what: &str) -> Option<Expr> {
        let Value::Str(s) = &node.value else {
            self.wrong_type(node, "a string of Rhai code", what);
            return None;
        };
        Some(self.sub_expr(node, s, 0, s.text.len()))
    }

    /// Any value: literals stay literal, strings with `#[` become templates or expressions, collections
    /// recurse.
    pub(crate) fn data(&mut self, node: &Node, what: &str) -> Option<Data> {
        match &node.value {
            Value::Str(s) if s.text.contains("#[") => {
                let template = self.template(node, what)?;
                Some(match template.parts.as_slice() {
                    [TemplatePart::Expr(e)] => Data::Expr(e.clone()),
                    _ => Data::Template(template),
                })
            }
            Value::List(items) => {
                let items = items.iter().map(|i| self.data(i, what)).collect::<Option<Vec<_>>>()?;
                Some(Data::List(items, node.span))
            }
            Value::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|e| Some((e.key.clone(), self.data(&e.value, what)?)))
                    .collect::<Option<Vec<_>>>()?;
                Some(Data::Map(entries, node.span))
            }
            _ => Some(Data::Literal(node.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_ends_skip_nested_brackets_and_strings() {
        assert_eq!(find_expr_end("#[a[1] + \"]\"]tail", 2), Some(12));
        assert_eq!(find_expr_end("#[#{a: [1]}]", 2), Some(11));
        assert_eq!(find_expr_end("#[ (", 2), None);
    }
}
