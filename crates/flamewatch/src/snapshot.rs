//! What the profiler knows, read back: a serializable [`Snapshot`] (served as JSON by the
//! management API, version 1) and the human summary.
//!
//! Field names are part of the stable API: additions are backwards compatible, renames and
//! removals bump [`Snapshot::version`]. Durations are in milliseconds (`*_ms`) or
//! nanoseconds (`*_ns`, inside `stats`).

use crate::settings::{Level, Mode};
use flamewatch_core::severity::Severity;
use flamewatch_core::stats::StatsSnapshot;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Everything the profiler knows at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Schema version of this structure.
    pub version: u32,
    /// Session-wide figures.
    pub session: Session,
    /// Per-function statistics, slowest mean first.
    pub functions: Vec<FunctionStats>,
    /// Recent anomalies, newest last.
    pub anomalies: Vec<Anomaly>,
    /// Current regressions against the calibrated history, worst first.
    pub regressions: Vec<Regression>,
    /// The profiler's own health: drops, contained panics, memory.
    pub health: Health,
}

/// Session-wide figures.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Whether recording is on.
    pub enabled: bool,
    /// Sampling or full.
    pub mode: Mode,
    /// Basic or detailed.
    pub level: Level,
    /// Configured sampling rate.
    pub sample_rate: f64,
    /// Measured calls over all calls.
    pub effective_sample_rate: f64,
    /// Unix time the profiler started.
    pub started_at: f64,
    /// Seconds since then.
    pub uptime_s: f64,
    /// Calls seen, measured or not.
    pub calls: u64,
    /// Calls measured.
    pub sampled: u64,
    /// Functions with at least one call.
    pub functions_profiled: usize,
    /// Functions still calibrating (fewer than `anomaly.min_samples` measured calls).
    pub calibrating: usize,
    /// Anomalies detected since start (the list keeps only the newest).
    pub anomalies_total: u64,
    /// Current regressions by severity.
    pub regressions_by_severity: BTreeMap<Severity, usize>,
}

/// Statistics of one function (or span).
#[derive(Debug, Clone, Serialize)]
pub struct FunctionStats {
    /// Dotted name.
    pub name: String,
    /// Lifetime statistics.
    pub stats: StatsSnapshot,
    /// P95 over the current and previous window.
    pub recent_p95_ns: Option<u64>,
    /// Whether the anomaly detector is calibrated for it.
    pub calibrated: bool,
    /// Measured calls that were cancelled (async futures dropped before completion).
    pub cancelled: u64,
    /// Anomalies detected.
    pub anomalies: u64,
    /// Allocation figures, at `level: detailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
}

/// Allocation figures of one function.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryStats {
    /// Mean bytes allocated per measured call.
    pub alloc_bytes_mean: f64,
    /// Most bytes allocated by one call.
    pub alloc_bytes_max: u64,
    /// Highest peak of live bytes above the call's start.
    pub peak_bytes_max: u64,
}

/// One anomalously slow execution.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// Function name.
    pub name: String,
    /// Its duration.
    pub duration_ms: f64,
    /// Mean of the calibrated distribution.
    pub mean_ms: f64,
    /// Its standard deviation.
    pub stddev_ms: f64,
    /// The anomaly threshold (mean + k·σ).
    pub threshold_ms: f64,
    /// Standard deviations above the mean.
    pub sigmas: f64,
    /// Unix time the execution ended.
    pub timestamp: f64,
    /// Enclosing spans, innermost first.
    pub stack: Vec<String>,
    /// The request the call ran in (status included once the response was known when the
    /// call was processed), if it ran inside a request scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<crate::output::RequestContext>,
}

/// One regression.
#[derive(Debug, Clone, Serialize)]
pub struct Regression {
    /// Function name.
    pub name: String,
    /// Change of the mean in percent.
    pub change_pct: f64,
    /// Baseline mean.
    pub baseline_mean_ms: f64,
    /// Recent mean.
    pub recent_mean_ms: f64,
    /// Samples in the baseline.
    pub baseline_samples: u64,
    /// Samples in the recent window.
    pub recent_samples: u64,
    /// One-sided p-value of the slowdown.
    pub p_value: f64,
    /// `1 − p_value`.
    pub confidence: f64,
    /// Severity on the shared scale.
    pub severity: Severity,
}

/// The profiler's own health.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Health {
    /// Measured calls dropped because a thread's ring was full.
    pub dropped_events: u64,
    /// Output records dropped by the `max_records_per_minute` rate limit.
    pub dropped_records: u64,
    /// The self-overhead circuit breaker (absent until the collector's first pass).
    pub breaker: Option<crate::BreakerStatus>,
    /// Panics inside profiler code that were contained.
    pub contained_panics: u64,
    /// Distinct keys.
    pub keys: usize,
    /// Registrations folded into `_other` by the cardinality cap.
    pub keys_over_cap: u64,
    /// Threads with live recording buffers.
    pub threads: usize,
    /// Time the collector thread spent aggregating.
    pub collector_busy_ns: u64,
    /// Approximate heap bytes held by statistics.
    pub stats_bytes: usize,
}

fn ms(ns: f64) -> f64 {
    ns / 1e6
}

impl Snapshot {
    /// The human summary (`GET /stats?format=text`).
    ///
    /// ```text
    /// Profiling Summary:
    ///   Anomalies: 1
    ///   Functions profiled: 3
    ///   Regressions detected: 1
    ///
    /// Top Slow Functions:
    ///   1. regressionTest: 106.74ms avg
    ///   2. slowFunction: 100.00ms avg
    ///
    /// Detected Regressions:
    ///   1. [HIGH] regressionTest
    ///      Change: 45.6% (108ms → 157ms)
    /// ```
    pub fn summary_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Profiling Summary:");
        let _ = writeln!(out, "  Anomalies: {}", self.session.anomalies_total);
        let _ = writeln!(
            out,
            "  Functions profiled: {}",
            self.session.functions_profiled
        );
        let _ = writeln!(out, "  Regressions detected: {}", self.regressions.len());
        let measured: Vec<_> = self
            .functions
            .iter()
            .filter(|f| f.stats.sampled > 0)
            .take(5)
            .collect();
        if !measured.is_empty() {
            let _ = writeln!(out, "\nTop Slow Functions:");
            for (i, f) in measured.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {}. {}: {:.2}ms avg",
                    i + 1,
                    f.name,
                    ms(f.stats.mean_ns)
                );
            }
        }
        if !self.regressions.is_empty() {
            let _ = writeln!(out, "\nDetected Regressions:");
            for (i, r) in self.regressions.iter().enumerate() {
                let _ = writeln!(out, "  {}. [{}] {}", i + 1, r.severity, r.name);
                let _ = writeln!(
                    out,
                    "     Change: {:.1}% ({:.0}ms → {:.0}ms)",
                    r.change_pct, r.baseline_mean_ms, r.recent_mean_ms
                );
            }
        }
        out
    }
}
