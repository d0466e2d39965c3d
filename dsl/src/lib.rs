//! The relais flow language: YAML and `.flow` text in, one IR and spanned diagnostics out.
//!
//! Pure by design (ARCHITECTURE.md, invariant 2): no file reads, no network, no async runtime. The engine reads files and
//! hands their text to [`span::SourceMap`]; this crate parses ([`syntax`]), lowers to [`ir`] ([`lower`]),
//! checks names and references ([`check`]) and prints canonical text back ([`print`]).

pub mod check;
pub mod codes;
pub mod diagnostic;
pub mod ir;
pub mod lower;
pub mod print;
pub mod span;
pub mod syntax;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use span::{FileId, SourceMap, Span, Spanned};
