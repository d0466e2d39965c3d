//! `amqp.publish` throughput: N messages published with publisher confirms through a relais flow
//! (`amqp.publish`, run by the runtime with C events at once, each waiting for its confirm) next to the same
//! publishes made with lapin directly (one connection, one confirming channel, C tasks each publishing and
//! awaiting its confirm, the same properties: persistent, mandatory, content type, correlation id), in one
//! run against the local RabbitMQ (127.0.0.1:5672, guest/guest). Each round times the baseline and relais
//! back to back into one queue of the run's own (purged between sides, deleted at the end); medians and
//! their ratio are printed. Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin amqp_bench [MESSAGES] [CONCURRENCY] [ROUNDS]`.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions, QueuePurgeOptions};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("{what}");
    std::process::exit(2);
}

/// `n` confirmed publishes to `queue` over one lapin channel, `concurrency` in flight.
async fn baseline(connection: &Connection, queue: &str, n: usize, concurrency: usize) -> Duration {
    let channel = connection.create_channel().await.unwrap_or_else(|e| fail(e));
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap_or_else(|e| fail(e));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (channel, next, queue) = (channel.clone(), next.clone(), queue.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let body = serde_json::to_vec(&serde_json::json!({ "id": i, "body": format!("event {i}") }))
                    .unwrap_or_default();
                let properties = BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_correlation_id(format!("bench-{i}").into())
                    .with_delivery_mode(2);
                let options = BasicPublishOptions { mandatory: true, ..Default::default() };
                let confirm = channel
                    .basic_publish("".into(), queue.as_str().into(), options, &body, properties)
                    .await
                    .unwrap_or_else(|e| fail(e));
                match confirm.await {
                    Ok(Confirmation::Ack(None)) => {}
                    other => fail(format!("not confirmed: {other:?}")),
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
                if let Err(e) = rt.run_flow("send", event).await {
                    fail(format!("{}: {}", e.error_type, e.description));
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
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16).max(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let queue = format!("relais_amqp_bench_{}", std::process::id());
    let connection = Connection::connect(URL, ConnectionProperties::default()).await.unwrap_or_else(|e| {
        fail(format!("RabbitMQ at 127.0.0.1:5672 is unreachable ({e}); start it with `rabbitmq-server -detached`"))
    });

    let dir = std::env::temp_dir().join(format!("relais-amqp-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let flows = format!(
        "configs:\n  broker: {{ amqp: {{ url: \"{URL}\", queues: [ {{ name: {queue} }} ] }} }}\nflows:\n  send:\n    steps:\n      - amqp.publish: {{ config: broker, routing_key: {queue} }}\n"
    );
    std::fs::write(dir.join("flows.yaml"), flows).unwrap_or_else(|e| fail(e));
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), None);
    let program = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    )
    .unwrap_or_else(|d| fail(format!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>())));
    let rt = relais_engine::runtime::Runtime::new(program);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rt.program().resources.not_ready().is_empty() {
        if Instant::now() > deadline {
            fail(format!("relais does not connect: {:?}", rt.program().resources.not_ready()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = connection.create_channel().await.unwrap_or_else(|e| fail(e));
    println!("workload: {n} confirmed publishes, {concurrency} at once, {rounds} round(s), queue {queue}");
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let b = baseline(&connection, &queue, n, concurrency).await;
        let _ = admin.queue_purge(queue.as_str().into(), QueuePurgeOptions::default()).await;
        let r = relais(&rt, n, concurrency).await;
        let _ = admin.queue_purge(queue.as_str().into(), QueuePurgeOptions::default()).await;
        let (bps, rps) = (n as f64 / b.as_secs_f64(), n as f64 / r.as_secs_f64());
        println!(
            "round {}: lapin direct {bps:>9.0} msg/s | relais amqp.publish {rps:>9.0} msg/s | ratio {:.2}",
            round + 1,
            rps / bps
        );
        direct.push(bps);
        through.push(rps);
    }
    let (b, r) = (median(direct), median(through));
    println!("median: lapin direct {b:.0} msg/s, relais amqp.publish {r:.0} msg/s ({:.0} % of direct)", 100.0 * r / b);
    rt.close();
    let _ = admin.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
    let _ = std::fs::remove_dir_all(&dir);
}
