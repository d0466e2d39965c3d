//! The JUnit XML that `relais test --junit` writes, validated against the rules of the JUnit format CI
//! systems read (the Jenkins / Ant `junit-10.xsd` schema): the element tree `testsuites > testsuite >
//! testcase > failure`, the required attributes and their types, and totals that agree with the cases.
#![allow(clippy::unwrap_used)]

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;

#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: HashMap<String, String>,
    children: Vec<Element>,
}

fn element(start: &BytesStart<'_>) -> Element {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let attributes = start
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (String::from_utf8_lossy(a.key.as_ref()).into_owned(), a.unescape_value().unwrap().into_owned())
        })
        .collect();
    Element { name, attributes, children: Vec::new() }
}

/// Parses the document (well-formedness is checked by the reader: a broken tag or entity is an error).
fn parse(xml: &str) -> Element {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().unwrap() {
            Event::Start(s) => stack.push(element(&s)),
            Event::Empty(s) => stack.last_mut().unwrap().children.push(element(&s)),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    stack.pop().unwrap().children.pop().unwrap()
}

fn require<'e>(e: &'e Element, attribute: &str) -> &'e str {
    e.attributes.get(attribute).unwrap_or_else(|| panic!("<{}> lacks required attribute `{attribute}`", e.name))
}

fn number(e: &Element, attribute: &str) -> f64 {
    require(e, attribute).parse().unwrap_or_else(|_| panic!("<{}> {attribute} is not a number", e.name))
}

fn validate(root: &Element) {
    assert_eq!(root.name, "testsuites");
    let mut total_tests = 0.0;
    let mut total_failures = 0.0;
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite", "only <testsuite> may appear in <testsuites>");
        require(suite, "name");
        let (tests, failures) = (number(suite, "tests"), number(suite, "failures"));
        number(suite, "errors");
        number(suite, "time");
        let mut cases = 0.0;
        let mut failed = 0.0;
        for case in &suite.children {
            assert_eq!(case.name, "testcase", "only <testcase> may appear in <testsuite>");
            require(case, "name");
            require(case, "classname");
            number(case, "time");
            cases += 1.0;
            for child in &case.children {
                assert!(matches!(child.name.as_str(), "failure" | "error" | "skipped" | "system-out" | "system-err"));
                if child.name == "failure" {
                    require(child, "message");
                    require(child, "type");
                    failed += 1.0;
                }
            }
        }
        assert_eq!((tests, failures), (cases, failed), "suite totals must match its cases");
        total_tests += tests;
        total_failures += failures;
    }
    assert_eq!((number(root, "tests"), number(root, "failures")), (total_tests, total_failures));
}

#[test]
fn junit_reports_of_passing_and_failing_runs_follow_the_junit_schema() {
    let dir = std::env::temp_dir().join(format!("relais-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (suite, failures) in [("pass", 0.0), ("fail", 3.0)] {
        let file = dir.join(format!("{suite}.xml"));
        let mut out = Vec::new();
        relais_engine::cli::run(
            ["relais", "test", &format!("fixtures/testing/{suite}"), "--junit", file.to_str().unwrap()],
            &mut out,
        );
        let root = parse(&std::fs::read_to_string(&file).unwrap());
        validate(&root);
        assert_eq!(number(&root, "failures"), failures);
    }
}

#[test]
fn the_validator_rejects_reports_that_break_the_schema() {
    let broken = [
        "<testsuites tests=\"1\" failures=\"0\"><testsuite name=\"a\" tests=\"1\" failures=\"0\" errors=\"0\" time=\"0\"><testcase classname=\"f\" time=\"0\"/></testsuite></testsuites>",
        "<testsuites tests=\"2\" failures=\"0\"><testsuite name=\"a\" tests=\"1\" failures=\"0\" errors=\"0\" time=\"0\"><testcase name=\"x\" classname=\"f\" time=\"0\"/></testsuite></testsuites>",
    ];
    for xml in broken {
        assert!(std::panic::catch_unwind(|| validate(&parse(xml))).is_err(), "{xml}");
    }
}
