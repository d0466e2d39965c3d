//! Canonical printing for `relais fmt`: IR -> document tree ([`raise`]) -> YAML or `.flow` text, with the
//! source's comments ([`comments`]) and, YAML to YAML, its layout choices ([`layout`]) kept.

pub mod comments;
pub mod flow;
pub mod layout;
pub mod raise;
pub mod yaml;
