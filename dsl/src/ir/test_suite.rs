//! Flow tests (`*.test.yaml`): a suite names the flow under test; each case gives an input event, mocks for
//! component steps and expectations. Checked by `relais check` like any flow file, run by `relais test`.

use super::{ErrorType, Expr};
use crate::span::{Span, Spanned};
use crate::syntax::Node;
use std::time::Duration;

/// One test file.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSuite {
    /// The flow under test.
    pub flow: Spanned<String>,
    /// The cases, in file order.
    pub cases: Vec<TestCase>,
    /// The whole file.
    pub span: Span,
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Its name (a sentence).
    pub name: Spanned<String>,
    /// Fixed "now" (RFC 3339) for `now()`, `today()`, `tomorrow()` in scripts.
    pub now: Option<Spanned<String>>,
    /// The event fed to the flow.
    pub input: TestInput,
    /// An HTTP request sent through the flow's `http.listener` (route matching, attributes, response
    /// mapping) instead of an event fed to the flow directly.
    pub request: Option<TestRequest>,
    /// The instant (RFC 3339) a scheduled flow fires at: its `attributes.fired_at`, and "now" for its
    /// scripts unless `now` says otherwise.
    pub fire_time: Option<Spanned<String>>,
    /// Answers for component steps.
    pub mocks: Vec<Mock>,
    /// What must hold afterwards.
    pub expect: Expect,
    /// The whole case.
    pub span: Span,
}

/// The input event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TestInput {
    /// Inline payload.
    pub payload: Option<Node>,
    /// Payload read from a file, relative to the test file.
    pub payload_file: Option<Spanned<String>>,
    /// Media type of the payload (default `application/json`).
    pub media_type: Option<Spanned<String>>,
    /// Attributes (HTTP method, params, headers...).
    pub attributes: Option<Node>,
    /// Variables.
    pub vars: Option<Node>,
    /// Object-store entries present before the case runs (`{ store: { key: value } }`): a key already
    /// taken by `idempotent`, a warm cache.
    pub stores: Option<Node>,
}

/// A request a case sends to the flow's listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRequest {
    /// The method (default `GET`, or `POST` when there is a body).
    pub method: Option<Spanned<String>>,
    /// The path as a caller sends it (it may hold a `?query`).
    pub path: Spanned<String>,
    /// Query parameters, appended to the path (a list value repeats the key).
    pub query: Option<Node>,
    /// Request headers.
    pub headers: Option<Node>,
    /// The body: a string is sent as written, anything else as JSON.
    pub body: Option<Node>,
    /// The body read from a file, relative to the test file.
    pub body_file: Option<Spanned<String>>,
    /// The whole request.
    pub span: Span,
}

/// What the caller of a listener flow must get.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectResponse {
    /// The status code.
    pub status: Option<Spanned<u32>>,
    /// Headers the response carries (names case-insensitive, values exact).
    pub headers: Option<Node>,
    /// The body equals this: JSON equality when it is JSON, the text otherwise.
    pub body: Option<Node>,
    /// The body (JSON) contains this, as `payload_contains` does.
    pub body_contains: Option<Node>,
    /// The whole expectation.
    pub span: Span,
}

/// Which steps a mock or a call check is about.
#[derive(Debug, Clone, PartialEq)]
pub enum StepSelector {
    /// The step with this id.
    Id(Spanned<String>),
    /// Every step of a component kind, optionally with a config and parameters containing `with`.
    Component {
        /// Component name (`http.request`).
        kind: Spanned<String>,
        /// Config name.
        config: Option<Spanned<String>>,
        /// Parameters the step must have (subset match: `{ method: PUT }`).
        with: Option<Node>,
    },
}

/// What a mocked step does on one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// New payload (absent: unchanged).
    pub payload: Option<Node>,
    /// New attributes (absent: unchanged).
    pub attributes: Option<Node>,
    /// Raise this error instead.
    pub raise: Option<Spanned<ErrorType>>,
    /// Description of the raised error.
    pub description: Option<String>,
    /// Wait this long first.
    pub delay: Option<Duration>,
}

/// A mock: successive calls get successive answers; the last one repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Mock {
    /// Steps it replaces.
    pub select: StepSelector,
    /// Answers, in call order.
    pub answers: Vec<Answer>,
    /// The whole mock.
    pub span: Span,
}

/// A check on how often a step was called.
#[derive(Debug, Clone, PartialEq)]
pub struct CallCheck {
    /// Steps counted.
    pub select: StepSelector,
    /// Exactly this many calls.
    pub times: Option<Spanned<u32>>,
    /// At least.
    pub at_least: Option<Spanned<u32>>,
    /// At most.
    pub at_most: Option<Spanned<u32>>,
    /// Count only calls whose event satisfies this (`payload`, `vars`, `attributes` of the call).
    pub with: Option<Expr>,
    /// The whole check.
    pub span: Span,
}

/// Expectations of a case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// The payload equals this (JSON equality).
    pub payload: Option<Node>,
    /// The payload contains this (maps: subset of keys; lists: elements in order).
    pub payload_contains: Option<Node>,
    /// Rhai conditions over the result event.
    pub asserts: Vec<Expr>,
    /// Variables contain these.
    pub vars: Option<Node>,
    /// Attributes contain these.
    pub attributes: Option<Node>,
    /// The flow fails with this error type (or a descendant).
    pub error: Option<Spanned<ErrorType>>,
    /// Call counts.
    pub calls: Vec<CallCheck>,
    /// What the caller gets (cases with a `request`).
    pub response: Option<ExpectResponse>,
}
