//! `nats.publish` at run time: the subject and headers rendered on the event, the message sent with the
//! event's correlation id (`X-Correlation-ID`), its media type (`Content-Type`) and, when given, its
//! `Nats-Msg-Id`, and the step waiting for the stream's acknowledgement: it succeeds only once a stream
//! stored the message. Every failure is typed: `NATS:NO_STREAM` (no stream keeps the subject),
//! `NATS:TIMEOUT` (no acknowledgement within `request_timeout`), `NATS:CONNECTIVITY` (no connection),
//! `NATS:BAD_MESSAGE` (a rendered subject or header that NATS cannot carry, a message over the server's
//! size limit), `NATS:PUBLISH` (anything else the stream refused). Traced as a producer span (`SUBJECT
//! publish`, the subject as written) whose context the message carries in its `traceparent` and
//! `tracestate` headers.

use super::check::valid_subject;
use super::client::chain;
use super::{Nats, PublishParams};
use crate::component::{CallFuture, ComponentNode, Context, StepContext};
use crate::event::{Event, FlowError};
use crate::metrics::OutboundMetrics;
use crate::script::{compile_template_text, TemplatePlan};
use async_nats::header::{HeaderMap, HeaderName, HeaderValue};
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use serde_json::json;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

/// The messaging system, as the spans name it.
pub(super) const SYSTEM: &str = "nats";

/// A built `nats.publish` step.
struct Publish {
    nats: Arc<Nats>,
    /// The config's name, as the retry counters take it.
    name: Arc<str>,
    subject: TemplatePlan,
    /// The subject as written in the flow (`orders.#[payload.kind]`): what the producer span names, never
    /// the rendered subject, which may hold a payload value.
    subject_text: String,
    headers: Vec<(HeaderName, TemplatePlan)>,
    message_id: Option<TemplatePlan>,
    body: Option<TemplatePlan>,
    target: Option<String>,
}

pub(super) fn build(params: &PublishParams, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
    let headers = params
        .headers
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_str(name).map_err(|e| format!("header `{name}`: {e}"))?;
            Ok((name, compile_template_text(cx.engine, value)?))
        })
        .collect::<Result<_, String>>()?;
    let nats = cx.resource_as::<Nats>()?;
    Ok(Arc::new(Publish {
        name: Arc::from(nats.name.as_str()),
        nats,
        subject: compile_template_text(cx.engine, &params.subject)?,
        subject_text: params.subject.clone(),
        headers,
        message_id: params.message_id.as_deref().map(|t| compile_template_text(cx.engine, t)).transpose()?,
        body: params.body.as_deref().map(|t| compile_template_text(cx.engine, t)).transpose()?,
        target: params.target.clone(),
    }))
}

impl Publish {
    /// The message of `event`: its headers (with `trace`, the producer span's `traceparent` and
    /// `tracestate`) and body.
    fn message(
        &self,
        cx: &dyn Context,
        event: &Event,
        trace: Vec<(&'static str, String)>,
    ) -> Result<PublishMessage, FlowError> {
        let bad = |what: String| self.nats.error("NATS:BAD_MESSAGE", what);
        let value = |name: &str, text: &str| {
            HeaderValue::from_str(text).map_err(|_| bad(format!("header `{name}` holds a line break")))
        };
        let mut headers = HeaderMap::new();
        for (name, template) in &self.headers {
            headers.insert(name.clone(), value(name.as_ref(), &cx.render(template, event)?)?);
        }
        headers.insert("X-Correlation-ID", value("X-Correlation-ID", &event.correlation_id)?);
        for (name, text) in trace {
            headers.insert(name, value(name, &text)?);
        }
        let (body, media_type) = match &self.body {
            Some(template) => (Bytes::from(cx.render(template, event)?), "text/plain"),
            None => (event.payload.to_body(), event.payload.media_type()),
        };
        if !media_type.is_empty() {
            headers.insert("Content-Type", value("Content-Type", media_type)?);
        }
        if let Some(template) = &self.message_id {
            let id = cx.render(template, event)?;
            if id.is_empty() {
                return Err(bad("the message id is empty".into()));
            }
            headers.insert(async_nats::header::NATS_MESSAGE_ID, value("Nats-Msg-Id", &id)?);
        }
        Ok(PublishMessage::build().payload(body).headers(headers))
    }

    /// A publish failure as a typed error.
    fn failure(&self, subject: &str, e: &PublishError, connected: bool) -> FlowError {
        let nats = &self.nats;
        match e.kind() {
            PublishErrorKind::StreamNotFound => nats.error(
                "NATS:NO_STREAM",
                format!(
                    "no stream keeps subject `{subject}` (declare one under the config's `stream:`, or add the \
                     subject to a stream's subjects)"
                ),
            ),
            PublishErrorKind::TimedOut if !connected => nats.error(
                "NATS:CONNECTIVITY",
                format!("no acknowledgement for `{subject}`: the connection to {} is lost", nats.target),
            ),
            PublishErrorKind::TimedOut => nats
                .error("NATS:TIMEOUT", format!("no acknowledgement for `{subject}` within {:?}", nats.request_timeout)),
            PublishErrorKind::BrokenPipe => {
                nats.error("NATS:CONNECTIVITY", format!("publishing to `{subject}` failed: {}", chain(e)))
            }
            PublishErrorKind::MaxPayloadExceeded => {
                nats.error("NATS:BAD_MESSAGE", format!("the message for `{subject}` is too large: {}", chain(e)))
            }
            _ => nats.error("NATS:PUBLISH", format!("the stream refused the message for `{subject}`: {}", chain(e))),
        }
    }

    /// Sends `message` to `subject` and waits for the stream's acknowledgement.
    async fn send(
        &self,
        subject: String,
        message: PublishMessage,
    ) -> Result<async_nats::jetstream::publish::PublishAck, FlowError> {
        let link = self.nats.link().await?;
        let connected = || link.client.connection_state() == async_nats::connection::State::Connected;
        let ack = match link.jetstream.send_publish(subject.clone(), message).await {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        ack.map_err(|e| self.failure(&subject, &e, connected()))
    }

    /// Records the failure in the config's counters.
    fn count(&self, metrics: &OutboundMetrics, started: Instant, error: FlowError) -> FlowError {
        metrics.exchange(started.elapsed(), None);
        metrics.error(&error.error_type.to_string(), None);
        error.through(&self.name)
    }
}

impl ComponentNode for Publish {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let subject = cx.render(&self.subject, &event)?;
            if !valid_subject(&subject, false) {
                return Err(self.nats.error(
                    "NATS:BAD_MESSAGE",
                    format!("`{subject}` is not a subject to publish to (tokens of visible characters between dots, no `*` or `>`)"),
                ));
            }
            // A producer span under the event's; its context travels in the message's headers, so that the
            // consumer's spans join this trace.
            let (span, trace) = crate::trace::outbound_message(event.trace.as_ref(), SYSTEM, &self.subject_text);
            let message = match self.message(cx, &event, trace) {
                Ok(message) => message,
                Err(error) => {
                    crate::trace::end(span, Some(&error.error_type.to_string()));
                    return Err(error);
                }
            };
            let metrics = cx.metrics().outbound(&self.nats.name);
            let started = Instant::now();
            let ack = self.send(subject, message).await;
            crate::trace::end(span, ack.as_ref().err().map(|e| e.error_type.to_string()).as_deref());
            let ack = ack.map_err(|e| self.count(&metrics, started, e))?;
            metrics.acknowledged(started.elapsed());
            let mut ev = event;
            if let Some(var) = &self.target {
                ev.set_var(var, json!({ "stream": ack.stream, "sequence": ack.sequence, "duplicate": ack.duplicate }));
            }
            Ok(ev)
        })
    }
}
