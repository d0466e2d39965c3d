//! `relais fmt` on flow-test files: every test file of the reference integration and of the test fixtures
//! formats to YAML that reads back to the same document and formats to itself again; `fmt --check` names
//! an unformatted test file, and a broken one is refused rather than rewritten.
#![allow(clippy::unwrap_used)]

use relais_engine::cli::fmt::format_test_text;
use relais_engine::cli::Outcome;
use relais_engine::load::Syntax;
use relais_tests::relais;
use std::path::{Path, PathBuf};

fn test_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            test_files(&path, out);
        } else if path.to_string_lossy().ends_with(".test.yaml") {
            out.push(path);
        }
    }
}

fn yaml(text: &str) -> serde_json::Value {
    serde_yaml::from_str(text).unwrap()
}

#[test]
fn every_test_file_formats_to_the_same_document_and_formatting_is_idempotent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    test_files(&root.join("../flows"), &mut files);
    test_files(&root.join("fixtures/testing"), &mut files);
    assert!(files.len() > 30);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.display().to_string();
        let once =
            format_test_text(&name, &text, Syntax::Yaml, Syntax::Yaml).unwrap_or_else(|_| panic!("{name}")).unwrap();
        assert_eq!(yaml(&once), yaml(&text), "{name}: formatting changed the document");
        let twice = format_test_text(&name, &once, Syntax::Yaml, Syntax::Yaml).unwrap().unwrap();
        assert_eq!(twice, once, "{name}: formatting is not idempotent");
    }
}

#[test]
fn fmt_rewrites_an_unformatted_test_file_and_check_names_it() {
    let dir = std::env::temp_dir().join(format!("relais-fmt-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("orders.test.yaml");
    // Indentation and spacing are canonical; the flow map is kept (spaced canonically).
    std::fs::write(&file, "flow: take_order\ntests:\n    a case:\n        request: {path: /orders/x, body: {id: 1}}\n")
        .unwrap();
    let (outcome, out) = relais(&["fmt", "--check", dir.to_str().unwrap()]);
    assert_eq!(outcome, Outcome::Findings);
    assert!(out.contains("would reformat") && out.contains("orders.test.yaml"), "{out}");
    let (outcome, _) = relais(&["fmt", dir.to_str().unwrap()]);
    assert_eq!(outcome, Outcome::Success);
    let formatted = std::fs::read_to_string(&file).unwrap();
    assert!(formatted.contains("\n  a case:\n    request: { path: /orders/x, body: { id: 1 } }\n"), "{formatted}");
    assert_eq!(relais(&["fmt", "--check", dir.to_str().unwrap()]).0, Outcome::Success);
}

#[test]
fn a_test_file_that_does_not_check_is_refused_not_rewritten() {
    let text = "flow: take_order\ntests:\n  a case:\n    request: { verb: POST, path: /x }\n";
    let refused = format_test_text("bad.test.yaml", text, Syntax::Yaml, Syntax::Yaml);
    let Err((_, diags)) = refused else { panic!("a test file with an unknown key was formatted") };
    assert!(diags.iter().any(|d| d.message.contains("verb")), "{diags:?}");
}

#[test]
fn relais_schema_tests_prints_the_schema_of_test_files() {
    let (outcome, out) = relais(&["schema", "--tests"]);
    assert_eq!(outcome, Outcome::Success);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(schema["title"], "relais flow-test file");
    assert!(schema["$defs"]["Request"]["properties"]["path"].is_object(), "{schema}");
    let (_, flows) = relais(&["schema"]);
    assert_ne!(out, flows, "without --tests the flow-file schema is printed");
}
