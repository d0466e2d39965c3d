//! Throughput of the durable queue: 10,000 messages of 1 KB enqueued, then leased and acked one by one, on the
//! memory backend and on redb, from a single thread.
//!
//! `cargo run --release -p relais-store --example throughput [-- STATE_DIR]`. Without `STATE_DIR`, redb runs in a
//! temporary directory under the system temp dir; pass a directory on the disk relais will use to measure its
//! fsync rate, which is what bounds redb here (one fsync per enqueue, per lease and per ack).

use relais_store::{MemoryStore, Message, RedbStore, StateStore, StoreError, Timestamp};
use serde_json::json;
use std::time::{Duration, Instant, SystemTime};

const MESSAGES: usize = 10_000;
const PAYLOAD_BYTES: usize = 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let memory = run(&MemoryStore::new())?;
    report("memory", &memory);

    let temporary;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temporary = tempfile::tempdir()?;
            temporary.path().to_path_buf()
        }
    };
    let store = RedbStore::open(&dir)?;
    let redb = run(&store)?;
    report(&format!("redb ({})", store.path().display()), &redb);
    Ok(())
}

/// Wall time of each phase.
struct Timings {
    enqueue: Duration,
    lease_ack: Duration,
}

fn run(store: &dyn StateStore) -> Result<Timings, StoreError> {
    let message = Message {
        payload: vec![b'x'; PAYLOAD_BYTES],
        media_type: "application/octet-stream".to_string(),
        attributes: json!({ "source": "throughput" }),
        correlation_id: "bench".to_string(),
        trace: None,
    };
    let now = Timestamp::from(SystemTime::now());
    let start = Instant::now();
    for _ in 0..MESSAGES {
        store.enqueue("bench", &message, now)?;
    }
    let enqueue = start.elapsed();
    let start = Instant::now();
    let mut delivered = 0;
    while let Some(leased) = store.lease("bench", Duration::from_secs(60), now)? {
        store.ack("bench", leased.id)?;
        delivered += 1;
    }
    let lease_ack = start.elapsed();
    assert_eq!(delivered, MESSAGES, "every message is delivered once");
    Ok(Timings { enqueue, lease_ack })
}

fn report(backend: &str, t: &Timings) {
    let rate = |d: Duration| MESSAGES as f64 / d.as_secs_f64();
    println!(
        "{backend}: {MESSAGES} x {PAYLOAD_BYTES} B | enqueue {:>9.0} msg/s | lease+ack {:>9.0} msg/s | end to end \
         {:>9.0} msg/s ({:.2} s)",
        rate(t.enqueue),
        rate(t.lease_ack),
        rate(t.enqueue + t.lease_ack),
        (t.enqueue + t.lease_ack).as_secs_f64(),
    );
}
