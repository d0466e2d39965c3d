//! `db.execute` throughput: N inserts through a relais flow (`db.execute` with bound parameters, run by
//! the runtime with C events at once over a pool of C connections) next to the same inserts made with
//! tokio-postgres directly (C connections, one prepared statement each), in one run against the local
//! PostgreSQL (127.0.0.1:5432, user postgres, trust auth). Each round times the baseline and relais back to
//! back; medians and their ratio are printed at the end. Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin db_bench [INSERTS] [CONCURRENCY] [ROUNDS] [both|direct|relais]`.

use relais_bench::versus::{fail, flow_runtime, through_flow, Comparison, Side};
use std::time::{Duration, Instant};

async fn connect(database: &str) -> tokio_postgres::Client {
    let url = format!("host=127.0.0.1 port=5432 user=postgres dbname={database}");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        fail(format!("PostgreSQL at 127.0.0.1:5432 is unreachable ({e}); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"))
    });
    tokio::spawn(connection);
    client
}

async fn must(result: Result<u64, tokio_postgres::Error>) {
    if let Err(e) = result {
        fail(e)
    }
}

/// `n` inserts over `concurrency` direct connections.
async fn baseline(database: &str, n: usize, concurrency: usize, offset: usize) -> Duration {
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let client = connect(database).await;
        let statement =
            client.prepare("INSERT INTO events (id, body) VALUES ($1, $2)").await.unwrap_or_else(|e| fail(e));
        clients.push((client, statement));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (k, (client, statement)) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in (k..n).step_by(concurrency) {
                let id = (offset + i) as i64;
                must(client.execute(&statement, &[&id, &format!("event {id}")]).await).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    started.elapsed()
}

/// The row `id` of a round, the same on both sides.
fn row(id: usize) -> serde_json::Value {
    serde_json::json!({ "id": id, "body": format!("event {id}") })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8).max(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let side = Side::parse(args.next());
    let database = format!("relais_db_bench_{}", std::process::id());
    let root = connect("test").await;
    must(root.execute(&format!("CREATE DATABASE {database}"), &[]).await).await;
    must(connect(&database).await.execute("CREATE TABLE events (id bigint PRIMARY KEY, body text)", &[]).await).await;

    let dir = std::env::temp_dir().join(format!("relais-db-bench-{}", std::process::id()));
    let rt = flow_runtime(
        &dir,
        &format!(
            "configs:\n  store: {{ db: {{ database: {database}, user: postgres, pool_size: {concurrency}, sslmode: disable }} }}\nflows:\n  insert:\n    steps:\n      - db.execute: {{ config: store, sql: \"INSERT INTO events (id, body) VALUES (:id, :body)\", parameters: {{ id: \"#[payload.id]\", body: \"#[payload.body]\" }} }}\n"
        ),
    );
    println!("workload: {n} inserts, {concurrency} at once, {rounds} round(s), database {database}");
    let mut comparison = Comparison::new("tokio-postgres direct", "relais db.execute", "inserts/s");
    for round in 0..rounds {
        // Each side of each round inserts ids of its own (the table's primary key).
        let b = side.time(Side::Direct, baseline(&database, n, concurrency, 2 * round * n)).await;
        let offset = (2 * round + 1) * n;
        let r = side.time(Side::Relais, through_flow(&rt, "insert", n, concurrency, move |i| row(offset + i))).await;
        comparison.round(n, b, r);
    }
    comparison.finish();
    rt.close();
    let _ = std::fs::remove_dir_all(&dir);
    must(root.execute(&format!("DROP DATABASE {database} WITH (FORCE)"), &[]).await).await;
}
