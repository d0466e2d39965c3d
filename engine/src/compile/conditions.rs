//! A condition that assigns (`#[payload.status = "paid"]`) where it meant to compare: Rhai compiles it, and
//! the assignment's value, `()`, is never true, so the branch silently never runs. Judged by the parser, not
//! read as text: `==`, `!=`, `<=`, `>=`, a `switch`'s `=>` and an `=` inside a string literal are
//! never assignments, and an assignment is found however the code is spaced.

use super::scripts::position_span;
use relais_dsl::codes;
use relais_dsl::ir::Expr;
use relais_dsl::{Diagnostic, SourceMap};
use rhai::Stmt;

/// An assignment that is a condition's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    /// 1-based line and column of its `=` in the code.
    pub at: (usize, usize),
    /// Whether the code compiles as written: `a = "x" || b` does not (Rhai reads `"x" || b` as the value
    /// assigned and refuses a string in `||`), and its compile error is then this same mistake.
    pub compiles: bool,
}

/// The `=` of a plain assignment that is the value of `code` (its last statement). Code that compiles is
/// judged by its syntax tree; code that does not is judged by the parser too: an `=` is reported when
/// writing `==` there makes the code compile.
pub fn assignment_as_value(engine: &rhai::Engine, code: &str) -> Option<Assignment> {
    match relais_stdlib::compile(engine, code, &[]) {
        Ok(ast) => match ast.statements().last()? {
            Stmt::Assignment(assignment) if !assignment.0.is_op_assignment() => {
                let at = assignment.0.position();
                Some(Assignment { at: (at.line()?, at.position().unwrap_or(1)), compiles: true })
            }
            _ => None,
        },
        Err(_) => super::script_text::single_equals(code).into_iter().find_map(|offset| {
            let compared = format!("{}={}", &code[..offset], &code[offset..]);
            let ast = relais_stdlib::compile(engine, &compared, &[]).ok()?;
            let still_assigns = matches!(ast.statements().last(), Some(Stmt::Assignment(_)));
            (!still_assigns).then(|| Assignment { at: super::script_text::line_column(code, offset), compiles: false })
        }),
    }
}

/// RL0204 for an assignment found in `condition`, at its `=`.
pub fn diagnostic(sources: &SourceMap, condition: &Expr, found: Assignment) -> Diagnostic {
    let (line, column) = found.at;
    let at = position_span(sources, condition.span, condition.origin, &condition.code, line, column);
    Diagnostic::error(codes::ASSIGNMENT_IN_CONDITION, at, "`=` assigns; a condition compares with `==`")
        .label("assignment in a condition: its value is never true")
        .help("write `==` to compare (`!=` for \"is not\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_equals_is_found_at_its_position_however_it_is_spaced() {
        let engine = super::super::scripts::checking_engine();
        let at = |code: &str| assignment_as_value(&engine, code).map(|a| (a.at, a.compiles));
        assert_eq!(at("payload.kind = \"vip\""), Some(((1, 14), true)));
        assert_eq!(at("payload.kind=\"vip\""), Some(((1, 13), true)));
        assert_eq!(at("let a = 1;\nvars.x = a"), Some(((2, 8), true)));
        // Rhai refuses this one (a string in `||`); with `==` it compiles, so the `=` is the mistake.
        assert_eq!(at("payload.channel = \"web\" || payload.vip"), Some(((1, 17), false)));
    }

    #[test]
    fn comparisons_arrows_and_equals_inside_strings_are_not_assignments() {
        let engine = super::super::scripts::checking_engine();
        for fine in [
            "payload.kind == \"a=b\"",
            "payload.kind != \"=\"",
            "payload.total <= 10",
            "payload.total >= 10",
            "switch payload.kind { \"a\" => true, _ => false }",
            "payload.note == `x = ${payload.id}`",
            "let a = 1; a == 1",
            "payload.items.filter(|i| i.qty >= 2).len() == 0",
            // Does not compile, and not because of an `=`: no assignment to report.
            "payload.kind = = 2",
            "payload.kind == \"a=b\" &&",
        ] {
            assert_eq!(assignment_as_value(&engine, fine), None, "{fine}");
        }
    }
}
