//! The html map rendered by a real browser (headless Chromium, Debian's `chromium`; `.ci/run` installs
//! it): every system, flow and zone is on the page, nothing is fetched, and clicking a flow (the page's
//! own `#flow=NAME` hook dispatches a real click event on load) highlights its path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use relais_engine::cli::Outcome;
use relais_tests::relais;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The DOM of `page` (with `fragment`) after its scripts ran, as Chromium dumps it.
fn dump_dom(page: &Path, fragment: &str) -> String {
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}-{}", std::process::id(), fragment.len()));
    let _ = std::fs::remove_dir_all(&profile);
    let url = format!("file://{}{fragment}", page.display());
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
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
    // The DOM is read while chromium writes it (a page over the pipe's buffer would otherwise block it
    // forever), on a thread of its own, so that a hung chromium is killed at the deadline: a generous one,
    // as a cold start on a busy machine takes seconds, never minutes.
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let Ok(out) = finished.recv_timeout(Duration::from_secs(120)) else {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("chromium did not finish dumping {url} within 120 s");
    };
    let out = out.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium failed on {url}");
    String::from_utf8(out.stdout).unwrap()
}

/// `(class, data-id)` of every `<g>` box in the dumped DOM.
fn boxes(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in dom.split("<g class=\"").skip(1) {
        let class = chunk.split('"').next().unwrap().to_string();
        if let Some(rest) = chunk.split_once("data-id=\"") {
            out.push((class, rest.1.split('"').next().unwrap().to_string()));
        }
    }
    out
}

#[test]
fn the_html_map_shows_every_system_flow_and_zone_and_a_click_highlights_the_flow_s_path() {
    let dir = std::env::temp_dir().join(format!("relais-graph-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("map.html");
    let (outcome, out) = relais(&["graph", "../flows", "--format", "html", "--out", page.to_str().unwrap()]);
    assert_eq!(outcome, Outcome::Success, "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script src", "<link", "@import", "url(http", "src=\"http"] {
        assert!(!html.contains(external), "the page must fetch nothing, found `{external}`");
    }
    let (_, json) = relais(&["graph", "../flows", "--format", "json"]);
    let map: serde_json::Value = serde_json::from_str(&json).unwrap();

    let dom = dump_dom(&page, "");
    let drawn = boxes(&dom);
    let has = |id: &str| drawn.iter().any(|(_, d)| d == id);
    for s in map["systems"].as_array().unwrap() {
        assert!(has(s["id"].as_str().unwrap()), "system {} is not on the page", s["id"]);
    }
    for f in map["flows"].as_array().unwrap() {
        assert!(has(f["id"].as_str().unwrap()), "flow {} is not on the page", f["id"]);
    }
    for zone in ["partner", "internal", "private"] {
        assert!(dom.contains(&format!("data-group=\"zone:{zone}\"")), "zone {zone} is not a region");
        assert!(dom.contains(&format!(">zone: {zone}</text>")), "zone {zone} has no label");
    }
    assert!(!dom.contains(" hl\""), "nothing is highlighted before a click");

    let clicked = dump_dom(&page, "#flow=order_to_crm");
    assert!(clicked.contains("data-selected=\"flow:order_to_crm\""), "the click did not select the flow");
    let lit: Vec<String> =
        boxes(&clicked).into_iter().filter(|(c, _)| c.split(' ').any(|w| w == "hl")).map(|(_, id)| id).collect();
    // The flow, its source, what it sends to, the consumer of its queue, what that one calls.
    for id in [
        "flow:order_to_crm",
        "system:api",
        "system:seen_orders",
        "queue:crm_contacts",
        "flow:push_order_to_crm",
        "flow:sports_of_order",
        "system:crm",
        "system:ticketing",
    ] {
        assert!(lit.contains(&id.to_string()), "{id} is not highlighted: {lit:?}");
    }
    for id in ["flow:sales_overview", "flow:sms_reminder", "system:transport_app", "queue:patient_records"] {
        assert!(!lit.contains(&id.to_string()), "{id} is not on the path but highlighted");
    }
    let lit_edges = clicked.matches("class=\"edge hl\"").count();
    assert!(lit_edges >= 7, "only {lit_edges} arrows highlighted");
    std::fs::remove_dir_all(&dir).unwrap();
}
