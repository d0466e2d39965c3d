//! Evaluating compiled scripts, templates and values against an event.

use super::Runtime;
use crate::event::error::FlowError;
use crate::event::payload::Payload;
use crate::event::Event;
use crate::plan::{Script, TemplatePlan, ValuePlan};
use crate::script::TemplatePart;
use relais_stdlib::{dynamic_to_json, json_to_dynamic, Place, ScriptError};
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

/// Runs `work` without stalling the async workers: on a multi-thread runtime the worker hands its other
/// tasks to another thread for the duration (`block_in_place`), and `work` is told it runs
/// [`Place::OffWorkers`] (it may then wait for a long-runner slot); elsewhere (a current-thread runtime, no
/// runtime) it simply runs [`Place::InPlace`], as there is no other worker to protect and its thread must not
/// block.
fn off_the_workers<T>(work: impl FnOnce(Place) -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| work(Place::OffWorkers))
        }
        _ => work(Place::InPlace),
    }
}

/// The flow variables as one script map, converted straight from the event's map (no intermediate copy).
fn vars_value(vars: &serde_json::Map<String, Json>) -> Result<Dynamic, FlowError> {
    vars.iter()
        .map(|(k, v)| Ok((k.as_str().into(), to_script(v, "vars")?)))
        .collect::<Result<_, _>>()
        .map(Dynamic::from_map)
}

/// A value for a script, or the typed error of a value that cannot be one (nested deeper than
/// [`relais_stdlib::MAX_DEPTH`]: `EXPRESSION:LIMIT`).
fn to_script(value: &Json, what: &str) -> Result<Dynamic, FlowError> {
    json_to_dynamic(value).map_err(|e| conversion_error(&e, what))
}

/// A script value as JSON, or the typed error of one with no JSON form: `EXPRESSION:LIMIT` when it nests
/// deeper than [`relais_stdlib::MAX_DEPTH`], `EXPRESSION:RUNTIME` otherwise.
fn from_script(value: &Dynamic) -> Result<Json, FlowError> {
    dynamic_to_json(value).map_err(|e| conversion_error(&e, "script result"))
}

fn conversion_error(e: &relais_stdlib::ConversionError, what: &str) -> FlowError {
    let error_type = if e.is_limit() { "EXPRESSION:LIMIT" } else { "EXPRESSION:RUNTIME" };
    FlowError::new(error_type, format!("{what}: {e}"))
}

impl Runtime {
    /// Runs a script with the event's names in scope, converting only the ones it reads; the payload's
    /// script value is converted once per payload and shared by every script that reads it. Heavy scripts
    /// (see [`Script::heavy`]) run off the async workers, where past the long-runner thresholds they wait for a
    /// slot of the long-runner pool (`relais run --long-scripts`). The script stops with `EXPRESSION:LIMIT` at
    /// the program's script budget or the event's deadline, whichever comes first, waiting included.
    pub(crate) fn eval(&self, script: &Script, ev: &Event) -> Result<Dynamic, FlowError> {
        if script.heavy {
            off_the_workers(|place| self.eval_here(script, ev, place))
        } else {
            self.eval_here(script, ev, Place::InPlace)
        }
    }

    fn eval_here(&self, script: &Script, ev: &Event, place: Place) -> Result<Dynamic, FlowError> {
        let program = self.program();
        let mut scope = Scope::with_capacity(5);
        let payload = if script.payload { ev.payload.script_value(&program.readers)? } else { Dynamic::UNIT };
        scope.push_dynamic("payload", payload);
        scope.push_dynamic(
            "attributes",
            if script.attributes { to_script(&ev.attributes, "attributes")? } else { Dynamic::UNIT },
        );
        scope.push_dynamic("vars", if script.vars { vars_value(&ev.vars)? } else { Dynamic::UNIT });
        scope.push_dynamic(
            "correlation_id",
            if script.correlation_id { Dynamic::from(ev.correlation_id.to_string()) } else { Dynamic::UNIT },
        );
        scope.push_dynamic(
            "error",
            match (&ev.error, script.error) {
                (Some(e), true) => to_script(&e.to_json(), "error")?,
                _ => Dynamic::UNIT,
            },
        );
        let deadline = relais_stdlib::Deadline::new(program.script_budget, ev.deadline);
        relais_stdlib::run_at(&program.engine, &script.ast, &mut scope, deadline, place).map_err(script_error)
    }

    /// A mapping's result as the new payload: JSON, with the script value kept so that the next script
    /// reading the payload does not convert it back.
    pub(crate) fn eval_payload(&self, script: &Script, ev: &Event) -> Result<Payload, FlowError> {
        let value = self.eval(script, ev)?;
        let json = from_script(&value)?;
        Ok(Payload::from_script(json, value))
    }

    /// A script's value as JSON.
    pub(crate) fn eval_json(&self, script: &Script, ev: &Event) -> Result<Json, FlowError> {
        from_script(&self.eval(script, ev)?)
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
