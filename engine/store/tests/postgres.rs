//! The behaviour suite on the PostgreSQL backend, each test in a fresh schema of the test database (dropped when
//! it ends), plus what only a shared database does: several stores (replicas) on one schema, a layout written by
//! a newer relais, a server out of reach, connections terminated under the store.
//!
//! PostgreSQL must be running: `RELAIS_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`)
//! names the database. When it cannot be reached, every test fails and says how to start it.

mod behaviour;

use relais_store::{Message, PgStore, StateStore, StoreError, Timestamp};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The test database.
fn database() -> String {
    std::env::var("RELAIS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Runs `sql` on the test database on a connection of its own (setting up and dropping schemas, terminating
/// the store's connections); panics, with the way to start PostgreSQL, when it cannot be reached.
fn admin(sql: &str) -> Vec<tokio_postgres::SimpleQueryMessage> {
    try_admin(sql).unwrap_or_else(|e| panic!("{e}"))
}

/// [`admin`] without panicking (for the fixture's drop, which also runs while a failed test unwinds).
fn try_admin(sql: &str) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&database(), tokio_postgres::NoTls).await.map_err(|e| {
            format!(
                "PostgreSQL is not reachable at {}: {e}. These tests need it: start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or point \
                 RELAIS_TEST_POSTGRES at a database that trusts this user)",
                database()
            )
        })?;
        tokio::spawn(connection);
        client.simple_query(sql).await.map_err(|e| format!("{sql}: {e}"))
    })
}

/// A schema name no other test (nor an earlier run) uses.
fn fresh_schema() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("relais_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
}

/// The URL of `schema` in the test database, with a small pool (tests run in parallel on one server); its
/// connections are named after the schema, so a test can terminate its own and no other test's.
fn url(schema: &str) -> String {
    format!("{}?schema={schema}&pool_size=8&application_name={schema}", database())
}

/// A store on its own schema, dropped with the schema when the test ends.
struct Fixture {
    store: Option<PgStore>,
    schema: String,
}

impl Deref for Fixture {
    type Target = PgStore;
    fn deref(&self) -> &PgStore {
        // Set in `fresh`, taken only in `drop`.
        self.store.as_ref().unwrap_or_else(|| unreachable!("the store is there until the fixture drops"))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.store.take());
        let _ = try_admin(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema));
    }
}

#[allow(clippy::unwrap_used)]
fn fresh() -> Fixture {
    let schema = fresh_schema();
    admin("SELECT 1");
    Fixture { store: Some(PgStore::connect(&url(&schema)).unwrap()), schema }
}

behaviour_suite!(fresh(), stream_keys: 500);

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn message(text: &str) -> Message {
    Message {
        payload: text.as_bytes().to_vec(),
        media_type: "text/plain".to_string(),
        attributes: serde_json::json!({}),
        correlation_id: text.to_string(),
        trace: None,
    }
}

#[test]
#[allow(clippy::unwrap_used)]
fn replicas_on_one_schema_share_messages_and_take_over_the_leases_of_a_dead_one() {
    let first = fresh();
    let second = PgStore::connect(&url(&first.schema)).unwrap();
    assert!(!first.is_exclusive() && !second.is_exclusive());
    let id = first.enqueue("orders", &message("m"), T0).unwrap();
    let leased = second.lease("orders", Duration::from_secs(30), T0).unwrap().unwrap();
    assert_eq!((leased.id, leased.deliveries), (id, 1));
    // `second` dies with the lease: `first` sees nothing until the visibility timeout, then takes it over.
    drop(second);
    let at = |s: u64| Timestamp::from_millis(T0.as_millis() + s * 1_000);
    assert_eq!(first.lease("orders", Duration::from_secs(30), at(29)).unwrap(), None);
    let again = first.lease("orders", Duration::from_secs(30), at(30)).unwrap().unwrap();
    assert_eq!((again.id, again.deliveries), (id, 2));
    assert!(first.ack("orders", id).unwrap());
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_second_connection_to_a_schema_finds_what_the_first_stored() {
    let first = fresh();
    first.put("s", "k", &serde_json::json!({"kept": true}), None, T0).unwrap();
    first.enqueue("q", &message("kept"), T0).unwrap();
    let again = PgStore::connect(&url(&first.schema)).unwrap();
    assert_eq!(again.get("s", "k", T0).unwrap(), Some(serde_json::json!({"kept": true})));
    assert_eq!(again.queue_stats("q", T0).unwrap().ready, 1);
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_layout_1_schema_is_migrated_to_the_current_layout_keeping_its_messages() {
    let first = fresh();
    first.enqueue("q", &message("from layout 1"), T0).unwrap();
    // What layout 1 looked like: no enqueue times, no trace context, dead letters without sub-flow or payload
    // at failure.
    admin(&format!(
        "ALTER TABLE \"{0}\".messages DROP COLUMN enqueued_at, DROP COLUMN traceparent, DROP COLUMN tracestate;
         ALTER TABLE \"{0}\".dead_letters DROP COLUMN sub_flow, DROP COLUMN payload_at_failure,
         DROP COLUMN media_type_at_failure, DROP COLUMN traceparent, DROP COLUMN tracestate;
         UPDATE \"{0}\".layout SET version = 1",
        first.schema
    ));
    let migrated = PgStore::connect(&url(&first.schema)).unwrap();
    assert_eq!(migrated.queue_stats("q", T0).unwrap().ready, 1);
    assert_eq!(migrated.oldest_ready("q").unwrap(), Some(Timestamp::from_millis(0)), "read as enqueued at the epoch");
    let rows = admin(&format!("SELECT version FROM \"{}\".layout", first.schema));
    assert!(
        rows.iter().any(|row| matches!(row, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("5"))),
        "the layout is 5 now"
    );
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_layout_2_schema_is_migrated_to_layout_5_and_its_dead_letters_read_as_failing_in_their_own_flow() {
    let first = fresh();
    let letter = behaviour::dead_letter("orders", "kept from layout 2", Some("q"));
    let id = first.dead_letter(&letter).unwrap();
    admin(&format!(
        "ALTER TABLE \"{0}\".messages DROP COLUMN traceparent, DROP COLUMN tracestate;
         ALTER TABLE \"{0}\".dead_letters DROP COLUMN sub_flow, DROP COLUMN payload_at_failure,
         DROP COLUMN media_type_at_failure, DROP COLUMN traceparent, DROP COLUMN tracestate;
         UPDATE \"{0}\".layout SET version = 2",
        first.schema
    ));
    let migrated = PgStore::connect(&url(&first.schema)).unwrap();
    let stored = migrated.get_dead_letter(id).unwrap().unwrap();
    assert_eq!(stored.letter, letter, "no sub-flow, no payload at failure");
    let mut newer = behaviour::dead_letter("orders", "written on layout 5", None);
    newer.sub_flow = Some("load_order".to_string());
    newer.payload_at_failure = Some(b"{\"step\":2}".to_vec());
    newer.media_type_at_failure = Some("application/json".to_string());
    let id = migrated.dead_letter(&newer).unwrap();
    assert_eq!(migrated.get_dead_letter(id).unwrap().unwrap().letter, newer);
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_layout_3_schema_gains_the_trace_columns_and_its_messages_read_without_a_trace() {
    let first = fresh();
    first.enqueue("q", &message("from layout 3"), T0).unwrap();
    // What layout 3 looked like: no trace context.
    admin(&format!(
        "ALTER TABLE \"{0}\".messages DROP COLUMN traceparent, DROP COLUMN tracestate;
         ALTER TABLE \"{0}\".dead_letters DROP COLUMN traceparent, DROP COLUMN tracestate;
         UPDATE \"{0}\".layout SET version = 3",
        first.schema
    ));
    let migrated = PgStore::connect(&url(&first.schema)).unwrap();
    let mut traced = message("traced");
    traced.trace = Some(relais_store::TraceHeaders {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        tracestate: String::new(),
    });
    migrated.enqueue("q", &traced, T0).unwrap();
    let leased = migrated.ack_and_lease("q", &[], 2, Duration::from_secs(30), T0).unwrap();
    let got: Vec<_> = leased.into_iter().map(|l| l.message).collect();
    assert_eq!(got, vec![message("from layout 3"), traced]);
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_layout_4_schema_gains_the_dead_letters_trace_columns_and_its_letters_read_without_a_trace() {
    let first = fresh();
    let old = behaviour::dead_letter("orders", "kept from layout 4", Some("q"));
    let old_id = first.dead_letter(&old).unwrap();
    // What layout 4 looked like: dead letters without a trace context.
    admin(&format!(
        "ALTER TABLE \"{0}\".dead_letters DROP COLUMN traceparent, DROP COLUMN tracestate;
         UPDATE \"{0}\".layout SET version = 4",
        first.schema
    ));
    let migrated = PgStore::connect(&url(&first.schema)).unwrap();
    assert_eq!(migrated.get_dead_letter(old_id).unwrap().unwrap().letter, old, "no trace context");
    let mut traced = behaviour::dead_letter("orders", "written on layout 5", Some("q"));
    traced.trace = Some(relais_store::TraceHeaders {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
        tracestate: "vendor=abc".to_string(),
    });
    let id = migrated.dead_letter(&traced).unwrap();
    assert_eq!(migrated.get_dead_letter(id).unwrap().unwrap().letter, traced);
    let rows = admin(&format!("SELECT version FROM \"{}\".layout", first.schema));
    assert!(
        rows.iter().any(|row| matches!(row, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("5"))),
        "the layout is 5 now"
    );
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_schema_migrated_by_a_newer_relais_is_refused_and_left_as_it_is() {
    let first = fresh();
    admin(&format!("UPDATE \"{}\".layout SET version = 99", first.schema));
    let error = PgStore::connect(&url(&first.schema)).unwrap_err();
    assert!(matches!(error, StoreError::Incompatible { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("layout version 99, this relais reads 5"), "{message}");
    assert!(message.contains(&format!("schema {}", first.schema)), "{message}");
    let rows = admin(&format!("SELECT version FROM \"{}\".layout", first.schema));
    assert!(
        rows.iter().any(|row| matches!(row,
        tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("99"))),
        "untouched"
    );
}

#[test]
fn a_server_out_of_reach_is_reported_with_the_password_hidden() {
    // Nothing listens on port 1 of the loopback.
    let error = PgStore::connect("postgres://relais:hunter2@127.0.0.1:1/state?connect_timeout=2").unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("postgres://relais:***@127.0.0.1:1/state"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn a_url_relais_cannot_use_is_refused_before_connecting() {
    let error = PgStore::connect("postgres://relais:hunter2@127.0.0.1/state?schema=Bad-Name").unwrap_err();
    assert!(matches!(error, StoreError::BadUrl { .. }), "{error:?}");
    assert!(!error.to_string().contains("hunter2"));
}

/// The server ends every connection of the store (as a restart or a failover does): the calls in flight fail
/// as "unreachable", the store says it is unavailable, and the next calls reconnect and succeed.
#[test]
#[allow(clippy::unwrap_used)]
fn terminated_connections_are_replaced_and_the_store_recovers() {
    let store = fresh();
    store.enqueue("q", &message("before"), T0).unwrap();
    let terminated = admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}'",
        store.schema
    ));
    assert!(terminated.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))), "none terminated");
    // The first call on a terminated connection may fail; it must say so, not hang, and the store recovers.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let stats = loop {
        match store.queue_stats("q", T0) {
            Ok(stats) => break stats,
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                assert!(!store.is_available());
                assert!(std::time::Instant::now() < deadline, "the store did not recover: {e}");
            }
        }
    };
    assert_eq!(stats.ready, 1);
    assert!(store.is_available());
    store.enqueue("q", &message("after"), T0).unwrap();
}

/// Debian's PostgreSQL serves its snakeoil certificate (self-signed, issued for `localhost`): the CA file of the
/// TLS tests.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Whether every connection the store named `schema` has open is encrypted, as the server sees it.
fn connections_are_encrypted(schema: &str) -> bool {
    let rows = admin(&format!(
        "SELECT count(*)::text, coalesce(bool_and(s.ssl), false)::text FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '{schema}'"
    ));
    let row = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => {
            Some((row.get(0).map(str::to_string), row.get(1).map(str::to_string)))
        }
        _ => None,
    });
    let Some((Some(count), Some(all))) = row else { panic!("no answer from pg_stat_ssl") };
    assert_ne!(count, "0", "the store has no connection open");
    all == "true"
}

#[test]
#[allow(clippy::unwrap_used)]
fn sslmode_require_connects_over_tls_and_disable_over_plain_tcp() {
    for (mode, encrypted) in [("require", true), ("disable", false)] {
        let schema = fresh_schema();
        let store = PgStore::connect(&format!("{}&sslmode={mode}", url(&schema))).unwrap();
        let fixture = Fixture { store: Some(store), schema };
        fixture.enqueue("q", &message("over tls"), T0).unwrap();
        assert_eq!(connections_are_encrypted(&fixture.schema), encrypted, "sslmode={mode}");
    }
}

#[test]
#[allow(clippy::unwrap_used)]
fn verify_full_trusts_the_servers_ca_for_its_host_name_and_refuses_any_other() {
    let on_localhost = database().replace("@127.0.0.1", "@localhost");
    let schema = fresh_schema();
    let trusted =
        format!("{on_localhost}?schema={schema}&application_name={schema}&sslmode=verify-full&sslrootcert={SNAKEOIL}");
    let fixture = Fixture { store: Some(PgStore::connect(&trusted).unwrap()), schema };
    assert!(connections_are_encrypted(&fixture.schema));

    // The certificate is issued for `localhost`, not for the address: verify-full refuses, verify-ca accepts.
    let by_address = format!("{}&sslmode=verify-full&sslrootcert={SNAKEOIL}", url(&fresh_schema()));
    let error = PgStore::connect(&by_address).unwrap_err().to_string();
    assert!(error.contains("NotValidForName") || error.contains("not valid for name"), "{error}");
    let schema = fresh_schema();
    let chain_only = format!("{}&sslmode=verify-ca&sslrootcert={SNAKEOIL}", url(&schema));
    let fixture = Fixture { store: Some(PgStore::connect(&chain_only).unwrap()), schema };
    assert!(connections_are_encrypted(&fixture.schema));

    // Another CA (a public root the server's certificate does not lead to): refused, the password never shown.
    let with_password = on_localhost.replacen("://postgres@", "://postgres:hunter2@", 1);
    let wrong_ca = "/etc/ssl/certs/ISRG_Root_X1.pem";
    let error = PgStore::connect(&format!("{with_password}?sslmode=verify-full&sslrootcert={wrong_ca}")).unwrap_err();
    let message = error.to_string();
    assert!(error.is_unavailable(), "{error:?}");
    assert!(message.contains("UnknownIssuer") || message.contains("unknown issuer"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    // A CA file that is not there is named.
    let error =
        PgStore::connect(&format!("{}&sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem", url(&fresh_schema())))
            .unwrap_err();
    assert!(matches!(error, StoreError::BadUrl { .. }), "{error:?}");
    assert!(error.to_string().contains("cannot read CA file `/nonexistent/ca.pem`"), "{error}");
}
