//! The flow IR: what both syntaxes mean, with a span on every node.
//!
//! The IR keeps what the author wrote (optional settings stay `None` rather than being defaulted) so that
//! `relais fmt` can print it back canonically and YAML <-> `.flow` conversion loses nothing. Defaults are the
//! engine's business when it compiles a plan.

mod data;
mod objectives;
mod step;
mod test_suite;

pub use data::{Data, Expr, Template, TemplatePart};
pub use objectives::{format_percentage, parse_percentage, Objective, Objectives, OBJECTIVE_KEYS};
pub use step::{
    walk_steps, Backoff, Branch, Component, ErrorType, Handler, HandlerAction, LogLevel, Route, Script, Step, StepKind,
    STEP_KEYWORDS,
};
pub use test_suite::{
    Answer, CallCheck, Expect, ExpectResponse, Mock, StepSelector, TestCase, TestInput, TestRequest, TestSuite,
};

use crate::span::{FileId, Span, Spanned};
use crate::syntax::Node;
use std::time::Duration;

/// Everything one file defines. Several modules (the files found under the checked paths plus their
/// imports) make a [`FlowSet`].
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Module {
    /// The file this module came from.
    #[serde(skip)]
    pub file: FileId,
    /// Other files this one needs, relative to it.
    pub imports: Vec<Spanned<String>>,
    /// Property defaults (`${name}`), overridden per environment.
    pub properties: Vec<Property>,
    /// Named connection settings used by components.
    pub configs: Vec<Config>,
    /// Flows and sub-flows, in file order.
    pub flows: Vec<Flow>,
}

/// A property default.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Property {
    /// Dotted name (`crm.base_url`).
    pub name: Spanned<String>,
    /// The default value (a scalar).
    pub value: Node,
}

/// Named connection settings (`crm = http.client { base_url: ... }`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// Name components refer to.
    pub name: Spanned<String>,
    /// The config kind, a component-registry name (`http.client`, `http.listener`, `object_store`...).
    pub kind: Spanned<String>,
    /// The settings, validated by the engine's registry against the kind's documented type.
    pub body: Node,
    /// The whole definition.
    pub span: Span,
}

/// Whether a flow has a source of its own or is only called by reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// A flow: may have a source, `on_error`, `max_concurrency`, `initial_state`.
    Flow,
    /// A sub-flow: steps only, runs in its caller's context (and error scope).
    SubFlow,
}

/// Whether a flow's source starts with the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Source starts with the daemon (the default).
    Started,
    /// Source stays stopped until started through the admin API.
    Stopped,
}

/// A flow or sub-flow.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Flow {
    /// Global name.
    pub name: Spanned<String>,
    /// Flow or sub-flow.
    pub kind: FlowKind,
    /// What feeds events in (absent for flows only reached by `flow_ref`).
    pub source: Option<Component>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Flow-level error handlers.
    pub on_error: Vec<Handler>,
    /// Upper bound on events in flight in this flow.
    pub max_concurrency: Option<Spanned<u32>>,
    /// Started or stopped at boot.
    pub initial_state: Option<Spanned<InitialState>>,
    /// What the flow promises (error share, latency, dead letters, schedule), graded into incidents.
    pub objectives: Option<Objectives>,
    /// The whole definition.
    pub span: Span,
}

impl Flow {
    /// Every step of the flow, nested ones and those of its error handlers included, in source order.
    pub fn all_steps(&self) -> Vec<&Step> {
        let mut out = Vec::new();
        walk_steps(&self.steps, &mut |s| out.push(s));
        for h in &self.on_error {
            walk_steps(&h.steps, &mut |s| out.push(s));
        }
        out
    }
}

/// All modules of one compilation; names are global across them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FlowSet {
    /// The modules, checked paths first, then imports in discovery order.
    pub modules: Vec<Module>,
}

impl FlowSet {
    /// Every flow and sub-flow of every module.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.modules.iter().flat_map(|m| m.flows.iter())
    }

    /// Every config of every module.
    pub fn configs(&self) -> impl Iterator<Item = &Config> {
        self.modules.iter().flat_map(|m| m.configs.iter())
    }

    /// A flow or sub-flow by name (the first, if duplicated; duplicates are a diagnostic).
    pub fn flow(&self, name: &str) -> Option<&Flow> {
        self.flows().find(|f| f.name.value == name)
    }

    /// A config by name.
    pub fn config(&self, name: &str) -> Option<&Config> {
        self.configs().find(|c| c.name.value == name)
    }
}

/// Parses `250ms`, `5s`, `1m30s`, `2h`, `7d`. Returns `None` for anything else (including overflow).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let amount: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let millis_per_unit: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(amount.checked_mul(millis_per_unit)?)?;
    }
    u64::try_from(total).ok().map(Duration::from_millis)
}

/// Prints a duration in the largest exact units (`90s` -> `1m30s`), the canonical form `relais fmt` writes.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0ms".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_every_unit_and_combinations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        for bad in ["", "5", "s", "5x", "1.5s", "-1s", "99999999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_print_back_in_canonical_form() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(
            parse_duration(&format_duration(Duration::from_millis(93_784_005))),
            Some(Duration::from_millis(93_784_005))
        );
    }
}
