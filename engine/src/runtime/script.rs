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

/// Whether this thread is an async worker of a multi-thread runtime (or a thread of its blocking pool),
/// where `block_in_place` can hand the worker's other tasks over. On a current-thread runtime, or with no
/// runtime, a script simply runs where it is: there is no other worker to protect.
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
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
    /// script value is converted once per payload and shared by every script that reads it.
    ///
    /// Every script starts in place, on the async worker running the flow: handing the worker over costs
    /// more than a mapping (a thread switch per call; 187 threads in the daemon under the HTTP benchmark when
    /// every script with a loop or a `fn` did). One that may run long (see [`Script::heavy`]) runs under the
    /// in-place budget (`relais_stdlib::run_on_worker`); past it, it is stopped and run again from the start
    /// off the workers (`block_in_place`), where past the long-runner thresholds it waits for a slot of the
    /// long-runner pool (`relais run --long-scripts`). So a runaway holds a worker for at most about a
    /// millisecond, once. The script stops with `EXPRESSION:LIMIT` at the program's script budget or the
    /// event's deadline, whichever comes first, counted from its first start, waiting included.
    pub(crate) fn eval(&self, script: &Script, ev: &Event) -> Result<Dynamic, FlowError> {
        self.eval_given(script, ev, None)
    }

    /// [`Runtime::eval`] with the payload's script value given (taken from the event by a transform), if
    /// any; a second run off the workers reads it from the event again.
    fn eval_given(&self, script: &Script, ev: &Event, payload: Option<Dynamic>) -> Result<Dynamic, FlowError> {
        let program = self.program();
        let deadline = relais_stdlib::Deadline::new(program.script_budget, ev.deadline);
        let engine = &program.engine;
        if !script.heavy || !on_multi_thread_runtime() {
            let mut scope = self.scope(script, ev, payload)?;
            return relais_stdlib::run_at(engine, &script.ast, &mut scope, deadline, Place::InPlace)
                .map_err(script_error);
        }
        let mut scope = self.scope(script, ev, payload)?;
        if let Some(done) = relais_stdlib::run_on_worker(engine, &script.ast, &mut scope, deadline) {
            return done.map_err(script_error);
        }
        // The first run may have changed its scope (`payload.x = 1`): the second starts from a fresh one.
        drop(scope);
        tokio::task::block_in_place(|| {
            let mut scope = self.scope(script, ev, None)?;
            relais_stdlib::run_at(engine, &script.ast, &mut scope, deadline, Place::OffWorkers).map_err(script_error)
        })
    }

    /// The event's names a script reads, as script values (the payload's given, or read from the event);
    /// the others are `()`.
    fn scope(&self, script: &Script, ev: &Event, payload: Option<Dynamic>) -> Result<Scope<'static>, FlowError> {
        let program = self.program();
        let mut scope = Scope::with_capacity(5);
        let payload = match payload {
            Some(given) => given,
            None if script.payload => ev.payload.script_value(&program.readers)?,
            None => Dynamic::UNIT,
        };
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
        Ok(scope)
    }

    /// A mapping's result as the new payload: the script value itself, checked to have a JSON form (the
    /// same errors as a conversion), so that the next script reading the payload starts from it and an
    /// answer writes its bytes straight from it; a step reading the JSON value converts it then, once.
    /// The mapping's result replaces the payload, so a payload no script has read yet is converted for it
    /// alone, not cached and copied (`Payload::script_value_to_keep`).
    pub(crate) fn eval_payload(&self, script: &Script, ev: &Event) -> Result<Payload, FlowError> {
        let payload =
            if script.payload { Some(ev.payload.script_value_to_keep(&self.program().readers)?) } else { None };
        let value = self.eval_given(script, ev, payload)?;
        relais_stdlib::check_json_form(&value).map_err(|e| conversion_error(&e, "script result"))?;
        Ok(Payload::from_script(value))
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
