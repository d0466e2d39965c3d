//! `.flow` text -> spanned [`Node`] tree, the same tree the equivalent YAML document gives.
//!
//! The grammar lives in `flow.pest` (pest, PEG). The pairs it yields are turned into the YAML-shaped tree
//! ([`items`] for files and flows, [`steps`] for steps, [`values`] for values), so that one lowering pass
//! serves both syntaxes. Before pest runs, a linear scan refuses brackets nested deeper than
//! [`MAX_NESTING`]: pest parsers recurse, and no input may exhaust the stack.

mod errors;
mod items;
mod recover;
pub(crate) mod scalars;
mod steps;
mod tests_file;
mod values;

#[cfg(test)]
mod tests;

use crate::diagnostic::Diagnostics;
use crate::span::FileId;
use crate::syntax::Node;
use pest::Parser;

/// Deepest `{`/`[` nesting accepted; deeper input gets a `NESTING_LIMIT` diagnostic instead of a parse.
pub const MAX_NESTING: usize = 256;

mod grammar {
    //! The pest parser generated from `flow.pest` (private: its `Rule` enum is an implementation detail).

    /// The pest parser generated from `flow.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "syntax/flow/flow.pest"]
    pub(crate) struct FlowParser;
}

pub(crate) use grammar::{FlowParser, Rule};

/// Parses one `.test.flow` file into the tree the equivalent `*.test.yaml` gives (`flow`, `tests`).
pub fn parse_tests(text: &str, file: FileId, diags: &mut Diagnostics) -> Option<Node> {
    parse_rule(Rule::test_file, text, file, diags, |b, pair| b.test_document(pair))
}

/// Parses one `.flow` file.
///
/// Returns the document node (a map with keys among `imports`, `properties`, `configs`, `flows`,
/// `sub_flows`; empty text gives an empty map), or `None` after pushing a diagnostic when the text does not
/// parse (`DSL_SYNTAX`, `UNCLOSED_EXPRESSION`, `NESTING_LIMIT`); after a syntax error, the document of
/// the top-level items that do parse ([`recover`]), so that their own errors are reported too. Duplicate keys and names are reported as
/// `DUPLICATE_KEY` and the first one is kept. Spans are byte offsets into `text` in `file`.
pub fn parse(text: &str, file: FileId, diags: &mut Diagnostics) -> Option<Node> {
    if let Some(diagnostic) = errors::nesting_too_deep(text, file) {
        diags.push(diagnostic);
        return None;
    }
    match FlowParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let top = pairs.next()?;
            Some(values::Builder::new(file, text, diags).document(top))
        }
        Err(err) => {
            let first = errors::syntax_error(&err, text, file);
            let reported = first.primary.span;
            diags.push(first);
            recover::items(text, file, reported, diags)
        }
    }
}

/// Runs the nesting pre-scan, then pest from `rule`, then `build` on the top pair.
fn parse_rule(
    rule: Rule,
    text: &str,
    file: FileId,
    diags: &mut Diagnostics,
    build: impl FnOnce(&mut values::Builder<'_>, pest::iterators::Pair<'_, Rule>) -> Node,
) -> Option<Node> {
    if let Some(diagnostic) = errors::nesting_too_deep(text, file) {
        diags.push(diagnostic);
        return None;
    }
    match FlowParser::parse(rule, text) {
        Ok(mut pairs) => {
            let top = pairs.next()?;
            Some(build(&mut values::Builder::new(file, text, diags), top))
        }
        Err(err) => {
            diags.push(errors::syntax_error(&err, text, file));
            None
        }
    }
}
