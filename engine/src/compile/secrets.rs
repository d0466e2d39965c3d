//! `${secret:NAME}` references that cannot be resolved on this machine (RL0310).
//!
//! A secret is resolved when its component is built, so an unset one used to surface only as
//! `COMPONENT:UNAVAILABLE` on every call of the step. `relais check` now warns about each reference (CI
//! often has no production secrets, and `relais test` mocks the steps that use them), and `relais run`
//! refuses to start on it ([`required`]). Resolution is `connectors::secrets::lookup`, the rule the
//! components use.

use crate::connectors::secrets::{lookup, Unset};
use crate::load::Loaded;
use relais_dsl::check::{property_refs, PropertyRef};
use relais_dsl::syntax::{Node, Origin, Value};
use relais_dsl::{codes, Diagnostic, Diagnostics, Severity, Span};

pub(super) fn check(loaded: &mut Loaded) {
    let mut diags = Diagnostics::new();
    for config in loaded.set.configs() {
        walk(&config.body, &mut diags);
    }
    for flow in loaded.set.flows() {
        if let Some(source) = &flow.source {
            walk(&source.params, &mut diags);
        }
        for step in flow.all_steps() {
            if let relais_dsl::ir::StepKind::Component(c) = &step.kind {
                walk(&c.params, &mut diags);
            }
        }
    }
    loaded.diags.extend(diags);
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

fn walk(node: &Node, diags: &mut Diagnostics) {
    match &node.value {
        Value::Str(s) if s.text.contains("${secret:") => {
            for (range, reference) in property_refs(&s.text).into_iter().flatten() {
                let PropertyRef::Secret(name) = reference else { continue };
                let Err(unset) = lookup(&name) else { continue };
                let span = match s.origin {
                    Origin::Verbatim { start } => {
                        Span::new(node.span.file, start as usize + range.start, start as usize + range.end)
                    }
                    _ => node.span,
                };
                diags.push(diagnostic(&name, &unset, span));
            }
        }
        Value::List(items) => items.iter().for_each(|n| walk(n, diags)),
        Value::Map(entries) => entries.iter().for_each(|e| walk(&e.value, diags)),
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
