//! Hostile and broken inputs: each gives a clear diagnostic and exit code 1 or 2, never a panic or a hang.
#![allow(clippy::unwrap_used)]

use relais_engine::cli::{run, Outcome};
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relais-bad-input-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `relais check --format json FILE` and returns the outcome and the diagnostic codes.
fn check(path: &Path) -> (Outcome, Vec<String>) {
    let mut out = Vec::new();
    let outcome = run(["relais", "check", "--format", "json", path.to_str().unwrap_or_default()], &mut out);
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let codes = json["diagnostics"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["code"].as_str().map(String::from)).collect())
        .unwrap();
    (outcome, codes)
}

fn check_bytes(name: &str, file: &str, bytes: &[u8]) -> (Outcome, Vec<String>) {
    let dir = temp_dir(name);
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    check(&path)
}

#[test]
fn an_empty_file_is_reported_as_empty() {
    for file in ["empty.yaml", "empty.flow"] {
        assert_eq!(check_bytes("empty", file, b"  \n"), (Outcome::Findings, vec!["RL0004".to_string()]));
    }
}

#[test]
fn invalid_utf8_points_at_the_first_bad_byte() {
    assert_eq!(
        check_bytes("utf8", "bad.yaml", b"flows:\n  a: \xff\xfe\n"),
        (Outcome::Findings, vec!["RL0002".to_string()])
    );
}

#[test]
fn binary_garbage_is_a_syntax_error_in_both_syntaxes() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 & 0x7f).collect();
    let (outcome, codes) = check_bytes("garbage", "g.yaml", &garbage);
    assert_eq!(outcome, Outcome::Findings);
    assert!(!codes.is_empty());
    let (outcome, codes) = check_bytes("garbage", "g.flow", &garbage);
    assert_eq!(outcome, Outcome::Findings);
    assert_eq!(codes, vec!["RL0012".to_string()]);
}

#[test]
fn a_fifty_megabyte_file_is_refused_without_being_parsed() {
    let big = vec![b'#'; 50 * 1024 * 1024];
    assert_eq!(check_bytes("big", "big.yaml", &big), (Outcome::Findings, vec!["RL0003".to_string()]));
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused_in_both_syntaxes() {
    let yaml = format!("flows: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(check_bytes("deep", "deep.yaml", yaml.as_bytes()), (Outcome::Findings, vec!["RL0011".to_string()]));
    let flow = format!("flow a {{ set_payload {}{} }}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(check_bytes("deep", "deep.flow", flow.as_bytes()), (Outcome::Findings, vec!["RL0011".to_string()]));
}

#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    assert_eq!(check_bytes("bomb", "bomb.yaml", text.as_bytes()), (Outcome::Findings, vec!["RL0011".to_string()]));
}

#[test]
fn a_one_megabyte_single_line_is_handled() {
    let line = format!("flows:\n  a:\n    steps:\n      - set_payload: \"{}\"\n", "x".repeat(1024 * 1024));
    assert_eq!(check_bytes("line", "line.yaml", line.as_bytes()), (Outcome::Success, vec![]));
    let flow = format!("flow a {{ set_payload \"{}\" }}", "x".repeat(1024 * 1024));
    assert_eq!(check_bytes("line", "line.flow", flow.as_bytes()), (Outcome::Success, vec![]));
}

#[test]
fn an_unreadable_path_exits_with_code_two() {
    let missing = temp_dir("missing").join("does-not-exist.yaml");
    let (outcome, codes) = check(&missing);
    assert_eq!(outcome, Outcome::Failure);
    assert_eq!(codes, vec!["RL0001".to_string()]);
}

#[test]
fn a_directory_named_like_a_flow_file_is_searched_not_read() {
    let dir = temp_dir("dirflow").join("x.yaml");
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(check(&dir).0, Outcome::Success);
}
