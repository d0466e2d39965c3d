//! `db.execute` throughput: N inserts through a relais flow (`db.execute` with bound parameters, run by
//! the runtime with C events at once over a pool of C connections) next to the same inserts made with
//! tokio-postgres directly (C connections, one prepared statement each), in one run against the local
//! PostgreSQL (127.0.0.1:5432, user postgres, trust auth). Each round times the baseline and relais back to
//! back; medians and their ratio are printed at the end. Run on a quiet machine:
//! `cargo run -p relais-bench --release --bin db_bench [INSERTS] [CONCURRENCY] [ROUNDS]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

async fn connect(database: &str) -> tokio_postgres::Client {
    let url = format!("host=127.0.0.1 port=5432 user=postgres dbname={database}");
    let (client, connection) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("PostgreSQL at 127.0.0.1:5432 is unreachable ({e}); start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`");
            std::process::exit(2);
        }
    };
    tokio::spawn(connection);
    client
}

async fn must(result: Result<u64, tokio_postgres::Error>) {
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(2);
    }
}

/// `n` inserts over `concurrency` direct connections.
async fn baseline(database: &str, n: usize, concurrency: usize, offset: usize) -> Duration {
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let client = connect(database).await;
        let statement = match client.prepare("INSERT INTO events (id, body) VALUES ($1, $2)").await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
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

/// `n` inserts through the relais flow, `concurrency` events at once.
async fn relais(rt: &relais_engine::runtime::Runtime, n: usize, concurrency: usize, offset: usize) -> Duration {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (rt, next) = (rt.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let id = offset + i;
                let event =
                    relais_engine::runtime::Event::new(serde_json::json!({ "id": id, "body": format!("event {id}") }));
                if let Err(e) = rt.run_flow("insert", event).await {
                    eprintln!("{}: {}", e.error_type, e.description);
                    std::process::exit(2);
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
    let database = format!("relais_db_bench_{}", std::process::id());
    let root = connect("test").await;
    must(root.execute(&format!("CREATE DATABASE {database}"), &[]).await).await;
    must(connect(&database).await.execute("CREATE TABLE events (id bigint PRIMARY KEY, body text)", &[]).await).await;

    let dir = std::env::temp_dir().join(format!("relais-db-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let flows = format!(
        "configs:\n  store: {{ db: {{ database: {database}, user: postgres, pool_size: {concurrency}, sslmode: disable }} }}\nflows:\n  insert:\n    steps:\n      - db.execute: {{ config: store, sql: \"INSERT INTO events (id, body) VALUES (:id, :body)\", parameters: {{ id: \"#[payload.id]\", body: \"#[payload.body]\" }} }}\n"
    );
    if let Err(e) = std::fs::write(dir.join("flows.yaml"), flows) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), None);
    let program = match relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    ) {
        Ok(p) => p,
        Err(d) => {
            eprintln!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>());
            std::process::exit(2);
        }
    };
    let rt = relais_engine::runtime::Runtime::new(program);
    println!("workload: {n} inserts, {concurrency} at once, {rounds} round(s), database {database}");
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let b = match side.as_str() {
            "relais" => Duration::from_secs(1),
            _ => baseline(&database, n, concurrency, 2 * round * n).await,
        };
        let r = match side.as_str() {
            "direct" => Duration::from_secs(1),
            _ => relais(&rt, n, concurrency, (2 * round + 1) * n).await,
        };
        let (bps, rps) = (n as f64 / b.as_secs_f64(), n as f64 / r.as_secs_f64());
        println!("round {}: tokio-postgres direct {bps:>9.0} inserts/s | relais db.execute {rps:>9.0} inserts/s | ratio {:.2}", round + 1, rps / bps);
        direct.push(bps);
        through.push(rps);
    }
    let (b, r) = (median(direct), median(through));
    println!(
        "median: tokio-postgres direct {b:.0} inserts/s, relais db.execute {r:.0} inserts/s ({:.0} % of direct)",
        100.0 * r / b
    );
    rt.close();
    let _ = std::fs::remove_dir_all(&dir);
    must(root.execute(&format!("DROP DATABASE {database} WITH (FORCE)"), &[]).await).await;
}
