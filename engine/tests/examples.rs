//! The examples under `examples/` check clean and do what their comments say: `examples/db` against the
//! loopback PostgreSQL (a database of its own), `examples/files` on directories of its own, `examples/nats`
//! against the loopback NATS server (a stream of its own).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use relais_engine::runtime::Runtime;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

async fn postgres(database: &str) -> tokio_postgres::Client {
    let url = format!("host=127.0.0.1 port=5432 user=postgres dbname={database} connect_timeout=5");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at 127.0.0.1:5432 is unreachable ({e}); start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    });
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_db_example_upserts_answers_refuses_and_announces_partners() {
    let database = format!("relais_example_{}", std::process::id());
    let root = postgres("test").await;
    root.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await.unwrap();
    root.batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    postgres(&database).await.batch_execute(&std::fs::read_to_string(example("db/schema.sql")).unwrap()).await.unwrap();
    let outbox = support::write_files(&[]).join("outbox");
    std::env::set_var("RELAIS_HTTP_PORT", "0");
    std::env::set_var("RELAIS_DB_DATABASE", &database);
    std::env::set_var("RELAIS_DB_OUTBOX", &outbox);
    let (_, program) = support::compile_dir(&example("db"), None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    let addr = daemon.listeners[0].1;
    let (status, _, body) =
        support::request(addr, "PUT", "/partners/P1", &[], br#"{"name":"Acme","country":"FR"}"#).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = support::request(addr, "GET", "/partners/P1", &[], b"").await;
    let row: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, &row["name"], &row["country"]), (200, &"Acme".into(), &"FR".into()), "{body}");
    let (status, _, body) =
        support::request(addr, "PUT", "/partners/P2", &[], br#"{"name":"Globex","country":"de"}"#).await;
    assert_eq!(status, 409, "{body}");
    let (_, _, body) = support::request(addr, "GET", "/partners/P2", &[], b"").await;
    assert_eq!(body, r#"{"error":"no such partner"}"#);
    support::eventually("P1 announced in the outbox", || std::future::ready(outbox.join("partner-P1.json").exists()))
        .await;
    daemon.shutdown(Duration::from_secs(5)).await;
    root.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_example_turns_each_csv_record_into_a_json_file() {
    let root = support::write_files(&[]);
    let (inbox, outbox) = (root.join("inbox"), root.join("outbox"));
    std::env::set_var("RELAIS_FILES_INBOX", &inbox);
    std::env::set_var("RELAIS_FILES_OUTBOX", &outbox);
    let (_, program) = support::compile_dir(&example("files"), None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("partners.csv"), "id,name,country\nP1,Acme,FR\nP2,Globex,DE\n").unwrap();
    support::eventually("partners.csv processed", || std::future::ready(inbox.join("processed/partners.csv").exists()))
        .await;
    let p2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outbox.join("partner-P2.json")).unwrap()).unwrap();
    assert_eq!(p2, serde_json::json!({ "id": "P2", "name": "Globex", "country": "DE", "source": "partners.csv" }));
    assert!(outbox.join("partner-P1.json").exists());
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_example_publishes_each_accepted_change_and_its_consumer_writes_it_out() {
    let stream = format!("RELAIS_EXAMPLE_{}", std::process::id());
    let subject = format!("relais.example.{}", std::process::id());
    let outbox = support::write_files(&[]).join("outbox");
    std::env::set_var("RELAIS_HTTP_PORT", "0");
    std::env::set_var("RELAIS_NATS_HTTP_PORT", "0");
    std::env::set_var("RELAIS_NATS_STREAM", &stream);
    std::env::set_var("RELAIS_NATS_SUBJECT", &subject);
    std::env::set_var("RELAIS_NATS_OUTBOX", &outbox);
    let (_, program) = support::compile_dir(&example("nats"), None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    let addr = daemon.listeners[0].1;
    let change = br#"{"id":"A-1","person":"Ana","level":"venue"}"#;
    let (status, _, body) = support::request(addr, "POST", "/accreditations", &[], change).await;
    assert_eq!((status, body.as_str()), (200, r#"{"accepted":"A-1","sequence":1}"#));
    let (status, _, _) = support::request(addr, "POST", "/accreditations", &[], br#"{"id":"A-2"}"#).await;
    assert_eq!(status, 400, "a change without person and level is refused before the broker");
    let written = outbox.join("accreditation-A-1.json");
    support::eventually("A-1 written by the consumer", || std::future::ready(written.exists())).await;
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&written).unwrap()).unwrap();
    assert_eq!(kept, serde_json::json!({ "id": "A-1", "person": "Ana", "level": "venue" }));
    daemon.shutdown(Duration::from_secs(5)).await;
    let client = async_nats::connect("127.0.0.1:4222").await.unwrap_or_else(|e| {
        panic!("NATS at 127.0.0.1:4222 is unreachable ({e}); start it with `nats-server -a 127.0.0.1 -js` (or `.ci/services`)")
    });
    async_nats::jetstream::new(client).delete_stream(&stream).await.unwrap();
}

#[test]
fn the_examples_check_clean_and_their_flow_tests_pass_with_db_and_nats_steps_mocked() {
    let relais = env!("CARGO_BIN_EXE_relais");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let check = std::process::Command::new(relais).arg("check").arg(&examples).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let test = std::process::Command::new(relais).arg("test").arg(&examples).output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    assert!(test.status.success() && out.contains("4 passed, 0 failed"), "{out}");
}
