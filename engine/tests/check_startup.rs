//! What is knowable before traffic is found by `relais check` and stops `relais run` at start: secrets that
//! cannot be resolved (a warning for `check`, an error for `run`), and the PEM files of listener and client
//! `tls` blocks (missing, not PEM, `cert` without `key`, a key of another certificate). Through the `relais`
//! binary where the exit code and the process environment matter, through `check_paths` for spans.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_dsl::{Diagnostic, Severity};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `args` in `dir`'s parent; `env` adds variables, `unset` removes them. A `run` that
/// wrongly starts is killed after a generous deadline and fails the test.
fn relais(args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relais"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    for k in unset {
        command.env_remove(k);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`relais {}` did not exit: it started when it should have refused", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Everything the command printed, with the human renderer's line wrapping and gutters undone.
fn text(out: &Output) -> String {
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    all.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

const SECRET_FLOWS: &str = r#"
configs:
  api: { http.listener: { port: 0 } }
  crm:
    http.client:
      base_url: http://127.0.0.1:1
      auth:
        bearer:
          token: "${secret:RELAIS_STARTUP_CRM_TOKEN}"
flows:
  push:
    source: { http.listener: { config: api, method: POST, path: /push } }
    steps:
      - id: upsert
        http.request: { config: crm, method: POST, path: /contacts }
"#;

#[test]
fn an_unset_secret_is_a_warning_for_check_with_its_span_and_a_failure_under_deny_warnings() {
    let dir = support::write_files(&[("flows.yaml", SECRET_FLOWS)]);
    let path = dir.to_str().unwrap();
    let out = relais(
        &["check", path, "--format", "json"],
        &[],
        &["RELAIS_STARTUP_CRM_TOKEN", "RELAIS_STARTUP_CRM_TOKEN_FILE"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &json["diagnostics"][0];
    assert_eq!((d["code"].as_str(), d["severity"].as_str()), (Some("RL0310"), Some("warning")), "{json}");
    // The span is the `${secret:NAME}` text itself: line 9, from its `$` to its `}`.
    let line = SECRET_FLOWS.lines().nth(8).unwrap();
    let column = line.find("${secret:").unwrap() as u64 + 1;
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(9), Some(column)), "{json}");
    assert_eq!(d["end"]["column"].as_u64(), Some(column + "${secret:RELAIS_STARTUP_CRM_TOKEN}".len() as u64));
    assert!(d["help"].as_str().unwrap().contains("RELAIS_STARTUP_CRM_TOKEN_FILE"), "{json}");

    let denied = relais(&["check", path, "--deny-warnings"], &[], &["RELAIS_STARTUP_CRM_TOKEN"]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
}

#[test]
fn a_secret_set_in_the_environment_or_through_a_file_checks_clean() {
    let dir = support::write_files(&[("flows.yaml", SECRET_FLOWS), ("token.txt", "t0ken\n")]);
    let path = dir.to_str().unwrap();
    let direct = relais(&["check", path, "--deny-warnings"], &[("RELAIS_STARTUP_CRM_TOKEN", "t0ken")], &[]);
    assert_eq!(direct.status.code(), Some(0), "{}", text(&direct));
    let file = dir.join("token.txt");
    let through_file = relais(
        &["check", path, "--deny-warnings"],
        &[("RELAIS_STARTUP_CRM_TOKEN_FILE", file.to_str().unwrap())],
        &["RELAIS_STARTUP_CRM_TOKEN"],
    );
    assert_eq!(through_file.status.code(), Some(0), "{}", text(&through_file));
    let unreadable = relais(
        &["check", path, "--format", "json"],
        &[("RELAIS_STARTUP_CRM_TOKEN_FILE", "/nonexistent/relais-token")],
        &["RELAIS_STARTUP_CRM_TOKEN"],
    );
    let json: serde_json::Value = serde_json::from_slice(&unreadable.stdout).unwrap();
    let message = json["diagnostics"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("RELAIS_STARTUP_CRM_TOKEN_FILE names `/nonexistent/relais-token`, which cannot"),
        "{json}"
    );
}

#[test]
fn relais_run_refuses_to_start_without_a_secret_and_says_how_to_set_it() {
    let dir = support::write_files(&[("flows.yaml", SECRET_FLOWS)]);
    let out = relais(
        &["run", dir.to_str().unwrap(), "--admin", "off", "--state", "memory", "--no-watch"],
        &[],
        &["RELAIS_STARTUP_CRM_TOKEN", "RELAIS_STARTUP_CRM_TOKEN_FILE"],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("RL0310") && said.contains("secret `RELAIS_STARTUP_CRM_TOKEN` is not set"), "{said}");
    assert!(said.contains("RELAIS_STARTUP_CRM_TOKEN_FILE") && said.contains("does not start without it"), "{said}");
    assert!(said.contains("nothing was started"), "{said}");
}

#[test]
fn relais_test_needs_no_production_secrets_when_the_step_is_mocked() {
    let suite = r#"
flow: push
tests:
  the contact is pushed:
    input: { payload: { id: 1 } }
    mocks:
      - step: upsert
        payload: { crm_id: 9 }
    expect:
      payload: { crm_id: 9 }
"#;
    let dir = support::write_files(&[("flows.yaml", SECRET_FLOWS), ("push.test.yaml", suite)]);
    let out =
        relais(&["test", dir.to_str().unwrap()], &[], &["RELAIS_STARTUP_CRM_TOKEN", "RELAIS_STARTUP_CRM_TOKEN_FILE"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A CA-less self-signed certificate and its key, as PEM text.
fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// The diagnostics of `dir` as `relais check` finds them, with the text each one's span covers.
fn findings(dir: &Path) -> Vec<(Diagnostic, String)> {
    let loaded = relais_engine::cli::check::check_paths(&[dir.to_path_buf()], None);
    loaded
        .diags
        .iter()
        .map(|d| {
            let file = loaded.sources.file(d.primary.span.file);
            // Flow-style YAML scalars' spans end after the space that follows them.
            let spanned = file.text[d.primary.span.start as usize..d.primary.span.end as usize].trim_end().to_string();
            (d.clone(), spanned)
        })
        .collect()
}

#[test]
fn client_tls_files_are_checked_before_traffic_with_the_offending_field_underlined() {
    let dir = support::write_files(&[]);
    let (cert, key) = self_signed("relais-client");
    let (_, other_key) = self_signed("someone-else");
    let at = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(dir.join("client.crt"), &cert).unwrap();
    std::fs::write(dir.join("client.key"), &key).unwrap();
    std::fs::write(dir.join("other.key"), &other_key).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a certificate\n").unwrap();
    let flows = format!(
        r#"
configs:
  missing_ca: {{ http.client: {{ base_url: "https://a.example", tls: {{ ca: "{missing}" }} }} }}
  not_pem: {{ http.client: {{ base_url: "https://b.example", tls: {{ ca: "{notes}" }} }} }}
  lone_key: {{ http.client: {{ base_url: "https://c.example", tls: {{ key: "{key}" }} }} }}
  wrong_key: {{ http.client: {{ base_url: "https://d.example", tls: {{ cert: "{cert}", key: "{other}" }} }} }}
  good: {{ http.client: {{ base_url: "https://e.example", tls: {{ ca: "{cert}", cert: "{cert}", key: "{key}" }} }} }}
flows:
  noop:
    steps:
      - logger: hello
"#,
        missing = at("missing-ca.crt"),
        notes = at("notes.txt"),
        key = at("client.key"),
        cert = at("client.crt"),
        other = at("other.key"),
    );
    std::fs::write(dir.join("flows.yaml"), flows).unwrap();
    let found = findings(&dir);
    let summary: Vec<(&str, &str, bool)> =
        found.iter().map(|(d, s)| (d.code.0, s.as_str(), d.severity == Severity::Error)).collect();
    let quoted = |name: &str| format!("\"{}\"", at(name));
    assert_eq!(
        summary,
        vec![
            ("RL0400", quoted("missing-ca.crt").as_str(), true),
            ("RL0403", quoted("notes.txt").as_str(), true),
            ("RL0403", quoted("client.key").as_str(), true),
            ("RL0403", quoted("other.key").as_str(), true),
        ],
        "{:#?}",
        found.iter().map(|(d, _)| &d.message).collect::<Vec<_>>()
    );
    assert!(found[1].0.message.contains("holds no `BEGIN CERTIFICATE` block"), "{}", found[1].0.message);
    assert!(found[2].0.message.contains("`tls.key` is given without `tls.cert`"), "{}", found[2].0.message);
    assert!(found[3].0.message.contains("does not belong to certificate"), "{}", found[3].0.message);
    assert_eq!(found[3].0.labels[0].message, "the certificate");
}

#[test]
fn a_listener_key_that_does_not_fit_its_certificate_is_a_check_error() {
    let dir = support::write_files(&[]);
    let (cert, _) = self_signed("localhost");
    let (_, other_key) = self_signed("localhost");
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), other_key).unwrap();
    let flows = format!(
        "configs:\n  secure: {{ http.listener: {{ port: 0, tls: {{ cert: \"{}\", key: \"{}\" }} }} }}\nflows:\n  f:\n    source: {{ http.listener: {{ config: secure, method: GET, path: /x }} }}\n    steps:\n      - logger: hi\n",
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    std::fs::write(dir.join("flows.yaml"), flows).unwrap();
    let found = findings(&dir);
    assert_eq!(found.len(), 1, "{:?}", found.iter().map(|(d, _)| &d.message).collect::<Vec<_>>());
    assert_eq!(found[0].0.code.0, "RL0403");
    assert!(found[0].1.ends_with("server.key\""), "{}", found[0].1);
}

#[test]
fn tls_files_outside_the_project_are_not_read_by_check_and_a_bad_one_stops_run() {
    let project = support::write_files(&[]);
    let elsewhere = support::write_files(&[("client.crt", "not a certificate\n"), ("client.key", "nor a key\n")]);
    let flows = format!(
        "configs:\n  crm: {{ http.client: {{ base_url: \"https://crm.example\", tls: {{ cert: \"{}\", key: \"{}\" }} }} }}\n  api: {{ http.listener: {{ port: 0 }} }}\nflows:\n  f:\n    source: {{ http.listener: {{ config: api, method: GET, path: /x }} }}\n    steps:\n      - http.request: {{ config: crm, method: GET, path: /y }}\n",
        elsewhere.join("client.crt").display(),
        elsewhere.join("client.key").display()
    );
    std::fs::write(project.join("flows.yaml"), flows).unwrap();
    // `check` may run on an untrusted pull request: files outside the root are not its to read.
    assert!(findings(&project).is_empty());
    let out =
        relais(&["run", project.to_str().unwrap(), "--admin", "off", "--state", "memory", "--no-watch"], &[], &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("RL0403") && said.contains("holds no `BEGIN CERTIFICATE` block"), "{said}");
    assert!(said.contains("holds no private key"), "{said}");
}
