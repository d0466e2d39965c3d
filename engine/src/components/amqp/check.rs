//! What `relais check` verifies of an `amqp` config beyond its schema: a URL lapin can read (no password
//! written in clear, `tls` only with `amqps://`; the CA file is checked with the other TLS files), and a
//! topology that holds together (bindings and dead-letter exchanges naming what the config declares, each
//! name declared once), every finding at the value at fault.

use super::AmqpConfig;
use lapin::uri::{AMQPScheme, AMQPUri};
use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::syntax::{Node, Value};
use relais_dsl::{Diagnostic, Diagnostics, Span};
use std::collections::BTreeSet;
use std::str::FromStr;

/// The span of `at.key[index].field`, or the nearest one written.
fn span_of(at: &Node, key: &str, index: usize, field: &str) -> Span {
    let Some(list) = at.get(key) else { return at.span };
    let item = match &list.value {
        Value::List(items) => items.get(index),
        _ => None,
    };
    item.map_or(list.span, |item| item.get(field).map_or(item.span, |n| n.span))
}

/// Whether `name` is an exchange every broker has (`amq.direct`, `amq.topic`, ...), or the default one.
fn predeclared(name: &str) -> bool {
    name.starts_with("amq.")
}

/// `url` with each `${secret:NAME}` replaced by a stand-in: what it says besides its secrets.
fn without_secrets(url: &str) -> String {
    let mut out = String::new();
    let mut rest = url;
    while let Some(at) = rest.find("${secret:") {
        out.push_str(&rest[..at]);
        match rest[at..].find('}') {
            Some(end) => {
                out.push_str("secret");
                rest = &rest[at + end + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Checks an `amqp` config.
pub fn check_config(config: &AmqpConfig, at: &Node, diags: &mut Diagnostics) {
    let url_span = at.get("url").map_or(at.span, |n| n.span);
    match AMQPUri::from_str(&without_secrets(&config.url)) {
        Err(e) => diags.push(
            Diagnostic::error(codes::BAD_VALUE, url_span, format!("not an AMQP URL: {e}"))
                .label("lapin cannot read this")
                .help("write `amqp://USER@HOST:5672/VHOST` (`%2f` for the vhost `/`)"),
        ),
        Ok(uri) if config.tls.is_some() && !matches!(uri.scheme, AMQPScheme::AMQPS) => diags.push(
            Diagnostic::error(
                codes::BAD_VALUE,
                at.get("tls").map_or(url_span, |n| n.span),
                "`tls` settings for an `amqp://` URL",
            )
            .label("the connection is plain TCP")
            .help("write `amqps://HOST:5671/...` to connect over TLS, or remove `tls`"),
        ),
        Ok(_) => {
            let userinfo = config.url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(u, _)| u);
            if let Some((_, password)) = userinfo.and_then(|u| u.split_once(':')) {
                if !password.is_empty() && !password.starts_with("${secret:") {
                    diags.push(
                        Diagnostic::warning(codes::BAD_VALUE, url_span, "a password written in clear in `url`")
                            .label("visible to anyone reading the flow files")
                            .help("write `${secret:NAME}` in its place, or `password: \"${secret:NAME}\"`"),
                    );
                }
            }
        }
    }
    let mut exchanges = BTreeSet::new();
    for (i, exchange) in config.exchanges.iter().enumerate() {
        if exchange.name.is_empty() || predeclared(&exchange.name) {
            diags.push(
                Diagnostic::error(codes::BAD_VALUE, span_of(at, "exchanges", i, "name"), "a reserved exchange name")
                    .label("the broker declares it")
                    .help("the default exchange (`\"\"`) and `amq.*` exist on every broker: use them without declaring them"),
            );
        } else if !exchanges.insert(exchange.name.as_str()) {
            diags.push(duplicate("exchange", &exchange.name, span_of(at, "exchanges", i, "name")));
        }
    }
    let mut queues = BTreeSet::new();
    for (i, queue) in config.queues.iter().enumerate() {
        if !queues.insert(queue.name.as_str()) {
            diags.push(duplicate("queue", &queue.name, span_of(at, "queues", i, "name")));
        }
        if let Some(dlx) = &queue.dead_letter_exchange {
            if !exchanges.contains(dlx.as_str()) && !predeclared(dlx) {
                let span = span_of(at, "queues", i, "dead_letter_exchange");
                diags.push(undeclared("exchange", dlx, span, exchanges.iter().copied(), "exchanges"));
            }
        }
    }
    for (i, binding) in config.bindings.iter().enumerate() {
        if !queues.contains(binding.queue.as_str()) {
            let span = span_of(at, "bindings", i, "queue");
            diags.push(undeclared("queue", &binding.queue, span, queues.iter().copied(), "queues"));
        }
        if binding.exchange.is_empty() {
            diags.push(
                Diagnostic::error(
                    codes::BAD_VALUE,
                    span_of(at, "bindings", i, "exchange"),
                    "a binding to the default exchange",
                )
                .label("every queue is bound to it by its name")
                .help("bind to an exchange declared under `exchanges`"),
            );
        } else if !exchanges.contains(binding.exchange.as_str()) && !predeclared(&binding.exchange) {
            let span = span_of(at, "bindings", i, "exchange");
            diags.push(undeclared("exchange", &binding.exchange, span, exchanges.iter().copied(), "exchanges"));
        }
    }
}

fn duplicate(what: &str, name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(codes::BAD_VALUE, span, format!("{what} `{name}` declared twice"))
        .label("declared before")
        .help(format!("keep one declaration of {what} `{name}`"))
}

fn undeclared<'a>(what: &str, name: &str, span: Span, known: impl Iterator<Item = &'a str>, key: &str) -> Diagnostic {
    let help = did_you_mean(name, known).unwrap_or_else(|| format!("declare it under `{key}`"));
    Diagnostic::error(codes::BAD_VALUE, span, format!("{what} `{name}` is not declared by this config"))
        .label("not under `".to_string() + key + "`")
        .help(help)
}

/// Checks an `amqp.publish` step: a header name is a plain word (`#[...]` goes in values).
pub fn check_publish(params: &super::PublishParams, at: &Node, diags: &mut Diagnostics) {
    for name in params.headers.keys() {
        if name.is_empty() || name.contains("#[") {
            let span = at.get("headers").map_or(at.span, |h| h.span);
            diags.push(
                Diagnostic::error(codes::BAD_VALUE, span, format!("header name `{name}` is not a name"))
                    .label("header names are written as they are sent")
                    .help("put the computed part in the value: `headers: { source: \"#[vars.system]\" }`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_secrets;

    #[test]
    fn secrets_in_a_url_are_stood_in_for_before_it_is_read() {
        assert_eq!(without_secrets("amqp://u:${secret:PW}@h:5672/%2f"), "amqp://u:secret@h:5672/%2f");
        assert_eq!(without_secrets("amqp://u:${secret:PW"), "amqp://u:");
    }
}
