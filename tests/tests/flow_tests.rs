//! Self-tests of `relais test`: passing and failing suites (the failure report is a snapshot), every mock and
//! assertion kind, unmocked connectors, JUnit XML, coverage and its threshold, filters, virtual time (delays,
//! backoffs and timeouts of hours in no wall time), and the reference flows' own suites.
#![allow(clippy::unwrap_used)]

use relais_engine::cli::Outcome;
use relais_tests::relais;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("relais-flow-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_passing_suite_exercises_every_mock_and_assertion_kind() {
    let (outcome, out) = relais(&["test", "fixtures/testing/pass"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
    assert_eq!(out.lines().last(), Some("6 passed, 0 failed"));
}

#[test]
fn a_failing_suite_reports_each_failure_at_its_expectation() {
    let (outcome, out) = relais(&["test", "fixtures/testing/fail"]);
    assert_eq!(outcome, Outcome::Findings);
    insta::assert_snapshot!("failing_suite_report", out);
}

#[test]
fn a_test_that_would_reach_an_unmocked_connector_fails_with_a_clear_message() {
    let (_, out) = relais(&["test", "fixtures/testing/fail", "--filter", "forgets its mock"]);
    assert!(
        out.contains("step `upsert` (http.request) with config `crm` in flow `push_contact` was called without a mock"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("0 passed, 1 failed, 2 skipped"));
}

#[test]
fn junit_xml_lists_suites_cases_and_failures() {
    let file = temp("junit").join("report.xml");
    relais(&["test", "fixtures/testing/fail", "--junit", file.to_str().unwrap()]);
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(
        xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"relais\" tests=\"3\" failures=\"3\""
        ),
        "{xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert_eq!(xml.matches("<failure ").count(), 3);
    assert!(xml.contains("classname=\"push_contact\""));
    assert!(xml.contains("&quot;Léon&quot;"), "text is escaped: {xml}");
    assert_eq!(xml.matches("<testsuite ").count(), xml.matches("</testsuite>").count());
    assert_eq!(xml.matches("<testcase ").count(), xml.matches("</testcase>").count() + xml.matches("/>\n").count());
}

#[test]
fn coverage_counts_the_steps_that_ran_and_the_threshold_fails_below_it() {
    let json_file = temp("coverage").join("coverage.json");
    let (outcome, out) =
        relais(&["test", "fixtures/testing/pass", "--coverage", "--coverage-json", json_file.to_str().unwrap()]);
    assert_eq!(outcome, Outcome::Success);
    assert!(out.contains("push_contact            8/8    100.0 %"), "{out}");
    let coverage: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!((coverage["covered"].as_u64(), coverage["steps"].as_u64()), (Some(9), Some(9)));
    // Only the error case: validate, set_variable, choice, raise_error (4 of 8 flow steps, 0 of 1 sub-flow step).
    let (outcome, _) = relais(&[
        "test",
        "fixtures/testing/pass",
        "--filter",
        "empty email",
        "--coverage-json",
        json_file.to_str().unwrap(),
        "--min-coverage",
        "50",
    ]);
    let coverage: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!((coverage["covered"].as_u64(), coverage["steps"].as_u64()), (Some(4), Some(9)));
    assert_eq!(outcome, Outcome::Findings, "44 % is below 50 %");
}

#[test]
fn the_reference_flows_pass_their_tests() {
    let (outcome, out) = relais(&["test", "../flows"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
}

#[test]
fn a_mocked_partner_call_that_leaks_or_breaks_its_contract_fails_its_test_as_the_real_call_would() {
    let (outcome, out) = relais(&["test", "fixtures/testing/zones"]);
    assert_eq!(outcome, Outcome::Findings, "{out}");
    assert_eq!(out.lines().last(), Some("3 passed, 2 failed"), "{out}");
    let leak = "holds the value of sensitive field `passport_number`";
    assert!(
        out.contains("a mapping that slips the passport number into the name fails") && out.contains(leak),
        "{out}"
    );
    assert!(out.contains("SENSITIVE:LEAK") && out.contains("CONTRACT:VIOLATION"), "{out}");
    assert!(out.contains("holds fields the contract does not allow: `zones`"), "{out}");
    assert!(!out.to_lowercase().contains("p7654321x"), "the report names the field, never the value: {out}");
}

/// How long the suites that wait hours on a flow's clock may take on the wall clock: generous, and far below
/// the hours they would take if delays, backoffs and timeouts were slept for real.
const REAL_TIME_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

#[test]
fn hour_long_delays_backoffs_and_timeouts_run_on_virtual_time_with_their_real_outcomes() {
    let (done, finished) = std::sync::mpsc::channel();
    // Not joined when the deadline passes: the failure is the message below, not a hung test binary.
    std::thread::spawn(move || {
        let _ = done.send(relais(&["test", "fixtures/testing/virtual_time"]));
    });
    let (outcome, out) = finished
        .recv_timeout(REAL_TIME_PATIENCE)
        .unwrap_or_else(|_| panic!("the suites did not finish within {REAL_TIME_PATIENCE:?}: delays ran on wall time"));
    assert_eq!(outcome, Outcome::Success, "{out}");
    assert!(out.contains("9 passed, 0 failed"), "{out}");
}

#[test]
fn cases_go_through_the_listener_and_the_scheduler_and_assert_what_the_caller_gets() {
    let (outcome, out) = relais(&["test", "fixtures/testing/source"]);
    assert_eq!(outcome, Outcome::Success, "{out}");
    // Six YAML cases and two in the `.flow` syntax (`request { ... }`, `fire_time "..."`).
    assert_eq!(out.lines().last(), Some("8 passed, 0 failed"));
}

#[test]
fn a_response_that_differs_is_reported_at_the_status_header_and_body_it_breaks() {
    let (outcome, out) = relais(&["test", "fixtures/testing/source_fail"]);
    assert_eq!(outcome, Outcome::Findings);
    insta::assert_snapshot!("failing_response_report", out);
}

#[test]
fn coverage_names_each_step_never_run_at_its_location() {
    let json_file = temp("never-run").join("coverage.json");
    let (_, out) =
        relais(&["test", "fixtures/testing/source", "--coverage", "--coverage-json", json_file.to_str().unwrap()]);
    assert!(
        out.contains("steps never run:\n  fixtures/testing/source/orders.yaml:41:22  nightly_digest: logger\n"),
        "{out}"
    );
    let coverage: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    let digest = coverage["flows"].as_array().unwrap().iter().find(|f| f["flow"] == "nightly_digest").unwrap();
    assert_eq!(
        digest["never_run"],
        serde_json::json!([{ "step": "logger", "location": "fixtures/testing/source/orders.yaml:41:22" }])
    );
    // Below the threshold, the steps never run are named even without `--coverage`.
    let (outcome, out) = relais(&["test", "fixtures/testing/source", "--min-coverage", "90"]);
    assert_eq!(outcome, Outcome::Findings);
    assert!(out.contains("orders.yaml:41:22  nightly_digest: logger"), "{out}");
}

#[test]
fn every_listener_flow_of_the_reference_integration_asserts_what_its_caller_gets() {
    let flows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let loaded = relais_engine::cli::check::check_paths_in(&[flows], None, None);
    let listeners: Vec<&str> = loaded
        .set
        .flows()
        .filter(|f| f.source.as_ref().is_some_and(|s| s.kind.value == "http.listener"))
        .map(|f| f.name.value.as_str())
        .collect();
    assert!(listeners.len() >= 20, "the reference integration lost listener flows: {listeners:?}");
    let asserted = |flow: &str| {
        loaded
            .suites
            .iter()
            .filter(|s| s.suite.flow.value == flow)
            .flat_map(|s| &s.suite.cases)
            .any(|case| case.request.is_some() && case.expect.response.as_ref().is_some_and(|r| r.status.is_some()))
    };
    let missing: Vec<&&str> = listeners.iter().filter(|flow| !asserted(flow)).collect();
    assert!(missing.is_empty(), "listener flows without a case asserting the response status: {missing:?}");
}
