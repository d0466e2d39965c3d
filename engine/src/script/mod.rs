//! Compiled scripts and the values computed per event from them: literals, `#[...]` expressions, templates
//! and structures holding them. Below both the plan compiler and the component nodes, which compile their
//! templated parameters here without going through either.

use crate::event::payload::{Format, FormatReader};
use rhai::AST;
use serde_json::Value as Json;
use std::sync::Arc;

/// A compiled script and which event names it reads (only those are converted when it runs).
#[derive(Debug)]
pub struct Script {
    /// The AST.
    pub ast: AST,
    /// Reads `payload`.
    pub payload: bool,
    /// Reads `attributes`.
    pub attributes: bool,
    /// Reads `vars`.
    pub vars: bool,
    /// Reads `error`.
    pub error: bool,
    /// Reads `correlation_id`.
    pub correlation_id: bool,
    /// May run long, as its AST tells (`relais_stdlib::may_run_long`: a loop, a function or closure, a costly
    /// native): starts on the async worker under the in-place budget and, past it, runs again off the workers
    /// (see `Runtime::eval`). Anything else is straight-line code whose time is bounded by its length and
    /// simply runs in place, without the budget's clock read.
    pub heavy: bool,
}

/// A compiled template string.
#[derive(Clone)]
pub struct TemplatePlan {
    /// Literal and expression parts.
    pub parts: Vec<TemplatePart>,
}

/// One part of a template.
#[derive(Clone)]
pub enum TemplatePart {
    /// Text.
    Literal(String),
    /// An expression whose value is written as text.
    Expr(Arc<Script>),
}

/// A compiled [`relais_dsl::ir::Data`].
pub enum ValuePlan {
    /// A fixed value.
    Literal(Json),
    /// An expression's value, any type.
    Expr(Arc<Script>),
    /// A template: a string.
    Template(TemplatePlan),
    /// A list of computed values.
    List(Vec<ValuePlan>),
    /// A map of computed values.
    Map(Vec<(String, ValuePlan)>),
}

/// Compiles Rhai code for the runtime, noting which event names it reads so that only those are converted.
pub fn compile_script(engine: &rhai::Engine, code: &str) -> Result<Arc<Script>, relais_stdlib::ScriptError> {
    let ast = relais_stdlib::compile(engine, code, &[])?;
    Ok(Arc::new(Script {
        payload: code.contains("payload"),
        attributes: code.contains("attributes"),
        vars: code.contains("vars"),
        error: code.contains("error"),
        correlation_id: code.contains("correlation_id"),
        heavy: relais_stdlib::may_run_long(&ast),
        ast,
    }))
}

/// Compiles a template's expressions.
pub fn compile_template(engine: &rhai::Engine, template: &relais_dsl::ir::Template) -> Result<TemplatePlan, String> {
    let parts = template
        .parts
        .iter()
        .map(|p| match p {
            relais_dsl::ir::TemplatePart::Literal(s) => Ok(TemplatePart::Literal(s.clone())),
            relais_dsl::ir::TemplatePart::Expr(e) => {
                compile_script(engine, &e.code).map(TemplatePart::Expr).map_err(|e| e.to_string())
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(TemplatePlan { parts })
}

/// Compiles a setting written as text with `#[...]` holes (a component's `path`, `key`, `duration`) into a
/// template.
pub fn compile_template_text(engine: &rhai::Engine, text: &str) -> Result<TemplatePlan, String> {
    let mut diags = relais_dsl::Diagnostics::new();
    let template = relais_dsl::lower::template_of(text, &mut diags).ok_or("unclosed `#[`")?;
    compile_template(engine, &template)
}

/// Compiles a component parameter given as JSON into a value computed per event, by the rule flows follow
/// everywhere: a string that is exactly one `#[...]` keeps the expression's type, a string mixing text and
/// `#[...]` is a template (text), lists and maps are computed item by item, anything else stays literal.
pub fn compile_json_value(engine: &rhai::Engine, value: &Json) -> Result<ValuePlan, String> {
    Ok(match value {
        Json::String(text) if text.contains("#[") => {
            let mut diags = relais_dsl::Diagnostics::new();
            let template = relais_dsl::lower::template_of(text, &mut diags).ok_or("unclosed `#[`")?;
            match template.parts.as_slice() {
                [relais_dsl::ir::TemplatePart::Expr(e)] => {
                    ValuePlan::Expr(compile_script(engine, &e.code).map_err(|e| e.to_string())?)
                }
                _ => ValuePlan::Template(compile_template(engine, &template)?),
            }
        }
        Json::Array(items) => {
            ValuePlan::List(items.iter().map(|i| compile_json_value(engine, i)).collect::<Result<_, _>>()?)
        }
        Json::Object(entries) => ValuePlan::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), compile_json_value(engine, v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => ValuePlan::Literal(other.clone()),
    })
}

/// CSV and XML payload readers, backed by the mapping library's `parse_csv` / `parse_xml`.
pub(crate) struct Readers {
    engine: Arc<rhai::Engine>,
    csv: Option<rhai::AST>,
    xml: Option<rhai::AST>,
}

impl Readers {
    pub(crate) fn new(engine: Arc<rhai::Engine>) -> Self {
        let csv = relais_stdlib::compile(&engine, "parse_csv(text)", &["text"]).ok();
        let xml = relais_stdlib::compile(&engine, "parse_xml(text)", &["text"]).ok();
        Readers { engine, csv, xml }
    }
}

impl FormatReader for Readers {
    fn read(&self, format: Format, text: &str) -> Result<Json, String> {
        let ast = match format {
            Format::Csv => self.csv.as_ref(),
            Format::Xml => self.xml.as_ref(),
            _ => None,
        }
        .ok_or_else(|| "no reader for this format".to_string())?;
        let mut scope = rhai::Scope::new();
        scope.push("text", text.to_string());
        let value = relais_stdlib::run(&self.engine, ast, &mut scope).map_err(|e| e.to_string())?;
        relais_stdlib::dynamic_to_json(&value).map_err(|e| e.to_string())
    }
}
