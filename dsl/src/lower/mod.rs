//! Lowering: the spanned document tree (from either syntax) -> IR, reporting every structural problem.
//!
//! One pass serves YAML and `.flow`, so a construct is validated once and both syntaxes report the same
//! diagnostics. Lowering never stops at the first problem: a broken step is skipped and the rest is lowered.

mod data;
mod fields;
mod flow;
mod step;

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

/// Lowers one file's document tree into a [`Module`].
pub fn lower_module(doc: &Node, file: FileId, diags: &mut Diagnostics) -> Module {
    let mut lw = Lowerer { diags, file };
    lw.module(doc)
}
