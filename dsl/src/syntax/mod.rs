//! Parsers from text to the spanned document tree ([`Node`]).

pub mod flow;
mod node;
pub mod yaml;

pub use node::{Entry, Node, Origin, Str, Value};
