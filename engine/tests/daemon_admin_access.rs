//! The admin port lets no one in who should not be: dead letters and actions (replay, purge, run a flow)
//! are refused without the token (401, problem+json) and allowed with it, every such request is an audit
//! line naming who, from where, what and how it ended, `/health`, `/ready` and `/metrics` stay open, and
//! with no token configured the door is closed (403) unless opened on loopback by `--admin-insecure`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::process::RelaisProcess;
use support::request;

const TOKEN: &str = "s3cr3t-admin-token-0123456789";

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  hello:
    source: { http.listener: { config: api, method: GET, path: /hello } }
    steps:
      - set_payload: { value: "hi" }
  give_up:
    steps:
      - set_payload: { value: "#[#{ order_id: \"ORD-9\" }]" }
      - try:
          steps:
            - raise_error: { type: "CRM:DOWN", description: "the CRM refused ORD-9" }
          on_error:
            - continue:
                steps:
                  - dead_letter.write: { queue: orders, replay: at_failure }
  drain_orders:
    source: { queue.listener: { queue: orders } }
    steps:
      - logger: { message: "replayed #[payload.order_id]" }
"##;

/// The JSON audit lines of a log, parsed.
fn audit_lines(logs: &str) -> Vec<serde_json::Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "relais::audit" && l["fields"]["action"].is_string())
        .collect()
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_need_the_token_and_each_is_audited_with_who_what_and_how_it_ended() {
    let dir = support::write_files(&[("flows.yaml", FLOWS), ("admin.token", &format!("# current\n{TOKEN}\n"))]);
    let token_file = dir.join("admin.token");
    // Readable by the group: relais says so at start (and runs: the operator decides).
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let relais = RelaisProcess::start(
        &dir,
        &[
            "--admin",
            "127.0.0.1:0",
            "--admin-token-file",
            token_file.to_str().unwrap(),
            "--state",
            "memory",
            "--no-watch",
        ],
        "info",
        &[],
    );
    relais.wait_for_log("may be read by other users (mode 640): `chmod 600` it");
    let admin = relais.wait_for_address("admin endpoints on http://");
    relais.wait_for_log("need a bearer token (1 accepted)");

    // Open to anyone: probes and scrapers.
    for open in ["/health", "/ready", "/metrics"] {
        assert_eq!(request(admin, "GET", open, &[], b"").await.0, 200, "{open}");
    }
    // Refused without the token, or with another: 401, problem+json, and how to authenticate.
    let (status, head, body) = request(admin, "POST", "/flows/give_up/run", &[], b"").await;
    assert_eq!(status, 401, "{body}");
    assert!(head.contains("content-type: application/problem+json"), "{head}");
    assert!(head.contains("www-authenticate: bearer realm=\"relais admin\""), "{head}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 401);
    assert!(problem["detail"].as_str().unwrap().contains("no Authorization header"), "{body}");
    let wrong = [("authorization", "Bearer not-the-token-0123456789")];
    assert_eq!(request(admin, "GET", "/dead-letters", &wrong, b"").await.0, 401, "dead letters hold messages");
    assert_eq!(request(admin, "DELETE", "/dead-letters/1", &wrong, b"").await.0, 401);

    // Allowed with it: run a flow (which dead-letters its order), read, replay, purge.
    let auth = bearer();
    let with = [("authorization", auth.as_str())];
    let (status, _, body) = request(admin, "POST", "/flows/give_up/run", &with, b"").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, list) = request(admin, "GET", "/dead-letters", &with, b"").await;
    assert_eq!(status, 200, "{list}");
    let letters: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(letters.len(), 1, "{list}");
    let id = letters[0]["id"].as_u64().unwrap();
    let (status, _, body) = request(admin, "POST", &format!("/dead-letters/{id}/replay"), &with, b"").await;
    assert_eq!(status, 200, "{body}");
    relais.wait_for_log("replayed ORD-9");
    assert_eq!(request(admin, "POST", "/flows/give_up/run", &with, b"").await.0, 200);
    let (_, _, list) = request(admin, "GET", "/dead-letters", &with, b"").await;
    let letters: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    let second = letters[0]["id"].as_u64().unwrap();
    assert_eq!(request(admin, "DELETE", &format!("/dead-letters/{second}"), &with, b"").await.0, 200);
    assert_eq!(request(admin, "DELETE", &format!("/dead-letters/{second}"), &with, b"").await.0, 404);

    let logs = relais.stop();
    assert!(!logs.contains(TOKEN), "the token is never logged:\n{logs}");
    let audit = audit_lines(&logs);
    let line = |action: &str, status: u64| {
        audit
            .iter()
            .find(|l| l["fields"]["action"] == action && l["fields"]["status"] == status)
            .unwrap_or_else(|| panic!("no audit line for `{action}` answered {status}:\n{logs}"))
            .clone()
    };
    let refused = line("run flow", 401);
    assert_eq!(refused["fields"]["who"], "unauthenticated");
    assert_eq!(refused["fields"]["outcome"], "refused");
    assert_eq!(refused["level"], "WARN");
    assert!(refused["fields"]["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{refused}");
    assert_eq!(line("list dead letters", 401)["fields"]["who"], "unauthenticated");
    assert_eq!(line("purge dead letter", 401)["fields"]["object"], "1");
    let ran = line("run flow", 200);
    let who = ran["fields"]["who"].as_str().unwrap();
    assert!(who.starts_with("token sha256:") && who.len() == "token sha256:".len() + 12, "{ran}");
    assert_eq!((ran["fields"]["object"].as_str(), ran["fields"]["outcome"].as_str()), (Some("give_up"), Some("done")));
    let replayed = line("replay dead letter", 200);
    assert_eq!(
        (replayed["fields"]["object"].as_str(), replayed["fields"]["who"].as_str()),
        (Some(&*id.to_string()), Some(who))
    );
    assert_eq!(line("purge dead letter", 200)["fields"]["object"], second.to_string());
    assert_eq!(line("purge dead letter", 404)["fields"]["outcome"], "not found");
    assert_eq!(line("list dead letters", 200)["fields"]["who"], who);
    assert!(audit.iter().all(|l| l["fields"]["action"] != "request"), "probes are not audited:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_dead_letters_and_actions_are_forbidden_and_the_probes_stay_open() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    let admin = daemon.admin.unwrap();
    for (method, path) in [("POST", "/flows/give_up/run"), ("GET", "/dead-letters"), ("POST", "/dead-letters/1/replay")]
    {
        let (status, head, body) = request(admin, method, path, &[("authorization", &bearer())], b"").await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        assert!(body.contains("--admin-token-file"), "the refusal says how to open the door: {body}");
    }
    assert!(daemon.state().dead_letters().is_empty(), "nothing ran");
    for open in ["/health", "/ready", "/metrics"] {
        assert_eq!(request(admin, "GET", open, &[], b"").await.0, 200, "{open}");
    }
    daemon.shutdown(std::time::Duration::from_secs(2)).await;
}

#[test]
fn the_insecure_opt_in_is_refused_on_an_address_other_hosts_can_reach() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("run")
        .arg(&dir)
        .args(["--admin", "0.0.0.0:0", "--admin-insecure", "--state", "memory", "--no-watch"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--admin-insecure is accepted only on a loopback --admin address"), "{text}");
    assert!(text.contains("not 0.0.0.0:0"), "{text}");
}

#[test]
fn a_token_file_with_a_short_token_stops_relais_run_naming_the_file_and_line() {
    let dir = support::write_files(&[("flows.yaml", FLOWS), ("admin.token", "# new\nshort\n")]);
    let token_file = dir.join("admin.token");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("run")
        .arg(&dir)
        .args(["--admin-token-file", token_file.to_str().unwrap(), "--state", "memory", "--no-watch"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("admin.token` line 2: the token is 5 characters long; use at least 16"), "{text}");
}

#[test]
fn the_admin_token_can_come_from_a_secret_and_an_unset_one_stops_relais_run() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_relais"))
        .arg("run")
        .arg(&dir)
        .args(["--admin-token-secret", "RELAIS_TEST_ADMIN_TOKEN_UNSET", "--state", "memory", "--no-watch"])
        .env_remove("RELAIS_TEST_ADMIN_TOKEN_UNSET")
        .env_remove("RELAIS_TEST_ADMIN_TOKEN_UNSET_FILE")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--admin-token-secret: secret `RELAIS_TEST_ADMIN_TOKEN_UNSET` is not set"), "{text}");

    let relais = RelaisProcess::start(
        &dir,
        &["--admin", "127.0.0.1:0", "--admin-token-secret", "ADMIN_TOKEN", "--state", "memory", "--no-watch"],
        "info",
        &[("ADMIN_TOKEN", TOKEN)],
    );
    let admin = relais.wait_for_address("admin endpoints on http://");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        assert_eq!(request(admin, "GET", "/dead-letters", &[], b"").await.0, 401);
        assert_eq!(request(admin, "GET", "/dead-letters", &[("authorization", &bearer())], b"").await.0, 200);
    });
}
