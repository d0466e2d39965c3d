//! The one diagnostic type every pass reports, from YAML syntax to component configs.
//!
//! Passes push into a [`Diagnostics`] sink and keep going, so `relais check` shows every problem in one run.
//! Renderers (human via miette, JSON, GitHub annotations, SARIF) live in `engine::cli`; this type stays plain
//! data so the front end needs no terminal or I/O.

use crate::codes::Code;
use crate::span::Span;

/// How bad a finding is. Errors stop `relais run`; warnings only fail CI under `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something that would not run as written.
    Error,
    /// Something that runs but is almost certainly a mistake (dead steps after `raise_error`).
    Warning,
}

/// A secondary place the reader should look at, with a short explanation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to notice there (may be empty: then the span alone is highlighted).
    pub message: String,
}

/// One finding: stable code, message, primary location, extra labels, help.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code (`RL0103`), documented by `relais explain`.
    pub code: Code,
    /// One sentence saying what is wrong.
    pub message: String,
    /// The main place, with a label saying what is wrong there.
    pub primary: Label,
    /// Related places (the first definition of a duplicate, the other listener claiming a route...).
    pub labels: Vec<Label>,
    /// How to fix it, when we can tell ("did you mean `transform`?").
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`; the label defaults to the message's gist and can be replaced with [`Self::label`].
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, span, message)
    }

    /// A warning at `span`.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, span, message)
    }

    fn new(severity: Severity, code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: Label { span, message: String::new() },
            labels: Vec::new(),
            help: None,
        }
    }

    /// Sets the text shown under the primary span.
    pub fn label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = message.into();
        self
    }

    /// Adds a secondary labelled span.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line only when there is one (handy with [`did_you_mean`]).
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
}

/// A sink passes report into; it never stops a pass.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a finding.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Moves all findings of another sink into this one.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// True when at least one error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// All findings, in report order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorts by file and position so output is stable whatever order passes ran in.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| (d.primary.span.file, d.primary.span.start, d.code.0));
        self.items.dedup();
    }

    /// Takes the findings out.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// "did you mean `x`?" when a known name is close enough to the misspelt one: case-insensitive
/// Damerau-Levenshtein similarity of at least 0.6 (one typo in a short word, a few in a long one). Prefix-biased
/// measures such as Jaro-Winkler suggest `sync_transport` for `sync_patient`, which misleads.
pub fn did_you_mean<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|k| {
            let (w, l) = (wrong.to_lowercase(), k.to_lowercase());
            // A truncated name (`raise` for `raise_error`) is as good a hint as a one-letter typo.
            let prefix = if w.len() >= 4 && l.starts_with(&w) { 0.7 } else { 0.0 };
            (strsim::normalized_damerau_levenshtein(&w, &l).max(prefix), k)
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("did you mean `{k}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_suggests_the_closest_known_name() {
        let known = ["transform", "set_payload", "logger"];
        assert_eq!(did_you_mean("transfrom", known).as_deref(), Some("did you mean `transform`?"));
        assert_eq!(did_you_mean("zzz", known), None);
    }
}
