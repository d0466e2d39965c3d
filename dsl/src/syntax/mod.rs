//! Parsers from text to the spanned document tree ([`Node`]).

mod node;
pub mod yaml;

pub use node::{Entry, Node, Origin, Str, Value};
