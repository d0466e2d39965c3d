//! A flow's `objectives:` block: each objective is its limit alone (`error_share: 2%`) or a map with the
//! limit and the window (`error_share: { max: 2%, over: 5m }`); `schedule_missed` is a duration alone.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::ir::{Objective, Objectives, OBJECTIVE_KEYS};
use crate::span::Spanned;
use crate::syntax::{Node, Value};

const WINDOWED_KEYS: &[&str] = &["max", "over"];

impl Lowerer<'_> {
    pub(crate) fn objectives(&mut self, node: &Node) -> Option<Objectives> {
        let fields = self.fields(node, "`objectives`", OBJECTIVE_KEYS)?;
        let mut objectives = Objectives { span: node.span, ..Objectives::default() };
        if let Some(n) = fields.get("error_share") {
            objectives.error_share = self.windowed(n, "error_share", |lw, n| lw.percentage(n));
        }
        if let Some(n) = fields.get("p99_latency") {
            objectives.p99_latency = self.windowed(n, "p99_latency", |lw, n| lw.positive_duration(n, "p99_latency"));
        }
        if let Some(n) = fields.get("dead_letters_per_hour") {
            objectives.dead_letters_per_hour =
                self.windowed(n, "dead_letters_per_hour", |lw, n| lw.count(n, "dead_letters_per_hour", 1));
        }
        if let Some(n) = fields.get("schedule_missed") {
            objectives.schedule_missed = self.positive_duration(n, "schedule_missed");
        }
        if let Some(n) = fields.get("alert_flow") {
            objectives.alert_flow = self.name(n, "alert flow");
        }
        Some(objectives)
    }

    /// `LIMIT` or `{ max: LIMIT, over: DURATION }`.
    fn windowed<T>(
        &mut self,
        node: &Node,
        what: &'static str,
        limit: impl Fn(&mut Self, &Node) -> Option<Spanned<T>>,
    ) -> Option<Objective<T>> {
        if !matches!(node.value, Value::Map(_)) {
            return limit(self, node).map(|max| Objective { max, over: None });
        }
        let fields = self.fields(node, what, WINDOWED_KEYS)?;
        let max = fields.require(self, "max").and_then(|n| limit(self, n));
        let over = fields.get("over").and_then(|n| self.positive_duration(n, "over"));
        Some(Objective { max: max?, over })
    }

    /// A percentage such as `2%` or `0.5%`, over 0 and at most 100.
    fn percentage(&mut self, node: &Node) -> Option<Spanned<f64>> {
        let text = match &node.value {
            Value::Str(s) => s.text.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            _ => {
                self.wrong_type(node, "a percentage such as `2%`", "error_share");
                return None;
            }
        };
        match crate::ir::parse_percentage(&text) {
            Some(value) => Some(Spanned::new(value, node.span)),
            None => {
                self.error(
                    Diagnostic::error(codes::BAD_PERCENTAGE, node.span, format!("`{text}` is not a valid percentage"))
                        .label("expected a number over 0 and at most 100, followed by `%`")
                        .help("write the share of events that may fail, such as `2%` or `0.5%`"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed parse should stop the test loudly
    use crate::diagnostic::Diagnostics;
    use crate::span::FileId;
    use std::time::Duration;

    fn lower(yaml: &str) -> (crate::ir::Module, Vec<String>) {
        let mut d = Diagnostics::new();
        let doc = crate::syntax::yaml::parse(yaml, FileId(0), &mut d).unwrap();
        let module = crate::lower::lower_module(&doc, FileId(0), &mut d);
        (module, d.iter().map(|d| format!("{} {}", d.code, d.message)).collect())
    }

    #[test]
    fn objectives_read_a_limit_alone_or_with_its_window() {
        let (module, diags) = lower(
            "flows:\n  a:\n    objectives:\n      error_share: { max: 0.5%, over: 10m }\n      p99_latency: 2s\n      \
             dead_letters_per_hour: 3\n      schedule_missed: 26h\n      alert_flow: on_incident\n    steps: []\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let o = module.flows[0].objectives.as_ref().unwrap();
        let share = o.error_share.as_ref().unwrap();
        assert_eq!((share.max.value, share.over.as_ref().map(|d| d.value)), (0.5, Some(Duration::from_secs(600))));
        let p99 = o.p99_latency.as_ref().unwrap();
        assert_eq!((p99.max.value, p99.over.is_none()), (Duration::from_secs(2), true));
        assert_eq!(o.dead_letters_per_hour.as_ref().unwrap().max.value, 3);
        assert_eq!(o.schedule_missed.as_ref().unwrap().value, Duration::from_secs(26 * 3600));
        assert_eq!(o.alert_flow.as_ref().unwrap().value, "on_incident");
    }

    #[test]
    fn an_unknown_objective_a_bad_percentage_and_a_zero_latency_are_each_reported() {
        let (_, diags) = lower(
            "flows:\n  a:\n    objectives:\n      error_shares: 2%\n      p99_latency: 0s\n    steps: []\n  \
             b:\n    objectives: { error_share: 150% }\n    steps: []\n  c:\n    objectives: { error_share: { over: 5m } }\n    steps: []\n",
        );
        assert!(diags.iter().any(|d| d.starts_with("RL0100") && d.contains("error_shares")), "{diags:?}");
        assert!(diags.iter().any(|d| d.starts_with("RL0111")), "{diags:?}");
        assert!(diags.iter().any(|d| d.starts_with("RL0113") && d.contains("150%")), "{diags:?}");
        assert!(diags.iter().any(|d| d.starts_with("RL0102") && d.contains("max")), "{diags:?}");
    }
}
