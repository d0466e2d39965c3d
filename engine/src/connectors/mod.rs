//! Connectors to partner systems, built as component nodes (`http.request`), and the secrets they use.

pub mod http_request;
pub mod secrets;

use crate::plan::Components;

/// Every connector this build has, added to the built-in components.
pub fn all() -> Components {
    let mut c = crate::runtime::components::builtin();
    c.insert("http.request", http_request::factory);
    c
}
