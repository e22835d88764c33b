//! Duration statistics for one key: exact call count, sampled count, Welford mean/σ,
//! min/max, sum, quantiles from a [`Sketch`], and busy time for async functions.
//!
//! "Calls" counts every call, sampled or not (a cheap counter on the hot path); the duration
//! figures describe only the sampled calls, whose durations were actually measured.

use crate::sketch::Sketch;
use crate::welford::Welford;
use serde::{Deserialize, Serialize};

/// Mergeable statistics of the durations (nanoseconds) of one key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    calls: u64,
    wall: Welford,
    sum_ns: u64,
    min_ns: u64,
    max_ns: u64,
    sketch: Sketch,
    busy_sum_ns: u64,
    busy_count: u64,
}

impl DurationStats {
    /// Counts `n` calls whose duration was not measured.
    #[inline]
    pub fn record_calls(&mut self, n: u64) {
        self.calls += n;
    }

    /// Records one measured call (which also counts as a call).
    ///
    /// `busy_ns` is the time the call was actually running (polling, for async functions);
    /// pass `None` for synchronous code, where busy time equals wall time.
    pub fn record(&mut self, wall_ns: u64, busy_ns: Option<u64>) {
        self.calls += 1;
        if self.wall.count() == 0 {
            self.min_ns = wall_ns;
            self.max_ns = wall_ns;
        } else {
            self.min_ns = self.min_ns.min(wall_ns);
            self.max_ns = self.max_ns.max(wall_ns);
        }
        self.wall.add(wall_ns as f64);
        self.sum_ns = self.sum_ns.saturating_add(wall_ns);
        self.sketch.add(wall_ns);
        if let Some(busy) = busy_ns {
            self.busy_sum_ns = self.busy_sum_ns.saturating_add(busy);
            self.busy_count += 1;
        }
    }

    /// Merges another key's statistics into these.
    pub fn merge(&mut self, other: &DurationStats) {
        if other.wall.count() > 0 {
            if self.wall.count() == 0 {
                self.min_ns = other.min_ns;
                self.max_ns = other.max_ns;
            } else {
                self.min_ns = self.min_ns.min(other.min_ns);
                self.max_ns = self.max_ns.max(other.max_ns);
            }
        }
        self.calls += other.calls;
        self.wall.merge(&other.wall);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.sketch.merge(&other.sketch);
        self.busy_sum_ns = self.busy_sum_ns.saturating_add(other.busy_sum_ns);
        self.busy_count += other.busy_count;
    }

    /// Every call counted, sampled or not.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Calls whose duration was measured.
    pub fn sampled(&self) -> u64 {
        self.wall.count()
    }

    /// The Welford summary of measured wall times.
    pub fn wall(&self) -> &Welford {
        &self.wall
    }

    /// The quantile sketch of measured wall times.
    pub fn sketch(&self) -> &Sketch {
        &self.sketch
    }

    /// Heap bytes held (the sketch's buckets).
    pub fn heap_bytes(&self) -> usize {
        self.sketch.heap_bytes()
    }

    /// A plain, serializable summary.
    pub fn snapshot(&self) -> StatsSnapshot {
        let q = |p| self.sketch.quantile(p).unwrap_or(0);
        StatsSnapshot {
            calls: self.calls,
            sampled: self.wall.count(),
            sum_ns: self.sum_ns,
            mean_ns: self.wall.mean(),
            stddev_ns: self.wall.stddev(),
            min_ns: if self.wall.count() > 0 {
                self.min_ns
            } else {
                0
            },
            max_ns: self.max_ns,
            p50_ns: q(0.50),
            p90_ns: q(0.90),
            p95_ns: q(0.95),
            p99_ns: q(0.99),
            busy_mean_ns: (self.busy_count > 0)
                .then(|| self.busy_sum_ns as f64 / self.busy_count as f64),
            busy_sum_ns: (self.busy_count > 0).then_some(self.busy_sum_ns),
        }
    }
}

/// A point-in-time summary of [`DurationStats`]; field names are part of the stable API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Every call, sampled or not.
    pub calls: u64,
    /// Calls whose duration was measured.
    pub sampled: u64,
    /// Sum of measured wall times.
    pub sum_ns: u64,
    /// Mean measured wall time.
    pub mean_ns: f64,
    /// Sample standard deviation of measured wall times.
    pub stddev_ns: f64,
    /// Shortest measured wall time (0 when none).
    pub min_ns: u64,
    /// Longest measured wall time.
    pub max_ns: u64,
    /// Median wall time (sketch, relative error ≤ 0.78 %).
    pub p50_ns: u64,
    /// 90th percentile wall time.
    pub p90_ns: u64,
    /// 95th percentile wall time.
    pub p95_ns: u64,
    /// 99th percentile wall time.
    pub p99_ns: u64,
    /// Mean busy (polling) time, for async functions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub busy_mean_ns: Option<f64>,
    /// Total busy (polling) time, for async functions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub busy_sum_ns: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_and_samples_separately() {
        let mut s = DurationStats::default();
        s.record_calls(99);
        s.record(5_000_000, None);
        s.record(7_000_000, Some(1_000_000));
        let snap = s.snapshot();
        assert_eq!((snap.calls, snap.sampled), (101, 2));
        assert_eq!(
            (snap.min_ns, snap.max_ns, snap.sum_ns),
            (5_000_000, 7_000_000, 12_000_000)
        );
        assert!((snap.mean_ns - 6_000_000.0).abs() < 1e-6);
        assert_eq!(snap.busy_mean_ns, Some(1_000_000.0));
    }

    #[test]
    fn merge_is_the_union() {
        let mut a = DurationStats::default();
        let mut b = DurationStats::default();
        for i in 1..=100u64 {
            if i % 2 == 0 {
                a.record(i * 1000, None)
            } else {
                b.record(i * 1000, None)
            }
        }
        b.record_calls(10);
        a.merge(&b);
        let snap = a.snapshot();
        assert_eq!(
            (snap.calls, snap.sampled, snap.min_ns, snap.max_ns),
            (110, 100, 1000, 100_000)
        );
        assert!((snap.p50_ns as f64 - 50_000.0).abs() / 50_000.0 < 0.01);
        let mut empty = DurationStats::default();
        empty.merge(&a);
        assert_eq!(empty.snapshot().min_ns, 1000);
    }
}
