//! Which compiled scripts may run long: decided from what the AST does, never from the script's text.
//!
//! The engine runs a script that may run long on its async worker under a small budget, and off the workers
//! once past it ([`crate::Place::OnWorker`]); the others simply run in place, without the budget's clock
//! read. A script may run long when it loops (`loop`, `while`,
//! `do`, `for`), defines functions or closures (recursion, callbacks), or calls a native whose cost grows with
//! its input ([`COSTLY_NATIVES`]). Anything else is straight-line code over bounded values: its time is bounded
//! by its length.

use rhai::{ASTNode, Expr, Stmt, AST};

/// Natives whose cost grows with their input (parsers, writers, sorts, scans, callbacks).
pub const COSTLY_NATIVES: &[&str] = &[
    "parse_json",
    "parse_csv",
    "parse_xml",
    "to_json",
    "to_json_pretty",
    "to_csv",
    "to_xml",
    "sort",
    "sort_by",
    "order_by",
    "group_by",
    "unique_by",
    "index_by",
    "count_by",
    "sum_by",
    "pluck",
    "dedup",
    "map",
    "filter",
    "reduce",
    "reduce_rev",
    "for_each",
    "retain",
    "drain",
    "some",
    "all",
    "find",
    "find_map",
    "index_of",
    "contains",
    "replace",
    "split",
    "join",
    "sha256",
    "hmac_sha256",
    "base64_encode",
    "base64_decode",
    "base64url_encode",
    "base64url_decode",
    "strip_accents",
    "slug",
    "pseudonymise",
    "redact",
    "call",
    "curry",
    "Fn",
    "range",
];

/// Whether `ast` may run long: a loop, a function or closure, or a call to one of [`COSTLY_NATIVES`].
pub fn may_run_long(ast: &AST) -> bool {
    if ast.iter_functions().next().is_some() {
        return true;
    }
    let mut long = false;
    ast.walk(&mut |path: &[ASTNode]| {
        long = match path.last() {
            Some(ASTNode::Stmt(Stmt::While(..) | Stmt::Do(..) | Stmt::For(..))) => true,
            Some(ASTNode::Stmt(Stmt::FnCall(call, _)))
            | Some(ASTNode::Expr(Expr::FnCall(call, _) | Expr::MethodCall(call, _))) => {
                COSTLY_NATIVES.contains(&call.name.as_str())
            }
            _ => false,
        };
        !long
    });
    long
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{build_engine, compile, Limits, Lookups};

    fn long(code: &str) -> bool {
        let engine = build_engine(&Limits::default(), Lookups::default());
        may_run_long(&compile(&engine, code, &[]).unwrap())
    }

    #[test]
    fn loops_functions_closures_and_costly_natives_may_run_long() {
        for code in [
            "loop { }",
            "let n = 0; while n < 10 { n += 1 } n",
            "let n = 0; do { n += 1 } while n < 10; n",
            "let n = 0; for i in 0..10 { n += i } n",
            "fn f(n) { f(n) } 1",
            "[1, 2].map(|x| x + 1)",
            "let f = |x| x; 1",
            r#"parse_json("{}")"#,
            r#"payload.name.replace("a", "b")"#,
            r#"sort_by(payload.items, "k")"#,
        ] {
            assert!(long(code), "{code}");
        }
    }

    #[test]
    fn straight_line_mappings_run_in_place_whatever_their_words() {
        for code in [
            "#{ id: payload.id, name: upper(payload.name) }",
            r#"let format = "for while loop fn parse_json"; format"#,
            "payload.total * 2 + 1",
        ] {
            assert!(!long(code), "{code}");
        }
    }
}
