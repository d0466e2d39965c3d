//! The reference integration end to end: the daemon on the real `flows/` (integration and simulated
//! systems, on free loopback ports), the simulators failing 10 % of calls (503, 429, slow answers beyond the
//! callers' timeouts). A few hundred orders and accreditation changes are replayed and the SMS reminder job
//! is run; then every order must be in the CRM exactly once or dead-lettered with its error, every reminder
//! sent once, every patient record and transport right written (or dead-lettered), and no sensitive value
//! of the accreditations (dates of birth, passport numbers, medical notes) may appear in any request a
//! partner system received (recorded byte for byte by a proxy in front of each), in any log line at trace
//! level, in any answer relais gave its callers (problem+json and error responses included) or in any
//! admin answer (dead letters one by one, metrics).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_engine::runtime::Runtime;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ORDERS: usize = 300;
const ACCREDITATIONS: usize = 200;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What a recording proxy saw relais send its partner.
type Recorded = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// A recording proxy: what it saw, and a switch that takes its partner down. Down means new connections are
/// closed at once and the open ones are cut: relais keeps idle keep-alive connections in its pool, and a
/// partner that only refused new connections would still answer on those.
#[derive(Clone)]
struct Proxy {
    recorded: Recorded,
    down: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl Proxy {
    /// Takes the partner down for good.
    fn take_down(&self) {
        self.down.send_replace(true);
    }
}

/// A TCP proxy on a free loopback port in front of the simulated partner on `to`: every byte relais sends
/// the partner (request lines, headers, bodies) is kept, the partner's answers are passed back untouched.
async fn recording_proxy(to: u16) -> (u16, Proxy) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxy =
        Proxy { recorded: Recorded::default(), down: std::sync::Arc::new(tokio::sync::watch::Sender::new(false)) };
    let (keep, down) = (proxy.recorded.clone(), proxy.down.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if *down.borrow() {
                drop(client);
                continue;
            }
            let keep = keep.clone();
            let mut cut = down.subscribe();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else { return };
                let (mut from_client, mut to_client) = client.split();
                let (mut from_server, mut to_server) = server.split();
                let upstream = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                keep.lock().unwrap().extend_from_slice(&buf[..n]);
                                if to_server.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to_server.shutdown().await;
                };
                let downstream = async {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    let _ = to_client.shutdown().await;
                };
                // Dropping both sockets when the partner goes down cuts the connection.
                tokio::select! {
                    _ = async { tokio::join!(upstream, downstream) } => {}
                    _ = cut.wait_for(|down| *down) => {}
                }
            });
        }
    });
    (port, proxy)
}

/// The partner systems relais calls (DOMAIN.md: CRM, ticketing, SMS gateway, transport app).
const PARTNERS: [&str; 4] = ["crm", "ticketing", "sms", "transport"];

/// The reference flows in a temporary directory, with an environment that moves every listener to a free
/// port, turns fault injection on and sends every partner call through a recording proxy (`proxies`: the
/// simulated partner's port to the proxy's, by [`PARTNERS`] order).
async fn flows_with_chaos() -> (PathBuf, Vec<(&'static str, Proxy)>) {
    let dir = std::env::temp_dir().join(format!("relais-reference-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&relais_tests::fixtures().join("../../flows"), &dir);
    let [api, crm, ticketing, sms, accreditation, transport, ehr] = std::array::from_fn(|_| free_port());
    let mut recorded = Vec::new();
    let mut via = Vec::new();
    for (name, port) in PARTNERS.into_iter().zip([crm, ticketing, sms, transport]) {
        let (proxy, seen) = recording_proxy(port).await;
        recorded.push((name, seen));
        via.push(proxy);
    }
    let [crm_via, ticketing_via, sms_via, transport_via] = [via[0], via[1], via[2], via[3]];
    let env = format!(
        "http.port: {api}\n\
         crm.base_url: http://127.0.0.1:{crm_via}/crm\n\
         crm.token_url: http://127.0.0.1:{crm_via}/crm/oauth/token\n\
         ticketing.base_url: http://127.0.0.1:{ticketing_via}/ticketing\n\
         sms.base_url: http://127.0.0.1:{sms_via}/sms\n\
         accreditation.base_url: http://127.0.0.1:{accreditation}/accreditation\n\
         transport.base_url: http://127.0.0.1:{transport_via}/transport\n\
         ehr.base_url: http://127.0.0.1:{ehr}/ehr\n\
         crm.timeout: 3s\n\
         sms.timeout: 3s\n\
         transport.timeout: 3s\n\
         ehr.timeout: 3s\n\
         sim.crm.port: {crm}\n\
         sim.ticketing.port: {ticketing}\n\
         sim.sms.port: {sms}\n\
         sim.accreditation.port: {accreditation}\n\
         sim.transport.port: {transport}\n\
         sim.ehr.port: {ehr}\n\
         sim.relais.base_url: http://127.0.0.1:{api}\n\
         sim.failure_rate: 0.1\n\
         sim.slow_response: 4s\n\
         sim.sms.rate_limit: 1000\n"
    );
    std::fs::write(dir.join("env/e2e.yaml"), env).unwrap();
    (dir, recorded)
}

/// The sensitive values of the first `n` accreditations of the simulated accreditation service: date of
/// birth, passport number and medical notes (columns 3, 5 and 11). Visa statuses (`granted`,
/// `not_required`) are words of ordinary text, not identifying values, and are left out.
fn sensitive_values(dir: &Path, n: usize) -> Vec<(String, String)> {
    let table = std::fs::read_to_string(dir.join("sim/data/accreditations.csv")).unwrap();
    let mut values = Vec::new();
    for row in table.lines().skip(1).take(n) {
        let fields: Vec<&str> = row.split(',').collect();
        for value in [fields[3], fields[5], fields[11]] {
            if !value.is_empty() {
                values.push((fields[0].to_string(), value.to_string()));
            }
        }
    }
    values
}

/// Fails naming the first sensitive value `text` (what `exit` let out) holds, and the accreditation.
fn assert_no_sensitive_value(exit: &str, text: &str, values: &[(String, String)]) {
    for (id, value) in values {
        assert!(!text.contains(value.as_str()), "`{value}` of {id} reached {exit}");
    }
}

/// One HTTP/1.1 exchange; status and parsed JSON body (`Null` when the body is not JSON).
async fn call(addr: SocketAddr, method: &str, path: &str, body: &Value) -> (u16, Value) {
    call_with(addr, method, path, body, "").await
}

/// [`call`] with extra header lines (`name: value\r\n`).
async fn call_with(addr: SocketAddr, method: &str, path: &str, body: &Value, headers: &str) -> (u16, Value) {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\n\
         {headers}content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn addr_of(daemon: &relais_engine::daemon::Daemon, listener: &str) -> SocketAddr {
    daemon.listeners.iter().find(|(name, _)| name == listener).map(|l| l.1).expect(listener)
}

/// Every log line the daemon writes, kept for the test to search.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_integration_survives_ten_percent_partner_failures_without_losing_or_leaking_anything() {
    std::env::set_var("CRM_CLIENT_SECRET", "dev-secret");
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .init();
    let (dir, partners) = flows_with_chaos().await;
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), Some("e2e".into()));
    let errors: Vec<_> = loaded.diags.iter().filter(|d| d.severity == relais_dsl::Severity::Error).collect();
    assert!(errors.is_empty(), "{:?}", errors.iter().map(|d| &d.message).collect::<Vec<_>>());
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .ok()
    .unwrap();
    let daemon = relais_engine::daemon::start_with_admin_access(
        relais_engine::components::registry(),
        Runtime::new(program),
        Some("127.0.0.1:0".parse().unwrap()),
        relais_engine::daemon::AdminAccess::insecure_loopback(),
    )
    .await
    .unwrap();
    let admin = daemon.admin.unwrap();
    let (api, crm, sms) = (addr_of(&daemon, "api"), addr_of(&daemon, "sim_crm_api"), addr_of(&daemon, "sim_sms_api"));
    let ticketing = addr_of(&daemon, "sim_ticketing_api");
    let accreditation = addr_of(&daemon, "sim_accreditation_api");
    let (transport, ehr) = (addr_of(&daemon, "sim_transport_api"), addr_of(&daemon, "sim_ehr_api"));

    // Replay orders (each webhook twice for one in ten: ticketing retries too) and accreditation changes.
    let orders: Vec<Value> = std::fs::read_to_string(dir.join("data/samples/orders.jsonl"))
        .unwrap()
        .lines()
        .take(ORDERS)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Ticketing sends at most 32 webhooks at once.
    let senders = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let mut sends = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        let order = order.clone();
        let permit = senders.clone().acquire_owned().await.unwrap();
        sends.push(tokio::spawn(async move {
            let _permit = permit;
            let first = call(api, "POST", "/ticketing/orders", &order).await;
            if i % 10 == 0 {
                let again = call(api, "POST", "/ticketing/orders", &order).await;
                assert_eq!((again.0, again.1["status"].as_str()), (202, Some("duplicate")), "{again:?}");
            }
            first
        }));
    }
    for i in 1..=ACCREDITATIONS {
        let event = json!({ "accreditation_id": format!("ACC-{i:04}"), "change": "updated" });
        let permit = senders.clone().acquire_owned().await.unwrap();
        sends.push(tokio::spawn(async move {
            let _permit = permit;
            call(api, "POST", "/accreditation/events", &event).await
        }));
    }
    // Everything relais answers its callers is kept, to be searched for sensitive values.
    let mut answers = String::new();
    for send in sends {
        let (status, body) = send.await.unwrap();
        assert_eq!(status, 202, "{body}");
        answers.push_str(&body.to_string());
    }
    // Access decisions read the private accreditation service, failing under faults (502 with the error);
    // an unknown accreditation is a 404; an event that breaks its schema while carrying a passport number
    // is a problem+json 400.
    for i in 1..=60 {
        let (status, body) = call(api, "GET", &format!("/access/ACC-{i:04}/transport"), &Value::Null).await;
        assert!(status == 200 || status == 502, "{status} {body}");
        answers.push_str(&body.to_string());
    }
    let (status, body) = call(api, "GET", "/access/ACC-9999/transport", &Value::Null).await;
    assert!(status == 404 || status == 502, "{status} {body}");
    answers.push_str(&body.to_string());
    let passport = sensitive_values(&dir, 1)[1].1.clone();
    let bad = json!({ "accreditation_id": 7, "change": "updated", "passport_number": passport });
    let (status, body) = call(api, "POST", "/accreditation/events", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_type"].as_str().is_some_and(|t| t.starts_with("VALIDATION")), "{body}");
    answers.push_str(&body.to_string());

    // The reminder and marketing jobs, as their schedules would run them. With partners failing, a job may
    // end JOB:INCOMPLETE; an operator runs it again and only the missing items go out (none twice).
    let reminder = run_job_until_complete(&daemon, "sms_reminder").await;
    run_job_until_complete(&daemon, "marketing_push").await;
    let (status, overview) = call(api, "GET", "/sales/overview", &Value::Null).await;
    assert!(status == 200 || status == 502, "{overview}");

    // Wait for the queues to drain (redeliveries included).
    let state = daemon.state();
    let persistent_pending = || {
        ["crm_contacts", "patient_records", "transport_rights"].iter().any(|q| {
            state.durable().queue_stats(q, relais_engine::runtime::state::now()).map(|s| s.total() > 0).unwrap_or(true)
        })
    };
    let drained = || state.queues().iter().all(|q| q.depth() + q.in_flight() == 0) && !persistent_pending();
    wait_until("the queues to drain", Duration::from_secs(240), drained).await;
    let dead: Vec<_> = state.dead_letters();
    let dead_orders: HashSet<String> = dead
        .iter()
        .filter(|d| d.queue == "crm_contacts")
        .map(|d| serde_json::from_slice::<Value>(&d.payload).unwrap()["order_id"].as_str().unwrap().to_string())
        .collect();
    for letter in &dead {
        assert!(!letter.error_type.is_empty() && !letter.description.is_empty() && letter.attempts == 5, "{letter:?}");
    }

    // Every order is in the CRM, once (one record per external id, however many deliveries it took), or
    // dead-lettered with its error; never both.
    let mut in_crm = 0;
    for order in &orders {
        let id = order["order_id"].as_str().unwrap();
        let (status, contact) = call(crm, "GET", &format!("/crm/contacts/ticketing-{id}"), &Value::Null).await;
        match status {
            200 => {
                in_crm += 1;
                assert!(!dead_orders.contains(id), "{id} is both in the CRM and dead-lettered");
                assert!(contact["upserts"].as_i64().unwrap() >= 1);
                assert!(!contact["interests"].as_array().unwrap().is_empty(), "{contact}");
            }
            _ => assert!(dead_orders.contains(id), "order {id} is neither in the CRM nor dead-lettered"),
        }
    }
    assert!(in_crm >= ORDERS * 9 / 10, "only {in_crm} of {ORDERS} orders reached the CRM");

    // Accreditations: athletes and team officials have a patient record, everyone transport rights, unless
    // dead-lettered.
    let dead_of = |queue: &str| -> HashSet<String> {
        dead.iter()
            .filter(|d| d.queue == queue)
            .map(|d| serde_json::from_slice::<Value>(&d.payload).unwrap()["accreditation_id"].as_str().unwrap().into())
            .collect()
    };
    let (dead_rights, dead_patients) = (dead_of("transport_rights"), dead_of("patient_records"));
    let mut patients = 0;
    for i in 1..=ACCREDITATIONS {
        let id = format!("ACC-{i:04}");
        let (status, rights) = call(transport, "GET", &format!("/transport/rights/{id}"), &Value::Null).await;
        assert!(status == 200 || dead_rights.contains(&id), "{id}: no transport rights ({status})");
        if status == 200 {
            let keys: Vec<&String> = rights.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["allowed_services", "category", "id", "name"], "{rights}");
        }
        let (status, _) = call(ehr, "GET", &format!("/ehr/Patient/{id}"), &Value::Null).await;
        patients += usize::from(status == 200);
        let path = format!("/accreditation/accreditations/{id}");
        let (_, person) = call_with(accreditation, "GET", &path, &Value::Null, "x-sim-fault: none\r\n").await;
        let needs_record = matches!(person["category"].as_str(), Some("athlete" | "team_official"));
        assert_eq!(
            status == 200,
            needs_record && !dead_patients.contains(&id),
            "{id} ({}): patient record {status}",
            person["category"]
        );
    }
    assert!(patients > 0, "no patient record was written");

    // Every holder of tomorrow's sessions who accepts SMS got one reminder: the gateway holds one message per
    // reference; retries that crossed a timeout were acknowledged as duplicates instead of sent again.
    let day = reminder.vars["day"].clone();
    let no_fault = "x-sim-fault: none\r\n";
    let query =
        format!("/ticketing/sessions?starts_after={}&starts_before={}", day["start"], day["end"]).replace('"', "");
    let (status, sessions) = call_with(ticketing, "GET", &query.replace('+', "%2B"), &Value::Null, no_fault).await;
    assert_eq!(status, 200, "{sessions}");
    let mut reminders = 0;
    for session in sessions["sessions"].as_array().unwrap() {
        let id = session["session_id"].as_str().unwrap();
        let path = format!("/ticketing/sessions/{id}/holders?sms_consent=true");
        let (_, holders) = call_with(ticketing, "GET", &path, &Value::Null, no_fault).await;
        for holder in holders["holders"].as_array().unwrap() {
            let reference = format!("{id}:{}", holder["holder_id"].as_str().unwrap());
            let (status, message) = call(sms, "GET", &format!("/sms/messages/{reference}"), &Value::Null).await;
            assert_eq!(status, 200, "no reminder for {reference}");
            assert!(message["to"].as_str().unwrap().starts_with('+'), "{message}");
            reminders += 1;
        }
    }
    assert!(reminders > 0, "tomorrow has sessions with holders in the generated data");
    let (_, stats) = call(sms, "GET", "/sms/_sim/stats", &Value::Null).await;
    let duplicates = stats["duplicates"].as_i64().unwrap();
    let (_, leaks) = call(crm, "GET", "/_sim/leaks", &Value::Null).await;
    assert_eq!(leaks["leaks"], 0, "a partner system received sensitive data");

    // The transport app goes down for good: the rights of three athletes are dead-lettered (their change
    // events were read with the people's sensitive data) and shown on the admin port below.
    // First one more change goes through, so that relais holds pooled keep-alive connections to the transport
    // app when it goes down: those are cut too.
    let transport_proxy = &partners[3].1;
    let puts = || {
        let seen = String::from_utf8_lossy(&transport_proxy.recorded.lock().unwrap()).to_string();
        seen.matches("PUT /transport/rights/ACC-0004 ").count()
    };
    let puts_before = puts();
    let event = json!({ "accreditation_id": "ACC-0004", "change": "updated" });
    assert_eq!(call(api, "POST", "/accreditation/events", &event).await.0, 202);
    let through = || puts() > puts_before && !persistent_pending();
    wait_until("the change of ACC-0004 to reach the transport app", Duration::from_secs(120), through).await;
    let rights_letters = || state.dead_letters().iter().filter(|d| d.queue == "transport_rights").count();
    transport_proxy.take_down();
    let (before, rights_before) = (state.dead_letters().len(), rights_letters());
    for i in 1..=3 {
        let event = json!({ "accreditation_id": format!("ACC-{i:04}"), "change": "updated" });
        assert_eq!(call(api, "POST", "/accreditation/events", &event).await.0, 202);
    }
    // Each of the `delivery.attempts` deliveries makes three calls to the dead partner (refused at once),
    // with backoff and a redelivery delay between: seconds. The deadline only bounds a hang.
    let lettered = || rights_letters() >= rights_before + 3;
    wait_until("the rights of a partner that is down to be dead-lettered", Duration::from_secs(600), lettered).await;
    let dead = state.dead_letters();
    assert!(dead.len() >= before + 3, "{dead:?}");

    // No sensitive value of the replayed accreditations went out of the private zone: not in any request a
    // partner received, any log line (trace level), any answer to a caller, any admin answer.
    let values = sensitive_values(&dir, ACCREDITATIONS);
    assert!(values.len() > 2 * ACCREDITATIONS, "the table holds dates of birth, passports and notes");
    for (partner, proxy) in &partners {
        let seen = String::from_utf8_lossy(&proxy.recorded.lock().unwrap()).to_string();
        assert!(!seen.is_empty(), "relais called the {partner} partner through its proxy");
        assert_no_sensitive_value(&format!("the {partner} partner"), &seen, &values);
    }
    let transport_seen = String::from_utf8_lossy(&transport_proxy.recorded.lock().unwrap()).to_string();
    assert!(transport_seen.contains("PUT /transport/rights/ACC-"), "the proxy saw the transport rights");
    assert_no_sensitive_value("an answer to a caller", &answers, &values);
    let mut admin_answers = String::new();
    for path in ["/dead-letters", "/metrics", "/health", "/ready"] {
        let (status, body) = call(admin, "GET", path, &Value::Null).await;
        assert!(status == 200 || path == "/ready", "{path}: {status} {body}");
        admin_answers.push_str(&body.to_string());
    }
    for letter in &dead {
        let (status, body) = call(admin, "GET", &format!("/dead-letters/{}", letter.id), &Value::Null).await;
        assert_eq!(status, 200, "{body}");
        admin_answers.push_str(&body.to_string());
    }
    assert_no_sensitive_value("an admin answer", &admin_answers, &values);
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(text.contains("patient record"), "the logs were captured");
    assert_no_sensitive_value("the logs", &text, &values);
    println!(
        "orders in CRM {in_crm}/{ORDERS}, dead letters {}, patient records {patients}, reminders {reminders}, \
         repeated SMS suppressed {duplicates}",
        dead.len()
    );
    assert!(daemon.shutdown(Duration::from_secs(10)).await);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until `done` holds, checking every 100 ms, and fails naming `what` after `patience`.
async fn wait_until(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < until, "waited {patience:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a scheduled job the way an operator would after it ended incomplete or found a partner down: again,
/// up to five runs in all. Items done by an earlier run are skipped by their idempotency keys.
async fn run_job_until_complete(daemon: &relais_engine::daemon::Daemon, job: &str) -> relais_engine::runtime::Event {
    let mut run = 0;
    loop {
        run += 1;
        match daemon.runtime().run_flow(job, relais_engine::runtime::Event::new(Value::Null)).await {
            Ok(done) => return done,
            Err(e) if ["JOB:INCOMPLETE", "RETRY:EXHAUSTED"].contains(&e.error_type.to_string().as_str()) && run < 5 => {
                eprintln!("{job} run {run}: {}; running it again", e.description)
            }
            Err(e) => panic!("the {job} job failed on run {run}: {e:?}"),
        }
    }
}
