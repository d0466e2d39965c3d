//! Compiling every Rhai expression and script, with compile errors mapped back to the flow file.

use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::ir::{Expr, Script, StepKind};
use relais_dsl::syntax::Origin;
use relais_dsl::{Diagnostic, SourceMap, Span};
use std::collections::HashMap;

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
        Origin::Opaque => {
            in_escaped_string(&sources.file(expr_span.file).text, expr_span, code, offset, width).unwrap_or(expr_span)
        }
    }
}

/// The file span of byte `offset` (`width` bytes) of `code` when the code sits in a one-line double-quoted
/// YAML string with escapes (`"#[payload.kind = \"vip\"]"`), whose bytes are not the file's: the string is
/// decoded again, each decoded byte remembering where it is written. `None` for anything else (other
/// quotes, folded lines, escapes this does not read, code written more than once in the string).
fn in_escaped_string(text: &str, span: Span, code: &str, offset: usize, width: usize) -> Option<Span> {
    let raw = text.get(span.start as usize..span.end as usize)?;
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\n') || code.is_empty() {
        return None;
    }
    let mut decoded = String::with_capacity(inner.len());
    // `written[k]`: offset in `inner` of the character decoded byte `k` belongs to.
    let mut written: Vec<usize> = Vec::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        let c = if c == '\\' {
            match chars.next()?.1 {
                '"' => '"',
                '\\' => '\\',
                '/' => '/',
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                ' ' => ' ',
                _ => return None,
            }
        } else {
            c
        };
        written.extend(std::iter::repeat_n(i, c.len_utf8()));
        decoded.push(c);
    }
    written.push(inner.len());
    let at = decoded.find(code)?;
    if decoded.matches(code).count() != 1 {
        return None;
    }
    let first = span.start as usize + 1;
    let start = first + *written.get(at + offset)?;
    let end = written.get(at + offset + width).map_or(start + width, |&e| first + e).max(start);
    Some(Span::new(span.file, start, end))
}

/// What compiling one piece of code found, before any of it is placed in a file: it depends on the code
/// alone, so [`ScriptChecker`] keeps it by text and places it again at every span the same code is written.
enum Findings {
    /// It compiled; the calls no function answers (RL0203).
    Compiled(Vec<CallFinding>),
    /// It does not compile (RL0201): where Rhai stopped, and why.
    Failed(CompileFinding),
}

/// A compile error, its position inside the code (1-based line, column) when Rhai knows it.
struct CompileFinding {
    code: relais_dsl::codes::Code,
    position: Option<(usize, usize)>,
    message: String,
    help: Option<String>,
    /// A second place to show, with its label (where an unclosed block's indentation ends).
    also: Option<((usize, usize), String)>,
}

/// A call no function answers, worded, its position inside the code still to be mapped to the file.
struct CallFinding {
    position: Option<(usize, usize)>,
    name: String,
    message: String,
    label: String,
    help: String,
}

/// RL0205: a `${name}` property written inside code, where it is never substituted (Rhai refuses the `$`
/// outside strings and keeps it as literal text inside `"..."`).
fn property_finding(code: &str) -> Option<CompileFinding> {
    let found = super::script_text::property_in_expression(code)?;
    let written = &code[found.clone()];
    Some(CompileFinding {
        code: codes::PROPERTY_IN_EXPRESSION,
        position: Some(super::script_text::line_column(code, found.start)),
        message: format!("`{written}` inside a script or `#[...]` is not substituted"),
        help: Some(format!(
            "properties are substituted outside expressions only: write `{written}` outside the `#[...]` \
             (`\"#[payload.id]-{written}\"`), or set a variable from it first (`set_variable x = \"{written}\"`) \
             and read `vars.x`"
        )),
        also: None,
    })
}

fn compile_finding(err: &relais_stdlib::ScriptError, code: &str) -> CompileFinding {
    let (line, column) = err.position();
    let message = match err {
        relais_stdlib::ScriptError::Compile { message, .. }
        | relais_stdlib::ScriptError::Runtime { message, .. }
        | relais_stdlib::ScriptError::Limit { message, .. } => message.clone(),
    };
    let position = line.map(|line| (line, column.unwrap_or(1)));
    if let Some(open) = super::script_text::unclosed_brace(code) {
        let what = if code[..open.brace].ends_with('#') { "`#{`" } else { "`{`" };
        let also = open.next_line.map(|line| {
            let text = code.split('\n').nth(line - 1).unwrap_or_default();
            let column = text.len() - text.trim_start().len() + 1;
            ((line, column), "the block's indentation ends here: close it before this line".to_string())
        });
        return CompileFinding {
            code: codes::RHAI_SYNTAX,
            position: Some(super::script_text::line_column(code, open.brace)),
            message: format!("this {what} is never closed"),
            help: Some(format!("close it with `}}`; Rhai noticed only further down: {message}")),
            also,
        };
    }
    let help = if let Some(name) =
        message.strip_prefix("Undefined variable: ").or_else(|| message.strip_prefix("Variable not found: "))
    {
        let name = name.trim();
        Some(match relais_dsl::diagnostic::did_you_mean(name, SCRIPT_VARIABLES.iter().copied()) {
            Some(close) => close,
            None => format!(
                "flow variables are read through `vars`: write `vars.{name}` (scripts see {})",
                SCRIPT_VARIABLES.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            ),
        })
    } else if message.contains("reserved keyword") {
        // `vars.go`, `payload.async`: Rhai reserves these words even after a dot.
        let word = message.split('\'').nth(1).unwrap_or("the word");
        Some(format!(
            "`{word}` is reserved in Rhai even as a field name; index it with a string instead: `vars[\"{word}\"]`"
        ))
    } else if message.contains("'$' is a reserved symbol") {
        // `$.order.id`: JSONPath, where expressions are Rhai reading the payload's fields by name.
        let path = jsonpath_at(code, position);
        Some(match path {
            Some((written, rhai)) => format!("expressions are Rhai, not JSONPath: write `{rhai}` for `{written}`"),
            None => "expressions are Rhai, not JSONPath: read fields as `payload.order.id`".to_string(),
        })
    } else if message.contains("Script is incomplete") {
        Some(
            "the code stops in the middle: an operator without its right-hand side, or a bracket or block never \
             closed; complete it at the end of the code"
                .to_string(),
        )
    } else {
        None
    };
    CompileFinding { code: codes::RHAI_SYNTAX, position, message, help, also: None }
}

/// The JSONPath written at `position` of `code` (`$.order.id`, `$['order'].id`) and the Rhai that reads
/// the same field of the payload (`payload.order.id`).
fn jsonpath_at(code: &str, position: Option<(usize, usize)>) -> Option<(String, String)> {
    let (line, column) = position?;
    let text = code.split('\n').nth(line.checked_sub(1)?)?;
    let start = text.char_indices().nth(column.checked_sub(1)?).map(|(i, _)| i)?;
    let rest = &text[start..];
    let rest = rest.strip_prefix('$')?;
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '[' | ']' | '\'' | '"')))
        .unwrap_or(rest.len());
    let written = format!("${}", &rest[..len]);
    let rhai =
        format!("payload{}", &rest[..len]).replace("['", ".").replace("']", "").replace("[\"", ".").replace("\"]", "");
    Some((written, rhai))
}

impl CompileFinding {
    fn place(&self, sources: &SourceMap, code: &str, span: Span, origin: Origin) -> Diagnostic {
        let at = match self.position {
            Some((line, column)) => position_span(sources, span, origin, code, line, column),
            None => span,
        };
        let message = if self.code == codes::RHAI_SYNTAX {
            format!("script does not compile: {}", self.message)
        } else {
            self.message.clone()
        };
        let diagnostic = Diagnostic::error(self.code, at, message).label(self.message.clone());
        let diagnostic = match &self.also {
            Some(((line, column), label)) => {
                diagnostic.with_label(position_span(sources, span, origin, code, *line, *column), label.clone())
            }
            None => diagnostic,
        };
        diagnostic.maybe_help(self.help.clone())
    }
}

fn call_findings(functions: &relais_stdlib::FunctionTable, ast: &rhai::AST) -> Vec<CallFinding> {
    relais_stdlib::bad_calls(functions, ast)
        .into_iter()
        .map(|call| {
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
            CallFinding { position: call.position, name: call.name, message, label, help }
        })
        .collect()
}

impl CallFinding {
    fn place(&self, sources: &SourceMap, code: &str, span: Span, origin: Origin) -> Diagnostic {
        let at = match self.position {
            Some((line, column)) => position_span(sources, span, origin, code, line, column),
            None => span,
        };
        // Underline the whole name when the mapped position is where the file spells it.
        let text = &sources.file(at.file).text;
        let at = match text.get(at.start as usize..) {
            Some(rest) if rest.starts_with(&self.name) => {
                Span::new(at.file, at.start as usize, at.start as usize + self.name.len())
            }
            _ => at,
        };
        Diagnostic::error(codes::UNKNOWN_FUNCTION, at, self.message.clone())
            .label(self.label.clone())
            .help(self.help.clone())
    }
}

impl Findings {
    fn of(engine: &rhai::Engine, functions: &relais_stdlib::FunctionTable, code: &str) -> Findings {
        if let Some(property) = property_finding(code) {
            return Findings::Failed(property);
        }
        match relais_stdlib::compile(engine, code, &[]) {
            Ok(ast) => Findings::Compiled(call_findings(functions, &ast)),
            Err(err) => Findings::Failed(compile_finding(&err, code)),
        }
    }

    fn place(&self, sources: &SourceMap, code: &str, span: Span, origin: Origin) -> Vec<Diagnostic> {
        match self {
            Findings::Compiled(calls) => calls.iter().map(|c| c.place(sources, code, span, origin)).collect(),
            Findings::Failed(failure) => vec![failure.place(sources, code, span, origin)],
        }
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
    relais_stdlib::compile(engine, code, &[])
        .map_err(|err| Box::new(compile_finding(&err, code).place(sources, code, span, origin)))
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
    call_findings(functions, ast).iter().map(|c| c.place(sources, code, span, origin)).collect()
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
    Findings::of(engine, functions, code).place(sources, code, span, origin)
}

/// [`check_code`] for a whole check run: one checking engine and function table, and each distinct piece of
/// code compiled once. Flows repeat the same expressions and templates (`#[payload.id]`) and copies of the
/// same transform: the 40,000 pieces of code of `check_bench` (2,000 flows x 20 steps) are 7 distinct texts,
/// and compiling and walking each of them again was half of `relais check`.
pub struct ScriptChecker {
    engine: rhai::Engine,
    functions: relais_stdlib::FunctionTable,
    seen: HashMap<String, Findings>,
}

impl Default for ScriptChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptChecker {
    /// A checker on the [`checking_engine`].
    pub fn new() -> Self {
        let engine = checking_engine();
        let functions = relais_stdlib::FunctionTable::of(&engine);
        ScriptChecker { engine, functions, seen: HashMap::new() }
    }

    /// What [`check_code`] finds in `code`, compiled only the first time this text is seen.
    pub fn check(&mut self, sources: &SourceMap, code: &str, span: Span, origin: Origin) -> Vec<Diagnostic> {
        if let Some(found) = self.seen.get(code) {
            return found.place(sources, code, span, origin);
        }
        let found = Findings::of(&self.engine, &self.functions, code);
        let placed = found.place(sources, code, span, origin);
        self.seen.insert(code.to_string(), found);
        placed
    }
}

pub(super) fn check(loaded: &mut Loaded, checker: &mut ScriptChecker) {
    let mut found = Vec::new();
    // Config values are templates too (an `http.client`'s `headers`), compiled when the component is built.
    let mut embedded = relais_dsl::Diagnostics::new();
    let in_configs: Vec<Expr> =
        loaded.set.configs().flat_map(|c| relais_dsl::lower::embedded_exprs(&c.body, &mut embedded)).collect();
    found.extend(embedded);
    let sources = &loaded.sources;
    // A condition is also read for an assignment where a comparison was meant (RL0204).
    let mut compile = |e: &Expr, condition: bool| {
        let mut out: Vec<Diagnostic> = Vec::new();
        let mut compiles = true;
        if condition {
            if let Some(found) = super::conditions::assignment_as_value(&checker.engine, &e.code) {
                compiles = found.compiles;
                out.push(super::conditions::diagnostic(sources, e, found));
            }
        }
        // An assignment Rhai refuses to compile is reported once, as RL0204, not again as RL0201.
        if compiles {
            out.extend(checker.check(sources, &e.code, e.span, e.origin));
        }
        out
    };
    found.extend(in_configs.iter().flat_map(|e| compile(e, false)));
    for flow in loaded.set.flows() {
        let mut embedded = relais_dsl::Diagnostics::new();
        let mut owned: Vec<Expr> = Vec::new();
        if let Some(source) = &flow.source {
            owned.extend(relais_dsl::lower::embedded_exprs(&source.params, &mut embedded));
        }
        let steps = flow.all_steps();
        for step in &steps {
            if let StepKind::Component(c) = &step.kind {
                owned.extend(relais_dsl::lower::embedded_exprs(&c.params, &mut embedded));
            }
        }
        found.extend(embedded);
        found.extend(owned.iter().flat_map(|e| compile(e, false)));
        let mut exprs: Vec<&Expr> = Vec::new();
        let mut conditions: Vec<&Expr> = Vec::new();
        conditions.extend(flow.on_error.iter().filter_map(|h| h.when.as_ref()));
        for step in &steps {
            match &step.kind {
                StepKind::Transform { script: Script::Inline(code) }
                    if super::script_text::looks_like_path(&code.code) =>
                {
                    found.push(script_path_as_code(code));
                    continue;
                }
                StepKind::Choice { when, .. } => conditions.extend(when.iter().map(|b| &b.when)),
                StepKind::Try { on_error, .. } => conditions.extend(on_error.iter().filter_map(|h| h.when.as_ref())),
                _ => {}
            }
            collect(&step.kind, &mut exprs);
        }
        found.extend(conditions.into_iter().flat_map(|e| compile(e, true)));
        found.extend(exprs.into_iter().flat_map(|e| compile(e, false)));
    }
    loaded.diags.extend(found);
}

/// RL0206: `transform: "mappings/x.rhai"` is inline code, not a file.
fn script_path_as_code(code: &Expr) -> Diagnostic {
    let path = code.code.trim();
    Diagnostic::error(
        codes::SCRIPT_PATH_AS_CODE,
        code.span,
        format!("`{path}` is given to `transform` as code, not as a file"),
    )
    .label("compiled as Rhai code")
    .help(format!("name the file: `transform: {{ script: {path} }}` (in `.flow`: `transform file \"{path}\"`)"))
}

fn collect<'a>(kind: &'a StepKind, out: &mut Vec<&'a Expr>) {
    match kind {
        StepKind::SetPayload { value, .. } | StepKind::SetVariable { value, .. } => {
            value.visit_exprs(&mut |e| out.push(e))
        }
        StepKind::Transform { script: Script::Inline(code) } => out.push(code),
        StepKind::Logger { message, .. } => out.extend(message.exprs()),
        StepKind::Foreach { collection, .. } | StepKind::ParallelForeach { collection, .. } => {
            out.extend(collection.as_ref())
        }
        StepKind::RaiseError { description: Some(d), .. } => out.extend(d.exprs()),
        StepKind::Idempotent { key, .. } => out.push(key),
        _ => {}
    }
}
