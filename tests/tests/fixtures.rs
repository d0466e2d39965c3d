//! Fixture-driven checks: every file under `fixtures/err/` yields diagnostics, snapshot-tested with its
//! source; every file under `fixtures/ok/` yields none, and each YAML fixture's `.flow` twin lowers to the
//! identical IR.

use relais_tests::{check_unit, display, fixture_units, fixtures, snapshot_text};

#[test]
fn every_broken_fixture_reports_diagnostics_that_match_its_snapshot() {
    let units = fixture_units(&fixtures().join("err"));
    assert!(units.len() >= 60, "expected at least 60 broken fixtures, found {}", units.len());
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("../fixtures/snapshots");
    settings.bind(|| {
        for unit in units {
            let loaded = check_unit(&unit);
            assert!(!loaded.diags.is_empty(), "{} produced no diagnostic", display(&unit));
            let name = display(&unit).trim_start_matches("fixtures/err/").replace(['/', '.'], "__");
            insta::assert_snapshot!(name, snapshot_text(&loaded));
        }
    });
}

#[test]
fn every_valid_fixture_checks_clean() {
    let units = fixture_units(&fixtures().join("ok"));
    assert!(!units.is_empty());
    for unit in units {
        let loaded = check_unit(&unit);
        assert!(loaded.diags.is_empty(), "{}:\n{}", display(&unit), snapshot_text(&loaded));
    }
}

#[test]
fn every_yaml_fixture_has_a_flow_twin_with_identical_ir() {
    let units = fixture_units(&fixtures().join("ok"));
    let mut pairs = 0;
    for unit in units.iter().filter(|u| u.extension().is_some_and(|x| x == "yaml")) {
        let twin = unit.with_extension("flow");
        assert!(twin.exists(), "{} has no .flow twin", display(unit));
        let yaml = check_unit(unit);
        let flow = check_unit(&twin);
        let ir = |l: &relais_engine::load::Loaded| serde_json::to_value(&l.set.modules[0]).unwrap_or_default();
        assert_eq!(ir(&yaml), ir(&flow), "{} and its twin differ", display(unit));
        pairs += 1;
    }
    assert!(pairs > 0);
}
