//! A latency histogram with fixed buckets, lock-free: an observation is one atomic add to the one bucket
//! it falls in (plus the sum and the count); the cumulative counts Prometheus shows are summed when read.
//! Counted cumulatively, a fast request added to all twelve buckets: twelve locked adds on every request
//! of every flow, where a read of the counts happens once per scrape.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket bounds in seconds: from a millisecond (an in-process flow) to ten seconds (a slow partner).
pub const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Bucket counts (each observation in the first bucket whose bound holds it, or in none past the last
/// bound), the sum and the count of what was observed.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(u64::try_from(value.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The cumulative count of each bucket of [`BUCKETS`], read now: what the incident evaluator and the
    /// status page estimate a quantile from ([`quantile`]).
    pub fn buckets(&self) -> [u64; BUCKETS.len()] {
        let mut below = 0u64;
        std::array::from_fn(|i| {
            below += self.buckets[i].load(Ordering::Relaxed);
            below
        })
    }

    /// The `_bucket`, `_sum` and `_count` lines of family `name` for one series, `labels` already written
    /// (`flow="orders"`).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, n) in BUCKETS.iter().zip(self.buckets()) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The `q` quantile (0.99 for p99) of `count` observations whose cumulative bucket counts are `buckets`,
/// in seconds, as Prometheus' `histogram_quantile` estimates it: linear within the bucket it falls in (from
/// 0 in the first), the highest finite bound when it falls beyond it. `None` without observations.
pub fn quantile(buckets: &[u64; BUCKETS.len()], count: u64, q: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let rank = q * count as f64;
    let mut below = 0u64;
    let mut lower = 0.0;
    for (i, bound) in BUCKETS.iter().enumerate() {
        let upto = buckets[i];
        if upto as f64 >= rank {
            let inside = upto.saturating_sub(below);
            if inside == 0 {
                return Some(*bound);
            }
            return Some(lower + (bound - lower) * (rank - below as f64) / inside as f64);
        }
        below = upto;
        lower = *bound;
    }
    Some(BUCKETS[BUCKETS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantile_is_interpolated_inside_its_bucket_and_capped_at_the_highest_bound() {
        let h = Histogram::default();
        for _ in 0..100 {
            h.observe(Duration::from_millis(20));
        }
        // 100 observations in (0.01, 0.025]: the 99th is 99 % of the way through that bucket.
        let p99 = quantile(&h.buckets(), h.count(), 0.99).unwrap();
        assert!((p99 - (0.01 + 0.015 * 0.99)).abs() < 1e-9, "{p99}");
        h.observe(Duration::from_secs(60));
        h.observe(Duration::from_secs(60));
        assert_eq!(quantile(&h.buckets(), h.count(), 0.999), Some(10.0));
        assert_eq!(quantile(&[0; BUCKETS.len()], 0, 0.99), None);
    }

    #[test]
    fn a_histogram_counts_each_observation_in_every_bucket_at_or_above_it() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "config=\"crm\"");
        assert!(out.contains("x_seconds_bucket{config=\"crm\",le=\"0.0025\"} 0\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{config=\"crm\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{config=\"crm\",le=\"10\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{config=\"crm\",le=\"+Inf\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_sum{config=\"crm\"} 20.003\n"), "{out}");
        assert!(out.contains("x_seconds_count{config=\"crm\"} 2\n"), "{out}");
    }

    #[test]
    fn bucket_counts_read_cumulative_and_never_pass_the_count_of_what_fits_the_last_bound() {
        let h = Histogram::default();
        for ms in [0, 1, 2, 7, 40, 40, 900, 9_000, 60_000] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.buckets(), [2, 3, 3, 4, 4, 6, 6, 6, 6, 7, 7, 8]);
        assert_eq!(h.count(), 9);
        let mut out = String::new();
        h.render(&mut out, "y", "flow=\"f\"");
        assert!(out.contains("y_bucket{flow=\"f\",le=\"0.001\"} 2\n"), "{out}");
        assert!(out.contains("y_bucket{flow=\"f\",le=\"10\"} 8\n"), "{out}");
        assert!(out.contains("y_bucket{flow=\"f\",le=\"+Inf\"} 9\n"), "{out}");
    }
}
