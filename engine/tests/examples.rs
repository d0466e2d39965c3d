//! The examples under `examples/` check clean and do what their comments say: `examples/db` against the
//! loopback PostgreSQL (a database of its own), `examples/files` on directories of its own,
//! `examples/sftp` against an OpenSSH server of its own (`support::sftp`), `examples/amqp` against the
//! loopback RabbitMQ (exchanges and queues of its own, deleted at the end), `examples/nats` against the
//! loopback NATS server (a stream of its own), and `examples/chain` across SFTP, PostgreSQL and RabbitMQ
//! (a database, exchanges and an sshd of its own, and a partner on loopback).
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
async fn the_sftp_example_writes_each_record_of_a_dropped_csv_back_as_a_json_file() {
    let server = support::sftp::SftpServer::start();
    let (inbox, outbox) = (server.data().join("inbox"), server.data().join("outbox"));
    std::env::set_var("RELAIS_SFTP_PORT", server.port.to_string());
    std::env::set_var("RELAIS_SFTP_USER", &server.user);
    std::env::set_var("RELAIS_SFTP_KEY", &server.client_key);
    std::env::set_var("RELAIS_SFTP_KNOWN_HOSTS", &server.known_hosts);
    std::env::set_var("RELAIS_SFTP_INBOX", &inbox);
    std::env::set_var("RELAIS_SFTP_OUTBOX", &outbox);
    let (_, program) = support::compile_dir(&example("sftp"), None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("partners-2026.csv"), "id,name,country\nP1,Acme,FR\nP2,Globex,DE\n").unwrap();
    // The example lists every 5 s and takes a file once two listings agree on it.
    support::eventually_within(Duration::from_secs(120), "partners-2026.csv processed", || {
        std::future::ready(inbox.join("processed/partners-2026.csv").exists())
    })
    .await;
    let p2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outbox.join("partner-P2.json")).unwrap()).unwrap();
    assert_eq!(p2, serde_json::json!({ "id": "P2", "name": "Globex", "country": "DE", "source": "partners-2026.csv" }));
    assert!(outbox.join("partner-P1.json").exists());
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_amqp_example_publishes_confirmed_changes_writes_them_for_the_partner_and_parks_a_failing_one() {
    use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
    let prefix = format!("relais_example_{}", std::process::id());
    let outbox = support::write_files(&[]).join("accreditations");
    std::env::set_var("RELAIS_AMQP_HTTP_PORT", "0");
    std::env::set_var("RELAIS_AMQP_PREFIX", &prefix);
    std::env::set_var("RELAIS_AMQP_OUTBOX", &outbox);
    std::env::set_var("AMQP_PASSWORD", "guest");
    let (_, program) = support::compile_dir(&example("amqp"), None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    let addr = daemon.listeners[0].1;
    let (status, _, body) =
        support::request(addr, "POST", "/accreditations", &[], br#"{"id":"A1","person":"Ana","status":"granted"}"#)
            .await;
    assert_eq!((status, body.as_str()), (200, r#"{"published":"A1"}"#));
    let (status, _, body) =
        support::request(addr, "POST", "/accreditations", &[], br#"{"id":"A2","person":"Ben","status":"revoked"}"#)
            .await;
    assert_eq!(status, 200, "{body}");
    let written = outbox.join("accreditation-A1.json");
    support::eventually("A1 written for the partner", || std::future::ready(written.exists())).await;
    let a1: serde_json::Value = serde_json::from_slice(&std::fs::read(&written).unwrap()).unwrap();
    assert_eq!(a1, serde_json::json!({ "id": "A1", "person": "Ana", "change": "accreditation.granted" }));
    let broker =
        lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default()).await.unwrap_or_else(
            |e| panic!("RabbitMQ at 127.0.0.1:5672 is unreachable ({e}); start it with `rabbitmq-server -detached`"),
        );
    let channel = broker.create_channel().await.unwrap();
    let parked = format!("{prefix}.parked");
    let found = std::sync::Arc::new(std::sync::Mutex::new(None));
    support::eventually("A2 parked by the dead-letter exchange", || {
        let (channel, parked, found) = (&channel, parked.clone(), found.clone());
        async move {
            let got = channel.basic_get(parked.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap();
            let done = got.is_some();
            *found.lock().unwrap() = got.map(|m| m.delivery.data.clone());
            done
        }
    })
    .await;
    let a2: serde_json::Value = serde_json::from_slice(&found.lock().unwrap().clone().unwrap()).unwrap();
    assert_eq!(a2["id"], "A2");
    assert!(!outbox.join("accreditation-A2.json").exists());
    daemon.shutdown(Duration::from_secs(5)).await;
    for queue in ["changes", "parked"] {
        let _ = channel.queue_delete(format!("{prefix}.{queue}").as_str().into(), QueueDeleteOptions::default()).await;
    }
    for exchange in ["accreditations", "dead"] {
        let name = format!("{prefix}.{exchange}");
        let _ = channel.exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chained_example_carries_each_csv_record_from_sftp_through_postgres_and_rabbitmq_to_the_partner() {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let server = support::sftp::SftpServer::start();
    let inbox = server.data().join("chain-inbox");
    let database = format!("relais_chain_{}", std::process::id());
    let root = postgres("test").await;
    root.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await.unwrap();
    root.batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap();
    let reporting = postgres(&database).await;
    reporting.batch_execute(&std::fs::read_to_string(example("chain/schema.sql")).unwrap()).await.unwrap();
    let (partner, seen) = support::partner::server(r#"{"granted":true}"#).await;
    let prefix = format!("relais_chain_{}", std::process::id());
    for (name, value) in [
        ("RELAIS_CHAIN_SFTP_PORT", server.port.to_string()),
        ("RELAIS_CHAIN_SFTP_USER", server.user.clone()),
        ("RELAIS_CHAIN_SFTP_KEY", server.client_key.display().to_string()),
        ("RELAIS_CHAIN_KNOWN_HOSTS", server.known_hosts.display().to_string()),
        ("RELAIS_CHAIN_INBOX", inbox.display().to_string()),
        ("RELAIS_CHAIN_DATABASE", database.clone()),
        ("RELAIS_CHAIN_PREFIX", prefix.clone()),
        ("RELAIS_CHAIN_PARTNER_URL", format!("http://{partner}")),
        ("AMQP_PASSWORD", "guest".to_string()),
    ] {
        std::env::set_var(name, value);
    }
    let (_, program) = support::compile_dir(&example("chain"), None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("holders-2024-07-26.csv"), "id,name,category\nH1,Ana,A\nH2,Ben,B\nH3,Chloé,C\n").unwrap();
    support::eventually_within(Duration::from_secs(120), "three rights sent to the partner", || {
        std::future::ready(seen.requests.lock().unwrap().len() >= 3)
    })
    .await;
    support::eventually("the file moved to processed/", || {
        std::future::ready(inbox.join("processed/holders-2024-07-26.csv").exists())
    })
    .await;
    let rows = reporting.query("SELECT id, name, category FROM accreditation_holders ORDER BY id", &[]).await.unwrap();
    let rows: Vec<(String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        rows,
        [("H1", "Ana", "A"), ("H2", "Ben", "B"), ("H3", "Chloé", "C")].map(|(i, n, c)| (
            i.to_string(),
            n.to_string(),
            c.to_string()
        ))
    );
    let mut sent: Vec<String> = seen.requests.lock().unwrap().clone();
    sent.sort();
    assert_eq!(sent.len(), 3, "each record reached the partner exactly once: {sent:?}");
    for (request, (id, level)) in sent.iter().zip([("H1", "A"), ("H2", "B"), ("H3", "C")]) {
        assert!(request.starts_with(&format!("PUT /transport/rights/{id} ")), "{request}");
        let body: serde_json::Value = serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(body, serde_json::json!({ "holder": id, "level": level }));
    }
    daemon.shutdown(Duration::from_secs(5)).await;
    let broker =
        lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default()).await.unwrap_or_else(
            |e| panic!("RabbitMQ at 127.0.0.1:5672 is unreachable ({e}); start it with `rabbitmq-server -detached`"),
        );
    let channel = broker.create_channel().await.unwrap();
    let queue = format!("{prefix}.holders_to_transport");
    let _ = channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
    let exchange = format!("{prefix}.holders");
    let _ = channel.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default()).await;
    drop(reporting);
    root.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await.unwrap();
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
fn the_examples_check_clean_and_their_flow_tests_pass_with_their_connector_steps_mocked() {
    let relais = env!("CARGO_BIN_EXE_relais");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let check = std::process::Command::new(relais).arg("check").arg(&examples).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let test = std::process::Command::new(relais).arg("test").arg(&examples).output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    assert!(test.status.success() && out.contains("10 passed, 0 failed"), "{out}");
}
