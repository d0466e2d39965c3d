//! `amqp.publish` throughput: N messages published with publisher confirms through a relais flow
//! (`amqp.publish`, run by the runtime with C events at once, each waiting for its confirm) next to the same
//! publishes made with lapin directly (one connection, one confirming channel, C tasks each publishing and
//! awaiting its confirm, the same properties: persistent, mandatory, content type, correlation id), in one
//! run against the local RabbitMQ (127.0.0.1:5672, guest/guest). Each round times the baseline and relais
//! back to back into one queue of the run's own (purged between sides, deleted at the end); medians and
//! their ratio are printed. Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin amqp_bench [MESSAGES] [CONCURRENCY] [ROUNDS] [both|direct|relais]`.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions, QueuePurgeOptions};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use relais_bench::versus::{concurrently, fail, flow_runtime, through_flow, Comparison, Side};
use std::time::{Duration, Instant};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The message `i` of a round, the same on both sides.
fn message(i: usize) -> serde_json::Value {
    serde_json::json!({ "id": i, "body": format!("event {i}") })
}

/// `n` confirmed publishes to `queue` over one lapin channel, `concurrency` in flight.
async fn baseline(connection: &Connection, queue: &str, n: usize, concurrency: usize) -> Duration {
    let channel = connection.create_channel().await.unwrap_or_else(|e| fail(e));
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap_or_else(|e| fail(e));
    let queue = queue.to_string();
    concurrently(n, concurrency, move |i| {
        let (channel, queue) = (channel.clone(), queue.clone());
        async move {
            let body = serde_json::to_vec(&message(i)).unwrap_or_default();
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
    })
    .await
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16).max(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let side = Side::parse(args.next());
    let queue = format!("relais_amqp_bench_{}", std::process::id());
    let connection = Connection::connect(URL, ConnectionProperties::default()).await.unwrap_or_else(|e| {
        fail(format!("RabbitMQ at 127.0.0.1:5672 is unreachable ({e}); start it with `rabbitmq-server -detached`"))
    });

    let dir = std::env::temp_dir().join(format!("relais-amqp-bench-{}", std::process::id()));
    let rt = flow_runtime(
        &dir,
        &format!(
            "configs:\n  broker: {{ amqp: {{ url: \"{URL}\", queues: [ {{ name: {queue} }} ] }} }}\nflows:\n  send:\n    steps:\n      - amqp.publish: {{ config: broker, routing_key: {queue} }}\n"
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rt.program().resources.not_ready().is_empty() {
        if Instant::now() > deadline {
            fail(format!("relais does not connect: {:?}", rt.program().resources.not_ready()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = connection.create_channel().await.unwrap_or_else(|e| fail(e));
    println!("workload: {n} confirmed publishes, {concurrency} at once, {rounds} round(s), queue {queue}");
    let mut comparison = Comparison::new("lapin direct", "relais amqp.publish", "msg/s");
    for _ in 0..rounds {
        let b = side.time(Side::Direct, baseline(&connection, &queue, n, concurrency)).await;
        let _ = admin.queue_purge(queue.as_str().into(), QueuePurgeOptions::default()).await;
        let r = side.time(Side::Relais, through_flow(&rt, "send", n, concurrency, message)).await;
        let _ = admin.queue_purge(queue.as_str().into(), QueuePurgeOptions::default()).await;
        comparison.round(n, b, r);
    }
    comparison.finish();
    rt.close();
    let _ = admin.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
    let _ = std::fs::remove_dir_all(&dir);
}
