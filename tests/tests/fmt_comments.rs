//! `relais fmt` keeps comments: formatted commented files in both syntaxes (snapshots), conversions both ways
//! keeping every comment, formatting that is idempotent so `fmt --check` passes on what `fmt` wrote, and the
//! `--to` safety rules (no overwrite without `--force`, `--out DIR`), and the hand-written layout YAML keeps
//! (anchors, flow maps, blank lines, duration units).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_engine::cli::fmt::format_text;
use relais_engine::cli::Outcome;
use relais_engine::load::Syntax;
use relais_tests::{fixtures, relais};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("fmt").join(name)).unwrap()
}

fn format(text: &str, from: Syntax, to: Syntax) -> String {
    format_text("input", text, from, to).unwrap_or_else(|(_, diags)| {
        panic!("does not format: {:?}\n{text}", diags.iter().map(|d| &d.message).collect::<Vec<_>>())
    })
}

/// The comment texts of a file, in order (markers and surrounding space removed).
fn comments(text: &str, syntax: Syntax) -> Vec<String> {
    let marker = match syntax {
        Syntax::Yaml => " #",
        Syntax::Flow => " //",
    };
    text.lines()
        .filter_map(|l| {
            let padded = format!(" {l}");
            // `#[` starts an expression, not a comment.
            let (at, _) = padded.match_indices(marker).find(|(i, _)| !padded[i + marker.len()..].starts_with('['))?;
            Some(padded[at + marker.len()..].trim().to_string())
        })
        .collect()
}

const YAML_COMMENTS: &[&str] = &[
    "Orders from the shop to the CRM.",
    "shared configs",
    "the CRM is slow on Mondays",
    "the sandbox",
    "Orders arrive here.",
    "the shop posts",
    "say what came in",
    "with its id",
    "three tries",
    "the push itself",
    "big orders",
    "a big one",
    "anything else",
    "The end.",
];

#[test]
fn a_commented_yaml_file_formats_with_every_comment_at_its_node() {
    let text = fixture("commented.yaml");
    let formatted = format(&text, Syntax::Yaml, Syntax::Yaml);
    insta::assert_snapshot!("commented_yaml_formatted", formatted);
    let mut found = comments(&formatted, Syntax::Yaml);
    // The `#` line inside the block scalar is content, and stays in it.
    assert!(formatted.contains("  # a Rhai comment inside the block: content, not YAML\n"), "{formatted}");
    found.retain(|c| !c.starts_with("a Rhai comment"));
    assert_eq!(found, YAML_COMMENTS);
    assert_eq!(format(&formatted, Syntax::Yaml, Syntax::Yaml), formatted, "formatting is idempotent");
}

#[test]
fn a_commented_flow_file_formats_with_every_comment_at_its_statement() {
    let text = fixture("commented.flow");
    let formatted = format(&text, Syntax::Flow, Syntax::Flow);
    insta::assert_snapshot!("commented_flow_formatted", formatted);
    assert!(formatted.contains("#[payload.id // an expression, not a comment]"), "{formatted}");
    let found = comments(&formatted, Syntax::Flow);
    for expected in
        ["Orders arrive here,", "posted by the shop.", "three tries", "the push itself", "a big one", "The end."]
    {
        assert!(found.contains(&expected.to_string()), "{expected} kept: {found:?}");
    }
    assert_eq!(found.len(), 14, "{found:?}");
    assert_eq!(format(&formatted, Syntax::Flow, Syntax::Flow), formatted, "formatting is idempotent");
}

#[test]
fn yaml_to_flow_to_yaml_keeps_every_comment() {
    let text = fixture("commented.yaml");
    let as_flow = format(&text, Syntax::Yaml, Syntax::Flow);
    insta::assert_snapshot!("commented_yaml_as_flow", as_flow);
    let mut in_flow = comments(&as_flow, Syntax::Flow);
    in_flow.sort();
    let mut expected: Vec<String> = YAML_COMMENTS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(in_flow, expected);

    let back = format(&as_flow, Syntax::Flow, Syntax::Yaml);
    insta::assert_snapshot!("commented_yaml_as_flow_as_yaml", back);
    let mut in_yaml = comments(&back, Syntax::Yaml);
    in_yaml.retain(|c| !c.starts_with("a Rhai comment"));
    in_yaml.sort();
    assert_eq!(in_yaml, expected);
    // Once converted, the text is stable: converting again gives the same files.
    assert_eq!(format(&back, Syntax::Yaml, Syntax::Flow), as_flow);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("relais-fmt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn fmt_rewrites_a_commented_file_keeping_its_comments_and_check_then_passes() {
    let dir = temp_dir("rewrite");
    let file = dir.join("noted.yaml");
    std::fs::write(&file, "# keep me\nflows: {a: {steps: [ {logger: hi} ]}} # and me\n").unwrap();
    let path = file.to_str().unwrap();
    assert_eq!(relais(&["fmt", "--check", path]).0, Outcome::Findings);
    assert_eq!(relais(&["fmt", path]).0, Outcome::Success);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# keep me\nflows:") && text.contains("# and me"), "{text}");
    assert_eq!(relais(&["fmt", "--check", path]).0, Outcome::Success);
}

#[test]
fn fmt_to_never_replaces_an_existing_file_without_force() {
    let dir = temp_dir("to");
    let file = dir.join("a.yaml");
    std::fs::write(&file, "flows: {a: {steps: [ {logger: hi} ]}}\n").unwrap();
    let target = dir.join("a.flow");
    std::fs::write(&target, "// my own work\n").unwrap();
    let path = file.to_str().unwrap();
    assert_eq!(relais(&["fmt", "--to", "flow", path]).0, Outcome::Failure);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "// my own work\n");
    assert_eq!(relais(&["fmt", "--to", "flow", "--force", path]).0, Outcome::Success);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "flow a {\n    logger \"hi\"\n}\n");
}

#[test]
fn fmt_to_with_out_writes_the_conversion_under_another_directory() {
    let dir = temp_dir("out");
    std::fs::create_dir_all(dir.join("src/orders")).unwrap();
    std::fs::write(dir.join("src/orders/a.yaml"), "flows: {a: {steps: [ {logger: hi} ]}} # noted\n").unwrap();
    let (src, out) = (dir.join("src"), dir.join("converted"));
    let outcome = relais(&["fmt", "--to", "flow", "--out", out.to_str().unwrap(), src.to_str().unwrap()]).0;
    assert_eq!(outcome, Outcome::Success);
    assert!(!dir.join("src/orders/a.flow").exists(), "nothing written beside the input");
    let written = std::fs::read_to_string(out.join("orders/a.flow")).unwrap();
    assert_eq!(written, "flow a { // noted\n    logger \"hi\"\n}\n");
}

#[test]
fn a_hand_written_yaml_file_keeps_its_anchors_flow_maps_blank_lines_and_units() {
    let text = fixture("layout.yaml");
    let formatted = format(&text, Syntax::Yaml, Syntax::Yaml);
    assert_eq!(formatted, text, "fmt changed a file whose every choice it keeps");
    // Kept choices do not change the meaning: through `.flow` (which expands the aliases and has no layout
    // of its own to keep) it is the same module as the same file with every alias written out.
    let expanded = text.replace("*shared_error", "{ status: 500, headers: { retry-after: \"1\" } }");
    assert_ne!(expanded, text);
    assert_eq!(format(&text, Syntax::Yaml, Syntax::Flow), format(&expanded, Syntax::Yaml, Syntax::Flow));
    assert!(format(&text, Syntax::Yaml, Syntax::Flow).contains("26h"), "the unit is kept in `.flow` too");
}
