//! The status page rendered by a real browser (headless Chromium, Debian's `chromium`; `.ci/run` installs
//! it): after traffic has stopped, the numbers the page shows for each flow (events, errors, p99 latency,
//! retries, dead letters), each queue's depth and the open incidents are those `/metrics` exposes, scraped
//! around the rendering. With a token-protected admin port the page asks for the token and holds none;
//! without one it offers no actions at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use relais_engine::daemon::AdminAccess;
use relais_engine::runtime::Runtime;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use support::{eventually, request};

const TOKEN: &str = "status-page-token-0123456789";

const FLOWS: &str = r##"
configs:
  api: { http.listener: { port: 0 } }
flows:
  accept:
    source: { http.listener: { config: api, method: POST, path: /orders } }
    steps:
      - choice:
          - when: "#[payload.park == true]"
            steps:
              - queue.publish: { queue: parked, persistent: true }
          - otherwise:
              - queue.publish: { queue: orders }
  work:
    source: { queue.listener: { queue: orders, max_deliveries: 2, redelivery_delay: 1ms } }
    steps:
      - until_successful:
          max_retries: 1
          backoff: { initial: 1ms, max: 2ms }
          steps:
            - choice:
                - when: "#[payload.fail == true]"
                  steps:
                    - raise_error: { type: "CRM:REFUSED", description: "refused" }
  broken:
    objectives:
      error_share: { max: 1%, over: 10m }
    source: { http.listener: { config: api, method: POST, path: /broken } }
    steps:
      - raise_error: { type: "APP:BROKEN", description: "always" }
"##;

/// The DOM of `url` after its scripts ran and fetched what they fetch, as Chromium dumps it.
async fn dump_dom(url: String) -> String {
    let profile = std::env::temp_dir().join(format!("relais-status-chromium-{}-{}", std::process::id(), url.len()));
    let _ = std::fs::remove_dir_all(&profile);
    let child = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Virtual time runs the page's timers and waits for its fetches before the DOM is dumped.
            "--virtual-time-budget=4000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start `chromium` ({e}): install it with `apt-get install -y chromium` (.ci/run does)")
        });
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    // A generous deadline: a cold start on a busy machine takes seconds, never minutes.
    let out = match tokio::time::timeout(Duration::from_secs(120), waiting).await {
        Ok(out) => out.unwrap().unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("chromium did not finish dumping {url} within 120 s");
        }
    };
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed on {url}");
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the `<td class="CLASS">` cells of the row whose `data-ATTR="KEY"`, by class.
fn row(dom: &str, attr: &str, key: &str) -> BTreeMap<String, String> {
    let start = dom.find(&format!("<tr data-{attr}=\"{key}\"")).unwrap_or_else(|| panic!("no row {key} in\n{dom}"));
    let rest = &dom[start..];
    let row = &rest[..rest.find("</tr>").unwrap()];
    let mut cells = BTreeMap::new();
    for cell in row.split("<td class=\"").skip(1) {
        let (class, rest) = cell.split_once('"').unwrap();
        let text = rest.split_once('>').unwrap().1.split("</td>").next().unwrap();
        cells.insert(class.to_string(), text.to_string());
    }
    cells
}

/// The series of `/metrics` text, by name with labels.
fn series(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v))))
        .collect()
}

/// The sum of every series of family `name` whose labels hold `label` (`flow="work"`).
fn sum(s: &BTreeMap<String, f64>, name: &str, label: &str) -> f64 {
    s.iter().filter(|(k, _)| k.starts_with(&format!("{name}{{")) && k.contains(label)).map(|(_, v)| v).sum()
}

/// The 99th percentile of a flow's latency, in milliseconds with one decimal as the page writes it,
/// estimated from the exposed buckets the way Prometheus' `histogram_quantile` does.
fn p99_ms(s: &BTreeMap<String, f64>, flow: &str) -> String {
    let prefix = format!("relais_flow_latency_seconds_bucket{{flow=\"{flow}\",le=\"");
    let mut buckets: Vec<(f64, f64)> = s
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|le| (le.trim_end_matches("\"}").to_string(), *v)))
        .filter(|(le, _)| le != "+Inf")
        .map(|(le, v)| (le.parse::<f64>().unwrap(), v))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let count = s[&format!("relais_flow_latency_seconds_count{{flow=\"{flow}\"}}")];
    let rank = 0.99 * count;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, upto) in &buckets {
        if *upto >= rank {
            let seconds = lower + (bound - lower) * (rank - below) / (upto - below);
            return format!("{:.1}", seconds * 1000.0);
        }
        (lower, below) = (*bound, *upto);
    }
    format!("{:.1}", buckets.last().unwrap().0 * 1000.0)
}

async fn metrics(admin: SocketAddr) -> BTreeMap<String, f64> {
    series(&request(admin, "GET", "/metrics", &[], b"").await.2)
}

async fn start(access: AdminAccess) -> relais_engine::daemon::Daemon {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (_, program) = support::compile_dir(&dir, None);
    let admin = SocketAddr::from(([127, 0, 0, 1], 0));
    let registry = relais_engine::components::registry();
    let daemon = relais_engine::daemon::start_with_admin_access(registry, Runtime::new(program), Some(admin), access)
        .await
        .unwrap();
    daemon.grade_incidents_every(Duration::from_millis(50));
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_in_a_browser_the_numbers_metrics_exposes_and_asks_for_the_token_it_never_holds() {
    let daemon = start(AdminAccess::with_tokens([TOKEN.to_string()]).unwrap()).await;
    let (api, admin) = (daemon.listeners[0].1, daemon.admin.unwrap());
    for i in 0..40 {
        let body = format!("{{\"id\":{i},\"fail\":{},\"park\":{}}}", i % 10 == 0, i % 13 == 0);
        assert_eq!(request(api, "POST", "/orders", &[], body.as_bytes()).await.0, 200);
    }
    for _ in 0..25 {
        assert_eq!(request(api, "POST", "/broken", &[], b"{}").await.0, 500);
    }
    // 4 orders parked, 36 worked on, of which 3 fail both their deliveries and are dead-lettered.
    // Traffic has stopped once every order is done (the failing ones dead-lettered) and the broken
    // flow's incident is open.
    eventually("the orders to be processed and the incident to open", || async {
        let m = metrics(admin).await;
        sum(&m, "relais_dead_letters_total", "flow=\"work\"") == 3.0
            && m.get("relais_queue_acked_total{queue=\"orders\"}") == Some(&33.0)
            && m.get("relais_queue_depth{queue=\"orders\"}") == Some(&0.0)
            && m.get("relais_queue_in_flight{queue=\"orders\"}") == Some(&0.0)
            && sum(&m, "relais_incidents_open", "flow=\"broken\"") == 1.0
    })
    .await;
    let before = metrics(admin).await;
    let page = request(admin, "GET", "/status", &[], b"").await;
    assert_eq!(page.0, 200);
    assert!(page.1.contains("content-type: text/html"), "{}", page.1);
    for external in ["<script src", "<link", "@import", "url(", "http://", "https://"] {
        assert!(!page.2.contains(external), "the page must fetch nothing from elsewhere, found `{external}`");
    }
    assert!(!page.2.contains(TOKEN), "the page holds no token");
    let dom = dump_dom(format!("http://{admin}/status")).await;
    let after = metrics(admin).await;
    let stable = |k: &str| before.get(k) == after.get(k);
    assert!(before.keys().filter(|k| !k.starts_with("relais_uptime") && !k.contains("age_seconds")).all(|k| stable(k)));
    assert!(dom.contains("data-loaded=\"yes\""), "the page did not render status.json:\n{dom}");

    for flow in ["accept", "work", "broken"] {
        let cells = row(&dom, "flow", flow);
        let label = format!("flow=\"{flow}\"");
        let shown =
            |class: &str| cells[class].parse::<f64>().unwrap_or_else(|_| panic!("{class} of {flow}: {cells:?}"));
        assert_eq!(shown("events"), after[&format!("relais_flow_events_total{{{label}}}")], "{flow}");
        assert_eq!(shown("errors"), sum(&after, "relais_flow_errors_total", &label), "{flow}");
        assert_eq!(shown("retries"), after[&format!("relais_flow_retries_total{{{label}}}")], "{flow}");
        assert_eq!(shown("dead-letters"), sum(&after, "relais_dead_letters_total", &label), "{flow}");
        assert_eq!(cells["p99"], p99_ms(&after, flow), "{flow}");
    }
    // What the traffic was, so that the comparison above compared something.
    assert_eq!(row(&dom, "flow", "work")["dead-letters"], "3");
    assert_eq!(row(&dom, "flow", "broken")["errors"], "25");
    assert!(after["relais_flow_retries_total{flow=\"work\"}"] > 0.0);
    for queue in ["orders", "parked"] {
        let depth = row(&dom, "queue", queue)["depth"].parse::<f64>().unwrap();
        assert_eq!(depth, after[&format!("relais_queue_depth{{queue=\"{queue}\"}}")], "{queue}");
    }
    assert_eq!(row(&dom, "queue", "parked")["depth"], "4");
    let open: Vec<&str> = dom.split("<li class=\"incident").skip(1).collect();
    assert_eq!(open.len() as f64, sum(&after, "relais_incidents_open", ""));
    assert!(open[0].contains("data-flow=\"broken\"") && open[0].contains("data-severity=\"1\""), "{}", open[0]);
    assert_eq!(
        after.get("relais_incidents_open{flow=\"broken\",objective=\"error_share\",severity=\"1\"}"),
        Some(&1.0)
    );

    // Protected: the page asks for the token; until given one it offers no action.
    let form = &dom[dom.find("<form id=\"access\"").unwrap()..];
    assert!(!form[..form.find('>').unwrap()].contains("hidden"), "the token form is shown");
    assert!(!dom.contains(">run</button>") && !dom.contains(">replay</button>"), "no action without the token");
    assert!(!dom.contains(TOKEN));
    daemon.shutdown(Duration::from_secs(2)).await;

    // Unprotected: no token form and no actions at all.
    let daemon = start(AdminAccess::closed()).await;
    let dom = dump_dom(format!("http://{}/status", daemon.admin.unwrap())).await;
    assert!(dom.contains("data-loaded=\"yes\""), "{dom}");
    let form = &dom[dom.find("<form id=\"access\"").unwrap()..];
    assert!(form[..form.find('>').unwrap()].contains("hidden"), "no token form without tokens: {form}");
    assert!(!dom.contains(">run</button>"));
    daemon.shutdown(Duration::from_secs(2)).await;
}
