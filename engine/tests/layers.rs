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

/// The layers, lowest first (ARCHITECTURE.md, "Layers"): a module may use the ones before its own.
/// `compile` (the check pipeline) sits above the registry with the commands.
const LAYERS: &[&[&str]] = &[
    &["event", "state", "script"],
    &["component"],
    &["plan"],
    &["runtime"],
    &["source"],
    &["registry"],
    &["components"],
    &["daemon", "incidents", "compile", "testing", "graph", "cli"],
];

/// `crate::X` for every module of a layer above `layer`.
fn above(layer: usize) -> Vec<String> {
    LAYERS[layer + 1..].iter().flat_map(|l| l.iter()).map(|m| format!("crate::{m}")).collect()
}

fn assert_layer(layer: usize, extra: &[&str]) {
    let mut forbidden = above(layer);
    forbidden.extend(extra.iter().map(|f| f.to_string()));
    let forbidden: Vec<&str> = forbidden.iter().map(String::as_str).collect();
    for module in LAYERS[layer] {
        assert_eq!(uses(module, &forbidden), Vec::<String>::new());
    }
}

#[test]
fn the_event_model_the_state_and_compiled_scripts_use_no_layer_above_them() {
    assert_layer(0, &[]);
}

#[test]
fn the_component_abstraction_knows_neither_the_plan_compiler_nor_the_runtime_nor_any_component() {
    assert_layer(1, &[]);
}

#[test]
fn the_plan_compiler_does_not_import_the_runtime_and_the_runtime_does_not_call_the_compiler() {
    assert_layer(2, &[]);
    assert_layer(3, &["crate::plan::compile", "crate::plan::build"]);
}

#[test]
fn sources_and_the_registry_name_no_built_in_component() {
    assert_layer(4, &[]);
    assert_layer(5, &[]);
}

#[test]
fn tracing_uses_no_layer_so_that_every_layer_may_make_spans() {
    let layered: Vec<String> = LAYERS.iter().flat_map(|l| l.iter()).map(|m| format!("crate::{m}::")).collect();
    let layered: Vec<&str> = layered.iter().map(String::as_str).collect();
    assert_eq!(uses("trace", &layered), Vec::<String>::new());
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
