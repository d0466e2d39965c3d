//! `relais check` over 2,000 generated flows of 20 steps, next to a baseline that only parses the same
//! files with serde_yaml (the floor any YAML-based checker pays), in one run: each round times the baseline
//! and the check back to back, and the medians and their ratio are printed at the end. Run:
//! `cargo run -p relais-bench --release --bin check_bench [FLOWS] [STEPS] [ROUNDS]`.

use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let flows: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let dir = std::env::temp_dir().join(format!("relais-check-bench-{}", std::process::id()));
    let files = relais_bench::generate_check_workload(&dir, flows, steps)?;
    println!("workload: {flows} flows x {steps} steps ({files} files) in {}", dir.display());
    let (mut baselines, mut checks) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let t = Instant::now();
        let mut nodes = 0usize;
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let text = std::fs::read_to_string(entry.path())?;
            let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or(serde_yaml::Value::Null);
            nodes += usize::from(!v.is_null());
        }
        let baseline = t.elapsed();
        let t = Instant::now();
        let loaded = relais_engine::cli::check::check_paths(std::slice::from_ref(&dir), None);
        let check = t.elapsed();
        println!(
            "round {round}: baseline serde_yaml parse {:>8.1} ms ({nodes} docs) | relais check {:>8.1} ms ({} flows, {} diagnostics) | ratio {:.2}x",
            ms(baseline),
            ms(check),
            loaded.set.flows().count(),
            loaded.diags.iter().count(),
            check.as_secs_f64() / baseline.as_secs_f64()
        );
        // A check that found problems did other work than the one measured (a workload outside the project
        // root under /dev/shm reads no file at all): refuse to print a ratio for it.
        if let Some(first) = loaded.diags.iter().next() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(std::io::Error::other(format!(
                "the generated workload does not check cleanly, so its timing means nothing: {}",
                first.message
            )));
        }
        drop(loaded);
        baselines.push(baseline);
        checks.push(check);
    }
    let (baseline, check) = (median(&mut baselines), median(&mut checks));
    println!(
        "median of {rounds}: baseline serde_yaml parse {:>8.1} ms | relais check {:>8.1} ms | ratio {:.2}x",
        ms(baseline),
        ms(check),
        check.as_secs_f64() / baseline.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
