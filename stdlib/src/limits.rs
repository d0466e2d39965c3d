//! Resource limits of the sandboxed Rhai engine.

/// Resource limits applied to every script run by the engine [`crate::build_engine`] builds.
///
/// A script that exceeds one fails with [`crate::ScriptError::Limit`] (the engine's `EXPRESSION:LIMIT`).
/// The defaults suit mappings of large payloads while stopping runaway loops within a few milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of operations one evaluation may perform (default 500 000).
    pub max_operations: u64,
    /// Maximum depth of nested function calls (default 64).
    pub max_call_levels: usize,
    /// Maximum nesting depth of expressions at global level (default 64).
    pub max_expr_depth: usize,
    /// Maximum nesting depth of expressions inside functions (default 32).
    pub max_function_expr_depth: usize,
    /// Maximum length of a string in bytes (default 1 MiB).
    pub max_string_size: usize,
    /// Maximum number of items in an array (default 100 000).
    pub max_array_size: usize,
    /// Maximum number of entries in an object map (default 50 000).
    pub max_map_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 500_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 50_000,
        }
    }
}
