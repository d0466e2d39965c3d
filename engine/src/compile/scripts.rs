//! Compiling every Rhai expression and script, with compile errors mapped back to the flow file.

use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::ir::{Expr, Script, StepKind};
use relais_dsl::syntax::Origin;
use relais_dsl::{Diagnostic, SourceMap, Span};

pub use relais_stdlib::SCRIPT_VARIABLES;

/// The engine used for checking: the runtime's sandboxed engine, so that both accept the same scripts.
pub fn checking_engine() -> rhai::Engine {
    relais_stdlib::build_engine(&relais_stdlib::Limits::default(), relais_stdlib::Lookups::default())
}

/// The file span of a (1-based) line/column position inside `expr`'s code.
pub fn position_span(
    sources: &SourceMap,
    expr_span: Span,
    origin: Origin,
    code: &str,
    line: usize,
    column: usize,
) -> Span {
    let line0 = line.saturating_sub(1);
    let col0 = column.saturating_sub(1);
    match origin {
        Origin::Verbatim { start } => {
            let mut offset = 0;
            for (i, l) in code.split('\n').enumerate() {
                if i == line0 {
                    offset += l.char_indices().nth(col0).map_or(l.len(), |(b, _)| b);
                    break;
                }
                offset += l.len() + 1;
            }
            let at = start as usize + offset.min(code.len());
            Span::new(expr_span.file, at, (at + 1).min(start as usize + code.len()).max(at))
        }
        Origin::Block { first_line, indent } => {
            let file = sources.file(expr_span.file);
            match file.line_start(first_line as usize + line0) {
                Some(line_start) => {
                    let rest = &file.text[line_start..];
                    let content = &rest[(indent as usize).min(rest.len())..];
                    let at = line_start + indent as usize + content.char_indices().nth(col0).map_or(0, |(b, _)| b);
                    Span::new(expr_span.file, at, at + 1)
                }
                None => expr_span,
            }
        }
        Origin::Opaque => expr_span,
    }
}

/// Compiles Rhai code; on failure, a diagnostic pointing at the error inside the flow file.
pub fn compile(
    engine: &rhai::Engine,
    sources: &SourceMap,
    code: &str,
    span: Span,
    origin: Origin,
) -> Result<rhai::AST, Box<Diagnostic>> {
    relais_stdlib::compile(engine, code, &[]).map_err(|err| {
        let (line, column) = err.position();
        let at = match line {
            Some(line) => position_span(sources, span, origin, code, line, column.unwrap_or(1)),
            None => span,
        };
        let message = match &err {
            relais_stdlib::ScriptError::Compile { message, .. }
            | relais_stdlib::ScriptError::Runtime { message, .. }
            | relais_stdlib::ScriptError::Limit { message, .. } => message.clone(),
        };
        let help = message.contains("Variable not found").then(|| {
            format!(
                "scripts see {}; flow variables are `vars.NAME`",
                SCRIPT_VARIABLES.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            )
        });
        Box::new(
            Diagnostic::error(codes::RHAI_SYNTAX, at, format!("script does not compile: {message}"))
                .label(message)
                .maybe_help(help),
        )
    })
}

fn compile_expr(engine: &rhai::Engine, sources: &SourceMap, expr: &Expr) -> Option<Diagnostic> {
    compile(engine, sources, &expr.code, expr.span, expr.origin).err().map(|d| *d)
}

pub(super) fn check(loaded: &mut Loaded) {
    let engine = checking_engine();
    let mut found = Vec::new();
    for flow in loaded.set.flows() {
        let mut exprs: Vec<&Expr> = Vec::new();
        for handler in &flow.on_error {
            exprs.extend(handler.when.as_ref());
        }
        for step in flow.all_steps() {
            collect(&step.kind, &mut exprs);
        }
        found.extend(exprs.into_iter().filter_map(|e| compile_expr(&engine, &loaded.sources, e)));
    }
    loaded.diags.extend(found);
}

fn collect<'a>(kind: &'a StepKind, out: &mut Vec<&'a Expr>) {
    match kind {
        StepKind::SetPayload { value, .. } | StepKind::SetVariable { value, .. } => {
            value.visit_exprs(&mut |e| out.push(e))
        }
        StepKind::Transform { script: Script::Inline(code) } => out.push(code),
        StepKind::Logger { message, .. } => out.extend(message.exprs()),
        StepKind::Choice { when, .. } => out.extend(when.iter().map(|b| &b.when)),
        StepKind::Foreach { collection, .. } | StepKind::ParallelForeach { collection, .. } => {
            out.extend(collection.as_ref())
        }
        StepKind::Try { on_error, .. } => out.extend(on_error.iter().filter_map(|h| h.when.as_ref())),
        StepKind::RaiseError { description: Some(d), .. } => out.extend(d.exprs()),
        StepKind::Idempotent { key, .. } => out.push(key),
        _ => {}
    }
}
