//! `amqp.publish` at run time: the payload's bytes published on the config's confirming channel with the
//! event's correlation id (the `correlation_id` property), its media type (`content_type`), the headers
//! computed on the event and delivery mode 2 when persistent. The step succeeds only once the broker
//! confirmed the message: a negative confirm is `AMQP:NACKED`, a mandatory message no queue took (or an
//! exchange that does not exist) `AMQP:UNROUTABLE`, no connection `AMQP:CONNECTIVITY`, no confirm within
//! `publish_timeout` `AMQP:TIMEOUT`. Counted per config as an outbound call whose status is the AMQP
//! reply code (200 confirmed, 312 unroutable, 404 no such exchange; none when no answer came). Traced as a
//! producer span (`EXCHANGE publish`) whose context the message carries in its `traceparent` and
//! `tracestate` headers.

use super::broker::{describe, Broker, Session, CONNECTIVITY, NACKED, TIMEOUT, UNROUTABLE};
use super::PublishParams;
use crate::component::{CallFuture, ComponentNode, Context, StepContext};
use crate::event::Event;
use crate::script::{compile_template_text, TemplatePlan};
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation};
use std::sync::Arc;
use std::time::Instant;

/// A built `amqp.publish` step.
struct Publish {
    broker: Arc<Broker>,
    exchange: String,
    routing_key: TemplatePlan,
    headers: Vec<(String, TemplatePlan)>,
    persistent: bool,
    mandatory: bool,
}

/// The node of an `amqp.publish` step.
pub fn build(params: &PublishParams, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
    let broker = cx.resource_as::<Broker>()?;
    let headers = params
        .headers
        .iter()
        .map(|(k, v)| Ok((k.clone(), compile_template_text(cx.engine, v)?)))
        .collect::<Result<_, String>>()?;
    Ok(Arc::new(Publish {
        broker,
        exchange: params.exchange.clone(),
        routing_key: compile_template_text(cx.engine, &params.routing_key)?,
        headers,
        persistent: params.persistent,
        mandatory: params.mandatory,
    }))
}

/// Why a publish failed: its error type, what to say, and the AMQP reply code when the broker gave one.
type Refusal = (&'static str, String, Option<u16>);

impl Publish {
    async fn send(
        &self,
        session: &Session,
        routing_key: &str,
        headers: FieldTable,
        event: &Event,
    ) -> Result<(), Refusal> {
        let channel = session.publisher().await.map_err(|e| (CONNECTIVITY, describe(&e), None))?;
        let mut properties = BasicProperties::default()
            .with_content_type(event.payload.media_type().into())
            .with_correlation_id(event.correlation_id.as_ref().into())
            .with_headers(headers);
        if self.persistent {
            properties = properties.with_delivery_mode(2);
        }
        let options = BasicPublishOptions { mandatory: self.mandatory, ..Default::default() };
        let body = event.payload.to_bytes();
        let confirm = channel
            .basic_publish(self.exchange.as_str().into(), routing_key.into(), options, &body, properties)
            .await
            .map_err(|e| self.lost(&e))?;
        match confirm.await.map_err(|e| self.lost(&e))? {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(returned)) => Err((
                UNROUTABLE,
                format!(
                    "no queue took the message (exchange `{}`, routing key `{routing_key}`): {}",
                    self.exchange, returned.reply_text
                ),
                Some(returned.reply_code),
            )),
            Confirmation::Nack(_) => {
                Err((NACKED, format!("the broker refused the message (exchange `{}`)", self.exchange), None))
            }
        }
    }

    /// What the producer span names as its destination: the exchange, written in the flow (`amq.default`
    /// for the default exchange, as RabbitMQ calls it). Never the routing key, which a template may fill
    /// from the payload.
    fn destination(&self) -> &str {
        if self.exchange.is_empty() {
            "amq.default"
        } else {
            &self.exchange
        }
    }

    /// The refusal of a publish whose channel or connection failed: an exchange that does not exist
    /// (the broker closes the channel with 404) is unroutable, anything else is connectivity.
    fn lost(&self, e: &lapin::Error) -> Refusal {
        if let lapin::ErrorKind::ProtocolError(amqp) = e.kind() {
            if amqp.get_id() == 404 {
                return (
                    UNROUTABLE,
                    format!("exchange `{}` does not exist: {}", self.exchange, amqp.get_message()),
                    Some(404),
                );
            }
        }
        (CONNECTIVITY, format!("the publish to {} failed: {}", self.broker.target, describe(e)), None)
    }
}

impl ComponentNode for Publish {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let routing_key = cx.render(&self.routing_key, &event)?;
            let mut headers = FieldTable::default();
            for (name, plan) in &self.headers {
                headers.insert(name.as_str().into(), AMQPValue::LongString(cx.render(plan, &event)?.into()));
            }
            // A producer span under the event's; its context travels in the message's headers, so that the
            // consumer's spans join this trace.
            let (span, trace_headers) =
                crate::trace::outbound_message(event.trace.as_ref(), super::listener::SYSTEM, self.destination());
            for (name, value) in trace_headers {
                headers.insert(name.into(), AMQPValue::LongString(value.into()));
            }
            let metrics = cx.metrics().outbound(&self.broker.name);
            let started = Instant::now();
            let outcome = match self.broker.session().await {
                Err(why) => Err((CONNECTIVITY, why, None)),
                Ok(session) => {
                    let send = self.send(&session, &routing_key, headers, &event);
                    tokio::time::timeout(self.broker.publish_timeout, send).await.unwrap_or_else(|_| {
                        let wait = self.broker.publish_timeout;
                        Err((TIMEOUT, format!("no confirm from {} within {wait:?}", self.broker.target), None))
                    })
                }
            };
            crate::trace::end(span, outcome.as_ref().err().map(|(kind, _, _)| *kind));
            match outcome {
                Ok(()) => {
                    metrics.exchange(started.elapsed(), Some(200));
                    Ok(event)
                }
                Err((kind, why, code)) => {
                    metrics.exchange(started.elapsed(), code);
                    metrics.error(kind, code);
                    Err(self.broker.error(kind, why))
                }
            }
        })
    }
}
