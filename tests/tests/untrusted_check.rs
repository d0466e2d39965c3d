//! `relais check` on an untrusted pull request: it reads only files inside the project, refuses special
//! files without blocking on them, stays linear on deep or minified input, and never panics while rendering.
#![allow(clippy::unwrap_used)]

use relais_engine::cli::{run, Outcome};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relais-untrusted-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `relais ARGS` in-process on another thread and gives up after a generous deadline, so that a check
/// that blocks (on a FIFO) fails the test instead of hanging it. A panic while checking fails the test too.
fn relais_within_deadline(args: Vec<String>) -> (Outcome, String) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut argv = vec!["relais".to_string()];
        argv.extend(args);
        let outcome = run(argv, &mut out);
        let _ = tx.send((outcome, String::from_utf8_lossy(&out).into_owned()));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("relais did not return within 120 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("relais panicked"),
    }
}

/// `relais check --format FORMAT PATH`.
fn check(path: &Path, format: &str) -> (Outcome, String) {
    relais_within_deadline(vec![
        "check".to_string(),
        "--format".to_string(),
        format.to_string(),
        path.display().to_string(),
    ])
}

/// The diagnostic codes of a JSON report.
fn codes(json: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["diagnostics"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["code"].as_str().map(String::from)).collect())
        .unwrap()
}

/// A secret outside the project: a file whose content must never appear in a report.
fn secret_outside(dir: &Path) -> PathBuf {
    let secret = dir.join("outside").join("secret.rhai");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "let token = \"SECRET-TOKEN-42\"; syntax error here (\n").unwrap();
    secret
}

fn flow_with_script(script: &str) -> String {
    format!(
        "flows:\n  leak:\n    source: {{ scheduler: {{ cron: \"0 8 * * *\" }} }}\n    steps:\n      - transform: {{ script: \"{script}\" }}\n"
    )
}

fn assert_refused_without_content(outcome: Outcome, human: &str, path_shown: &str) {
    assert_eq!(outcome, Outcome::Findings, "{human}");
    assert!(human.contains("RL0005"), "{human}");
    assert!(human.contains(path_shown), "the path is named: {human}");
    assert!(!human.contains("SECRET-TOKEN"), "the content is never shown: {human}");
}

#[test]
fn a_script_named_by_an_absolute_path_outside_the_project_is_refused_without_showing_it() {
    let dir = temp_dir("absolute");
    let secret = secret_outside(&dir);
    let flows = dir.join("project").join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("leak.yaml"), flow_with_script(&secret.display().to_string())).unwrap();
    let (outcome, human) = check(&flows, "human");
    assert_refused_without_content(outcome, &human, "secret.rhai");
}

#[test]
fn a_script_named_by_a_relative_path_leading_out_of_the_project_is_refused() {
    let dir = temp_dir("dotdot");
    secret_outside(&dir);
    let flows = dir.join("project").join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("leak.yaml"), flow_with_script("../../outside/secret.rhai")).unwrap();
    let (outcome, human) = check(&flows, "human");
    assert_refused_without_content(outcome, &human, "secret.rhai");
}

#[test]
fn a_proc_file_named_as_a_script_is_refused_without_being_read() {
    let dir = temp_dir("proc");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("leak.yaml"), flow_with_script("/proc/self/environ")).unwrap();
    let (outcome, human) = check(&flows, "human");
    assert_eq!(outcome, Outcome::Findings, "{human}");
    assert!(human.contains("RL0005") && human.contains("/proc/self/environ"), "{human}");
    assert!(!human.contains("PATH="), "{human}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_script_leading_out_of_the_project_is_refused_without_showing_it() {
    let dir = temp_dir("symlink-script");
    let secret = secret_outside(&dir);
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::os::unix::fs::symlink(&secret, flows.join("innocent.rhai")).unwrap();
    std::fs::write(flows.join("leak.yaml"), flow_with_script("innocent.rhai")).unwrap();
    let (outcome, human) = check(&flows, "human");
    assert_refused_without_content(outcome, &human, "innocent.rhai");
}

#[cfg(unix)]
#[test]
fn a_symlinked_flow_file_leading_out_of_the_project_is_refused_without_showing_it() {
    let dir = temp_dir("symlink-flow");
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.yaml"), "SECRET-TOKEN-42: [unclosed\n").unwrap();
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.yaml"), flows.join("evil.yaml")).unwrap();
    let (outcome, human) = check(&flows, "human");
    assert_refused_without_content(outcome, &human, "evil.yaml");
}

#[cfg(unix)]
#[test]
fn a_symlinked_directory_cycle_does_not_loop_discovery() {
    let dir = temp_dir("symlink-cycle");
    let flows = dir.join("flows");
    std::fs::create_dir_all(flows.join("sub")).unwrap();
    std::fs::write(flows.join("sub").join("ok.yaml"), "flows:\n  a:\n    steps:\n      - set_payload: x\n").unwrap();
    std::os::unix::fs::symlink(&flows, flows.join("sub").join("loop")).unwrap();
    std::os::unix::fs::symlink(&dir, flows.join("up")).unwrap();
    let (outcome, json) = check(&flows, "json");
    assert!(matches!(outcome, Outcome::Success | Outcome::Findings), "{json}");
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo failed");
}

#[cfg(unix)]
#[test]
fn a_fifo_named_as_a_script_is_refused_without_blocking() {
    let dir = temp_dir("fifo-script");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    mkfifo(&flows.join("pipe.rhai"));
    std::fs::write(flows.join("leak.yaml"), flow_with_script("pipe.rhai")).unwrap();
    let (outcome, json) = check(&flows, "json");
    assert_eq!(outcome, Outcome::Findings, "{json}");
    assert_eq!(codes(&json), vec!["RL0006".to_string()], "{json}");
}

#[cfg(unix)]
#[test]
fn a_fifo_among_the_flow_files_is_refused_without_blocking() {
    let dir = temp_dir("fifo-flow");
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    mkfifo(&flows.join("pipe.yaml"));
    let (outcome, json) = check(&flows, "json");
    assert_ne!(outcome, Outcome::Success, "{json}");
    assert!(codes(&json).contains(&"RL0006".to_string()), "{json}");
}

/// A minified flow file: one line of ~80 KB with an unknown step past column 65,535.
fn minified_flow() -> String {
    let steps = vec!["{\"set_payload\": \"x\"}"; 4000].join(",");
    format!("{{\"flows\": {{\"a\": {{\"steps\": [{steps},{{\"transfrom\": {{\"code\": \"payload\"}}}}]}}}}}}\n")
}

#[test]
fn a_diagnostic_past_column_65535_renders_without_a_panic() {
    let dir = temp_dir("long-line");
    std::fs::write(dir.join("min.yaml"), minified_flow()).unwrap();
    let (outcome, human) = check(&dir, "human");
    assert_eq!(outcome, Outcome::Findings, "{human}");
    assert!(human.contains("RL0103"), "{human}");
    assert!(human.contains("min.yaml:1:"), "the position is shown: {human}");
    assert!(human.contains("transfrom"), "the window around the span is shown");
    assert!(human.len() < 10_000, "the whole line is not printed: {} bytes", human.len());
}

#[test]
fn a_yaml_file_of_deeply_nested_brackets_gets_a_nesting_diagnostic() {
    let dir = temp_dir("deep-yaml");
    let depth = 100_000;
    std::fs::write(dir.join("deep.yaml"), format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth))).unwrap();
    let (outcome, json) = check(&dir, "json");
    assert_eq!(outcome, Outcome::Findings, "{json}");
    assert_eq!(codes(&json), vec!["RL0011".to_string()], "{json}");
}

#[test]
fn a_flow_file_of_deeply_nested_brackets_gets_a_nesting_diagnostic() {
    let dir = temp_dir("deep-flow");
    let depth = 100_000;
    let text = format!("flow a {{\n  set_payload {}{}\n}}\n", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(dir.join("deep.flow"), text).unwrap();
    let (outcome, json) = check(&dir, "json");
    assert_eq!(outcome, Outcome::Findings, "{json}");
    assert_eq!(codes(&json), vec!["RL0011".to_string()], "{json}");
}

#[test]
fn a_schema_whose_ref_cannot_resolve_fails_check_with_the_reason() {
    let dir = temp_dir("schema-ref");
    std::fs::write(dir.join("order.schema.json"), "{\"$ref\": \"#/$defs/missing\"}\n").unwrap();
    std::fs::write(
        dir.join("orders.yaml"),
        "flows:\n  orders:\n    source: { scheduler: { cron: \"0 8 * * *\" } }\n    steps:\n      - validate: order.schema.json\n",
    )
    .unwrap();
    let (outcome, human) = check(&dir, "human");
    assert_eq!(outcome, Outcome::Findings, "{human}");
    assert!(human.contains("RL0402"), "{human}");
    assert!(human.contains("missing"), "the reason names the reference: {human}");
}

#[test]
fn one_file_checked_alone_reads_beside_its_directory_only_with_a_wider_root() {
    let dir = temp_dir("root");
    let flows = dir.join("flows");
    std::fs::create_dir_all(flows.join("ticketing")).unwrap();
    std::fs::create_dir_all(flows.join("mappings")).unwrap();
    std::fs::write(flows.join("mappings").join("x.rhai"), "payload\n").unwrap();
    let file = flows.join("ticketing").join("a.yaml");
    std::fs::write(&file, flow_with_script("../mappings/x.rhai")).unwrap();
    let (outcome, json) = check(&file, "json");
    assert_eq!((outcome, codes(&json)), (Outcome::Findings, vec!["RL0005".to_string()]), "{json}");
    let (outcome, json) = relais_within_deadline(vec![
        "check".to_string(),
        "--format".to_string(),
        "json".to_string(),
        "--root".to_string(),
        flows.display().to_string(),
        file.display().to_string(),
    ]);
    assert_eq!((outcome, codes(&json)), (Outcome::Success, vec![]), "{json}");
}

#[cfg(unix)]
#[test]
fn an_environment_profile_symlinked_out_of_the_project_is_refused_without_showing_it() {
    let dir = temp_dir("env-symlink");
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.yaml"), "token: SECRET-TOKEN-42\n").unwrap();
    let flows = dir.join("flows");
    std::fs::create_dir_all(flows.join("env")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.yaml"), flows.join("env").join("prod.yaml")).unwrap();
    std::fs::write(flows.join("a.yaml"), "flows:\n  a:\n    steps:\n      - set_payload: x\n").unwrap();
    let (outcome, human) = relais_within_deadline(vec![
        "check".to_string(),
        "--env".to_string(),
        "prod".to_string(),
        flows.display().to_string(),
    ]);
    assert_refused_without_content(outcome, &human, "prod.yaml");
}
