//! Queue throughput through the engine: N messages of 1 KB published by a flow (`queue.publish`) and consumed
//! by another (`queue.listener`, C consumers, a `set_variable` step), in memory and persistent (redb in a
//! temporary directory: every publish fsync'd before it returns), side by side in one run.
//!
//! Two ways of publishing, each a row per queue kind:
//! - *sequential*: one publisher, each publish waiting for the previous (the old benchmark): a persistent
//!   queue is then bound by one fsync per message, whatever the store does;
//! - *concurrent*: P publishers at once (as many HTTP requests at once would), whose enqueues can share
//!   commits with each other and with the consumers' leases and acks.
//!
//! For the persistent rows on redb it also reports the durable commits (one fsync each) per message, the
//! changes (enqueues, leases, acks) each commit held and the milliseconds a commit took (its page writes and
//! fsync), counted by the store: many changes in slow commits mean the disk bounds the queue, few changes in
//! fast commits that the callers do. With `--state postgres://...`, each persistent row also runs on that PostgreSQL database
//! (a fresh schema per row, dropped after it), next to redb in the same run. Rounds alternate the rows so
//! that noise from other work on the machine hits them alike.
//!
//! Run: `cargo run -p relais-bench --release --bin queue_bench -- [MESSAGES] [--publishers P] [--consumers C]
//! [--rounds R] [--state postgres://USER@HOST/DB]` (defaults 20000, 64, 4, 1, no PostgreSQL).

use relais_engine::runtime::state::State;
use relais_engine::runtime::{Event, Runtime};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn flows(persistent: bool, consumers: usize) -> String {
    format!(
        r##"
sub_flows:
  produce:
    steps:
      - queue.publish: {{ queue: work, persistent: {persistent}, timeout: 60s }}
flows:
  consume:
    source: {{ queue.listener: {{ queue: work, persistent: {persistent}, consumers: {consumers}, capacity: 100000 }} }}
    steps:
      - set_variable: {{ name: id, value: "#[payload.id]" }}
"##
    )
}

/// What one run measured.
struct Measured {
    per_second: f64,
    /// Durable commits per message (persistent runs on redb).
    commits_per_message: Option<f64>,
    /// Changes (enqueues, leases, acks) per commit and milliseconds per commit (persistent runs on redb): a
    /// commit that takes long with many changes is bound by the disk, one with few changes by the callers.
    per_commit: Option<(f64, f64)>,
}

/// The settings of the whole benchmark.
struct Settings {
    messages: usize,
    publishers: usize,
    consumers: usize,
    rounds: usize,
    /// A PostgreSQL database for the shared-backend rows.
    postgres: Option<String>,
}

/// Where one row keeps its queue.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Memory,
    Redb,
    Postgres,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Memory => "in memory",
            Backend::Redb => "persistent (redb)",
            Backend::Postgres => "persistent (PostgreSQL)",
        }
    }
}

/// Drops the schema a PostgreSQL row used.
async fn drop_schema(url: &str, schema: &str) -> Result<(), String> {
    let base = url.split('?').next().unwrap_or(url);
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await.map_err(|e| e.to_string())
}

/// Publishes `n` messages from `publishers` tasks at once and waits until every one was consumed.
async fn run(
    settings: &Settings,
    publishers: usize,
    backend: Backend,
    dir: &std::path::Path,
) -> Result<Measured, String> {
    let n = settings.messages;
    let persistent = backend != Backend::Memory;
    let flow_dir = dir.join(format!("{}-{publishers}", backend.label().replace(['(', ')', ' '], "")));
    let _ = std::fs::remove_dir_all(&flow_dir);
    std::fs::create_dir_all(&flow_dir).map_err(|e| e.to_string())?;
    std::fs::write(flow_dir.join("flows.yaml"), flows(persistent, settings.consumers)).map_err(|e| e.to_string())?;
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&flow_dir), None);
    if loaded.diags.has_errors() {
        return Err(format!("{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>()));
    }
    let redb = if backend == Backend::Redb {
        Some(Arc::new(relais_store::RedbStore::open(flow_dir.join("state")).map_err(|e| e.to_string())?))
    } else {
        None
    };
    let schema = format!("relais_bench_{}_{publishers}", std::process::id());
    let postgres_url = settings.postgres.as_ref().map(|url| {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}schema={schema}")
    });
    let durable: Arc<dyn relais_store::StateStore> = match (&redb, backend, &postgres_url) {
        (Some(redb), _, _) => redb.clone(),
        (None, Backend::Postgres, Some(url)) => {
            let url = url.clone();
            // Connecting waits on the store's own runtime: off this one's workers.
            Arc::new(
                tokio::task::spawn_blocking(move || relais_store::PgStore::connect(&url))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?,
            )
        }
        _ => Arc::new(relais_store::MemoryStore::new()),
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
    let filler = Arc::<str>::from("x".repeat(1000));
    let stats_before = redb.as_ref().map(|r| r.commit_stats()).unwrap_or_default();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let (runtime, filler) = (runtime.clone(), filler.clone());
        tasks.push(tokio::spawn(async move {
            // Publisher p sends messages p, p + P, p + 2P...
            for i in (p..n).step_by(publishers) {
                let event = Event::new(serde_json::json!({ "id": i, "filler": &*filler }));
                runtime.run_flow("produce", event).await.map_err(|e| e.description)?;
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
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
    let stats = redb.as_ref().map(|r| r.commit_stats());
    let commits = stats.map(|s| (s.commits - stats_before.commits) as f64 / n as f64);
    let per_commit = stats.map(|s| {
        let groups = (s.commits - stats_before.commits).max(1) as f64;
        let changes = (s.changes - stats_before.changes) as f64 / groups;
        (changes, (s.committing - stats_before.committing).as_secs_f64() * 1000.0 / groups)
    });
    daemon.shutdown(Duration::from_secs(5)).await;
    if let (Backend::Postgres, Some(url)) = (backend, &settings.postgres) {
        drop(runtime);
        drop(state);
        drop(durable);
        drop_schema(url, &schema).await?;
    }
    Ok(Measured { per_second: n as f64 / seconds, commits_per_message: commits, per_commit })
}

fn settings() -> Result<Settings, String> {
    let mut settings = Settings { messages: 20_000, publishers: 64, consumers: 4, rounds: 1, postgres: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().and_then(|v| v.parse::<usize>().ok()).filter(|v| *v > 0).ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--publishers" => settings.publishers = value("--publishers")?,
            "--consumers" => settings.consumers = value("--consumers")?,
            "--rounds" => settings.rounds = value("--rounds")?,
            "--state" => match args.next() {
                Some(url) if relais_store::is_postgres_url(&url) => settings.postgres = Some(url),
                _ => return Err("--state needs a postgres:// URL".to_string()),
            },
            other => settings.messages = other.parse().map_err(|_| format!("unknown argument {other:?}"))?,
        }
    }
    Ok(settings)
}

fn main() -> Result<(), String> {
    let settings = settings()?;
    let dir = std::env::temp_dir().join(format!("relais-queue-bench-{}", std::process::id()));
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for publishers in [1, settings.publishers] {
        rows.push((publishers, Backend::Memory));
        rows.push((publishers, Backend::Redb));
        if settings.postgres.is_some() {
            rows.push((publishers, Backend::Postgres));
        }
    }
    let mut lines = Vec::new();
    for round in 1..=settings.rounds {
        for &(publishers, backend) in &rows {
            let measured = tokio.block_on(run(&settings, publishers, backend, &dir))?;
            let mode = if publishers == 1 { "sequential".to_string() } else { format!("concurrent ({publishers})") };
            let kind = backend.label();
            let commits = measured.commits_per_message.map_or("-".to_string(), |c| format!("{c:.3}"));
            let (changes, ms) = measured
                .per_commit
                .map_or(("-".to_string(), "-".to_string()), |(c, ms)| (format!("{c:.1}"), format!("{ms:.2}")));
            lines.push(format!(
                "| {round} | {mode} | {kind} | {:.0} | {commits} | {changes} | {ms} |",
                measured.per_second
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{} messages of 1 KB, published by a flow and consumed by another ({} consumers); {} cores",
        settings.messages,
        settings.consumers,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| round | publishers | queue | messages/s end to end | durable commits per message | changes per commit | ms per commit |"
    );
    println!("|---|---|---|---|---|---|---|");
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
