//! `${secret:NAME}` references that cannot be resolved on this machine (RL0310).
//!
//! A secret is resolved when its component is built, so an unset one used to surface only as
//! `COMPONENT:UNAVAILABLE` on every call of the step. `relais check` now warns about each reference (CI
//! often has no production secrets, and `relais test` mocks the steps that use them), and `relais run`
//! refuses to start on it ([`required`]). Resolution is `connectors::secrets::lookup`, the rule the
//! components use.
//!
//! Secrets are resolved in configs only. One written in a flow's steps or source is never resolved and
//! would reach a partner or a log line as the literal text `${secret:NAME}`: that is an error (RL0311)
//! whether or not the secret is set.

use crate::connectors::secrets::{lookup, Unset};
use crate::load::Loaded;
use relais_dsl::check::{property_refs, PropertyRef};
use relais_dsl::ir::{Data, StepKind, Template};
use relais_dsl::syntax::{Node, Origin, Value};
use relais_dsl::{codes, Diagnostic, Diagnostics, Severity, Span};

pub(super) fn check(loaded: &mut Loaded) {
    let mut diags = Diagnostics::new();
    for config in loaded.set.configs() {
        walk(&config.body, &mut |name, span| {
            if let Err(unset) = lookup(name) {
                diags.push(diagnostic(name, &unset, span));
            }
        });
    }
    // In a flow a secret is never resolved: it would leave as the literal text `${secret:NAME}` (RL0311).
    let sources = &loaded.sources;
    let mut literal = |name: &str, span: Span| diags.push(not_resolved(name, narrowed(sources, name, span)));
    for flow in loaded.set.flows() {
        if let Some(source) = &flow.source {
            walk(&source.params, &mut literal);
        }
        for step in flow.all_steps() {
            match &step.kind {
                StepKind::Component(c) => walk(&c.params, &mut literal),
                StepKind::Logger { message, .. } => in_template(message, &mut literal),
                StepKind::RaiseError { description: Some(message), .. } => in_template(message, &mut literal),
                StepKind::SetPayload { value, .. } | StepKind::SetVariable { value, .. } => {
                    in_data(value, &mut literal)
                }
                _ => {}
            }
        }
    }
    loaded.diags.extend(diags);
}

/// The reference itself inside `span` when the file spells it there once (a template keeps only the span
/// of its whole string), else `span`.
fn narrowed(sources: &relais_dsl::SourceMap, name: &str, span: Span) -> Span {
    let text = &sources.file(span.file).text;
    let written = format!("${{secret:{name}}}");
    let Some(within) = text.get(span.start as usize..span.end as usize) else { return span };
    match (within.find(&written), within.rfind(&written)) {
        (Some(first), Some(last)) if first == last => {
            let start = span.start as usize + first;
            Span::new(span.file, start, start + written.len())
        }
        _ => span,
    }
}

fn in_template(template: &Template, found: &mut dyn FnMut(&str, Span)) {
    for (_, reference) in property_refs(&template.source).into_iter().flatten() {
        if let PropertyRef::Secret(name) = reference {
            found(&name, template.span);
        }
    }
}

fn in_data(data: &Data, found: &mut dyn FnMut(&str, Span)) {
    match data {
        Data::Literal(node) => walk(node, found),
        Data::Template(t) => in_template(t, found),
        Data::List(items, _) => items.iter().for_each(|d| in_data(d, found)),
        Data::Map(entries, _) => entries.iter().for_each(|(_, d)| in_data(d, found)),
        Data::Expr(_) => {}
    }
}

fn not_resolved(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::SECRET_NOT_RESOLVED,
        span,
        format!("`${{secret:{name}}}` is not resolved in a flow: it would be sent as this literal text"),
    )
    .label("secrets are resolved in configs only")
    .help(format!(
        "move it into the config the step uses, e.g. an `http.client`'s `headers: {{ x-api-key: \"${{secret:{name}}}\" }}` or `auth`"
    ))
}

/// Turns the unresolved-secret warnings into errors, for `relais run`: a daemon started without a secret
/// would fail every call of the step that needs it.
pub fn required(diags: &mut Diagnostics) {
    let all = std::mem::take(diags).into_vec();
    diags.extend(all.into_iter().map(|mut d| {
        if d.code == codes::SECRET_UNSET {
            d.severity = Severity::Error;
            d.help = d.help.map(|h| format!("{h}; `relais run` does not start without it"));
        }
        d
    }));
}

/// Calls `found` with the name and file span of every `${secret:NAME}` in the strings of `node`.
fn walk(node: &Node, found: &mut dyn FnMut(&str, Span)) {
    match &node.value {
        Value::Str(s) if s.text.contains("${secret:") => {
            for (range, reference) in property_refs(&s.text).into_iter().flatten() {
                let PropertyRef::Secret(name) = reference else { continue };
                let span = match s.origin {
                    Origin::Verbatim { start } => {
                        Span::new(node.span.file, start as usize + range.start, start as usize + range.end)
                    }
                    _ => node.span,
                };
                found(&name, span);
            }
        }
        Value::List(items) => items.iter().for_each(|n| walk(n, found)),
        Value::Map(entries) => entries.iter().for_each(|e| walk(&e.value, found)),
        _ => {}
    }
}

fn diagnostic(name: &str, unset: &Unset, span: Span) -> Diagnostic {
    let (label, help) = match unset {
        Unset::Missing => (
            "not set on this machine".to_string(),
            format!(
                "set the environment variable {name} to the value, or {name}_FILE to the path of a file holding it"
            ),
        ),
        Unset::Unreadable { .. } => (
            format!("{name}_FILE names a file that cannot be read"),
            format!("make the file {name}_FILE names readable, or set the environment variable {name} instead"),
        ),
    };
    Diagnostic::warning(codes::SECRET_UNSET, span, unset.describe(name)).label(label).help(help)
}
