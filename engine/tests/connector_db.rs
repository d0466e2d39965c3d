//! The `db` connector against the PostgreSQL server on 127.0.0.1:5432 (trust auth, user `postgres`):
//! queries and statements with bound parameters and every column type mapped, typed errors, a stream of
//! inserts that survives its connections being terminated, bad credentials turning `/ready` to 503, and
//! `db.listener` delivering new rows once, resuming from its kept watermark, dead-lettering a row that
//! keeps failing. Each test works in a database of its own, dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const START: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                     (trust auth for 127.0.0.1 in pg_hba.conf, database `test`)";

async fn admin(database: &str) -> tokio_postgres::Client {
    let url = format!("host=127.0.0.1 port=5432 user=postgres dbname={database} connect_timeout=5");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at 127.0.0.1:5432 is unreachable ({e}); {START}"));
    tokio::spawn(connection);
    client
}

/// A database of the test's own, with `setup` run in it; dropped when the guard goes.
struct TestDb {
    name: String,
}

impl TestDb {
    async fn new(test: &str, setup: &str) -> TestDb {
        let name = format!("relais_{test}_{}", std::process::id());
        let root = admin("test").await;
        root.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
        root.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        admin(&name).await.batch_execute(setup).await.unwrap();
        TestDb { name }
    }

    fn config(&self) -> String {
        format!("db: {{ database: {}, user: postgres, pool_size: 4, statement_timeout: 2s }}", self.name)
    }

    async fn client(&self) -> tokio_postgres::Client {
        admin(&self.name).await
    }

    /// Ends every connection relais holds to the database, the way a server restart does.
    async fn terminate_connections(&self) -> i64 {
        let root = admin("test").await;
        let row = root
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = 'relais'",
                &[&self.name],
            )
            .await
            .unwrap();
        row.get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join()
        .ok();
    }
}

async fn run(rt: &Runtime, flow: &str, payload: serde_json::Value) -> Result<serde_json::Value, String> {
    rt.run_flow(flow, Event::new(payload))
        .await
        .map(|ev| support::payload(&ev))
        .map_err(|e| format!("{}: {}", e.error_type, e.description))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_back_as_maps_with_each_column_type_mapped_and_parameters_bound() {
    let db = TestDb::new(
        "types",
        "CREATE TYPE mood AS ENUM ('happy', 'sad');
         CREATE TABLE things (id int PRIMARY KEY, big bigint, small smallint, ratio float8, price numeric(10,2),
           name text, ok bool, doc jsonb, at timestamptz, day date, ref uuid, tags text[], feeling mood,
           raw bytea, nothing text, spot point);
         INSERT INTO things VALUES (1, 9007199254740993, 7, 0.5, 12.50, 'Zoé', true, '{\"a\": [1, 2]}',
           '2026-07-26 18:30:00+02', '2026-07-26', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{x,NULL,y}', 'happy',
           '\\x0102', NULL, '(1,2)');",
    )
    .await;
    let flows = format!(
        r##"
configs:
  store: {{ {config} }}
flows:
  one:
    steps:
      - db.query:
          config: store
          sql: "SELECT id, big, small, ratio, price, name, ok, doc, at, day, ref, tags, feeling, raw, nothing FROM things WHERE id = :id AND name = :name"
          parameters: {{ id: "#[payload.id]", name: "#[payload.name]" }}
          single: true
  all:
    steps:
      - db.query: {{ config: store, sql: "SELECT id FROM things WHERE price > $1 ORDER BY id", parameters: ["#[payload.min]"] }}
  add:
    steps:
      - db.execute:
          config: store
          sql: "INSERT INTO things (id, price, at, doc, ref) VALUES ($1, $2, $3, $4, $5)"
          parameters: ["#[payload.id]", "#[payload.price]", "#[payload.at]", "#[payload.doc]", "#[payload.ref]"]
  point:
    steps:
      - db.query: {{ config: store, sql: "SELECT spot FROM things" }}
"##,
        config = db.config()
    );
    let rt = support::yaml(&flows);
    let row = run(&rt, "one", json!({ "id": 1, "name": "Zoé" })).await.unwrap();
    assert_eq!(
        row,
        json!({
            "id": 1, "big": 9007199254740993_i64, "small": 7, "ratio": 0.5, "price": "12.50", "name": "Zoé",
            "ok": true, "doc": { "a": [1, 2] }, "at": "2026-07-26T16:30:00Z", "day": "2026-07-26",
            "ref": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "tags": ["x", null, "y"], "feeling": "happy",
            "raw": "AQI=", "nothing": null
        })
    );
    let added = run(
        &rt,
        "add",
        json!({ "id": 2, "price": "99.99", "at": "2026-07-27T08:00:00+02:00", "doc": { "k": 1 },
                "ref": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12" }),
    )
    .await
    .unwrap();
    assert_eq!(added, json!(1));
    assert_eq!(run(&rt, "all", json!({ "min": 20 })).await.unwrap(), json!([{ "id": 2 }]));
    let check =
        db.client().await.query_one("SELECT at::text, price::text FROM things WHERE id = 2", &[]).await.unwrap();
    assert_eq!(
        (check.get::<_, String>(0), check.get::<_, String>(1)),
        ("2026-07-27 06:00:00+00".into(), "99.99".into())
    );
    let err = run(&rt, "point", json!(null)).await.unwrap_err();
    assert!(
        err.starts_with("DB:QUERY") && err.contains("column `spot` has type `point`") && err.contains("spot::text"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_typed_no_rows_constraints_with_their_name_timeouts_and_bad_queries_and_counted_per_config() {
    let db = TestDb::new(
        "errors",
        "CREATE TABLE people (id int PRIMARY KEY, email text CONSTRAINT people_email_unique UNIQUE);",
    )
    .await;
    let flows = format!(
        r##"
configs:
  store: {{ {config} }}
flows:
  find:
    steps:
      - db.query: {{ config: store, sql: "SELECT * FROM people WHERE id = :id", parameters: {{ id: "#[payload.id]" }}, single: true }}
  add:
    steps:
      - db.execute: {{ config: store, sql: "INSERT INTO people VALUES (:id, :email)", parameters: {{ id: "#[payload.id]", email: "#[payload.email]" }} }}
  slow:
    steps:
      - db.query: {{ config: store, sql: "SELECT pg_sleep(5)" }}
  broken:
    steps:
      - db.query: {{ config: store, sql: "SELECT * FROM nowhere" }}
  wrong_type:
    steps:
      - db.query: {{ config: store, sql: "SELECT * FROM people WHERE id = $1", parameters: ["#[payload.id]"] }}
"##,
        config = db.config()
    );
    let rt = support::yaml(&flows);
    assert!(run(&rt, "find", json!({ "id": 1 })).await.unwrap_err().starts_with("DB:NO_ROWS"));
    run(&rt, "add", json!({ "id": 1, "email": "a@example.org" })).await.unwrap();
    let dup = run(&rt, "add", json!({ "id": 2, "email": "a@example.org" })).await.unwrap_err();
    assert!(
        dup.starts_with("DB:CONSTRAINT") && dup.contains("`people_email_unique`") && dup.contains("23505"),
        "{dup}"
    );
    let slow = run(&rt, "slow", json!(null)).await.unwrap_err();
    assert!(slow.starts_with("DB:TIMEOUT"), "{slow}");
    let broken = run(&rt, "broken", json!(null)).await.unwrap_err();
    assert!(broken.starts_with("DB:QUERY") && broken.contains("nowhere"), "{broken}");
    let wrong = run(&rt, "wrong_type", json!({ "id": "seven" })).await.unwrap_err();
    assert!(wrong.starts_with("DB:QUERY") && wrong.contains("\"seven\" is not a value of type `int4`"), "{wrong}");
    assert_eq!(run(&rt, "find", json!({ "id": 1 })).await.unwrap(), json!({ "id": 1, "email": "a@example.org" }));
    let metrics = rt.metrics().render();
    for line in [
        r#"relais_outbound_requests_total{config="store",status="200"} 2"#,
        r#"relais_outbound_requests_total{config="store",status="none"} 5"#,
        r#"relais_outbound_errors_total{config="store",type="DB:NO_ROWS",status="none"} 1"#,
        r#"relais_outbound_errors_total{config="store",type="DB:CONSTRAINT",status="none"} 1"#,
        r#"relais_outbound_errors_total{config="store",type="DB:TIMEOUT",status="none"} 1"#,
        r#"relais_outbound_errors_total{config="store",type="DB:QUERY",status="none"} 2"#,
        r#"relais_outbound_request_duration_seconds_count{config="store"} 7"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_inserts_loses_nothing_when_the_server_ends_every_connection_mid_way() {
    let db = TestDb::new("outage", "CREATE TABLE events (id int PRIMARY KEY);").await;
    let flows = format!(
        r##"
configs:
  store: {{ {config} }}
flows:
  insert:
    steps:
      - until_successful:
          max_retries: 20
          backoff: {{ initial: 20ms, max: 200ms }}
          steps:
            - db.execute: {{ config: store, sql: "INSERT INTO events VALUES (:id) ON CONFLICT DO NOTHING", parameters: {{ id: "#[payload.id]" }} }}
"##,
        config = db.config()
    );
    let rt = support::yaml(&flows);
    let mut tasks = Vec::new();
    for id in 0..300 {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move { run(&rt, "insert", json!({ "id": id })).await }));
        if id == 150 {
            support::eventually("relais connections to terminate", || async { db.terminate_connections().await > 0 })
                .await;
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let count: i64 = db.client().await.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get(0);
    assert_eq!(count, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_keep_ready_at_503_naming_the_config_and_the_server_s_reason() {
    let flows = r##"
configs:
  store: { db: { database: test, user: relais_no_such_role, password: "${secret:DB_PASSWORD}" } }
flows:
  find:
    steps:
      - db.query: { config: store, sql: "SELECT 1" }
"##;
    std::env::set_var("DB_PASSWORD", "s3cr3t-never-shown");
    let dir = support::write_files(&[("flows.yaml", flows)]);
    let (_, program) = support::compile_dir(&dir, None);
    let admin = Some("127.0.0.1:0".parse().unwrap());
    let daemon =
        relais_engine::daemon::start_with_admin(relais_engine::components::registry(), Runtime::new(program), admin)
            .await
            .unwrap();
    let ready = daemon.admin.unwrap();
    let body = Arc::new(std::sync::Mutex::new(String::new()));
    support::eventually("/ready to give the server's reason", || {
        let body = body.clone();
        async move {
            let (status, _, text) = support::request(ready, "GET", "/ready", &[], b"").await;
            let found = status == 503 && text.contains("does not exist");
            *body.lock().unwrap() = text;
            found
        }
    })
    .await;
    let body = body.lock().unwrap().clone();
    assert!(body.contains("store") && body.contains(r#"role \"relais_no_such_role\" does not exist"#), "{body}");
    assert!(!body.contains("s3cr3t"), "{body}");
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// Debian's PostgreSQL serves its snakeoil certificate (self-signed, issued for `localhost`).
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_and_verify_full_connect_over_tls_and_a_wrong_ca_is_refused_naming_the_config() {
    let dir = support::write_files(&[]);
    let other_ca = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let wrong_ca = dir.join("wrong-ca.pem");
    std::fs::write(&wrong_ca, other_ca.cert.pem()).unwrap();
    std::env::set_var("DB_TLS_PASSWORD", "tls-s3cr3t-never-shown");
    let flows = format!(
        r##"
configs:
  plain: {{ db: {{ database: test, user: postgres, sslmode: disable }} }}
  encrypted: {{ db: {{ database: test, user: postgres, sslmode: require }} }}
  verified: {{ db: {{ host: localhost, database: test, user: postgres, sslmode: verify-full, tls: {{ ca: "{SNAKEOIL}" }} }} }}
  impostor: {{ db: {{ host: localhost, database: test, user: postgres, password: "${{secret:DB_TLS_PASSWORD}}", sslmode: verify-full, tls: {{ ca: "{wrong}" }} }} }}
flows:
{flows}
"##,
        wrong = wrong_ca.display(),
        flows = ["plain", "encrypted", "verified", "impostor"]
            .map(|c| format!(
                "  {c}:\n    steps:\n      - db.query: {{ config: {c}, sql: \"SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()\", single: true }}\n"
            ))
            .concat()
    );
    let rt = support::yaml(&flows);
    assert_eq!(run(&rt, "plain", json!(null)).await, Ok(json!({ "ssl": false })));
    assert_eq!(run(&rt, "encrypted", json!(null)).await, Ok(json!({ "ssl": true })));
    assert_eq!(run(&rt, "verified", json!(null)).await, Ok(json!({ "ssl": true })));
    let refused = run(&rt, "impostor", json!(null)).await.unwrap_err();
    assert!(refused.starts_with("DB:CONNECTIVITY") && refused.contains("config `impostor`"), "{refused}");
    assert!(refused.contains("UnknownIssuer") || refused.contains("unknown issuer"), "{refused}");
    assert!(!refused.contains("tls-s3cr3t"), "{refused}");
}

#[test]
fn check_refuses_a_verifying_sslmode_without_a_ca_and_a_ca_file_that_does_not_exist() {
    let dir = support::write_files(&[]);
    let missing = dir.join("missing-ca.pem");
    let flows = format!(
        r##"
configs:
  no_ca: {{ db: {{ database: test, user: postgres, sslmode: verify-ca }} }}
  gone: {{ db: {{ database: test, user: postgres, sslmode: verify-full, tls: {{ ca: "{missing}" }} }} }}
  bad_mode: {{ db: {{ database: test, user: postgres, sslmode: sometimes }} }}
flows:
  f:
    steps:
      - db.query: {{ config: no_ca, sql: "SELECT 1" }}
      - db.query: {{ config: gone, sql: "SELECT 1" }}
"##,
        missing = missing.display()
    );
    std::fs::write(dir.join("flows.yaml"), flows).unwrap();
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), None);
    let errors = support::errors(loaded.diags.iter());
    assert!(errors.iter().any(|e| e.contains("sslmode verify-ca without a CA file")), "{errors:#?}");
    assert!(
        errors.iter().any(|e| e.starts_with("RL0400") && e.contains("missing-ca.pem") && e.contains("does not exist")),
        "{errors:#?}"
    );
    assert!(errors.iter().any(|e| e.contains("field `sslmode` of config `bad_mode` must be one of")), "{errors:#?}");
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

fn listener_flows(config: &str) -> String {
    format!(
        r##"
configs:
  store: {{ {config} }}
flows:
  changes:
    source:
      db.listener:
        config: store
        sql: "SELECT id, name, version FROM accreditations WHERE version > :watermark ORDER BY version LIMIT 2"
        watermark: version
        initial: 0
        frequency: 50ms
        max_deliveries: 2
        redelivery_delay: 10ms
    steps:
      - choice:
          - when: "#[payload.name == \"broken\"]"
            steps:
              - raise_error: {{ type: "APP:REFUSED", description: "row #[payload.id] refused" }}
      - db.execute: {{ config: store, sql: "INSERT INTO seen (id, version) VALUES (:id, :version)", parameters: {{ id: "#[payload.id]", version: "#[payload.version]" }} }}
"##
    )
}

async fn seen(db: &TestDb) -> Vec<(i32, i64)> {
    let rows = db.client().await.query("SELECT id, version FROM seen ORDER BY version", &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_delivers_new_rows_once_resumes_after_its_watermark_and_dead_letters_a_row_that_keeps_failing() {
    let db = TestDb::new(
        "listener",
        "CREATE TABLE accreditations (id int PRIMARY KEY, name text, version bigint);
         CREATE TABLE seen (id int, version bigint);
         INSERT INTO accreditations VALUES (1, 'ana', 1), (2, 'broken', 2), (3, 'chen', 3);",
    )
    .await;
    let dir = support::write_files(&[("flows.yaml", &listener_flows(&db.config()))]);
    let state: Arc<State> = Arc::default();
    let (_, program) = support::compile_dir(&dir, Some(state.clone()));
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    support::eventually("rows 1 and 3", || async { seen(&db).await.len() == 2 }).await;
    assert_eq!(seen(&db).await, vec![(1, 1), (3, 3)]);
    support::eventually("the broken row's dead letter", || std::future::ready(state.dead_letter_count() == 1)).await;
    let letter = &state.dead_letters()[0];
    assert!(letter.error_type == "APP:REFUSED" && letter.attempts == 2, "{letter:?}");
    daemon.shutdown(Duration::from_secs(5)).await;

    // A restart on the same state: only rows after the kept watermark come, and the terminated
    // connections of the first run do not matter.
    db.client().await.batch_execute("INSERT INTO accreditations VALUES (4, 'dara', 4)").await.unwrap();
    let (_, program) = support::compile_dir(&dir, Some(state.clone()));
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    support::eventually("row 4", || async { seen(&db).await.len() == 3 }).await;
    db.terminate_connections().await;
    db.client().await.batch_execute("INSERT INTO accreditations VALUES (5, 'eli', 5)").await.unwrap();
    support::eventually("row 5 after the connections ended", || async { seen(&db).await.len() == 4 }).await;
    assert_eq!(seen(&db).await, vec![(1, 1), (3, 3), (4, 4), (5, 5)]);
    assert_eq!(state.dead_letter_count(), 1);
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_when_its_steps_succeed_and_rolls_back_when_one_fails() {
    let db = TestDb::new(
        "transaction",
        "CREATE TABLE accounts (id text PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
         INSERT INTO accounts VALUES ('a', 100), ('b', 0);",
    )
    .await;
    let flows = format!(
        r##"
configs:
  store: {{ {config} }}
flows:
  transfer:
    steps:
      - db.transaction:
          config: store
          steps:
            - db.execute: {{ config: store, sql: "UPDATE accounts SET balance = balance + :amount WHERE id = :to", parameters: {{ amount: "#[payload.amount]", to: "#[payload.to]" }}, target: credited }}
            - db.query: {{ config: store, sql: "SELECT sum(balance)::int AS total FROM accounts", target: inside }}
            - db.execute: {{ config: store, sql: "UPDATE accounts SET balance = balance - :amount WHERE id = :from", parameters: {{ amount: "#[payload.amount]", from: "#[payload.from]" }}, target: debited }}
      - set_payload: "#[vars.inside]"
"##,
        config = db.config()
    );
    let rt = support::yaml(&flows);
    let balances = || async {
        let rows = db.client().await.query("SELECT id, balance FROM accounts ORDER BY id", &[]).await.unwrap();
        rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1))).collect::<Vec<_>>()
    };
    // Inside the transaction the first update is seen (one connection); outside, both or neither.
    let inside = run(&rt, "transfer", json!({ "from": "a", "to": "b", "amount": 30 })).await.unwrap();
    assert_eq!(inside, json!([{ "total": 130 }]));
    assert_eq!(balances().await, vec![("a".into(), 70), ("b".into(), 30)]);
    let refused = run(&rt, "transfer", json!({ "from": "a", "to": "b", "amount": 500 })).await.unwrap_err();
    assert!(refused.starts_with("DB:CONSTRAINT") && refused.contains("accounts_balance_check"), "{refused}");
    assert_eq!(balances().await, vec![("a".into(), 70), ("b".into(), 30)], "the credit to b was rolled back");
}
