//! The mappings of `tests/bench/http.sh`'s scenarios (b) and (d), bytes in to bytes out, `RUNS` times in a
//! row in process, without HTTP: what an instruction count under callgrind is taken over, so that the cost
//! of a mapping is seen apart from the listener's. Each run is a flow run of the benchmark's own flow files
//! (`tests/bench/flows/http/`), on a current-thread runtime, where scripts run in place with the meter's
//! clock read every 64 operations. `worker` as a third argument spawns each run on a one-worker
//! multi-thread runtime as the daemon does (a script that may run long starts under the in-place budget and
//! reads the clock every 8 operations); not for callgrind, which slows the script past the budget's 1 ms, so
//! that every run is stopped and run again off the workers.
//!
//! `cargo run -p relais-bench --release --bin mapping_cost -- d 200`; instructions per run: the difference
//! of two counts (`valgrind --tool=callgrind ... d 200` and `... d 1200`) divided by 1000.

use relais_engine::runtime::{Event, Payload, Runtime};
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "d".to_string());
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
    let (flow, body) = match scenario.as_str() {
        "b" => ("bench_mapping", format!("{root}../../flows/data/samples/order.json")),
        "d" => ("bench_mapping_loop", format!("{root}data/order_large.json")),
        other => {
            eprintln!("mapping_cost: unknown scenario '{other}' (b or d)");
            std::process::exit(2);
        }
    };
    let body = std::fs::read(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    let loaded = relais_engine::cli::check::check_paths(&[format!("{root}flows/http").into()], None);
    assert!(!loaded.diags.has_errors(), "the benchmark flows do not check");
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .unwrap_or_else(|_| panic!("the benchmark flows do not compile"));
    let runtime = Arc::new(Runtime::new(program));
    let worker = if args.next().as_deref() == Some("worker") {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let mut written = 0usize;
    for _ in 0..runs {
        let rt = runtime.clone();
        let ev = Event::with_payload(Payload::bytes(body.clone(), "application/json"));
        let out = worker
            .block_on(worker.spawn(async move {
                rt.run_flow(flow, ev).await.map(|out| out.payload.to_body()).map_err(|e| e.to_string())
            }))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        written += out.len();
    }
    println!("{runs} runs of {flow}: {written} bytes written");
}
