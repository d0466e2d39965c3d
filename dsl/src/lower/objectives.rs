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
            objectives.p99_latency =
                self.windowed(n, "p99_latency", |lw, n| lw.positive_duration(n, "p99_latency"));
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
