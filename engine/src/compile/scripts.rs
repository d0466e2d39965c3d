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
    // Offset of the position inside `code`; positions past the end (Rhai reports "incomplete script" one
    // line after the last) land on the last character of the code, where the reader should look.
    let mut offset = code.len();
    let mut line_start = 0;
    for (i, l) in code.split('\n').enumerate() {
        if i == line0 {
            offset = line_start + l.char_indices().nth(col0).map_or(l.len(), |(b, _)| b);
            break;
        }
        line_start += l.len() + 1;
    }
    let trimmed = code.trim_end().len();
    if offset >= trimmed {
        offset = code.trim_end().char_indices().last().map_or(0, |(b, _)| b);
    }
    let offset_line = code[..offset].matches('\n').count();
    let offset_col = code[..offset].rsplit('\n').next().map_or(0, str::len);
    let width = code[offset..].chars().next().map_or(0, char::len_utf8);
    match origin {
        Origin::Verbatim { start } => {
            let at = start as usize + offset;
            Span::new(expr_span.file, at, at + width)
        }
        Origin::Block { first_line, indent } => {
            let file = sources.file(expr_span.file);
            match file.line_start(first_line as usize + offset_line) {
                Some(file_line) => {
                    let at = (file_line + indent as usize + offset_col).min(file.text.len());
                    Span::new(expr_span.file, at, (at + width).min(file.text.len()))
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
        let help = if message.contains("Variable not found") {
            Some(format!(
                "scripts see {}; flow variables are `vars.NAME`",
                SCRIPT_VARIABLES.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            ))
        } else if message.contains("reserved keyword") {
            // `vars.go`, `payload.async`: Rhai reserves these words even after a dot.
            let word = message.split('\'').nth(1).unwrap_or("the word");
            Some(format!(
                "`{word}` is reserved in Rhai even as a field name; index it with a string instead: `vars[\"{word}\"]`"
            ))
        } else {
            None
        };
        Box::new(
            Diagnostic::error(codes::RHAI_SYNTAX, at, format!("script does not compile: {message}"))
                .label(message)
                .maybe_help(help),
        )
    })
}

/// Errors for the calls in a compiled script that no function answers (unknown name or wrong arity), each at
/// the call inside the flow file.
pub fn check_calls(
    functions: &relais_stdlib::FunctionTable,
    ast: &rhai::AST,
    sources: &SourceMap,
    code: &str,
    span: Span,
    origin: Origin,
) -> Vec<Diagnostic> {
    relais_stdlib::bad_calls(functions, ast)
        .into_iter()
        .map(|call| {
            let at = match call.position {
                Some((line, column)) => position_span(sources, span, origin, code, line, column),
                None => span,
            };
            // Underline the whole name when the mapped position is where the file spells it.
            let text = &sources.file(at.file).text;
            let at = match text.get(at.start as usize..) {
                Some(rest) if rest.starts_with(&call.name) => {
                    Span::new(at.file, at.start as usize, at.start as usize + call.name.len())
                }
                _ => at,
            };
            let arguments = |n: usize| format!("{n} argument{}", if n == 1 { "" } else { "s" });
            let (message, label, help) = if call.arities.is_empty() {
                let known = functions.names().chain(ast.iter_functions().map(|f| f.name));
                (
                    format!("unknown function `{}`", call.name),
                    "no such function".to_string(),
                    relais_dsl::diagnostic::did_you_mean(&call.name, known).unwrap_or_else(|| {
                        "the README's \"Mapping library\" lists the functions scripts can call".to_string()
                    }),
                )
            } else {
                let counts = call.arities.iter().map(usize::to_string).collect::<Vec<_>>().join(" or ");
                let last = call.arities.last().copied().unwrap_or(0);
                let plural = if last == 1 { "" } else { "s" };
                let label = if call.method {
                    format!("{}: the object before the dot and {}", arguments(call.args), arguments(call.args - 1))
                } else {
                    arguments(call.args)
                };
                (
                    format!("`{}` called with {}", call.name, arguments(call.args)),
                    label,
                    format!("`{}` takes {counts} argument{plural}", call.name),
                )
            };
            Diagnostic::error(codes::UNKNOWN_FUNCTION, at, message).label(label).help(help)
        })
        .collect()
}

/// Everything `relais check` finds in one piece of Rhai code: its compile error (RL0201), else the calls no
/// function answers (RL0203). Flow scripts and test-suite assertions go through it alike.
pub fn check_code(
    engine: &rhai::Engine,
    functions: &relais_stdlib::FunctionTable,
    sources: &SourceMap,
    code: &str,
    span: Span,
    origin: Origin,
) -> Vec<Diagnostic> {
    match compile(engine, sources, code, span, origin) {
        Ok(ast) => check_calls(functions, &ast, sources, code, span, origin),
        Err(d) => vec![*d],
    }
}

fn compile_expr(
    engine: &rhai::Engine,
    functions: &relais_stdlib::FunctionTable,
    sources: &SourceMap,
    expr: &Expr,
) -> Vec<Diagnostic> {
    check_code(engine, functions, sources, &expr.code, expr.span, expr.origin)
}

pub(super) fn check(loaded: &mut Loaded) {
    let engine = checking_engine();
    let functions = relais_stdlib::FunctionTable::of(&engine);
    let mut found = Vec::new();
    // Config values are templates too (an `http.client`'s `headers`), compiled when the component is built.
    let mut embedded = relais_dsl::Diagnostics::new();
    let in_configs: Vec<Expr> =
        loaded.set.configs().flat_map(|c| relais_dsl::lower::embedded_exprs(&c.body, &mut embedded)).collect();
    found.extend(embedded);
    found.extend(in_configs.iter().flat_map(|e| compile_expr(&engine, &functions, &loaded.sources, e)));
    for flow in loaded.set.flows() {
        let mut embedded = relais_dsl::Diagnostics::new();
        let mut owned: Vec<Expr> = Vec::new();
        if let Some(source) = &flow.source {
            owned.extend(relais_dsl::lower::embedded_exprs(&source.params, &mut embedded));
        }
        for step in flow.all_steps() {
            if let StepKind::Component(c) = &step.kind {
                owned.extend(relais_dsl::lower::embedded_exprs(&c.params, &mut embedded));
            }
        }
        found.extend(embedded);
        found.extend(owned.iter().flat_map(|e| compile_expr(&engine, &functions, &loaded.sources, e)));
        let mut exprs: Vec<&Expr> = Vec::new();
        for handler in &flow.on_error {
            exprs.extend(handler.when.as_ref());
        }
        for step in flow.all_steps() {
            collect(&step.kind, &mut exprs);
        }
        found.extend(exprs.into_iter().flat_map(|e| compile_expr(&engine, &functions, &loaded.sources, e)));
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
