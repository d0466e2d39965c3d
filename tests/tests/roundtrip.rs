//! Property tests: parse -> fmt -> parse is the identity on the IR, for YAML, for `.flow`, and for conversion
//! in both directions. Modules are generated as IR (every step kind, tricky strings), raised to the canonical
//! tree, printed, parsed and lowered again.

use proptest::prelude::*;
use relais_dsl::ir::*;
use relais_dsl::print::{flow, raise::raise_module, yaml};
use relais_dsl::syntax::{Entry, Node, Value};
use relais_dsl::{Diagnostics, FileId, Span, Spanned};
use std::time::Duration;

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(v, Span::default())
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}".prop_filter("keywords read as other values", |s| {
        !matches!(s.as_str(), "true" | "false" | "null" | "on" | "off" | "yes" | "no" | "y" | "n")
    })
}

/// Text that stresses quoting: quotes, colons, hashes, braces, unicode, leading/trailing spaces, newlines.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}",
        // Templates have no escape for a literal `#[`, so generated text never holds one.
        "[a-z]{1,5}: [a-z#'\"{}\\[\\],]{0,6}".prop_map(|s| s.replace("#[", "# [")),
        "[ -~]{0,16}".prop_map(|s| s.replace("#[", "# [").replace("${", "$ {")),
        Just("Élodie Lefèvre — 東京".to_string()),
        Just("line one\nline two\n".to_string()),
        Just(" padded ".to_string()),
        Just("true".to_string()),
        Just("0012".to_string()),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![Just("payload"), Just("vars.total + 1"), Just("#{ a: [1, 2], b: \"]\" }"), Just("payload.items[0]")]
        .prop_map(|c| Expr { code: c.to_string(), span: Span::default(), origin: Default::default() })
}

fn template() -> impl Strategy<Value = Template> {
    (text(), proptest::option::of(expr())).prop_map(|(t, e)| {
        let source = match &e {
            Some(e) => format!("{t}#[{}]", e.code),
            None => t.clone(),
        };
        let mut parts = vec![];
        if !t.is_empty() || e.is_none() {
            parts.push(TemplatePart::Literal(t));
        }
        parts.extend(e.map(TemplatePart::Expr));
        Template { source, parts, span: Span::default() }
    })
}

fn literal() -> impl Strategy<Value = Node> {
    prop_oneof![
        text().prop_map(|t| Node::string(t, Span::default())),
        any::<i32>().prop_map(|i| Node::new(Value::Int(i.into()), Span::default())),
        any::<bool>().prop_map(|b| Node::new(Value::Bool(b), Span::default())),
        Just(Node::new(Value::Null, Span::default())),
    ]
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![literal().prop_map(Data::Literal), expr().prop_map(Data::Expr)]
}

fn duration() -> impl Strategy<Value = Spanned<Duration>> {
    (1u64..100_000_000).prop_map(|ms| sp(Duration::from_millis(ms)))
}

fn leaf_step() -> impl Strategy<Value = StepKind> {
    prop_oneof![
        data().prop_map(|value| StepKind::SetPayload { value, media_type: None }),
        (data(), "[a-z]+/[a-z]+").prop_map(|(value, mt)| StepKind::SetPayload { value, media_type: Some(sp(mt)) }),
        (ident(), data()).prop_map(|(n, value)| StepKind::SetVariable { name: sp(n), value }),
        ident().prop_map(|n| StepKind::RemoveVariable { name: sp(n) }),
        expr().prop_map(|e| StepKind::Transform { script: Script::Inline(e) }),
        "[a-z]{1,6}/[a-z]{1,6}\\.rhai".prop_map(|p| StepKind::Transform { script: Script::File(sp(p)) }),
        (proptest::option::of(0usize..5), template(), proptest::option::of(ident())).prop_map(|(l, message, c)| {
            StepKind::Logger { level: l.map(|i| sp(LogLevel::ALL[i].0)), message, category: c.map(sp) }
        }),
        (ident(), proptest::option::of(ident()))
            .prop_map(|(n, t)| StepKind::FlowRef { name: sp(n), target: t.map(sp) }),
        ("[A-Z]{1,5}:[A-Z_]{1,8}", proptest::option::of(template())).prop_map(|(t, d)| StepKind::RaiseError {
            error_type: sp(ErrorType::parse(&t).unwrap_or(ErrorType { namespace: "APP".into(), name: "X".into() })),
            description: d,
        }),
        "[a-z]{1,6}\\.schema\\.json".prop_map(|s| StepKind::Validate { schema: sp(s) }),
        (
            expr(),
            proptest::option::of(ident()),
            proptest::option::of(duration()),
            proptest::option::of(duration()),
            proptest::option::of(ident())
        )
            .prop_map(|(key, store, ttl, claim_timeout, target)| StepKind::Idempotent {
                key,
                store: store.map(sp),
                ttl,
                claim_timeout,
                target: target.map(sp)
            }),
        (ident(), proptest::option::of(ident()), "[A-Z]{3,6}").prop_map(|(kind, config, method)| StepKind::Component(
            Component {
                kind: sp(format!("x.{kind}")),
                config: config.map(sp),
                params: Node::map(
                    vec![Entry {
                        key: "method".into(),
                        key_span: Span::default(),
                        value: Node::string(method, Span::default())
                    }],
                    Span::default()
                ),
                span: Span::default(),
            }
        )),
    ]
}

fn step(kind: StepKind, id: Option<String>) -> Step {
    Step { id: id.map(sp), kind, span: Span::default() }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let leaf = (leaf_step(), proptest::option::of(ident())).prop_map(|(k, id)| step(k, id));
    leaf.prop_recursive(3, 24, 4, |inner| {
        let list = proptest::collection::vec(inner.clone(), 0..3);
        // A scope without steps is refused (RL0112), so scopes hold at least one.
        let scope = proptest::collection::vec(inner, 1..3);
        prop_oneof![
            (expr(), list.clone(), proptest::option::of(list.clone())).prop_map(|(c, s, o)| step(
                StepKind::Choice { when: vec![Branch { when: c, steps: s, span: Span::default() }], otherwise: o },
                None
            )),
            (proptest::option::of(expr()), proptest::option::of(1u32..10), scope.clone()).prop_map(|(c, b, s)| step(
                StepKind::Foreach { collection: c, batch_size: b.map(sp), counter: None, root_message: None, steps: s },
                None
            )),
            (proptest::option::of(duration()), list.clone(), list.clone()).prop_map(|(t, a, b)| step(
                StepKind::ScatterGather {
                    timeout: t,
                    max_concurrency: None,
                    routes: vec![Route { steps: a, span: Span::default() }, Route { steps: b, span: Span::default() }]
                },
                None
            )),
            (scope.clone(), any::<bool>(), list.clone()).prop_map(|(s, cont, h)| step(
                StepKind::Try {
                    steps: s,
                    on_error: vec![Handler {
                        action: if cont { HandlerAction::Continue } else { HandlerAction::Propagate },
                        types: vec![sp(ErrorType { namespace: "HTTP".into(), name: "NOT_FOUND".into() })],
                        when: None,
                        steps: h,
                        span: Span::default()
                    }]
                },
                None
            )),
            (proptest::option::of(0u32..9), proptest::option::of(duration()), any::<bool>(), scope.clone()).prop_map(
                |(r, i, rules, s)| {
                    let types = |name: &str| match rules {
                        true => vec![sp(ErrorType { namespace: "HTTP".into(), name: name.into() })],
                        false => Vec::new(),
                    };
                    step(
                        StepKind::UntilSuccessful {
                            max_retries: r.map(sp),
                            backoff: Backoff { initial: i, ..Backoff::default() },
                            retry_on: types("SERVER_ERROR"),
                            no_retry_on: types("INTERNAL_SERVER_ERROR"),
                            steps: s,
                        },
                        None,
                    )
                }
            ),
            (proptest::option::of(1u32..9), scope)
                .prop_map(|(m, s)| step(StepKind::Async { max_concurrency: m.map(sp), steps: s }, None)),
        ]
    })
    .prop_map(|s| vec![s])
}

fn module() -> impl Strategy<Value = Module> {
    (ident(), steps(), proptest::option::of(1u32..100), text()).prop_map(|(name, steps, mc, prop)| Module {
        file: FileId(0),
        imports: vec![sp("common.yaml".to_string())],
        properties: vec![Property { name: sp("crm.base_url".into()), value: Node::string(prop, Span::default()) }],
        configs: vec![],
        flows: vec![Flow {
            name: sp(name),
            kind: FlowKind::Flow,
            source: None,
            steps,
            on_error: vec![],
            max_concurrency: mc.map(sp),
            initial_state: None,
            span: Span::default(),
        }],
    })
}

fn reparse(text: &str, is_flow: bool) -> Result<serde_json::Value, String> {
    let mut diags = Diagnostics::new();
    let doc = if is_flow {
        relais_dsl::syntax::flow::parse(text, FileId(0), &mut diags)
    } else {
        relais_dsl::syntax::yaml::parse(text, FileId(0), &mut diags)
    };
    let module = doc.map(|d| relais_dsl::lower::lower_module(&d, FileId(0), &mut diags));
    match module {
        Some(m) if !diags.has_errors() => serde_json::to_value(&m).map_err(|e| e.to_string()),
        _ => Err(format!("{:?}\n--- text ---\n{text}", diags.iter().map(|d| &d.message).collect::<Vec<_>>())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn printing_then_parsing_gives_back_the_same_ir_in_both_syntaxes(m in module()) {
        let expected = serde_json::to_value(&m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let doc = raise_module(&m);
        let as_yaml = yaml::print(&doc);
        let as_flow = flow::print(&doc);
        prop_assert_eq!(reparse(&as_yaml, false).map_err(TestCaseError::fail)?, expected.clone(), "yaml:\n{}", as_yaml);
        prop_assert_eq!(reparse(&as_flow, true).map_err(TestCaseError::fail)?, expected.clone(), "flow:\n{}", as_flow);
    }

    #[test]
    fn converting_yaml_to_flow_and_back_is_stable(m in module()) {
        let doc = raise_module(&m);
        let as_yaml = yaml::print(&doc);
        let mut diags = Diagnostics::new();
        let back = relais_dsl::syntax::yaml::parse(&as_yaml, FileId(0), &mut diags).map(|d| relais_dsl::lower::lower_module(&d, FileId(0), &mut diags));
        let back = back.ok_or_else(|| TestCaseError::fail("yaml did not parse"))?;
        let as_flow = flow::print(&raise_module(&back));
        let again = relais_dsl::syntax::flow::parse(&as_flow, FileId(0), &mut diags).map(|d| relais_dsl::lower::lower_module(&d, FileId(0), &mut diags));
        let again = again.ok_or_else(|| TestCaseError::fail(format!("flow did not parse:\n{as_flow}")))?;
        prop_assert_eq!(yaml::print(&raise_module(&again)), as_yaml);
        prop_assert_eq!(flow::print(&raise_module(&again)), as_flow);
    }
}
