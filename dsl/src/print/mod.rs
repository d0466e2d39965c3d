//! Canonical printing for `relais fmt`: IR -> document tree ([`raise`]) -> YAML or `.flow` text.

pub mod comments;
pub mod flow;
pub mod raise;
pub mod yaml;
