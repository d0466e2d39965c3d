//! `nats.publish` throughput: N messages published with the stream's acknowledgement awaited, through a
//! relais flow (`nats.publish`, C events at once, one connection) next to the same publishes made with
//! async-nats directly (C tasks on one connection, each awaiting its PubAck), in one run against the local
//! NATS server with JetStream (127.0.0.1:4222), on a memory stream of the run's own (deleted at the end).
//! Each round times the baseline and relais back to back; medians and their ratio are printed at the end.
//! Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin nats_bench [MESSAGES] [CONCURRENCY] [ROUNDS] [both|direct|relais]`;
//! one side alone is for counting instructions under callgrind (the other side's row then reads 1 s).

use relais_bench::versus::{concurrently, fail, flow_runtime, through_flow, Comparison, Side};
use std::time::Duration;

/// The message `i` of a round, the same on both sides.
fn message(i: usize) -> serde_json::Value {
    serde_json::json!({ "id": i, "body": format!("event {i}") })
}

/// `n` publishes over one direct connection, `concurrency` at once, each awaiting its acknowledgement.
async fn baseline(js: &async_nats::jetstream::Context, subject: &str, n: usize, concurrency: usize) -> Duration {
    let (js, subject) = (js.clone(), subject.to_string());
    concurrently(n, concurrency, move |i| {
        let (js, subject) = (js.clone(), subject.clone());
        async move {
            match js.publish(subject, message(i).to_string().into()).await {
                Ok(ack) => {
                    if let Err(e) = ack.await {
                        fail(e)
                    }
                }
                Err(e) => fail(e),
            }
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8).max(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let side = Side::parse(args.next());
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
    let rt = flow_runtime(
        &dir,
        &format!(
            "configs:\n  events: {{ nats: {{ servers: [\"nats://127.0.0.1:4222\"] }} }}\nflows:\n  publish:\n    steps:\n      - nats.publish: {{ config: events, subject: \"{subject}.relais\" }}\n"
        ),
    );
    println!("workload: {n} publishes with acks, {concurrency} at once, {rounds} round(s), memory stream {stream}");
    // One warm-up publish each: connections made, the stream's first message stored.
    baseline(&js, &format!("{subject}.direct"), 1, 1).await;
    through_flow(&rt, "publish", 1, 1, message).await;
    let mut comparison = Comparison::new("async-nats direct", "relais nats.publish", "msg/s");
    for _ in 0..rounds {
        let b = side.time(Side::Direct, baseline(&js, &format!("{subject}.direct"), n, concurrency)).await;
        let r = side.time(Side::Relais, through_flow(&rt, "publish", n, concurrency, message)).await;
        comparison.round(n, b, r);
    }
    comparison.finish();
    rt.close();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = js.delete_stream(&stream).await {
        fail(e)
    }
}
