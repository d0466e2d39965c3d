//! `nats.publish` throughput: N messages published with the stream's acknowledgement awaited, through a
//! relais flow (`nats.publish`, C events at once, one connection) next to the same publishes made with
//! async-nats directly (C tasks on one connection, each awaiting its PubAck), in one run against the local
//! NATS server with JetStream (127.0.0.1:4222), on a memory stream of the run's own (deleted at the end).
//! Each round times the baseline and relais back to back; medians and their ratio are printed at the end.
//! Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin nats_bench [MESSAGES] [CONCURRENCY] [ROUNDS] [both|direct|relais]`;
//! one side alone is for counting instructions under callgrind (the other side's row then reads 1 s).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("{what}");
    std::process::exit(2)
}

/// `n` publishes over one direct connection, `concurrency` at once, each awaiting its acknowledgement.
async fn baseline(js: &async_nats::jetstream::Context, subject: &str, n: usize, concurrency: usize) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (js, next, subject) = (js.clone(), next.clone(), subject.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let body = serde_json::json!({ "id": i, "body": format!("event {i}") }).to_string();
                match js.publish(subject.clone(), body.into()).await {
                    Ok(ack) => {
                        if let Err(e) = ack.await {
                            fail(e)
                        }
                    }
                    Err(e) => fail(e),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    started.elapsed()
}

/// `n` publishes through the relais flow, `concurrency` events at once.
async fn relais(rt: &relais_engine::runtime::Runtime, n: usize, concurrency: usize) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (rt, next) = (rt.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let event =
                    relais_engine::runtime::Event::new(serde_json::json!({ "id": i, "body": format!("event {i}") }));
                if let Err(e) = rt.run_flow("publish", event).await {
                    fail(format!("{}: {}", e.error_type, e.description))
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8).max(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let side = args.next().unwrap_or_else(|| "both".into());
    let stream = format!("RELAIS_NATS_BENCH_{}", std::process::id());
    let subject = format!("relais.bench.{}", std::process::id());
    let client = async_nats::connect("127.0.0.1:4222").await.unwrap_or_else(|e| {
        fail(format!("NATS at 127.0.0.1:4222 is unreachable ({e}); start it with `nats-server -a 127.0.0.1 -js`"))
    });
    let js = async_nats::jetstream::new(client);
    let config = async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{subject}.>")],
        storage: async_nats::jetstream::stream::StorageType::Memory,
        ..Default::default()
    };
    if let Err(e) = js.create_stream(config).await {
        fail(e)
    }

    let dir = std::env::temp_dir().join(format!("relais-nats-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let flows = format!(
        "configs:\n  events: {{ nats: {{ servers: [\"nats://127.0.0.1:4222\"] }} }}\nflows:\n  publish:\n    steps:\n      - nats.publish: {{ config: events, subject: \"{subject}.relais\" }}\n"
    );
    if let Err(e) = std::fs::write(dir.join("flows.yaml"), flows) {
        fail(e)
    }
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), None);
    let program = match relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    ) {
        Ok(p) => p,
        Err(d) => fail(format!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>())),
    };
    let rt = relais_engine::runtime::Runtime::new(program);
    println!("workload: {n} publishes with acks, {concurrency} at once, {rounds} round(s), memory stream {stream}");
    // One warm-up publish each: connections made, the stream's first message stored.
    baseline(&js, &format!("{subject}.direct"), 1, 1).await;
    relais(&rt, 1, 1).await;
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let b = match side.as_str() {
            "relais" => Duration::from_secs(1),
            _ => baseline(&js, &format!("{subject}.direct"), n, concurrency).await,
        };
        let r = match side.as_str() {
            "direct" => Duration::from_secs(1),
            _ => relais(&rt, n, concurrency).await,
        };
        let (bps, rps) = (n as f64 / b.as_secs_f64(), n as f64 / r.as_secs_f64());
        println!(
            "round {}: async-nats direct {bps:>9.0} msg/s | relais nats.publish {rps:>9.0} msg/s | ratio {:.2}",
            round + 1,
            rps / bps
        );
        direct.push(bps);
        through.push(rps);
    }
    let (b, r) = (median(direct), median(through));
    println!(
        "median: async-nats direct {b:.0} msg/s, relais nats.publish {r:.0} msg/s ({:.0} % of direct)",
        100.0 * r / b
    );
    rt.close();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = js.delete_stream(&stream).await {
        fail(e)
    }
}
