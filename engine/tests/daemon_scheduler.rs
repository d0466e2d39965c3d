//! Schedules on a controlled clock: tokio's paused time advances only when every task waits, so ticks,
//! run times and skipped ticks are exact.
#![allow(clippy::unwrap_used)]

mod support;

use relais_engine::runtime::Runtime;
use std::time::Duration;

/// Runs every minute; each run takes 90 seconds (one failed attempt, then a 90 s backoff).
const FLOWS: &str = r##"
flows:
  sync:
    source: { scheduler: { frequency: 1m } }
    steps:
      - try:
          steps:
            - until_successful:
                max_retries: 1
                backoff: { initial: 90s, max: 90s, jitter: false }
                steps: [ { raise_error: TEST:WAIT } ]
          on_error:
            - continue: { steps: [] }
"##;

#[tokio::test(start_paused = true)]
async fn a_tick_that_finds_the_previous_run_going_is_skipped_and_counted() {
    let dir = support::write_files(&[("flows.yaml", FLOWS)]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    // Ticks at 0, 60, 120, 180, 240 s: runs start at 0 (ends 90) and 120 (ends 210) and 240; 60 and 180
    // find a run going.
    tokio::time::sleep(Duration::from_secs(250)).await;
    let runtime = daemon.runtime();
    assert_eq!(runtime.metrics().skipped_ticks("sync"), 2);
    let metrics = runtime.metrics().render();
    assert!(metrics.contains("relais_flow_events_total{flow=\"sync\"} 2"), "{metrics}");
    assert!(metrics.contains("relais_scheduler_skipped_ticks_total{flow=\"sync\"} 2"), "{metrics}");
    daemon.shutdown(Duration::from_secs(100)).await;
}

#[tokio::test(start_paused = true)]
async fn overlapping_runs_are_started_when_allowed() {
    let dir = support::write_files(&[(
        "flows.yaml",
        &FLOWS.replace("frequency: 1m }", "frequency: 1m, allow_overlap: true }"),
    )]);
    let (_, program) = support::compile_dir(&dir, None);
    let daemon =
        relais_engine::daemon::start(relais_engine::components::registry(), Runtime::new(program)).await.unwrap();
    // Ticks at 0..=240 s all run; those started at 0, 60, 120 have finished by 250 s.
    tokio::time::sleep(Duration::from_secs(250)).await;
    let runtime = daemon.runtime();
    assert_eq!(runtime.metrics().skipped_ticks("sync"), 0);
    assert!(runtime.metrics().render().contains("relais_flow_events_total{flow=\"sync\"} 3"));
    daemon.shutdown(Duration::from_secs(100)).await;
}
