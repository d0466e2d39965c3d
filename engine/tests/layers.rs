//! The engine's layering, read from its source: each module may use the layers below it and no other, so
//! that the plan compiler and the runtime do not depend on each other's internals in a cycle and the
//! daemon starts sources without knowing which kinds exist (ARCHITECTURE.md, "Layers").
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The code of a file, without comment lines (docs may name any module).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn module_files(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = src.join(module);
    let mut files = if dir.is_dir() { sources(&dir) } else { Vec::new() };
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        files.push(file);
    }
    assert!(!files.is_empty(), "no module `{module}`");
    files
}

/// Finds, in `module`, uses of any of `forbidden` (`crate::X` paths, or text such as a source kind's name).
fn uses(module: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in module_files(module) {
        let code = code(&path);
        for f in forbidden {
            if code.contains(f) {
                found.push(format!("{} uses `{f}`", path.display()));
            }
        }
    }
    found
}

#[test]
fn the_event_model_the_state_and_compiled_scripts_use_no_layer_above_them() {
    let above = [
        "crate::plan",
        "crate::runtime",
        "crate::component",
        "crate::source",
        "crate::registry",
        "crate::components",
        "crate::daemon",
        "crate::cli",
        "crate::testing",
        "crate::compile",
    ];
    for module in ["event", "state", "script"] {
        assert_eq!(uses(module, &above), Vec::<String>::new());
    }
}

#[test]
fn the_component_abstraction_knows_neither_the_plan_compiler_nor_the_runtime_nor_any_component() {
    let above = [
        "crate::plan",
        "crate::runtime",
        "crate::source",
        "crate::registry",
        "crate::components",
        "crate::daemon",
        "crate::cli",
        "crate::testing",
        "crate::compile",
    ];
    assert_eq!(uses("component", &above), Vec::<String>::new());
}

#[test]
fn the_plan_compiler_does_not_import_the_runtime_and_the_runtime_does_not_call_the_compiler() {
    let above_plan = [
        "crate::runtime",
        "crate::source",
        "crate::registry",
        "crate::components",
        "crate::daemon",
        "crate::cli",
        "crate::testing",
    ];
    assert_eq!(uses("plan", &above_plan), Vec::<String>::new());
    let above_runtime = [
        "crate::plan::compile",
        "crate::plan::build",
        "crate::source",
        "crate::registry",
        "crate::components",
        "crate::daemon",
        "crate::cli",
        "crate::testing",
        "crate::compile",
    ];
    assert_eq!(uses("runtime", &above_runtime), Vec::<String>::new());
}

#[test]
fn the_daemon_names_no_kind_of_source_and_no_component() {
    let kinds = [
        "crate::components",
        "\"http.listener\"",
        "\"scheduler\"",
        "\"queue.listener\"",
        "http_listener",
        "queue_listener",
    ];
    assert_eq!(uses("daemon", &kinds), Vec::<String>::new());
}

#[test]
fn the_registry_list_names_each_component_once_per_role() {
    let mut seen = std::collections::HashSet::new();
    for (spec, _) in relais_engine::components::registry().iter() {
        assert!(seen.insert((spec.name, spec.role)), "`{}` is registered twice as {}", spec.name, spec.role.describe());
    }
    assert!(seen.len() >= 14, "the built-in list lost components: {seen:?}");
}
