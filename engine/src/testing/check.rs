//! Loading and checking test files: unknown flows and steps, assertion expressions, payload files, `now`.

use super::LoadedSuite;
use crate::compile::conditions::{self, assignment_as_value};
use crate::compile::scripts::{check_code, checking_engine};
use crate::load::{discover_tests, read_in, Loaded, ReadError, MAX_FLOW_FILE};
use crate::registry::{Registry, Role};
use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::ir::{StepKind, StepSelector};
use relais_dsl::{Diagnostic, Span};
use std::collections::HashMap;
use std::path::PathBuf;

/// Finds, parses and lowers the test files under `paths` into `loaded.suites`.
pub fn load_suites(paths: &[PathBuf], loaded: &mut Loaded) {
    for path in paths {
        let Ok(files) = discover_tests(path) else { continue };
        for file_path in files {
            let text = match read_in(&loaded.roots, &file_path, MAX_FLOW_FILE) {
                Ok(t) => t,
                Err(e) => {
                    let file = loaded.sources.add(file_path.display().to_string(), "");
                    let code = match &e {
                        ReadError::Outside { .. } => codes::OUTSIDE_PROJECT,
                        ReadError::NotRegular => codes::NOT_REGULAR_FILE,
                        _ => codes::IO_UNREADABLE,
                    };
                    loaded.diags.push(Diagnostic::error(
                        code,
                        Span::new(file, 0, 0),
                        match &e {
                            ReadError::Outside { root } => crate::load::outside_message(&file_path, root),
                            _ => format!("cannot read `{}`: {e}", file_path.display()),
                        },
                    ));
                    continue;
                }
            };
            let file = loaded.sources.add(file_path.display().to_string(), text.clone());
            let doc = match crate::load::Syntax::of(&file_path) {
                Some(crate::load::Syntax::Flow) if !text.trim().is_empty() => {
                    relais_dsl::syntax::flow::parse_tests(&text, file, &mut loaded.diags)
                }
                _ => crate::load::parse_text(&text, crate::load::Syntax::Yaml, file, &mut loaded.diags),
            };
            let Some(doc) = doc else { continue };
            if let Some(suite) = relais_dsl::lower::lower_test_suite(&doc, file, &mut loaded.diags) {
                loaded.suites.push(LoadedSuite { file, path: file_path, suite });
            }
        }
    }
}

/// Checks every loaded suite against the flows: the flow exists, mocked and counted steps exist and are
/// component steps, assertions compile, payload files exist, `now` is an RFC 3339 instant.
pub fn check_suites(loaded: &mut Loaded, registry: &Registry) {
    let engine = checking_engine();
    let functions = relais_stdlib::FunctionTable::of(&engine);
    let flow_names: Vec<String> = loaded.set.flows().map(|f| f.name.value.clone()).collect();
    let mut component_ids: HashMap<String, String> = HashMap::new();
    let mut other_ids: Vec<String> = Vec::new();
    for flow in loaded.set.flows() {
        for step in flow.all_steps() {
            if let Some(id) = &step.id {
                match &step.kind {
                    StepKind::Component(c) => {
                        component_ids.insert(id.value.clone(), c.kind.value.clone());
                    }
                    _ => other_ids.push(id.value.clone()),
                }
            }
        }
    }
    let step_components: Vec<&str> = registry.names(Role::Step).collect();
    let config_names: Vec<&str> = loaded.set.configs().map(|c| c.name.value.as_str()).collect();
    let routers = crate::compile::routes::routers(loaded);
    let mut found = Vec::new();
    for ls in &loaded.suites {
        let suite = &ls.suite;
        if !flow_names.contains(&suite.flow.value) {
            found.push(
                Diagnostic::error(
                    codes::TEST_UNKNOWN_FLOW,
                    suite.flow.span,
                    format!("flow `{}` is not defined", suite.flow.value),
                )
                .label("no flow of this name in the files under test")
                .maybe_help(did_you_mean(&suite.flow.value, flow_names.iter().map(String::as_str))),
            );
        }
        let check_select = |select: &StepSelector, found: &mut Vec<Diagnostic>| match select {
            StepSelector::Id(id) if !component_ids.contains_key(&id.value) => {
                let (message, help) = if other_ids.contains(&id.value) {
                    (
                        format!("step `{}` is not a component step", id.value),
                        Some(
                            "only component steps (`http.request`, `queue.publish`, ...) can be mocked or counted"
                                .to_string(),
                        ),
                    )
                } else {
                    let mut ids: Vec<&str> = component_ids.keys().map(String::as_str).collect();
                    ids.sort_unstable();
                    let listed = if ids.is_empty() {
                        "the flows under test have no component step with an `id`".to_string()
                    } else {
                        format!("the component steps with an id are: {}", ids.join(", "))
                    };
                    (
                        format!("no step has the id `{}`", id.value),
                        Some(did_you_mean(&id.value, ids.iter().copied()).unwrap_or(listed)),
                    )
                };
                found.push(
                    Diagnostic::error(codes::TEST_UNKNOWN_STEP, id.span, message)
                        .label("unknown step")
                        .maybe_help(help),
                );
            }
            StepSelector::Component { kind, .. } if !step_components.contains(&kind.value.as_str()) => found.push(
                Diagnostic::error(
                    codes::TEST_UNKNOWN_STEP,
                    kind.span,
                    format!("`{}` is not a step component", kind.value),
                )
                .label("unknown component")
                .maybe_help(did_you_mean(&kind.value, step_components.iter().copied())),
            ),
            StepSelector::Component { config: Some(config), .. } if !config_names.contains(&config.value.as_str()) => {
                found.push(
                    Diagnostic::error(
                        codes::TEST_UNKNOWN_CONFIG,
                        config.span,
                        format!("no config named `{}` in the files under test", config.value),
                    )
                    .label("unknown config: this selects no step")
                    .help(
                        did_you_mean(&config.value, config_names.iter().copied())
                            .unwrap_or_else(|| format!("the configs are: {}", config_names.join(", "))),
                    ),
                )
            }
            _ => {}
        };
        for case in &suite.cases {
            for mock in &case.mocks {
                check_select(&mock.select, &mut found);
            }
            for call in &case.expect.calls {
                check_select(&call.select, &mut found);
                if let Some(with) = &call.with {
                    found.extend(check_code(&engine, &functions, &loaded.sources, &with.code, with.span, with.origin));
                }
            }
            for a in &case.expect.asserts {
                let assignment = assignment_as_value(&engine, &a.code);
                found.extend(assignment.map(|at| conditions::diagnostic(&loaded.sources, a, at)));
                // An assignment Rhai refuses to compile is reported once, as RL0204.
                if assignment.is_none_or(|at| at.compiles) {
                    found.extend(check_code(&engine, &functions, &loaded.sources, &a.code, a.span, a.origin));
                }
            }
            if let Some(now) = &case.now {
                if chrono::DateTime::parse_from_rfc3339(&now.value).is_err() {
                    found.push(
                        Diagnostic::error(
                            codes::TEST_BAD_NOW,
                            now.span,
                            format!("`{}` is not an RFC 3339 instant", now.value),
                        )
                        .label("invalid instant")
                        .help("write it like `2024-07-26T09:15:30Z`"),
                    );
                }
            }
            if let Some(stores) = &case.input.stores {
                check_stores(loaded, stores, &mut found);
            }
            if let Some(file) = &case.input.payload_file {
                check_file(loaded, ls, file, &mut found);
            }
            if let Some(file) = case.request.as_ref().and_then(|r| r.body_file.as_ref()) {
                check_file(loaded, ls, file, &mut found);
            }
            super::check_source::check_case(loaded, &routers, &suite.flow.value, case, &mut found);
        }
    }
    loaded.diags.extend(found);
}

/// A file a case reads (`payload_file`, `body_file`), relative to the test file: inside the project, a regular
/// file, there.
fn check_file(loaded: &Loaded, ls: &LoadedSuite, file: &relais_dsl::Spanned<String>, found: &mut Vec<Diagnostic>) {
    let full = ls.path.parent().unwrap_or(std::path::Path::new(".")).join(&file.value);
    let admitted = loaded.roots.admit(&full);
    if let Err(outside) = &admitted {
        found.push(
            Diagnostic::error(codes::OUTSIDE_PROJECT, file.span, crate::load::outside_message(&full, &outside.root))
                .label("referenced here")
                .help(crate::load::OUTSIDE_HELP),
        );
    } else if std::fs::metadata(&full).is_ok_and(|m| !m.is_file()) {
        found.push(
            Diagnostic::error(codes::NOT_REGULAR_FILE, file.span, crate::load::not_regular_message(&full))
                .label("referenced here")
                .help(crate::load::NOT_REGULAR_HELP),
        );
    } else if !full.is_file() {
        found.push(
            Diagnostic::error(
                codes::FILE_NOT_FOUND,
                file.span,
                format!("cannot use `{}`: no such file", full.display()),
            )
            .label("referenced here")
            .help("paths are relative to the test file"),
        );
    }
}

/// `input.stores`: every name an `object_store` config, every value a map of entries.
fn check_stores(loaded: &Loaded, stores: &relais_dsl::syntax::Node, found: &mut Vec<Diagnostic>) {
    let known: Vec<&str> =
        loaded.set.configs().filter(|c| c.kind.value == "object_store").map(|c| c.name.value.as_str()).collect();
    let relais_dsl::syntax::Value::Map(entries) = &stores.value else { return };
    for entry in entries {
        if !known.contains(&entry.key.as_str()) {
            found.push(
                Diagnostic::error(
                    codes::TEST_UNKNOWN_STORE,
                    entry.key_span,
                    format!("no object_store config named `{}`", entry.key),
                )
                .label("unknown store")
                .maybe_help(did_you_mean(&entry.key, known.iter().copied())),
            );
        } else if !matches!(entry.value.value, relais_dsl::syntax::Value::Map(_)) {
            found.push(
                Diagnostic::error(codes::TEST_UNKNOWN_STORE, entry.value.span, "the entries of a store are a map")
                    .label("expected `{ key: value }`"),
            );
        }
    }
}
