//! What the connector benchmarks (`amqp_bench`, `nats_bench`, `db_bench`, `sftp_bench`) share: each runs the
//! same work through a relais flow and through the client crate used directly, round after round in one
//! run, and prints both rates, their ratio and their medians. The work itself (a publish, an insert, a file)
//! is each benchmark's own; the driving, the timing and the report are here, so every connector is measured
//! and printed the same way.

use relais_engine::runtime::{Event, Runtime};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prints `what` and exits with status 2: a benchmark that cannot do its work has no figure to give.
pub fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("{what}");
    std::process::exit(2)
}

/// Which side a run measures: both (the comparison), or one alone (for counting instructions under
/// callgrind; the other side's row then reads 1 s).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client crate and relais, round after round.
    Both,
    /// The client crate used directly, alone.
    Direct,
    /// The relais flow, alone.
    Relais,
}

impl Side {
    /// `both`, `direct` or `relais`; `both` when absent.
    pub fn parse(arg: Option<String>) -> Side {
        match arg.as_deref() {
            None | Some("both") => Side::Both,
            Some("direct") => Side::Direct,
            Some("relais") => Side::Relais,
            Some(other) => fail(format!("the side is `both`, `direct` or `relais`, not `{other}`")),
        }
    }

    /// Runs `work` when this side is measured, else reads 1 s.
    pub async fn time(self, measured: Side, work: impl Future<Output = Duration>) -> Duration {
        match self == Side::Both || self == measured {
            true => work.await,
            false => Duration::from_secs(1),
        }
    }
}

/// Runs `job(i)` for every `i` in `0..n`, `concurrency` tasks at once taking the next `i` as they finish
/// one; how long all of it took.
pub async fn concurrently<F, Fut>(n: usize, concurrency: usize, job: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                job(i).await;
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            fail(format!("a benchmark task failed: {e}"));
        }
    }
    started.elapsed()
}

/// Runs flow `flow` of `rt` once per `i` in `0..n`, `concurrency` events at once, each event's payload
/// `payload(i)`; any failed event stops the benchmark, naming its error.
pub async fn through_flow(
    rt: &Runtime,
    flow: &'static str,
    n: usize,
    concurrency: usize,
    payload: impl Fn(usize) -> serde_json::Value + Clone + Send + 'static,
) -> Duration {
    let rt = rt.clone();
    concurrently(n, concurrency, move |i| {
        let (rt, payload) = (rt.clone(), payload.clone());
        async move {
            if let Err(e) = rt.run_flow(flow, Event::new(payload(i))).await {
                fail(format!("{}: {}", e.error_type, e.description));
            }
        }
    })
    .await
}

/// Writes `flows` as `dir/flows.yaml`, checks it as `relais check` does and compiles a runtime from it,
/// stopping the benchmark with the diagnostics when it does not check.
pub fn flow_runtime(dir: &Path, flows: &str) -> Runtime {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    std::fs::write(dir.join("flows.yaml"), flows).unwrap_or_else(|e| fail(e));
    let loaded = relais_engine::cli::check::check_paths(&[dir.to_path_buf()], None);
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .unwrap_or_else(|d| fail(format!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>())));
    Runtime::new(program)
}

/// The rates of both sides, round by round, printed as they come and as medians at the end.
pub struct Comparison {
    direct: &'static str,
    relais: &'static str,
    unit: &'static str,
    direct_rates: Vec<f64>,
    relais_rates: Vec<f64>,
}

impl Comparison {
    /// A comparison of `direct` (the client crate, e.g. `lapin direct`) with `relais` (e.g. `relais
    /// amqp.publish`), both counted in `unit` (e.g. `msg/s`).
    pub fn new(direct: &'static str, relais: &'static str, unit: &'static str) -> Comparison {
        Comparison { direct, relais, unit, direct_rates: Vec::new(), relais_rates: Vec::new() }
    }

    /// Records and prints one round: `n` units of work done in `direct` by the client crate and in `relais`
    /// through the flow.
    pub fn round(&mut self, n: usize, direct: Duration, relais: Duration) {
        let (d, r) = (n as f64 / direct.as_secs_f64(), n as f64 / relais.as_secs_f64());
        println!(
            "round {}: {} {d:>10.0} {unit} | {} {r:>10.0} {unit} | ratio {:.3}",
            self.direct_rates.len() + 1,
            self.direct,
            self.relais,
            r / d,
            unit = self.unit
        );
        self.direct_rates.push(d);
        self.relais_rates.push(r);
    }

    /// Prints the medians of both sides and their ratio.
    pub fn finish(self) {
        let (d, r) = (median(self.direct_rates), median(self.relais_rates));
        println!(
            "median: {} {d:.0} {unit}, {} {r:.0} {unit} ({:.1} % of direct)",
            self.direct,
            self.relais,
            100.0 * r / d,
            unit = self.unit
        );
    }
}

/// The median of `rates` (the upper one of an even count); 0 when there is none.
fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}
