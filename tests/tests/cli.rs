//! The CLI contract: exit codes, output formats (human, JSON, GitHub annotations, SARIF), `--deny-warnings`,
//! `explain`, `schema` (which must accept every valid fixture and the reference flows), and `fmt`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_engine::cli::Outcome;
use relais_tests::relais;
use serde_json::Value;

const BROKEN: &str = "fixtures/cli/broken.yaml";
const WARNING_ONLY: &str = "fixtures/cli/warning_only.yaml";

#[test]
fn check_exits_zero_on_the_reference_flows() {
    assert_eq!(relais(&["check", "../flows"]).0, Outcome::Success);
}

#[test]
fn check_exits_one_on_errors_and_reports_every_one_in_json() {
    let (outcome, out) = relais(&["check", "--format", "json", BROKEN]);
    assert_eq!(outcome, Outcome::Findings);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["version"], 1);
    let diags = json["diagnostics"].as_array().unwrap();
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["RL0103", "RL0501"]);
    let first = &diags[0];
    assert_eq!(first["file"], BROKEN);
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(4), Some(9)));
    assert_eq!(first["end"]["column"], 18);
    assert_eq!(first["severity"], "error");
    assert_eq!(first["help"], "did you mean `transform`?");
    assert_eq!(first["labels"][0]["message"], "not a built-in step or a component");
    assert_eq!(json["summary"]["errors"], 2);
}

#[test]
fn warnings_pass_unless_denied() {
    assert_eq!(relais(&["check", WARNING_ONLY]).0, Outcome::Success);
    assert_eq!(relais(&["check", "--deny-warnings", WARNING_ONLY]).0, Outcome::Findings);
}

#[test]
fn github_format_writes_one_escaped_annotation_per_finding() {
    let (_, out) = relais(&["check", "--format", "github", BROKEN]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        "::error file=fixtures/cli/broken.yaml,line=4,col=9,endLine=4,endColumn=18,title=relais RL0103::unknown step `transfrom`%0Ahelp: did you mean `transform`?"
    );
}

#[test]
fn sarif_output_has_the_structure_code_scanning_expects() {
    let (_, out) = relais(&["check", "--format", "sarif", BROKEN]);
    let sarif: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "relais");
    let rules: Vec<&str> =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rules, ["RL0103", "RL0501"]);
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "RL0103");
    assert_eq!(result["ruleIndex"], 0);
    assert_eq!(result["level"], "error");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!((region["startLine"].as_u64(), region["startColumn"].as_u64()), (Some(4), Some(9)));
}

#[test]
fn human_output_shows_the_code_the_source_line_and_the_help() {
    let (_, out) = relais(&["check", BROKEN]);
    assert!(out.contains("RL0103"), "{out}");
    assert!(out.contains("- transfrom: { code: payload }"), "{out}");
    assert!(out.contains("help: did you mean `transform`?"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour when not on a terminal");
}

#[test]
fn unknown_options_are_usage_errors() {
    assert_eq!(relais(&["check", "--no-such-flag"]).0, Outcome::Failure);
}

#[test]
fn explain_prints_the_long_text_and_rejects_unknown_codes() {
    let (outcome, out) = relais(&["explain", "rl0304"]);
    assert_eq!(outcome, Outcome::Success);
    assert!(out.starts_with("RL0304: `flow_ref` cycle"), "{out}");
    assert_eq!(relais(&["explain", "RL9999"]).0, Outcome::Failure);
    let (_, list) = relais(&["explain"]);
    assert_eq!(list.lines().count(), relais_dsl::codes::ALL.len());
}

fn yaml_as_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let yaml: serde_yaml_value::Value = serde_yaml_value::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

mod serde_yaml_value {
    pub use serde_yaml::{from_str, Value};
}

#[test]
fn the_editor_schema_is_valid_and_accepts_every_valid_yaml_flow() {
    let (outcome, out) = relais(&["schema"]);
    assert_eq!(outcome, Outcome::Success);
    let schema: Value = serde_json::from_str(&out).unwrap();
    jsonschema::meta::validate(&schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut files = relais_tests::fixture_units(&relais_tests::fixtures().join("ok"));
    files.extend(relais_engine::load::discover(std::path::Path::new("../flows")).unwrap());
    let mut checked = 0;
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        let doc = yaml_as_json(file);
        let errors: Vec<String> =
            validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
        checked += 1;
    }
    assert!(checked >= 3);
    let broken = yaml_as_json(std::path::Path::new(BROKEN));
    assert!(!validator.is_valid(&broken), "the schema must reject an unknown step");
    let objectives = |o: Value| serde_json::json!({ "flows": { "a": { "objectives": o, "steps": [] } } });
    assert!(validator.is_valid(&objectives(serde_json::json!({ "error_share": "2%", "alert_flow": "b" }))));
    for bad in [
        serde_json::json!({ "error_rate": "2%" }),
        serde_json::json!({ "error_share": "2" }),
        serde_json::json!({ "p99_latency": { "over": "5m" } }),
    ] {
        assert!(!validator.is_valid(&objectives(bad.clone())), "the schema must reject objectives {bad}");
    }
}

#[test]
fn fmt_check_flags_unformatted_files_and_passes_formatted_ones() {
    let dir = std::env::temp_dir().join(format!("relais-cli-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let messy = dir.join("messy.yaml");
    // Indentation and the IR's shorthand are canonical (`logger: { message: x }` is `logger: x`).
    std::fs::write(&messy, "flows:\n    a:\n        steps:\n        -   logger: {message: hi}\n").unwrap();
    let path = messy.to_str().unwrap();
    assert_eq!(relais(&["fmt", "--check", path]).0, Outcome::Findings);
    assert_eq!(relais(&["fmt", path]).0, Outcome::Success);
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "flows:\n  a:\n    steps:\n      - logger: hi\n");
    assert_eq!(relais(&["fmt", "--check", path]).0, Outcome::Success);
    assert_eq!(relais(&["fmt", "--to", "flow", path]).0, Outcome::Success);
    assert_eq!(std::fs::read_to_string(dir.join("messy.flow")).unwrap(), "flow a {\n    logger \"hi\"\n}\n");
}

#[test]
fn properties_come_from_the_chosen_environment_file() {
    assert_eq!(relais(&["check", "--env", "dev", "fixtures/env"]).0, Outcome::Success);
    let (outcome, out) = relais(&["check", "--format", "json", "--env", "prod", "fixtures/env"]);
    assert_eq!(outcome, Outcome::Findings);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["diagnostics"][0]["code"], "RL0302");
    assert_eq!(json["diagnostics"][0]["message"], "property `crm.timeout` is not defined");
    assert_eq!(json["diagnostics"].as_array().map(Vec::len), Some(1));
    let (outcome, _) = relais(&["check", "fixtures/env"]);
    assert_eq!(outcome, Outcome::Findings, "without an environment nothing defines the properties");
    // Environment variables override files; no other test reads this variable.
    std::env::set_var("RELAIS_CRM_TIMEOUT", "3s");
    assert_eq!(relais(&["check", "--env", "prod", "fixtures/env"]).0, Outcome::Success);
    std::env::remove_var("RELAIS_CRM_TIMEOUT");
}

#[test]
fn an_unknown_env_profile_is_an_error_naming_the_profiles_that_exist() {
    let (outcome, out) = relais(&["check", "--env", "prdo", "fixtures/cli/profiles"]);
    assert_eq!(outcome, Outcome::Findings, "{out}");
    assert!(out.contains("RL0007"), "{out}");
    assert!(out.contains("no profile `prdo`"), "{out}");
    assert!(out.contains("`prod`"), "{out}");
    assert!(out.contains("help: did you mean `prod`?"), "{out}");
}

#[test]
fn an_existing_env_profile_still_checks() {
    let (outcome, out) = relais(&["check", "--env", "prod", "fixtures/cli/profiles"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
}

#[test]
fn an_env_profile_without_an_env_directory_says_there_is_none() {
    let (outcome, out) = relais(&["check", "--env", "prod", "fixtures/cli/no_profiles"]);
    assert_eq!(outcome, Outcome::Findings, "{out}");
    assert!(out.contains("RL0007"), "{out}");
    assert!(out.contains("no `env/` directory"), "{out}");
}
