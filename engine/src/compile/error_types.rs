//! Error types no one can raise (RL0312): an `on_error` handler, an `until_successful`'s `retry_on` or
//! `no_retry_on`, a test's `expect: error:` or a mock's `raise` naming a type that neither the engine nor a
//! `raise_error` (nor a test mock) ever raises. Such a handler never runs, such a retry rule never applies,
//! and `HTTP:NOTFOUND` for `HTTP:NOT_FOUND` looks right to a reviewer.
//!
//! A type can be caught when it is a raised type or one of its ancestors (`HTTP:CLIENT_ERROR`, `HTTP:ANY`,
//! `ANY`). In the engine's own namespaces an unknown name is an error; in the user's namespaces (`APP:...`)
//! it is a warning, since only `raise_error` raises them.

use crate::event::error::{error_type, parent};
use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::ir::{ErrorType, StepKind};
use relais_dsl::span::Spanned;
use relais_dsl::Diagnostic;
use std::collections::BTreeSet;

/// Every error type the engine and its built-in components raise (the README's table, "Events, errors and
/// how steps behave"). `engine_raises_every_type_it_lists` keeps it in step with the sources.
pub const ENGINE_RAISES: &[&str] = &[
    "AMQP:CONNECTIVITY",
    "AMQP:NACKED",
    "AMQP:TIMEOUT",
    "AMQP:UNROUTABLE",
    "COMPONENT:UNAVAILABLE",
    "CONTRACT:VIOLATION",
    "DB:CONNECTIVITY",
    "DB:CONSTRAINT",
    "DB:NO_ROWS",
    "DB:QUERY",
    "DB:TIMEOUT",
    "DB:TOO_MANY_ROWS",
    "DEAD_LETTER:NO_ERROR",
    "EXPRESSION:LIMIT",
    "EXPRESSION:RUNTIME",
    "FILE:BAD_NAME",
    "FILE:EXISTS",
    "FILE:READ",
    "FILE:TOO_LARGE",
    "FILE:WRITE",
    "FLOW:NOT_FOUND",
    "HTTP:BAD_GATEWAY",
    "HTTP:BAD_REQUEST",
    "HTTP:CLIENT_ERROR",
    "HTTP:CONFLICT",
    "HTTP:CONNECTIVITY",
    "HTTP:FORBIDDEN",
    "HTTP:GATEWAY_TIMEOUT",
    "HTTP:INTERNAL_SERVER_ERROR",
    "HTTP:METHOD_NOT_ALLOWED",
    "HTTP:NOT_FOUND",
    "HTTP:RESPONSE_TOO_LARGE",
    "HTTP:SERVER_ERROR",
    "HTTP:SERVICE_UNAVAILABLE",
    "HTTP:TIMEOUT",
    "HTTP:TOO_MANY_REQUESTS",
    "HTTP:UNAUTHORIZED",
    "IDEMPOTENCY:DUPLICATE",
    "IDEMPOTENCY:IN_PROGRESS",
    "NATS:BAD_MESSAGE",
    "NATS:CONNECTIVITY",
    "NATS:NO_STREAM",
    "NATS:PUBLISH",
    "NATS:REDELIVERY_EXHAUSTED",
    "NATS:TIMEOUT",
    "OBJECT_STORE:KEY_NOT_FOUND",
    "OBJECT_STORE:UNAVAILABLE",
    "PAYLOAD:INVALID",
    "QUEUE:CLOSED",
    "QUEUE:REDELIVERY_EXHAUSTED",
    "QUEUE:TIMEOUT",
    "QUEUE:UNAVAILABLE",
    "RETRY:EXHAUSTED",
    "ROUTING:COMPOSITE",
    "ROUTING:TIMEOUT",
    "RUNTIME:INTERNAL",
    "RUNTIME:SHUTTING_DOWN",
    "SENSITIVE:LEAK",
    "SFTP:AUTH",
    "SFTP:BAD_NAME",
    "SFTP:CONNECTIVITY",
    "SFTP:EXISTS",
    "SFTP:HOST_KEY",
    "SFTP:IO",
    "TEST:UNMOCKED",
    "VALIDATION:INVALID",
];

/// What can be raised in one check: the engine's types, the `raise_error`s of the flows and the mocks'
/// `raise`s, with every ancestor of each (what a handler may name to catch them).
pub struct Raisable {
    raised: BTreeSet<String>,
    catchable: BTreeSet<String>,
    engine_namespaces: BTreeSet<String>,
}

/// A type and every ancestor of it.
fn with_ancestors(text: &str, into: &mut BTreeSet<String>) {
    let mut current = Some(error_type(text));
    while let Some(t) = current {
        into.insert(t.to_string());
        current = parent(&t);
    }
}

impl Raisable {
    /// The raisable types of `loaded` (its flows and the test suites loaded with them).
    pub fn of(loaded: &Loaded) -> Self {
        let mut raised: BTreeSet<String> = ENGINE_RAISES.iter().map(|t| t.to_string()).collect();
        let engine_namespaces = ENGINE_RAISES.iter().filter_map(|t| t.split(':').next()).map(str::to_string).collect();
        for flow in loaded.set.flows() {
            for step in flow.all_steps() {
                if let StepKind::RaiseError { error_type, .. } = &step.kind {
                    raised.insert(error_type.value.to_string());
                }
            }
        }
        for suite in &loaded.suites {
            for case in &suite.suite.cases {
                for mock in &case.mocks {
                    raised.extend(mock.answers.iter().filter_map(|a| a.raise.as_ref()).map(|r| r.value.to_string()));
                }
            }
        }
        let mut catchable = BTreeSet::new();
        for text in &raised {
            with_ancestors(text, &mut catchable);
        }
        Raisable { raised, catchable, engine_namespaces }
    }

    /// RL0312 for a mock's `raise` in one of the engine's namespaces that the engine never raises: the mock
    /// simulates a failure that cannot happen (and would make a handler for the same typo look reachable).
    pub fn check_mock(&self, named: &Spanned<ErrorType>) -> Option<Diagnostic> {
        if !self.engine_namespaces.contains(&named.value.namespace) {
            return None;
        }
        let mut engine = BTreeSet::new();
        ENGINE_RAISES.iter().for_each(|t| with_ancestors(t, &mut engine));
        let text = named.value.to_string();
        if engine.contains(&text) {
            return None;
        }
        let help = did_you_mean(&text, ENGINE_RAISES.iter().copied())
            .unwrap_or_else(|| format!("the README lists the types the engine raises in `{}`", named.value.namespace));
        Some(
            Diagnostic::error(
                codes::UNKNOWN_ERROR_TYPE,
                named.span,
                format!("the engine never raises `{text}`, so this mock simulates a failure that cannot happen"),
            )
            .label("no step raises this type")
            .help(help),
        )
    }

    /// RL0312 when nothing can raise `named` (written where `place` says: "this handler", "the test").
    pub fn check(&self, named: &Spanned<ErrorType>, place: &str) -> Option<Diagnostic> {
        let text = named.value.to_string();
        if self.catchable.contains(&text) {
            return None;
        }
        let engine = self.engine_namespaces.contains(&named.value.namespace);
        let message = format!("nothing raises `{text}`, so {place}");
        // A close name in the same namespace: `APP:INVALID` is no typo of `PAYLOAD:INVALID`.
        let prefix = format!("{}:", named.value.namespace);
        let suggestion = did_you_mean(&text, self.raised.iter().filter(|t| t.starts_with(&prefix)).map(String::as_str));
        let (diagnostic, help) = if engine {
            let help = suggestion.unwrap_or_else(|| {
                let names: Vec<&str> =
                    self.raised.iter().filter(|t| t.starts_with(&prefix)).map(String::as_str).collect();
                format!("the engine raises these `{}` types: {}", named.value.namespace, names.join(", "))
            });
            (Diagnostic::error(codes::UNKNOWN_ERROR_TYPE, named.span, message), help)
        } else {
            let help = suggestion.unwrap_or_else(|| {
                format!(
                    "no `raise_error {text}` in the files checked; `{}` is not one of the engine's namespaces",
                    named.value.namespace
                )
            });
            (Diagnostic::warning(codes::UNKNOWN_ERROR_TYPE, named.span, message), help)
        };
        Some(diagnostic.label("no step raises this type").help(help))
    }
}

/// Checks the types of every `on_error` handler of the flows, and the `expect: error:` and mock `raise` of
/// every test suite loaded (so it runs after the suites are loaded).
pub fn check(loaded: &mut Loaded) {
    let raisable = Raisable::of(loaded);
    let mut found = Vec::new();
    for flow in loaded.set.flows() {
        let mut handlers: Vec<&relais_dsl::ir::Handler> = flow.on_error.iter().collect();
        for step in flow.all_steps() {
            match &step.kind {
                StepKind::Try { on_error, .. } => handlers.extend(on_error),
                StepKind::UntilSuccessful { retry_on, no_retry_on, .. } => {
                    let rules =
                        [(retry_on, "`retry_on` never matches it"), (no_retry_on, "`no_retry_on` never matches it")];
                    for (types, place) in rules {
                        found.extend(types.iter().filter_map(|t| raisable.check(t, place)));
                    }
                }
                _ => {}
            }
        }
        for handler in handlers {
            found.extend(handler.types.iter().filter_map(|t| raisable.check(t, "this handler never runs")));
        }
    }
    for suite in &loaded.suites {
        for case in &suite.suite.cases {
            let expected = case.expect.error.as_ref();
            found.extend(
                expected.and_then(|t| raisable.check(t, "the flow can never fail with it and the case never passes")),
            );
            for mock in &case.mocks {
                let raises = mock.answers.iter().filter_map(|a| a.raise.as_ref());
                found.extend(raises.filter_map(|r| raisable.check_mock(r)));
            }
        }
    }
    loaded.diags.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `FlowError::new("NS:NAME", ...)` written in the engine's sources names a listed type, so a new
    /// error type cannot be added without the check knowing it can be raised.
    #[test]
    fn engine_raises_every_type_it_lists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root];
        let mut missing = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.ends_with("compile/error_types.rs") {
                    continue; // this file, whose comments show the pattern
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // `FlowError::new("NS:NAME", ...)`, and error types kept in a constant (`const LEAK: &str = ...`).
                let calls = text.match_indices("FlowError::new(").map(|(i, _)| i + "FlowError::new(".len());
                let consts = text
                    .lines()
                    .filter(|l| l.trim_start().starts_with("pub const") || l.trim_start().starts_with("const"))
                    .filter_map(|l| l.find(": &str = ").map(|at| (l, at)))
                    .filter_map(|(l, at)| text.find(l).map(|start| start + at + ": &str = ".len()))
                    .collect::<Vec<_>>();
                for i in calls.chain(consts) {
                    let rest = text[i..].trim_start();
                    let Some(quoted) = rest.strip_prefix('"') else { continue };
                    let name = quoted.split('"').next().unwrap_or_default();
                    let typed = name.split_once(':').is_some_and(|(ns, n)| {
                        !ns.is_empty()
                            && !n.is_empty()
                            && format!("{ns}{n}").chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    });
                    if typed && !name.starts_with("APP:") && !ENGINE_RAISES.contains(&name) {
                        missing.push(format!("{}: {name}", path.display()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "error types raised but not in ENGINE_RAISES: {missing:?}");
    }

    #[test]
    fn a_misspelt_engine_type_is_an_error_naming_the_real_one() {
        let raisable = Raisable {
            raised: ENGINE_RAISES.iter().map(|t| t.to_string()).collect(),
            catchable: ["HTTP:NOT_FOUND", "HTTP:CLIENT_ERROR", "HTTP:ANY", "ANY"].map(String::from).into(),
            engine_namespaces: ["HTTP".to_string()].into(),
        };
        let named = Spanned::new(error_type("HTTP:NOTFOUND"), relais_dsl::Span::default());
        let found = raisable.check(&named, "this handler never runs");
        assert_eq!(found.as_ref().map(|d| d.severity), Some(relais_dsl::Severity::Error));
        assert_eq!(found.and_then(|d| d.help), Some("did you mean `HTTP:NOT_FOUND`?".to_string()));
        assert!(raisable.check(&Spanned::new(error_type("HTTP:ANY"), relais_dsl::Span::default()), "x").is_none());
    }
}
