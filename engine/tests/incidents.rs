//! Incidents under fault injection: a flow pushing orders to a simulated CRM (a real hyper server on
//! loopback) that the test makes fail a growing share of orders. The per-system metrics show the CRM's
//! errors and retries; an `error_share` incident opens, its severity rises with the failure share and
//! falls, it closes when the CRM recovers, and the alert flow (posting to a second server) is called at
//! each change, in order, with the incident as its payload; each change is a log line too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use support::{eventually, eventually_within, request};

/// Serves `answer` on a loopback port with hyper: what the CRM and the pager are.
async fn server<F>(answer: F) -> SocketAddr
where
    F: Fn(String, Bytes) -> u16 + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let mut response = hyper::Response::new(Full::new(Bytes::from("{\"id\":\"c\"}")));
                        *response.status_mut() = hyper::StatusCode::from_u16(answer(path, body)).unwrap();
                        response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The CRM: the failure share (percent) decides, at each order's first call, whether `PUT /contacts/N`
/// fails (503), spread evenly over the orders as they arrive; an order that failed fails on every retry
/// too, so the share of failed orders is the share set, whatever the timing.
async fn crm(share: Arc<AtomicU64>) -> SocketAddr {
    #[derive(Default)]
    struct Decided {
        first_calls: u64,
        seen: std::collections::HashSet<u64>,
        failing: std::collections::HashSet<u64>,
    }
    let decided = Mutex::new(Decided::default());
    server(move |path, _| {
        let n: u64 = path.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut d = decided.lock().unwrap();
        if d.seen.insert(n) {
            d.first_calls += 1;
            let (k, s) = (d.first_calls, share.load(Ordering::SeqCst));
            if k * s / 100 > (k - 1) * s / 100 {
                d.failing.insert(n);
            }
        }
        if d.failing.contains(&n) {
            503
        } else {
            200
        }
    })
    .await
}

fn flows(crm: SocketAddr, pager: SocketAddr) -> String {
    format!(
        r##"
configs:
  api: {{ http.listener: {{ port: 0 }} }}
  crm: {{ http.client: {{ base_url: "http://{crm}" }} }}
  pager: {{ http.client: {{ base_url: "http://{pager}" }} }}
flows:
  push_to_crm:
    objectives:
      error_share: {{ max: 5%, over: 3s }}
      alert_flow: on_incident
    source: {{ http.listener: {{ config: api, method: PUT, path: "/orders" }} }}
    steps:
      - until_successful:
          max_retries: 1
          backoff: {{ initial: 1ms, max: 2ms }}
          steps:
            - http.request: {{ config: crm, method: PUT, path: "/contacts/#[payload.n]" }}
  on_incident:
    steps:
      - http.request: {{ config: pager, method: POST, path: /alerts }}
"##
    )
}

/// Every log line, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One hundred new orders (numbered on from the last), ten at a time.
async fn orders(api: SocketAddr) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut senders = Vec::new();
    for _ in 0..10 {
        senders.push(tokio::spawn(async move {
            for _ in 0..10 {
                let body = format!("{{\"n\":{}}}", NEXT.fetch_add(1, Ordering::SeqCst));
                request(api, "PUT", "/orders", &[("content-type", "application/json")], body.as_bytes()).await;
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
}

/// The open incidents, as `/incidents` lists them.
async fn open(admin: SocketAddr) -> Vec<Value> {
    let (status, _, body) = request(admin, "GET", "/incidents", &[], b"").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["incidents"].as_array().unwrap().clone()
}

/// Sends orders until the flow's error-share incident is at `severity` (`None`: closed).
async fn orders_until(api: SocketAddr, admin: SocketAddr, severity: Option<u64>) {
    let what = format!("the error_share incident of push_to_crm at severity {severity:?}");
    eventually_within(std::time::Duration::from_secs(120), &what, || async {
        orders(api).await;
        let open = open(admin).await;
        match severity {
            None => open.is_empty(),
            Some(s) => open.iter().any(|i| {
                i["flow"] == "push_to_crm" && i["objective"] == "error_share" && i["severity"].as_u64() == Some(s)
            }),
        }
    })
    .await;
}

fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_opens_rises_with_the_crm_failure_share_closes_when_it_recovers_and_each_change_is_alerted() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt().json().with_writer(move || writer.clone()).init();
    let share = Arc::new(AtomicU64::new(0));
    let crm = crm(share.clone()).await;
    let alerts = Arc::new(Mutex::new(Vec::<Value>::new()));
    let received = alerts.clone();
    let pager = server(move |_, body| {
        received.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        200
    })
    .await;
    let dir = support::write_files(&[("flows.yaml", &flows(crm, pager))]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon = support::daemon_with_admin(program).await;
    daemon.grade_incidents_every(std::time::Duration::from_millis(100));
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());

    // A healthy CRM: orders go through and nothing opens.
    orders(api).await;
    orders(api).await;
    assert_eq!(open(admin).await, Vec::<Value>::new());

    // 8 % of orders fail (1.6 x the objective): minor; 30 % (6 x): severity 2; 60 % (12 x): critical. The
    // window holds hundreds of orders, so that one order more or less in it moves the ratio far less than
    // the hysteresis band.
    for (percent, severity) in [(8, 4), (30, 2), (60, 1)] {
        share.store(percent, Ordering::SeqCst);
        orders_until(api, admin, Some(severity)).await;
    }
    let (_, _, metrics) = request(admin, "GET", "/metrics", &[], b"").await;
    let crm_errors = "relais_outbound_errors_total{config=\"crm\",type=\"HTTP:SERVICE_UNAVAILABLE\",status=\"503\"}";
    assert!(value(&metrics, crm_errors).is_some_and(|n| n > 0.0), "{metrics}");
    assert!(value(&metrics, "relais_outbound_retries_total{config=\"crm\"}").is_some_and(|n| n > 0.0), "{metrics}");
    let gauge = "relais_incidents_open{flow=\"push_to_crm\",objective=\"error_share\",severity=\"1\"}";
    assert_eq!(value(&metrics, gauge), Some(1.0), "{metrics}");

    // The CRM recovers: the incident falls and closes.
    share.store(0, Ordering::SeqCst);
    orders_until(api, admin, None).await;
    eventually("the alert of the closing", || async {
        alerts.lock().unwrap().last().is_some_and(|a| a["state"] == "closed")
    })
    .await;

    let alerts = alerts.lock().unwrap().clone();
    let first = &alerts[0];
    assert_eq!((first["state"].as_str(), first["severity"].as_u64()), (Some("opened"), Some(4)), "{alerts:#?}");
    assert_eq!(first["previous_severity"], Value::Null);
    for pair in alerts.windows(2) {
        // Each alert follows the one before: its previous severity is the severity the last one left.
        assert_eq!(pair[1]["previous_severity"], pair[0]["severity"], "{alerts:#?}");
    }
    let severities: Vec<u64> = alerts.iter().filter_map(|a| a["severity"].as_u64()).collect();
    let peak = severities.iter().position(|s| *s == 1).expect("the incident reached severity 1");
    assert!(severities[..=peak].windows(2).all(|w| w[1] < w[0]), "rising while the CRM failed more: {severities:?}");
    assert!(severities[peak..].windows(2).all(|w| w[1] > w[0]), "falling once it recovered: {severities:?}");
    for a in &alerts {
        assert_eq!((a["flow"].as_str(), a["objective"].as_str()), (Some("push_to_crm"), Some("error_share")));
        assert_eq!((a["objective_value"].as_f64(), a["unit"].as_str()), (Some(5.0), Some("percent")));
        assert_eq!(a["opened_at"], first["opened_at"], "one incident throughout");
        assert!(a["observed"].as_f64().is_some(), "{a}");
    }
    let last = alerts.last().unwrap();
    assert_eq!((last["state"].as_str(), &last["severity"]), (Some("closed"), &Value::Null));
    assert!(alerts[1..alerts.len() - 1].iter().all(|a| a["state"] == "changed"), "{alerts:#?}");

    // Each change is a log line of its own, in the same order.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "relais::incidents" && l["fields"]["flow"] == "push_to_crm")
        .collect();
    let said: Vec<&str> = lines.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    assert_eq!(said.len(), alerts.len(), "{said:#?}");
    assert!(said[0].starts_with("incident opened: push_to_crm error_share"), "{said:#?}");
    assert!(said[1..said.len() - 1].iter().all(|l| l.starts_with("incident changed: push_to_crm")), "{said:#?}");
    assert!(said[said.len() - 1].starts_with("incident closed: push_to_crm error_share"), "{said:#?}");
    daemon.shutdown(std::time::Duration::from_secs(2)).await;
}

const NIGHTLY: &str = r#"
flows:
  nightly:
    objectives: { schedule_missed: 10h, alert_flow: on_incident }
    steps:
      - logger: ran
  on_incident:
    steps:
      - logger: "incident #[payload.state]: #[payload.flow] #[payload.objective] #[payload.severity]"
"#;

/// Advances tokio's paused clock by `step`, `times` times, letting the tick run after each.
async fn advance(step: std::time::Duration, times: u32) {
    for _ in 0..times {
        tokio::time::advance(step).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_tick_and_the_clock_it_reads_can_be_virtual_so_a_day_without_a_run_is_graded_in_no_time() {
    use relais_engine::runtime::{Event, Runtime};
    let loaded = support::checked(&support::write_files(&[("flows.yaml", NIGHTLY)]));
    let origin = chrono::Utc::now();
    let start = tokio::time::Instant::now();
    let clock = relais_stdlib::Clock::following(origin, move || start.elapsed());
    let program =
        relais_engine::plan::compile_program(&loaded, clock, relais_engine::components::registry()).ok().unwrap();
    let runtime = Runtime::new(program);
    runtime.run_flow("nightly", Event::new(Value::Null)).await.unwrap();
    let incidents = Arc::new(relais_engine::incidents::Incidents::default());
    let (_current, current) = tokio::sync::watch::channel(runtime.clone());
    let (_every, every) = tokio::sync::watch::channel(std::time::Duration::from_secs(600));
    let (_stop, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(relais_engine::incidents::watch::watch(current, incidents.clone(), every, stop));
    // The tick takes its first reading and waits for its first period, at the virtual instant 0.
    advance(std::time::Duration::ZERO, 1).await;
    let ten_minutes = std::time::Duration::from_secs(600);

    // Ten hours and a tick without a run: minor; twenty-one hours (2.1 x): severity 3.
    advance(ten_minutes, 61).await;
    let open = incidents.open();
    assert_eq!(open.iter().map(|i| (i.flow.as_str(), i.severity)).collect::<Vec<_>>(), [("nightly", 4)]);
    let opened = i64::try_from(open[0].opened_at).unwrap() - origin.timestamp_millis();
    assert_eq!(opened, 610 * 60 * 1000, "opened at the virtual instant of the tick that saw it");
    advance(ten_minutes, 65).await;
    assert_eq!(incidents.open()[0].severity, 3);
    assert_eq!(incidents.open()[0].previous_severity, Some(4));

    // A run that succeeds: the next tick closes it.
    runtime.run_flow("nightly", Event::new(Value::Null)).await.unwrap();
    advance(ten_minutes, 1).await;
    assert!(incidents.open().is_empty(), "{:?}", incidents.open());
}
