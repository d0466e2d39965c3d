//! Values computed at run time: Rhai expressions, string templates and structured literals holding them.

use crate::span::Span;
use crate::syntax::{Node, Origin};

/// A Rhai expression or script as written, with where it sits in the file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Expr {
    /// The Rhai source (without the `#[` `]` delimiters).
    pub code: String,
    /// Span of the code in the flow file (for a script file: the whole script file).
    pub span: Span,
    /// Maps offsets inside `code` to file offsets, for precise compile-error labels.
    #[serde(skip)]
    pub origin: Origin,
}

/// One piece of a template string.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// An expression whose value is converted to text.
    Expr(Expr),
}

/// A string with `#[...]` holes: `"Order #[payload.order_id] received"`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Template {
    /// The original text, kept for printing back.
    pub source: String,
    /// Literal and expression parts, in order.
    pub parts: Vec<TemplatePart>,
    /// The whole string.
    pub span: Span,
}

impl Template {
    /// True when the template holds no expression (its value is the literal text).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, TemplatePart::Literal(_)))
    }

    /// Every expression in the template.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Expr(e) => Some(e),
            TemplatePart::Literal(_) => None,
        })
    }
}

/// A value to compute: a literal, a template string, a whole expression, or a structure containing them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Data {
    /// A scalar literal (null, bool, number) or a string without `#[`.
    Literal(Node),
    /// A string that is exactly one `#[...]`: its value is the expression's value, of any type.
    Expr(Expr),
    /// A string mixing text and expressions: its value is a string.
    Template(Template),
    /// A list whose items are computed.
    List(Vec<Data>, #[serde(skip)] Span),
    /// A map whose values are computed; keys are literal.
    Map(Vec<(String, Data)>, #[serde(skip)] Span),
}

impl Data {
    /// The span the value was written at.
    pub fn span(&self) -> Span {
        match self {
            Data::Literal(n) => n.span,
            Data::Expr(e) => e.span,
            Data::Template(t) => t.span,
            Data::List(_, s) | Data::Map(_, s) => *s,
        }
    }

    /// Calls `f` on every expression inside, depth first.
    pub fn visit_exprs<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        match self {
            Data::Literal(_) => {}
            Data::Expr(e) => f(e),
            Data::Template(t) => t.exprs().for_each(f),
            Data::List(items, _) => items.iter().for_each(|d| d.visit_exprs(f)),
            Data::Map(entries, _) => entries.iter().for_each(|(_, d)| d.visit_exprs(f)),
        }
    }
}
