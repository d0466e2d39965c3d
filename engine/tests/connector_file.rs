//! The files connector on a real directory: `file.write` atomic (no temporary left, `if_exists: fail`
//! refused, names that would leave the directory refused), `file.listener` taking a file only once it is
//! stable, moving it to `processed/` or `failed/`, splitting a CSV into one event per record, dead-lettering
//! what keeps failing, and not running a file again after a stop between its success and its move.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_write_renames_a_whole_file_into_place_and_refuses_what_it_must() {
    let out = support::write_files(&[]).join("out");
    let flows = format!(
        r##"
flows:
  save:
    steps:
      - file.write: {{ directory: "{out}", name: "order-#[payload.id].json" }}
  once:
    steps:
      - file.write: {{ directory: "{out}", name: "fixed.txt", content: "id=#[payload.id]", if_exists: fail }}
"##,
        out = out.display()
    );
    let rt = support::yaml(&flows);
    rt.run_flow("save", Event::new(json!({ "id": 7, "total": 12 }))).await.unwrap();
    assert_eq!(names(&out), vec!["order-7.json"]);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("order-7.json")).unwrap()).unwrap();
    assert_eq!(written, json!({ "id": 7, "total": 12 }));
    rt.run_flow("once", Event::new(json!({ "id": 1 }))).await.unwrap();
    let again = rt.run_flow("once", Event::new(json!({ "id": 2 }))).await.unwrap_err();
    assert_eq!(again.error_type.to_string(), "FILE:EXISTS");
    assert_eq!(std::fs::read_to_string(out.join("fixed.txt")).unwrap(), "id=1");
    let escape = rt.run_flow("save", Event::new(json!({ "id": "../x" }))).await.unwrap_err();
    assert_eq!(escape.error_type.to_string(), "FILE:BAD_NAME");
    assert_eq!(names(&out), vec!["fixed.txt", "order-7.json"], "no temporary file is left");
}

fn listener_flows(inbox: &Path, out: &Path, split: &str) -> String {
    format!(
        r##"
flows:
  intake:
    source: {{ file.listener: {{ directory: "{inbox}", pattern: "*.csv", frequency: 20ms, split: {split}, max_deliveries: 2, consumers: 2 }} }}
    steps:
      - choice:
          - when: "#[payload.name == \"broken\"]"
            steps:
              - raise_error: {{ type: "APP:REFUSED", description: "record refused" }}
      - file.write: {{ directory: "{out}", name: "#[attributes.file]-#[attributes.record]" , content: "#[payload.name]" }}
"##,
        inbox = inbox.display(),
        out = out.display()
    )
}

async fn start(dir: &Path, state: Arc<State>) -> relais_engine::daemon::Daemon {
    let (_, program) = support::compile_dir(dir, Some(state));
    relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_becomes_one_event_per_record_and_the_file_moves_to_processed_or_failed() {
    let root = support::write_files(&[]);
    let (inbox, out) = (root.join("inbox"), root.join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    let dir = support::write_files(&[("flows.yaml", &listener_flows(&inbox, &out, "csv"))]);
    let state: Arc<State> = Arc::default();
    let daemon = start(&dir, state.clone()).await;
    std::fs::write(inbox.join("ignored.txt"), "not a csv").unwrap();
    std::fs::write(inbox.join("good.csv"), "id,name\n1,ana\n2,\"chen, li\"\n3,dara\n").unwrap();
    support::eventually("good.csv processed", || std::future::ready(names(&inbox.join("processed")) == ["good.csv"]))
        .await;
    assert_eq!(names(&out), vec!["good.csv-1", "good.csv-2", "good.csv-3"]);
    assert_eq!(std::fs::read_to_string(out.join("good.csv-2")).unwrap(), "chen, li");

    std::fs::write(inbox.join("bad.csv"), "id,name\n4,eli\n5,broken\n").unwrap();
    support::eventually("bad.csv failed", || std::future::ready(names(&inbox.join("failed")) == ["bad.csv"])).await;
    assert!(out.join("bad.csv-1").exists());
    assert_eq!(state.dead_letter_count(), 1);
    let letter = &state.dead_letters()[0];
    assert_eq!((letter.error_type.as_str(), letter.attempts), ("APP:REFUSED", 2));
    assert_eq!(names(&inbox), vec!["failed", "ignored.txt", "processed"]);
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_growing_is_not_read_until_its_size_stays_the_same() {
    let root = support::write_files(&[]);
    let (inbox, out) = (root.join("inbox"), root.join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    let flows = format!(
        r##"
flows:
  lines:
    source: {{ file.listener: {{ directory: "{inbox}", pattern: "*.log", frequency: 20ms, split: lines }} }}
    steps:
      - file.write: {{ directory: "{out}", name: "line-#[attributes.record]" }}
"##,
        inbox = inbox.display(),
        out = out.display()
    );
    let dir = support::write_files(&[("flows.yaml", &flows)]);
    let daemon = start(&dir, Arc::default()).await;
    // Lines are appended faster than two looks of the listener (20 ms apart) can agree on a size.
    let path = inbox.join("growing.log");
    let mut writer = std::fs::File::create(&path).unwrap();
    for i in 0..40 {
        use std::io::Write;
        writeln!(writer, "line {i}").unwrap();
        writer.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(writer);
    support::eventually("growing.log processed", || {
        std::future::ready(names(&inbox.join("processed")) == ["growing.log"])
    })
    .await;
    assert_eq!(names(&out).len(), 40, "every line of the finished file, read once");
    assert_eq!(std::fs::read_to_string(out.join("line-40")).unwrap(), "line 39");
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_recorded_done_before_a_stop_is_moved_without_running_again() {
    let root = support::write_files(&[]);
    let (inbox, out) = (root.join("inbox"), root.join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    let dir = support::write_files(&[("flows.yaml", &listener_flows(&inbox, &out, "none"))]);
    let path = inbox.join("again.csv");
    std::fs::write(&path, "id,name\n1,ana\n").unwrap();
    // What a process stopped between the success and the move leaves: the done record, the file in place.
    let state: Arc<State> = Arc::default();
    let meta = std::fs::metadata(&path).unwrap();
    let stamp = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let store = state.store("file.listener:intake", None, true);
    store.put(&format!("again.csv:{}:{stamp}", meta.len()), json!(true), None).unwrap();
    let daemon = start(&dir, state).await;
    support::eventually("again.csv moved", || std::future::ready(names(&inbox.join("processed")) == ["again.csv"]))
        .await;
    assert!(names(&out).is_empty(), "the flow did not run again: {:?}", names(&out));
    daemon.shutdown(Duration::from_secs(5)).await;
}
