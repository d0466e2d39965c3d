//! Reading maps with a fixed set of keys: unknown keys are reported (with "did you mean"), never ignored.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::span::{Span, Spanned};
use crate::syntax::{Entry, Node, Value};

/// A map whose keys were checked against the allowed set.
pub(crate) struct Fields<'a> {
    entries: &'a [Entry],
    /// Allowed keys that an unknown key was reported as a probable typo of: not reported missing again.
    suggested: Vec<&'static str>,
    /// The whole map (for "missing key" diagnostics).
    pub span: Span,
    what: &'a str,
}

impl<'a> Fields<'a> {
    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The value at a required key, or a `MISSING_KEY` diagnostic.
    pub fn require(&self, lw: &mut Lowerer<'_>, key: &str) -> Option<&'a Node> {
        let found = self.get(key);
        if found.is_none() && !self.suggested.contains(&key) {
            lw.error(
                Diagnostic::error(codes::MISSING_KEY, self.span, format!("{} needs `{key}`", self.what))
                    .label(format!("`{key}` missing here")),
            );
        }
        found
    }
}

impl Lowerer<'_> {
    /// Views `node` as a map with only `allowed` keys; reports a wrong type or each unknown key.
    pub(crate) fn fields<'a>(&mut self, node: &'a Node, what: &'a str, allowed: &[&'static str]) -> Option<Fields<'a>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "a map", what);
            return None;
        };
        let mut suggested = Vec::new();
        for entry in entries {
            if !allowed.contains(&entry.key.as_str()) {
                if let Some(close) = closest(&entry.key, allowed) {
                    suggested.push(close);
                }
                let help = did_you_mean(&entry.key, allowed.iter().copied())
                    .or_else(|| Some(format!("{what} accepts: {}", allowed.join(", "))));
                self.error(
                    Diagnostic::error(
                        codes::UNKNOWN_KEY,
                        entry.key_span,
                        format!("unknown key `{}` in {what}", entry.key),
                    )
                    .label("unknown key")
                    .maybe_help(help),
                );
            }
        }
        Some(Fields { entries, suggested, span: node.span, what })
    }

    /// Reports a value of the wrong shape.
    pub(crate) fn wrong_type(&mut self, node: &Node, expected: &str, what: &str) {
        // A null that is an unquoted `#[...]` YAML read as a comment is already reported as such (RL0013),
        // with the fix; "found null" would be the same mistake told worse.
        let commented = matches!(node.value, Value::Null)
            && self.diags.iter().any(|d| {
                d.code == codes::YAML_COMMENTED_EXPRESSION
                    && d.primary.span.file == node.span.file
                    && d.primary.span.start >= node.span.start
                    && d.primary.span.start <= node.span.end + 16
            });
        if commented {
            return;
        }
        self.error(
            Diagnostic::error(
                codes::WRONG_TYPE,
                node.span,
                format!("{what} must be {expected}, found {}", node.kind_name()),
            )
            .label(format!("expected {expected}"))
            .maybe_help(wrong_type_help(node, expected)),
        );
    }

    /// A string value.
    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Str(s) => Some(Spanned::new(s.text.clone(), node.span)),
            _ => {
                self.wrong_type(node, "a string", what);
                None
            }
        }
    }

    /// An identifier-like name (flows, variables, configs, step ids).
    pub(crate) fn name(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let name = self.string(node, what)?;
        self.check_name(&name, what);
        Some(name)
    }

    /// Reports a name that is not a plain identifier.
    pub(crate) fn check_name(&mut self, name: &Spanned<String>, what: &str) {
        if !is_identifier(&name.value) {
            self.error(
                Diagnostic::error(codes::BAD_NAME, name.span, format!("`{}` is not a valid {what} name", name.value))
                    .label("letters, digits, `_` and `-` only, starting with a letter or `_`")
                    .help(format!("write it `{}`", as_identifier(&name.value))),
            );
        }
    }

    /// A positive integer that fits `u32` and is at least `min`.
    pub(crate) fn count(&mut self, node: &Node, what: &str, min: u32) -> Option<Spanned<u32>> {
        match &node.value {
            Value::Int(i) if *i >= i64::from(min) && *i <= i64::from(u32::MAX) => {
                Some(Spanned::new(*i as u32, node.span))
            }
            Value::Int(i) => {
                self.error(
                    Diagnostic::error(
                        codes::BAD_NUMBER,
                        node.span,
                        format!("{what} must be at least {min}, found {i}"),
                    )
                    .label("out of range"),
                );
                None
            }
            _ => {
                self.wrong_type(node, "an integer", what);
                None
            }
        }
    }

    /// A duration that must be longer than zero: a `timeout`, `claim_timeout` or idempotency `ttl` of `0s`
    /// would fail or lapse before any work could be done, on every event.
    pub(crate) fn positive_duration(&mut self, node: &Node, what: &str) -> Option<Spanned<std::time::Duration>> {
        let duration = self.duration(node, what)?;
        if duration.value.is_zero() {
            self.error(
                Diagnostic::error(codes::DURATION_RANGE, node.span, format!("`{what}` must be longer than 0s"))
                    .label("out of range: allowed is more than 0s")
                    .help(format!(
                        "a `{what}` of 0s lapses at once, on every event; write how long it should last, such as `5s`"
                    )),
            );
            return None;
        }
        Some(duration)
    }

    /// A duration such as `250ms` or `1m30s`.
    pub(crate) fn duration(&mut self, node: &Node, what: &str) -> Option<Spanned<std::time::Duration>> {
        let text = match &node.value {
            Value::Str(s) => s.text.as_str(),
            _ => {
                self.error(
                    Diagnostic::error(
                        codes::BAD_DURATION,
                        node.span,
                        format!("{what} must be a duration, found {}", node.kind_name()),
                    )
                    .label("expected a duration")
                    .help("write a number and a unit: `250ms`, `5s`, `1m30s`, `2h`, `7d`"),
                );
                return None;
            }
        };
        match crate::ir::parse_duration(text) {
            Some(d) => Some(Spanned::new(d, node.span)),
            None => {
                self.error(
                    Diagnostic::error(codes::BAD_DURATION, node.span, format!("`{text}` is not a valid duration"))
                        .label("invalid duration")
                        .help("write a number and a unit: `250ms`, `5s`, `1m30s`, `2h`, `7d`"),
                );
                None
            }
        }
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, node: &Node, what: &str) -> Option<Spanned<bool>> {
        match node.value {
            Value::Bool(b) => Some(Spanned::new(b, node.span)),
            _ => {
                self.wrong_type(node, "`true` or `false`", what);
                None
            }
        }
    }

    /// A number (integer or float) as `f64`.
    pub(crate) fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match node.value {
            Value::Int(i) => Some(Spanned::new(i as f64, node.span)),
            Value::Float(f) => Some(Spanned::new(f, node.span)),
            _ => {
                self.wrong_type(node, "a number", what);
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub(crate) fn choice<T: Copy>(&mut self, node: &Node, what: &str, options: &[(T, &str)]) -> Option<Spanned<T>> {
        let text = self.string(node, what)?;
        if let Some((value, _)) = options.iter().find(|(_, s)| *s == text.value) {
            return Some(Spanned::new(*value, node.span));
        }
        let words: Vec<&str> = options.iter().map(|(_, s)| *s).collect();
        self.error(
            Diagnostic::error(codes::BAD_VALUE, node.span, format!("`{}` is not a valid {what}", text.value))
                .label(format!("expected one of: {}", words.join(", ")))
                .help(
                    did_you_mean(&text.value, words.iter().copied())
                        .or_else(|| {
                            words
                                .iter()
                                .find(|w| text.value.to_ascii_lowercase().starts_with(**w))
                                .map(|w| format!("did you mean `{w}`?"))
                        })
                        .unwrap_or_else(|| {
                            format!(
                                "write one of {}",
                                words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
                            )
                        }),
                ),
        );
        None
    }
}

/// The allowed key a misspelt key most likely meant (same rule as [`did_you_mean`]).
fn closest(wrong: &str, allowed: &[&'static str]) -> Option<&'static str> {
    let hint = did_you_mean(wrong, allowed.iter().copied())?;
    allowed.iter().copied().find(|k| hint == format!("did you mean `{k}`?"))
}

/// Names: a letter or `_`, then letters, digits, `_`, `-`.
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// How to write the value a field expects, for the shapes people get wrong: a number or a boolean quoted
/// or spelt in words, a map where a list of steps belongs.
fn wrong_type_help(node: &Node, expected: &str) -> Option<String> {
    let found_text = matches!(node.value, Value::Str(_));
    match expected {
        "an integer" | "a number" if found_text => {
            Some("write a number without quotes or words, such as `4`".to_string())
        }
        "a boolean" if found_text => Some("write `true` or `false`, without quotes".to_string()),
        "a list" if matches!(node.value, Value::Map(_)) => Some(
            "write one list item per step, each starting with `- ` (`- logger: ...`); in `.flow`, one step per line"
                .to_string(),
        ),
        _ => None,
    }
}

/// `name` made an identifier: other characters become `_`, and a leading digit gets a `_` before it.
fn as_identifier(name: &str) -> String {
    let mut out: String =
        name.trim().chars().map(|c| if c.is_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}
