//! Queue throughput through the engine: N messages of 1 KB published by a flow (`queue.publish`) and
//! consumed by another (`queue.listener`, 4 consumers, a `set_variable` step), in memory and persistent (redb
//! in a temporary directory, one fsync per enqueue, lease and ack), side by side in one run.
//! Run: `cargo run -p relais-bench --release --bin queue_bench [MESSAGES]`.

use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn flows(persistent: bool) -> String {
    format!(
        r##"
sub_flows:
  produce:
    steps:
      - queue.publish: {{ queue: work, persistent: {persistent}, timeout: 60s }}
flows:
  consume:
    source: {{ queue.listener: {{ queue: work, persistent: {persistent}, consumers: 4, capacity: 10000 }} }}
    steps:
      - set_variable: {{ name: id, value: "#[payload.id]" }}
"##
    )
}

/// Publishes `n` messages and waits until every one was consumed; messages per second end to end.
async fn run(n: usize, persistent: bool, dir: &std::path::Path) -> Result<f64, String> {
    let flow_dir = dir.join(if persistent { "persistent" } else { "memory" });
    std::fs::create_dir_all(&flow_dir).map_err(|e| e.to_string())?;
    std::fs::write(flow_dir.join("flows.yaml"), flows(persistent)).map_err(|e| e.to_string())?;
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&flow_dir), None);
    if loaded.diags.has_errors() {
        return Err(format!("{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>()));
    }
    let durable: Arc<dyn relais_store::StateStore> = if persistent {
        Arc::new(relais_store::RedbStore::open(flow_dir.join("state")).map_err(|e| e.to_string())?)
    } else {
        Arc::new(relais_store::MemoryStore::new())
    };
    let state = Arc::new(State::with_store(durable.clone()));
    let program = relais_engine::plan::compile_program_in(
        &state,
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
        None,
    )
    .map_err(|d| format!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()))?;
    let runtime = Runtime::new(program);
    let daemon = relais_engine::daemon::start(relais_engine::components::registry(), runtime.clone()).await?;
    let filler = "x".repeat(1000);
    let started = Instant::now();
    for i in 0..n {
        let event = Event::new(serde_json::json!({ "id": i, "filler": filler }));
        runtime.run_flow("produce", event).await.map_err(|e| e.description)?;
    }
    let queue = state.queue_or_default("work");
    loop {
        let pending = if persistent {
            durable.queue_stats("work", relais_engine::runtime::state::now()).map_err(|e| e.to_string())?.total()
        } else {
            (queue.depth() + queue.in_flight()) as u64
        };
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    daemon.shutdown(Duration::from_secs(5)).await;
    Ok(n as f64 / seconds)
}

fn main() -> Result<(), String> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = std::env::temp_dir().join(format!("relais-queue-bench-{}", std::process::id()));
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (memory, persistent) = tokio.block_on(async {
        let memory = run(n, false, &dir).await?;
        let persistent = run(n, true, &dir).await?;
        Ok::<_, String>((memory, persistent))
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{n} messages of 1 KB, published by a flow and consumed by another (4 consumers)");
    println!("| queue | messages/s end to end |");
    println!("|---|---|");
    println!("| in memory | {memory:.0} |");
    println!("| persistent (redb, group commit) | {persistent:.0} |");
    Ok(())
}
