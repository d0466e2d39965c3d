//! Evaluating compiled scripts, templates and values against an event.

use super::error::FlowError;
use super::event::Event;
use super::Runtime;
use crate::plan::value::TemplatePart;
use crate::plan::{Script, TemplatePlan, ValuePlan};
use relais_stdlib::{dynamic_to_json, json_to_dynamic, ScriptError};
use rhai::{Dynamic, Scope};
use serde_json::Value as Json;

fn script_error(e: ScriptError) -> FlowError {
    match e {
        ScriptError::Limit { message, .. } => FlowError::new("EXPRESSION:LIMIT", message),
        ScriptError::Runtime { message, line, column } | ScriptError::Compile { message, line, column } => {
            let at = match (line, column) {
                (Some(l), Some(c)) => format!(" (script line {l}, column {c})"),
                _ => String::new(),
            };
            FlowError::new("EXPRESSION:RUNTIME", format!("{message}{at}"))
        }
    }
}

impl Runtime {
    /// Runs a script with the event's names in scope (converting only the ones it reads).
    pub(crate) fn eval(&self, script: &Script, ev: &Event) -> Result<Dynamic, FlowError> {
        let program = self.program();
        let mut scope = Scope::new();
        let payload = if script.payload { json_to_dynamic(ev.payload.read(&program.readers)?) } else { Dynamic::UNIT };
        scope.push_dynamic("payload", payload);
        scope.push_dynamic(
            "attributes",
            if script.attributes { json_to_dynamic(&ev.attributes) } else { Dynamic::UNIT },
        );
        scope.push_dynamic(
            "vars",
            if script.vars { json_to_dynamic(&Json::Object((*ev.vars).clone())) } else { Dynamic::UNIT },
        );
        scope.push_dynamic("correlation_id", Dynamic::from(ev.correlation_id.to_string()));
        scope.push_dynamic(
            "error",
            match (&ev.error, script.error) {
                (Some(e), true) => json_to_dynamic(&e.to_json()),
                _ => Dynamic::UNIT,
            },
        );
        relais_stdlib::run(&program.engine, &script.ast, &mut scope).map_err(script_error)
    }

    /// A script's value as JSON.
    pub(crate) fn eval_json(&self, script: &Script, ev: &Event) -> Result<Json, FlowError> {
        let value = self.eval(script, ev)?;
        dynamic_to_json(&value).map_err(|e| FlowError::new("EXPRESSION:RUNTIME", format!("script result: {e}")))
    }

    /// A condition (anything but `true` is false; a non-boolean is an error, as a typo would otherwise pass).
    pub(crate) fn eval_bool(&self, script: &Script, ev: &Event) -> Result<bool, FlowError> {
        let value = self.eval(script, ev)?;
        value
            .as_bool()
            .map_err(|t| FlowError::new("EXPRESSION:RUNTIME", format!("condition must be a boolean, got {t}")))
    }

    /// A template's text.
    pub(crate) fn render(&self, template: &TemplatePlan, ev: &Event) -> Result<String, FlowError> {
        let mut out = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Literal(s) => out.push_str(s),
                TemplatePart::Expr(script) => match self.eval_json(script, ev)? {
                    Json::String(s) => out.push_str(&s),
                    Json::Null => {}
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }

    /// A computed value.
    pub(crate) fn value(&self, value: &ValuePlan, ev: &Event) -> Result<Json, FlowError> {
        Ok(match value {
            ValuePlan::Literal(v) => v.clone(),
            ValuePlan::Expr(script) => self.eval_json(script, ev)?,
            ValuePlan::Template(t) => Json::String(self.render(t, ev)?),
            ValuePlan::List(items) => Json::Array(items.iter().map(|i| self.value(i, ev)).collect::<Result<_, _>>()?),
            ValuePlan::Map(entries) => Json::Object(
                entries.iter().map(|(k, v)| Ok((k.clone(), self.value(v, ev)?))).collect::<Result<_, FlowError>>()?,
            ),
        })
    }
}
