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

/// An `objectives:` block: every objective present or not, with or without its window.
fn objectives() -> impl Strategy<Value = Objectives> {
    let window = proptest::option::of((1u64..90_000).prop_map(|s| sp(Duration::from_secs(s))));
    let percent = prop_oneof![Just(2.0), Just(0.5), Just(33.3), Just(100.0), (1u32..100).prop_map(f64::from)];
    (
        proptest::option::of((percent, window.clone())),
        proptest::option::of((1u64..10_000, window.clone())),
        proptest::option::of((1u32..1000, window)),
        proptest::option::of(1u64..200_000),
        proptest::option::of(ident()),
    )
        .prop_map(|(share, p99, dead, missed, alert)| Objectives {
            error_share: share.map(|(p, over)| Objective { max: sp(p), over }),
            p99_latency: p99.map(|(ms, over)| Objective { max: sp(Duration::from_millis(ms)), over }),
            dead_letters_per_hour: dead.map(|(n, over)| Objective { max: sp(n), over }),
            schedule_missed: missed.map(|s| sp(Duration::from_secs(s))),
            alert_flow: alert.map(sp),
            span: Span::default(),
        })
}

fn module() -> impl Strategy<Value = Module> {
    (ident(), steps(), proptest::option::of(1u32..100), text(), proptest::option::of(objectives())).prop_map(
        |(name, steps, mc, prop, objectives)| Module {
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
                objectives,
                span: Span::default(),
            }],
        },
    )
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

/// `text` with a comment line `# cN` before each line the mask picks (at that line's indentation), and a
/// comment `# tN` after the value of some, among the lines that start a key or an item (never inside a block
/// scalar).
fn with_comments(text: &str, mask: &[bool]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut added = Vec::new();
    let starts_node = |l: &str| {
        let t = l.trim_start().strip_prefix("- ").unwrap_or(l.trim_start());
        t.split_once(':').is_some_and(|(k, _)| !k.is_empty() && !k.contains(' ') || k.starts_with('"'))
    };
    for (i, line) in text.lines().enumerate() {
        if starts_node(line) && mask.get(i % mask.len().max(1)).copied().unwrap_or(false) {
            let indent = line.len() - line.trim_start().len();
            let comment = format!("c{i}");
            out.push_str(&format!("{}# {comment}\n", " ".repeat(indent)));
            added.push(comment);
        }
        out.push_str(line);
        // And after the code of a `key: value` line the mask picks at the next position.
        let scalar_end = !line.ends_with(':') && !line.trim_end_matches(['-', '+']).ends_with('|');
        if starts_node(line) && scalar_end && mask.get((i + 1) % mask.len().max(1)).copied().unwrap_or(false) {
            let comment = format!("t{i}");
            out.push_str(&format!(" # {comment}"));
            added.push(comment);
        }
        out.push('\n');
    }
    (out, added)
}

fn format(
    text: &str,
    from: relais_engine::load::Syntax,
    to: relais_engine::load::Syntax,
) -> Result<String, TestCaseError> {
    relais_engine::cli::fmt::format_text("x", text, from, to).map_err(|(_, d)| {
        TestCaseError::fail(format!("{:?}\n{text}", d.iter().map(|d| &d.message).collect::<Vec<_>>()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn comments_survive_formatting_and_conversion_and_formatting_stays_idempotent(
        m in module(),
        mask in proptest::collection::vec(any::<bool>(), 1..16),
    ) {
        use relais_engine::load::Syntax::{Flow, Yaml};
        let (text, added) = with_comments(&yaml::print(&raise_module(&m)), &mask);
        // Each comment's text, ended by the line's end or by the next comment on its line.
        let kept = |out: &str| {
            added.iter().all(|c| ["\n", " #", " //"].iter().any(|end| {
                out.contains(&format!("# {c}{end}")) || out.contains(&format!("// {c}{end}"))
            }))
        };
        let formatted = format(&text, Yaml, Yaml)?;
        prop_assert!(kept(&formatted), "yaml lost a comment:\n{}\n--- from ---\n{}", formatted, text);
        prop_assert_eq!(format(&formatted, Yaml, Yaml)?, formatted.clone());
        prop_assert_eq!(reparse(&formatted, false).map_err(TestCaseError::fail)?, reparse(&text, false).map_err(TestCaseError::fail)?);
        let as_flow = format(&formatted, Yaml, Flow)?;
        prop_assert!(kept(&as_flow), "flow lost a comment:\n{}\n--- from ---\n{}", as_flow, formatted);
        prop_assert_eq!(format(&as_flow, Flow, Flow)?, as_flow.clone());
        let back = format(&as_flow, Flow, Yaml)?;
        prop_assert!(kept(&back), "yaml from flow lost a comment:\n{}\n--- from ---\n{}", back, as_flow);
        prop_assert_eq!(format(&back, Yaml, Yaml)?, back.clone());
        // Converting again keeps every comment. YAML writes a route as a dash alone on its line with the
        // steps below, and has no place for a comment before the route's first step other than before the
        // route, so one written inside a `.flow` route moves before it: only presence is asserted here.
        let again = format(&back, Yaml, Flow)?;
        prop_assert!(kept(&again));
        prop_assert_eq!(format(&again, Flow, Yaml)?, back);
    }
}

/// `.flow` text with `// cN` lines before the lines the mask picks and `// tN` after others' code.
fn with_flow_comments(text: &str, mask: &[bool]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut added = Vec::new();
    let pick = |i: usize| mask.get(i % mask.len().max(1)).copied().unwrap_or(false);
    for (i, line) in text.lines().enumerate() {
        if pick(i) && !line.trim().is_empty() {
            let indent = line.len() - line.trim_start().len();
            added.push(format!("c{i}"));
            out.push_str(&format!("{}// c{i}\n", " ".repeat(indent)));
        }
        out.push_str(line);
        if pick(i + 1) && !line.trim().is_empty() && !line.trim_start().starts_with("//") {
            added.push(format!("t{i}"));
            out.push_str(&format!(" // t{i}"));
        }
        out.push('\n');
    }
    (out, added)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn flow_comments_survive_formatting_and_conversion(
        m in module(),
        mask in proptest::collection::vec(any::<bool>(), 1..16),
    ) {
        use relais_engine::load::Syntax::{Flow, Yaml};
        let (text, added) = with_flow_comments(&flow::print(&raise_module(&m)), &mask);
        let kept = |out: &str| {
            added.iter().all(|c| ["\n", " #", " //"].iter().any(|end| {
                out.contains(&format!("# {c}{end}")) || out.contains(&format!("// {c}{end}"))
            }))
        };
        let formatted = format(&text, Flow, Flow)?;
        prop_assert!(kept(&formatted), "flow lost a comment:\n{}\n--- from ---\n{}", formatted, text);
        prop_assert_eq!(format(&formatted, Flow, Flow)?, formatted.clone());
        prop_assert_eq!(reparse(&formatted, true).map_err(TestCaseError::fail)?, reparse(&text, true).map_err(TestCaseError::fail)?);
        let as_yaml = format(&formatted, Flow, Yaml)?;
        prop_assert!(kept(&as_yaml), "yaml lost a comment:\n{}\n--- from ---\n{}", as_yaml, formatted);
        prop_assert_eq!(format(&as_yaml, Yaml, Yaml)?, as_yaml.clone());
    }
}
