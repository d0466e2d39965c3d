//! Lowering: the spanned document tree (from either syntax) -> IR, reporting every structural problem.
//!
//! One pass serves YAML and `.flow`, so a construct is validated once and both syntaxes report the same
//! diagnostics. Lowering never stops at the first problem: a broken step is skipped and the rest is lowered.

mod data;
mod fields;
mod flow;
mod objectives;
mod step;
mod test_suite;

pub use test_suite::keys as test_keys;

pub use data::find_expr_end;
pub use fields::is_identifier;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::ir::Module;
use crate::span::FileId;
use crate::syntax::Node;

/// Carries the diagnostic sink through the lowering functions.
pub(crate) struct Lowerer<'d> {
    diags: &'d mut Diagnostics,
    file: FileId,
}

impl Lowerer<'_> {
    /// Records a finding.
    pub(crate) fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }
}

/// The `#[...]` expressions inside every string of a tree, such as a component's parameters, reporting
/// unclosed ones. Components keep their parameters as trees (the registry owns their meaning), so the
/// engine calls this to compile and check the expressions they embed.
pub fn embedded_exprs(node: &Node, diags: &mut Diagnostics) -> Vec<crate::ir::Expr> {
    let mut lw = Lowerer { diags, file: node.span.file };
    let mut out = Vec::new();
    lw.collect_exprs(node, &mut out);
    out
}

impl Lowerer<'_> {
    fn collect_exprs(&mut self, node: &Node, out: &mut Vec<crate::ir::Expr>) {
        match &node.value {
            crate::syntax::Value::Str(s) if s.text.contains("#[") => {
                if let Some(t) = self.template(node, "a component field") {
                    out.extend(t.exprs().cloned());
                }
            }
            crate::syntax::Value::List(items) => items.iter().for_each(|n| self.collect_exprs(n, out)),
            crate::syntax::Value::Map(entries) => entries.iter().for_each(|e| self.collect_exprs(&e.value, out)),
            _ => {}
        }
    }
}

/// Splits a string into literal and `#[...]` parts (the parsing `set_payload` and `logger` use), for
/// component parameters the engine reads at run time; an unclosed `#[` is reported into `diags`.
pub fn template_of(text: &str, diags: &mut Diagnostics) -> Option<crate::ir::Template> {
    let node = Node::string(text, crate::span::Span::default());
    Lowerer { diags, file: node.span.file }.template(&node, "a component field")
}

/// Lowers a flow-test file's document tree (`*.test.yaml`).
pub fn lower_test_suite(doc: &Node, file: FileId, diags: &mut Diagnostics) -> Option<crate::ir::TestSuite> {
    Lowerer { diags, file }.test_suite(doc)
}

/// Lowers one file's document tree into a [`Module`].
pub fn lower_module(doc: &Node, file: FileId, diags: &mut Diagnostics) -> Module {
    let mut lw = Lowerer { diags, file };
    lw.module(doc)
}
