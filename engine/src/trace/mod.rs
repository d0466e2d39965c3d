//! Tracing across systems: W3C trace context read from what comes in (HTTP requests, queue messages), a
//! span per flow run, per outbound call and (at debug) per step, the context sent on with every outbound
//! call, and the spans exported over OTLP/HTTP to the collector the standard `OTEL_EXPORTER_OTLP_*`
//! variables name ([`export`]).
//!
//! Spans are built with the OpenTelemetry API and SDK directly, not bridged from `tracing` spans: only the
//! spans named here exist, each costs what its attributes cost, and with no endpoint set nothing is built at
//! all: every function here first reads one `OnceLock` and returns `None`.
//!
//! Span attributes come from the flow files (flow, step and config names, route and path templates, SQL
//! text) or from a bounded set (methods, status codes, error types), never from a payload; the one value
//! taken from an event, its correlation id, is scrubbed first ([`Span::set_scrubbed`]).

mod client;
pub mod export;
pub mod w3c;

pub use export::{spans_dropped, Tracing};
pub use opentelemetry::trace::SpanKind;
pub use opentelemetry::KeyValue;

use opentelemetry::trace::{Span as _, SpanContext, Status, TraceContextExt, Tracer as _};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// The tracer of the process, set once by [`Tracing::start`] when an OTLP endpoint is configured.
static TRACER: OnceLock<opentelemetry_sdk::trace::SdkTracer> = OnceLock::new();

/// Whether spans are made (an OTLP endpoint is configured and the exporter started).
pub fn is_on() -> bool {
    TRACER.get().is_some()
}

/// The log target whose debug level turns the per-step spans on (`RELAIS_LOG=info,relais::trace=debug`).
pub const STEP_TARGET: &str = "relais::trace";

/// Whether each step gets a span of its own: tracing is on and [`STEP_TARGET`] logs at debug.
pub fn steps_on() -> bool {
    is_on() && tracing::enabled!(target: STEP_TARGET, tracing::Level::DEBUG)
}

/// The span an event is in: what a child span is made under and what `traceparent` carries. Cheap to
/// clone (a reference count), since events are cloned per branch and per retry.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceContext(Arc<SpanContext>);

impl TraceContext {
    /// The trace id, as log lines and the collector show it (32 lowercase hex digits).
    pub fn trace_id(&self) -> opentelemetry::trace::TraceId {
        self.0.trace_id()
    }

    /// The `traceparent` header naming this span as the parent.
    pub fn traceparent(&self) -> String {
        w3c::traceparent(&self.0)
    }

    /// The `tracestate` header (empty: none).
    pub fn tracestate(&self) -> String {
        w3c::tracestate(&self.0)
    }

    /// The headers that carry this context to the next system: `traceparent`, and `tracestate` when the
    /// trace has one.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![(w3c::TRACEPARENT, self.traceparent())];
        let state = self.tracestate();
        if !state.is_empty() {
            headers.push((w3c::TRACESTATE, state));
        }
        headers
    }

    /// The context as a stored queue message keeps it.
    pub fn to_stored(&self) -> relais_store::TraceHeaders {
        relais_store::TraceHeaders { traceparent: self.traceparent(), tracestate: self.tracestate() }
    }
}

/// The remote parent that `traceparent` and `tracestate` name (a request's headers, a message's), or
/// `None`: tracing is off, the header is absent or malformed (ignored: the event starts a fresh trace).
pub fn incoming(traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<TraceContext> {
    if !is_on() {
        return None;
    }
    let parent = w3c::parse(traceparent?, tracestate);
    if parent.is_none() {
        tracing::debug!(target: STEP_TARGET, "a malformed traceparent was ignored; the event starts a new trace");
    }
    parent.map(|span| TraceContext(Arc::new(span)))
}

/// [`incoming`] for the trace context a persistent queue message was stored with.
pub fn stored(headers: Option<&relais_store::TraceHeaders>) -> Option<TraceContext> {
    let headers = headers?;
    let state = Some(headers.tracestate.as_bytes()).filter(|s| !s.is_empty());
    incoming(Some(headers.traceparent.as_bytes()), state)
}

/// [`incoming`] for the headers of a broker message as an event's `attributes.headers` holds them (a JSON
/// object; a value a string, or a list of them whose first counts): how a replayed AMQP or NATS message
/// joins the trace its publisher started. Header names are matched in any case.
pub fn in_headers(headers: Option<&serde_json::Value>) -> Option<TraceContext> {
    let headers = headers?.as_object()?;
    let header = |name: &str| {
        let value = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?.1;
        match value {
            serde_json::Value::Array(values) => values.first()?.as_str(),
            value => value.as_str(),
        }
    };
    incoming(header(w3c::TRACEPARENT).map(str::as_bytes), header(w3c::TRACESTATE).map(str::as_bytes))
}

/// The `trace_id` field of a log line about an event: `None` (no field written) when the event is in no
/// trace, so the line carries the correlation id alone.
pub fn log_id(trace: &Option<TraceContext>) -> Option<tracing::field::DisplayValue<opentelemetry::trace::TraceId>> {
    trace.as_ref().map(|t| tracing::field::display(t.trace_id()))
}

/// [`log_id`] for a trace context held by reference (`None`: no field written).
pub fn log_id_of(trace: Option<&TraceContext>) -> Option<tracing::field::DisplayValue<opentelemetry::trace::TraceId>> {
    trace.map(|t| tracing::field::display(t.trace_id()))
}

/// One span being recorded; ended by [`Span::end`] (or when dropped, as ended then).
///
/// The SDK's span is boxed: an `Option<Span>` is held across awaits by the listener, the runtime and the
/// nodes, and a pointer keeps their futures as small as they were without tracing (the SDK's span holds
/// its whole record inline, a few hundred bytes that every move of those futures would copy).
pub struct Span {
    span: Box<opentelemetry_sdk::trace::Span>,
    context: TraceContext,
}

impl Span {
    /// Starts a span named `name` under `parent` (a new trace without one), or `None` when tracing is off.
    /// `attributes` must never hold a payload value (see the module comment).
    pub fn start(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: Option<&TraceContext>,
        attributes: Vec<KeyValue>,
    ) -> Option<Span> {
        let tracer = TRACER.get()?;
        let parent = match parent {
            Some(parent) => opentelemetry::Context::new().with_remote_span_context((*parent.0).clone()),
            None => opentelemetry::Context::new(),
        };
        let span =
            tracer.span_builder(name).with_kind(kind).with_attributes(attributes).start_with_context(tracer, &parent);
        let context = TraceContext(Arc::new(span.span_context().clone()));
        Some(Span { span: Box::new(span), context })
    }

    /// The context of this span: the parent of what happens inside it.
    pub fn context(&self) -> &TraceContext {
        &self.context
    }

    /// Sets an attribute (a value from the flow files or a bounded set, never a payload's).
    pub fn set(&mut self, attribute: KeyValue) {
        self.span.set_attribute(attribute);
    }

    /// Sets an attribute whose value comes from an event (its correlation id), after the scrubber removed
    /// every secret and sensitive value from it.
    pub fn set_scrubbed(&mut self, key: &'static str, scrubbed: String) {
        self.span.set_attribute(KeyValue::new(key, scrubbed));
    }

    /// Marks the span failed with the typed error (`HTTP:TIMEOUT`): the type alone, since a description
    /// may quote a payload or a partner's answer.
    pub fn fail(&mut self, error_type: &str) {
        self.span.set_attribute(KeyValue::new("error.type", error_type.to_string()));
        self.span.set_status(Status::error(error_type.to_string()));
    }

    /// Ends the span: it is queued for export.
    pub fn end(mut self) {
        self.span.end();
    }
}

/// The one call a connector publishing to a message system makes (`queue.publish` persistent, and the
/// AMQP or NATS connectors): a producer span `"<destination> publish"` under the event's span, and the
/// headers to put on the message (`traceparent`, `tracestate`), so that the consumer's spans join this
/// trace. Both are empty when tracing is off. End the span once the publish is confirmed (failed with
/// [`Span::fail`] otherwise).
pub fn outbound_message(
    event_trace: Option<&TraceContext>,
    system: &str,
    destination: &str,
) -> (Option<Span>, Vec<(&'static str, String)>) {
    let attributes = vec![
        KeyValue::new("messaging.system", system.to_string()),
        KeyValue::new("messaging.destination.name", destination.to_string()),
        KeyValue::new("messaging.operation.type", "send"),
    ];
    let span = Span::start(format!("{destination} publish"), SpanKind::Producer, event_trace, attributes);
    let headers = span.as_ref().map(|s| s.context().headers()).unwrap_or_default();
    (span, headers)
}

/// Ends `span` when there is one: failed with `error_type` when given (the step or flow failed), then
/// queued for export. The one ending of the publish and delivery spans of the message connectors.
pub fn end(span: Option<Span>, error_type: Option<&str>) {
    if let Some(mut span) = span {
        if let Some(error_type) = error_type {
            span.fail(error_type);
        }
        span.end();
    }
}

/// The consumer span of a message taken from `destination` in `system`, under the context the message
/// carried (`parent`, from [`incoming`] or [`stored`]); `None` when tracing is off.
pub fn inbound_message(parent: Option<&TraceContext>, system: &str, destination: &str) -> Option<Span> {
    let attributes = vec![
        KeyValue::new("messaging.system", system.to_string()),
        KeyValue::new("messaging.destination.name", destination.to_string()),
        KeyValue::new("messaging.operation.type", "process"),
    ];
    Span::start(format!("{destination} process"), SpanKind::Consumer, parent, attributes)
}
