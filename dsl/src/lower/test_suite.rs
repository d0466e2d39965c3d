//! Lowering of flow-test files (`*.test.yaml`) into [`TestSuite`]s, with the same unknown-key and type
//! checks as flow files.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::ir::{Answer, CallCheck, Expect, Mock, StepSelector, TestCase, TestInput, TestSuite};
use crate::span::Spanned;
use crate::syntax::{Entry, Node, Value};

const SELECTOR_KEYS: [&str; 4] = ["step", "component", "config", "with"];

impl Lowerer<'_> {
    pub(crate) fn test_suite(&mut self, doc: &Node) -> Option<TestSuite> {
        let f = self.fields(doc, "a test file", &["flow", "tests"])?;
        let flow = f.require(self, "flow").and_then(|n| self.name(n, "flow"));
        let mut cases = Vec::new();
        if let Some(tests) = f.require(self, "tests") {
            match &tests.value {
                Value::Map(entries) => {
                    for e in entries {
                        if let Some(case) = self.test_case(Spanned::new(e.key.clone(), e.key_span), &e.value) {
                            cases.push(case);
                        }
                    }
                }
                _ => self.wrong_type(tests, "a map of test names to test cases", "`tests`"),
            }
        }
        Some(TestSuite { flow: flow?, cases, span: doc.span })
    }

    fn test_case(&mut self, name: Spanned<String>, body: &Node) -> Option<TestCase> {
        let f = self.fields(body, "a test case", &["now", "input", "mocks", "expect"])?;
        let now = f.get("now").and_then(|n| self.string(n, "`now`"));
        let input = match f.get("input") {
            Some(n) => self.test_input(n),
            None => TestInput::default(),
        };
        let mocks = f.get("mocks").map(|n| self.list(n, "mocks", |lw, m| lw.mock(m))).unwrap_or_default();
        let expect = match f.get("expect") {
            Some(n) => self.expect(n),
            None => Expect::default(),
        };
        Some(TestCase { name, now, input, mocks, expect, span: body.span })
    }

    fn test_input(&mut self, node: &Node) -> TestInput {
        let Some(f) =
            self.fields(node, "`input`", &["payload", "payload_file", "media_type", "attributes", "vars", "stores"])
        else {
            return TestInput::default();
        };
        if f.get("payload").is_some() && f.get("payload_file").is_some() {
            self.error(
                Diagnostic::error(codes::WRONG_TYPE, node.span, "`input` takes `payload` or `payload_file`, not both")
                    .label("remove one of them"),
            );
        }
        TestInput {
            payload: f.get("payload").cloned(),
            payload_file: f.get("payload_file").and_then(|n| self.string(n, "`payload_file`")),
            media_type: f.get("media_type").and_then(|n| self.string(n, "`media_type`")),
            attributes: f.get("attributes").filter(|n| self.is_map(n, "`attributes`")).cloned(),
            vars: f.get("vars").filter(|n| self.is_map(n, "`vars`")).cloned(),
            stores: f.get("stores").filter(|n| self.is_map(n, "`stores`")).cloned(),
        }
    }

    fn is_map(&mut self, node: &Node, what: &str) -> bool {
        let ok = matches!(node.value, Value::Map(_));
        if !ok {
            self.wrong_type(node, "a map", what);
        }
        ok
    }

    fn selector(&mut self, node: &Node, f: &super::fields::Fields<'_>) -> Option<StepSelector> {
        match (f.get("step"), f.get("component")) {
            (Some(id), None) => {
                if f.get("config").is_some() || f.get("with").is_some() {
                    self.error(
                        Diagnostic::error(
                            codes::WRONG_TYPE,
                            node.span,
                            "`config` and `with` select components, not step ids",
                        )
                        .label("use either `step: ID` or `component: NAME`"),
                    );
                }
                Some(StepSelector::Id(self.name(id, "step id")?))
            }
            (None, Some(kind)) => Some(StepSelector::Component {
                kind: self.string(kind, "`component`")?,
                config: f.get("config").and_then(|n| self.name(n, "config")),
                with: f.get("with").filter(|n| self.is_map(n, "`with`")).cloned(),
            }),
            _ => {
                self.error(
                    Diagnostic::error(
                        codes::MISSING_KEY,
                        node.span,
                        "say which steps: `step: ID` or `component: NAME`",
                    )
                    .label("exactly one of `step` and `component` is needed"),
                );
                None
            }
        }
    }

    fn mock(&mut self, node: &Node) -> Option<Mock> {
        let mut keys = SELECTOR_KEYS.to_vec();
        keys.extend(["returns", "raise", "description", "delay", "payload", "attributes", "status"]);
        let f = self.fields(node, "a mock", &keys)?;
        let select = self.selector(node, &f);
        let answers = match f.get("returns") {
            Some(Node { value: Value::List(items), .. }) => items.iter().filter_map(|a| self.answer(a)).collect(),
            Some(one) => self.answer(one).into_iter().collect(),
            None => {
                // The short form: the answer's keys on the mock itself.
                let short = Node::map(
                    node.as_map()
                        .unwrap_or_default()
                        .iter()
                        .filter(|e| !SELECTOR_KEYS.contains(&e.key.as_str()))
                        .cloned()
                        .collect(),
                    node.span,
                );
                self.answer(&short).into_iter().collect()
            }
        };
        Some(Mock { select: select?, answers, span: node.span })
    }

    fn answer(&mut self, node: &Node) -> Option<Answer> {
        let f =
            self.fields(node, "a mock answer", &["payload", "attributes", "status", "raise", "description", "delay"])?;
        let mut attributes = f.get("attributes").filter(|n| self.is_map(n, "`attributes`")).cloned();
        if let Some(status) = f.get("status") {
            // `status: 404` is short for `attributes: { status: 404 }` (what an HTTP request step reports).
            if self.count(status, "`status`", 100).is_some() {
                let entry = Entry { key: "status".into(), key_span: status.span, value: status.clone() };
                let mut entries = attributes.as_ref().and_then(Node::as_map).map(<[Entry]>::to_vec).unwrap_or_default();
                entries.retain(|e| e.key != "status");
                entries.push(entry);
                attributes = Some(Node::map(entries, status.span));
            }
        }
        Some(Answer {
            payload: f.get("payload").cloned(),
            attributes,
            raise: f.get("raise").and_then(|n| self.error_type(n)),
            description: f.get("description").and_then(|n| self.string(n, "`description`")).map(|s| s.value),
            delay: f.get("delay").and_then(|n| self.duration(n, "`delay`")).map(|d| d.value),
        })
    }

    fn expect(&mut self, node: &Node) -> Expect {
        let keys = ["payload", "payload_contains", "assert", "vars", "attributes", "error", "calls"];
        let Some(f) = self.fields(node, "`expect`", &keys) else { return Expect::default() };
        let asserts = match f.get("assert") {
            Some(n @ Node { value: Value::Str(_), .. }) => self.expr(n, "an assertion").into_iter().collect(),
            Some(n) => self.list(n, "`assert`", |lw, a| lw.expr(a, "an assertion")),
            None => Vec::new(),
        };
        Expect {
            payload: f.get("payload").cloned(),
            payload_contains: f.get("payload_contains").cloned(),
            asserts,
            vars: f.get("vars").filter(|n| self.is_map(n, "`vars`")).cloned(),
            attributes: f.get("attributes").filter(|n| self.is_map(n, "`attributes`")).cloned(),
            error: f.get("error").and_then(|n| self.error_type(n)),
            calls: f.get("calls").map(|n| self.list(n, "`calls`", |lw, c| lw.call_check(c))).unwrap_or_default(),
        }
    }

    fn call_check(&mut self, node: &Node) -> Option<CallCheck> {
        let mut keys = SELECTOR_KEYS.to_vec();
        keys.extend(["times", "at_least", "at_most", "called_with"]);
        let f = self.fields(node, "a call check", &keys)?;
        let select = self.selector(node, &f)?;
        let check = CallCheck {
            select,
            times: f.get("times").and_then(|n| self.count(n, "`times`", 0)),
            at_least: f.get("at_least").and_then(|n| self.count(n, "`at_least`", 0)),
            at_most: f.get("at_most").and_then(|n| self.count(n, "`at_most`", 0)),
            with: f.get("called_with").and_then(|n| self.expr(n, "`called_with`")),
            span: node.span,
        };
        if check.times.is_none() && check.at_least.is_none() && check.at_most.is_none() {
            self.error(
                Diagnostic::error(codes::MISSING_KEY, node.span, "a call check needs `times`, `at_least` or `at_most`")
                    .label("no count here"),
            );
        }
        Some(check)
    }
}
