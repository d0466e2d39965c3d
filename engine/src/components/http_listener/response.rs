//! What an `http.listener` flow answers: `response` (on success) and `error_response` (on an unhandled
//! error), each with a status, headers and a body that may be computed from the event with `#[...]`.
//! Compiled once per program; evaluated per request on the event the flow returned (or, for errors, on the
//! request's event with `error` in scope).

use super::ResponseSpec;
use crate::components::types::{ExprText, IntOrExpr};
use crate::runtime::{Event, FlowError, Runtime};
use crate::script::{compile_script, compile_template_text, Script, TemplatePart, TemplatePlan};
use hyper::header::{HeaderName, HeaderValue};
use serde_json::Value as Json;
use std::sync::Arc;

/// A response status: fixed, or computed.
enum Status {
    Fixed(u16),
    Computed(Arc<Script>),
}

/// A compiled `response` or `error_response`.
pub struct ResponsePlan {
    status: Option<Status>,
    headers: Vec<(HeaderName, TemplatePlan)>,
    body: Option<TemplatePlan>,
}

/// A response ready to send.
pub struct Rendered {
    /// Status code.
    pub status: u16,
    /// Headers to add.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body bytes and their media type, when the plan replaces the default body.
    pub body: Option<(Vec<u8>, &'static str)>,
}

impl ResponsePlan {
    /// Compiles a `response` or `error_response`; errors name the part at fault.
    pub fn compile(engine: &rhai::Engine, spec: &ResponseSpec) -> Result<Self, String> {
        let status = match &spec.status {
            None => None,
            Some(IntOrExpr::Int(code)) => Some(Status::Fixed(*code)),
            Some(IntOrExpr::Expr(ExprText(text))) => {
                let code = text.trim().strip_prefix("#[").and_then(|t| t.strip_suffix(']')).unwrap_or(text);
                Some(Status::Computed(compile_script(engine, code).map_err(|e| format!("status: {e}"))?))
            }
        };
        let mut headers = Vec::new();
        for (name, text) in &spec.headers {
            let header =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a valid header name"))?;
            headers.push((header, compile_template_text(engine, text).map_err(|e| format!("header `{name}`: {e}"))?));
        }
        let body = match &spec.body {
            Some(text) => Some(compile_template_text(engine, text).map_err(|e| format!("body: {e}"))?),
            None => None,
        };
        Ok(ResponsePlan { status, headers, body })
    }

    /// Evaluates the plan on an event; `default_status` applies when no status is given. Errors are
    /// scrubbed of sensitive values, as they end up in a log line.
    pub fn render(&self, runtime: &Runtime, event: &Event, default_status: u16) -> Result<Rendered, FlowError> {
        self.evaluate(runtime, event, default_status).map_err(|mut e| {
            e.description = runtime.scrub(&e.description, event).into_owned();
            e
        })
    }

    /// [`ResponsePlan::render`] for an `error_response`: what it renders goes to a caller, so its headers and
    /// body are scrubbed of every secret known and the sensitive values of the event.
    pub fn render_error(&self, runtime: &Runtime, event: &Event, default_status: u16) -> Result<Rendered, FlowError> {
        let mut rendered = self.render(runtime, event, default_status)?;
        let program = runtime.program();
        let scrub = program.redactor.for_event(event, &program.readers);
        if let Some((body, _)) = &mut rendered.body {
            if let std::borrow::Cow::Owned(clean) = scrub.text(&String::from_utf8_lossy(body)) {
                *body = clean.into_bytes();
            }
        }
        for (_, value) in &mut rendered.headers {
            if let Ok(text) = value.to_str() {
                if let std::borrow::Cow::Owned(clean) = scrub.text(text) {
                    *value = HeaderValue::from_str(&clean).unwrap_or(HeaderValue::from_static(crate::scrub::REDACTED));
                }
            }
        }
        Ok(rendered)
    }

    fn evaluate(&self, runtime: &Runtime, event: &Event, default_status: u16) -> Result<Rendered, FlowError> {
        let status = match &self.status {
            None => default_status,
            Some(Status::Fixed(code)) => *code,
            Some(Status::Computed(script)) => {
                let value = runtime.eval_json(script, event)?;
                value.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| (100..=599).contains(n)).ok_or_else(
                    || FlowError::new("EXPRESSION:RUNTIME", format!("response status must be 100-599, got {value}")),
                )?
            }
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, template) in &self.headers {
            let text = runtime.render(template, event)?;
            let value = HeaderValue::from_str(&text).map_err(|_| {
                FlowError::new("EXPRESSION:RUNTIME", format!("header `{name}`: `{text}` is not a valid header value"))
            })?;
            headers.push((name.clone(), value));
        }
        let body = match self.body.as_ref().map(|t| (t, t.parts.as_slice())) {
            None => None,
            // A body that is one expression keeps its type: a map or a list is sent as JSON.
            Some((_, [TemplatePart::Expr(script)])) => match runtime.eval_json(script, event)? {
                Json::String(s) => Some((s.into_bytes(), "text/plain; charset=utf-8")),
                Json::Null => Some((Vec::new(), "text/plain; charset=utf-8")),
                other => Some((other.to_string().into_bytes(), "application/json")),
            },
            Some((template, _)) => Some((runtime.render(template, event)?.into_bytes(), "text/plain; charset=utf-8")),
        };
        Ok(Rendered { status, headers, body })
    }
}
