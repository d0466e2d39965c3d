//! Canonical `.flow` text (being written by the DSL work; placeholder so the crate builds).

use crate::syntax::Node;

/// Prints a canonical document tree as `.flow` text.
pub fn print(doc: &Node) -> String {
    let _ = doc;
    String::new()
}
