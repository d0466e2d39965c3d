//! Lowering of flow-test files (`*.test.yaml`) into [`TestSuite`]s, with the same unknown-key and type
//! checks as flow files.

use super::Lowerer;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::ir::{
    Answer, CallCheck, Expect, ExpectResponse, Mock, StepSelector, TestCase, TestInput, TestRequest, TestSuite,
};
use crate::span::Spanned;
use crate::syntax::{Entry, Node, Value};

const SELECTOR_KEYS: [&str; 4] = ["step", "component", "config", "with"];

/// The keys of a test file, each list the lowering's own: the editor schema of test files
/// (`relais schema --tests`) is checked against them.
pub mod keys {
    /// The file.
    pub const SUITE: [&str; 2] = ["flow", "tests"];
    /// A case.
    pub const CASE: [&str; 6] = ["now", "fire_time", "input", "request", "mocks", "expect"];
    /// `input`.
    pub const INPUT: [&str; 6] = ["payload", "payload_file", "media_type", "attributes", "vars", "stores"];
    /// `request`.
    pub const REQUEST: [&str; 6] = ["method", "path", "query", "headers", "body", "body_file"];
    /// `expect`.
    pub const EXPECT: [&str; 8] =
        ["payload", "payload_contains", "assert", "vars", "attributes", "error", "calls", "response"];
    /// `expect.response`.
    pub const RESPONSE: [&str; 4] = ["status", "headers", "body", "body_contains"];
    /// A mock's answer (also written on the mock itself).
    pub const ANSWER: [&str; 6] = ["payload", "attributes", "status", "raise", "description", "delay"];
    /// How a mock or a call check selects steps.
    pub const SELECTOR: [&str; 4] = super::SELECTOR_KEYS;
    /// A call check's counts (with [`SELECTOR`]).
    pub const CALL: [&str; 4] = ["times", "at_least", "at_most", "called_with"];
    /// The methods a test request may use.
    pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
}

use keys::METHODS;

/// What `request` or `fire_time` replaces in `input`: the listener or the scheduler makes the whole event.
const REPLACED_BY_SOURCE: [&str; 5] = ["payload", "payload_file", "media_type", "attributes", "vars"];

impl Lowerer<'_> {
    pub(crate) fn test_suite(&mut self, doc: &Node) -> Option<TestSuite> {
        let f = self.fields(doc, "a test file", &keys::SUITE)?;
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
        let f = self.fields(body, "a test case", &keys::CASE)?;
        let now = f.get("now").and_then(|n| self.string(n, "`now`"));
        let fire_time = f.get("fire_time").and_then(|n| self.string(n, "`fire_time`"));
        let input = match f.get("input") {
            Some(n) => self.test_input(n),
            None => TestInput::default(),
        };
        let request = f.get("request").and_then(|n| self.test_request(n));
        // A request or a tick makes the event itself: what `input` would put in it is refused, not dropped.
        let source = match (&request, &fire_time) {
            (Some(_), _) => {
                Some(("request", "the request is the input", "put the body, headers and query in `request`"))
            }
            (None, Some(_)) => Some((
                "fire_time",
                "a tick's event is made by the scheduler",
                "a scheduled flow starts with no payload and `attributes.fired_at`",
            )),
            (None, None) => None,
        };
        if let (Some((key, label, fix)), Some(input)) = (source, f.get("input")) {
            let replaced =
                input.as_map().unwrap_or_default().iter().filter(|e| REPLACED_BY_SOURCE.contains(&e.key.as_str()));
            for entry in replaced {
                self.error(
                    Diagnostic::error(
                        codes::CONFLICTING_FIELDS,
                        entry.key_span,
                        format!("`input.{}` and `{key}` both give the event", entry.key),
                    )
                    .label(label)
                    .help(format!("{fix}; with `{key}`, `input` takes only `stores`")),
                );
            }
        }
        if let (Some(_), Some(_)) = (&request, &fire_time) {
            if let Some(n) = f.get("fire_time") {
                self.error(
                    Diagnostic::error(
                        codes::CONFLICTING_FIELDS,
                        n.span,
                        "a case sends a `request` or fires at a `fire_time`, not both",
                    )
                    .label("remove one of them"),
                );
            }
        }
        let mocks = f.get("mocks").map(|n| self.list(n, "mocks", |lw, m| lw.mock(m))).unwrap_or_default();
        let expect = match f.get("expect") {
            Some(n) => self.expect(n),
            None => Expect::default(),
        };
        if let (None, Some(response)) = (&request, &expect.response) {
            if f.get("request").is_none() {
                self.error(
                    Diagnostic::error(
                        codes::MISSING_KEY,
                        response.span,
                        "a `response` is what a `request` gets: this case sends none",
                    )
                    .label("no request to answer")
                    .help("give the case `request: { method: POST, path: /..., body: ... }`"),
                );
            }
        }
        Some(TestCase { name, now, input, request, fire_time, mocks, expect, span: body.span })
    }

    fn test_request(&mut self, node: &Node) -> Option<TestRequest> {
        let f = self.fields(node, "`request`", &keys::REQUEST)?;
        let path = f.require(self, "path").and_then(|n| self.string(n, "`path`"));
        if let Some(p) = path.as_ref().filter(|p| !p.value.starts_with('/')) {
            self.error(
                Diagnostic::error(codes::BAD_VALUE, p.span, format!("`{}` is not a request path", p.value))
                    .label("a path starts with `/`")
                    .help(format!("write `/{}`", p.value)),
            );
        }
        let method = f.get("method").and_then(|n| self.string(n, "`method`"));
        if let Some(m) = method.as_ref().filter(|m| !METHODS.contains(&m.value.as_str())) {
            let upper = m.value.to_ascii_uppercase();
            let help = if METHODS.contains(&upper.as_str()) {
                Some(format!("methods are upper case: `{upper}`"))
            } else {
                crate::diagnostic::did_you_mean(&upper, METHODS)
            };
            self.error(
                Diagnostic::error(codes::BAD_VALUE, m.span, format!("`{}` is not an HTTP method", m.value))
                    .label("unknown method")
                    .maybe_help(help.or_else(|| Some(format!("one of {}", METHODS.join(", "))))),
            );
        }
        if f.get("body").is_some() && f.get("body_file").is_some() {
            self.error(
                Diagnostic::error(
                    codes::CONFLICTING_FIELDS,
                    node.span,
                    "`request` takes `body` or `body_file`, not both",
                )
                .label("remove one of them"),
            );
        }
        Some(TestRequest {
            method,
            path: path?,
            query: f.get("query").filter(|n| self.is_map(n, "`query`")).cloned(),
            headers: f.get("headers").filter(|n| self.is_map(n, "`headers`")).cloned(),
            body: f.get("body").cloned(),
            body_file: f.get("body_file").and_then(|n| self.string(n, "`body_file`")),
            span: node.span,
        })
    }

    fn expect_response(&mut self, node: &Node) -> Option<ExpectResponse> {
        let f = self.fields(node, "`response`", &keys::RESPONSE)?;
        let status = f.get("status").and_then(|n| self.count(n, "`status`", 100));
        if let Some(s) = status.as_ref().filter(|s| s.value > 599) {
            self.error(
                Diagnostic::error(codes::BAD_VALUE, s.span, format!("{} is not an HTTP status", s.value))
                    .label("statuses are 100 to 599"),
            );
        }
        Some(ExpectResponse {
            status,
            headers: f.get("headers").filter(|n| self.is_map(n, "`headers`")).cloned(),
            body: f.get("body").cloned(),
            body_contains: f.get("body_contains").cloned(),
            span: node.span,
        })
    }

    fn test_input(&mut self, node: &Node) -> TestInput {
        let Some(f) = self.fields(node, "`input`", &keys::INPUT) else {
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
        let mut allowed = SELECTOR_KEYS.to_vec();
        allowed.push("returns");
        allowed.extend(keys::ANSWER);
        let f = self.fields(node, "a mock", &allowed)?;
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
        let f = self.fields(node, "a mock answer", &keys::ANSWER)?;
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
        let Some(f) = self.fields(node, "`expect`", &keys::EXPECT) else { return Expect::default() };
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
            response: f.get("response").and_then(|n| self.expect_response(n)),
        }
    }

    fn call_check(&mut self, node: &Node) -> Option<CallCheck> {
        let mut allowed = SELECTOR_KEYS.to_vec();
        allowed.extend(keys::CALL);
        let f = self.fields(node, "a call check", &allowed)?;
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
