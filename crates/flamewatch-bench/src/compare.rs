//! The regression gate: baseline runs versus candidate runs, one verdict per metric.
//!
//! For each metric the change is estimated as the Hodges–Lehmann shift of the candidate runs
//! against the baseline runs, with its distribution-free (Moses) confidence interval, both
//! expressed in percent of the baseline median. With a threshold `T` (default 10 %) and a noise
//! floor `F` (default `T / 2`):
//!
//! | interval `[lo, hi]` of the change | verdict |
//! |---|---|
//! | `hi < T` and `hi < −F` and `lo ≤ −T` | improved |
//! | `hi < T` otherwise | pass: a slowdown of `T` or more is ruled out |
//! | `hi ≥ T` and `lo > F` | regressed, severity of the estimate on the shared scale |
//! | `hi ≥ T` and `lo ≤ F` | inconclusive: cannot rule out `T`, cannot confirm a slowdown |
//!
//! The baseline was measured in another process, often minutes or commits earlier, so the whole
//! candidate session can sit a little above or below it (CPU frequency, cache state, neighbours)
//! in a way no within-session interval can see. The interval is therefore widened by a drift
//! allowance `D` on both sides before the table is applied (default 2 %, about 1.5× the
//! session-to-session σ of CPU time measured on a shared 2-vCPU VM; learned from history when
//! available).
//!
//! A regression of exactly `T` is therefore still caught (its interval reaches `T` and, with
//! enough runs, clears the floor), while identical commands essentially never are (their
//! interval would have to clear `F`). Several metrics are gated at once, so the family-wise
//! confidence (default 95 %) is split with Bonferroni: each of `k` gated metrics uses
//! `1 − 0.05 / k`. Reported-only metrics use the family level.
//!
//! While a gated metric is inconclusive the caller adds candidate runs (growing by half each
//! time, up to `max_runs`) and evaluates again; see [`next_batch`].

use crate::Metric;
use crate::runner::BenchResult;
use crate::stats::{self, Interval, Summary};
use flamewatch_core::severity::{Severity, SeverityBounds};
use serde::{Deserialize, Serialize};

/// Gate settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GateConfig {
    /// Regression threshold in percent (default 10).
    pub threshold_pct: f64,
    /// Noise floor in percent a slowdown must clear to be called (default threshold / 2).
    pub floor_pct: f64,
    /// Allowance in percent for a systematic shift between the baseline's session and this one;
    /// the interval is widened by it on both sides (default 2).
    pub drift_pct: f64,
    /// Family-wise confidence (default 0.95).
    pub confidence: f64,
    /// Metrics that decide the outcome (default CPU time and peak RSS).
    pub gate: Vec<Metric>,
    /// Severity scale.
    pub severity: SeverityBounds,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig::with_threshold(10.0)
    }
}

impl GateConfig {
    /// Defaults with a given threshold in percent.
    pub fn with_threshold(threshold_pct: f64) -> Self {
        GateConfig {
            threshold_pct,
            floor_pct: threshold_pct / 2.0,
            drift_pct: 2.0,
            confidence: 0.95,
            gate: Metric::DEFAULT_GATE.to_vec(),
            severity: SeverityBounds::default(),
        }
    }

    /// Confidence level of each gated metric's interval (Bonferroni split).
    pub fn per_metric_confidence(&self) -> f64 {
        1.0 - (1.0 - self.confidence) / self.gate.len().max(1) as f64
    }

    /// Checks the settings.
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.threshold_pct > 0.0 && self.threshold_pct.is_finite()) {
            return Err(crate::Error::Config(
                "--threshold must be a positive percentage".into(),
            ));
        }
        if !(self.floor_pct >= 0.0 && self.floor_pct < self.threshold_pct) {
            return Err(crate::Error::Config(
                "the noise floor must be at least 0 and below --threshold".into(),
            ));
        }
        if !(self.drift_pct >= 0.0 && self.drift_pct < self.threshold_pct) {
            return Err(crate::Error::Config(
                "the drift allowance must be at least 0 and below --threshold".into(),
            ));
        }
        if !(0.5..1.0).contains(&self.confidence) {
            return Err(crate::Error::Config(
                "confidence must be in [0.5, 1)".into(),
            ));
        }
        Ok(())
    }
}

/// Verdict for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "severity", rename_all = "snake_case")]
pub enum Verdict {
    /// A slowdown of the threshold or more is ruled out.
    Pass,
    /// Confidently faster by more than the threshold.
    Improved,
    /// Confidently slower, beyond the noise floor, with the threshold within the interval.
    Regressed(Severity),
    /// The data cannot tell.
    Inconclusive,
}

impl Verdict {
    /// Short lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Improved => "improved",
            Verdict::Regressed(_) => "regressed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// Comparison of one metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricComparison {
    /// The metric.
    pub metric: Metric,
    /// Whether it decides the outcome.
    pub gated: bool,
    /// Baseline summary.
    pub baseline: Summary,
    /// Candidate summary.
    pub candidate: Summary,
    /// Change in percent of the baseline median: estimate and interval.
    pub change_pct: Interval,
    /// Two-sided Mann–Whitney p-value (for information; the verdict uses the interval).
    pub p_value: f64,
    /// Holm-adjusted p-value across the gated metrics (reported-only metrics: unadjusted).
    pub p_adjusted: f64,
    /// Threshold applied to this metric, percent (the configured one, widened when finer than
    /// the metric's [`resolution`]).
    pub threshold_pct: f64,
    /// Noise floor applied to this metric, percent.
    pub floor_pct: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// Outcome of a whole comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateOutcome {
    /// No gated metric regressed or was inconclusive.
    Pass,
    /// At least one gated metric regressed.
    Regression,
    /// No regression, but at least one gated metric was inconclusive.
    Inconclusive,
}

/// A full comparison of a candidate against a baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// Benchmark name.
    pub name: String,
    /// Threshold in percent.
    pub threshold_pct: f64,
    /// Noise floor in percent.
    pub floor_pct: f64,
    /// Drift allowance in percent.
    #[serde(default)]
    pub drift_pct: f64,
    /// Per-gated-metric confidence.
    pub confidence: f64,
    /// Per-metric results, report order.
    pub metrics: Vec<MetricComparison>,
    /// The overall outcome.
    pub outcome: GateOutcome,
    /// Environment differences from the baseline.
    pub environment_mismatches: Vec<String>,
}

impl Comparison {
    /// Gated metrics still inconclusive.
    pub fn inconclusive(&self) -> Vec<Metric> {
        self.metrics
            .iter()
            .filter(|m| m.gated && m.verdict == Verdict::Inconclusive)
            .map(|m| m.metric)
            .collect()
    }
}

/// Classifies an interval of the change (percent) against a threshold `t` and floor `f`.
///
/// The severity of a regression is that of the point estimate on the shared scale; when the
/// estimate itself is still below the threshold (the interval only reaches it), the severity of
/// the threshold is used, since that is the smallest slowdown the verdict asserts is plausible.
pub fn classify_with(change: &Interval, t: f64, f: f64, severity: &SeverityBounds) -> Verdict {
    if change.lo.is_nan() || change.hi.is_nan() {
        return Verdict::Inconclusive;
    }
    if change.hi < t {
        if change.hi < -f && change.lo <= -t {
            Verdict::Improved
        } else {
            Verdict::Pass
        }
    } else if change.lo > f {
        let mut sev = severity.classify(change.estimate);
        if sev == Severity::None {
            sev = severity.classify(t);
        }
        Verdict::Regressed(sev)
    } else {
        Verdict::Inconclusive
    }
}

/// Classifies an interval of the change (percent) with the configured threshold and floor.
pub fn classify(change: &Interval, cfg: &GateConfig) -> Verdict {
    classify_with(change, cfg.threshold_pct, cfg.floor_pct, &cfg.severity)
}

/// Smallest change of a metric, in its base unit, that this harness can resolve: 100 µs for
/// times, 512 KiB for peak RSS (tiny programs read at the spawn floor and vary by dozens of
/// pages with address-space layout), 4 KiB for I/O, 1 for counts. A threshold that would be
/// finer than this is widened (threshold and floor scaled together).
pub fn resolution(metric: Metric) -> f64 {
    match metric {
        Metric::WallTime | Metric::CpuTime | Metric::UserTime | Metric::SysTime => 1e-4,
        Metric::PeakRss => 512.0 * 1024.0,
        Metric::IoRead | Metric::IoWrite | Metric::DiskRead | Metric::DiskWrite => 4096.0,
        _ => 1.0,
    }
}

/// Compares one metric's baseline values `x` with candidate values `y`.
pub fn compare_metric(
    metric: Metric,
    x: &[f64],
    y: &[f64],
    gated: bool,
    confidence: f64,
    cfg: &GateConfig,
) -> MetricComparison {
    let baseline = Summary::of(x);
    let candidate = Summary::of(y);
    let shift = stats::hodges_lehmann_shift(x, y, confidence);
    let change_pct = relative(&shift, baseline.median);
    let p_value = stats::mann_whitney_p(x, y);
    let res_pct = if baseline.median != 0.0 {
        100.0 * resolution(metric) / baseline.median.abs()
    } else {
        0.0
    };
    let scale = (res_pct / cfg.threshold_pct).max(1.0);
    let (threshold_pct, floor_pct) = (cfg.threshold_pct * scale, cfg.floor_pct * scale);
    let widened = Interval {
        lo: change_pct.lo - cfg.drift_pct,
        hi: change_pct.hi + cfg.drift_pct,
        ..change_pct
    };
    let verdict = classify_with(&widened, threshold_pct, floor_pct, &cfg.severity);
    MetricComparison {
        metric,
        gated,
        baseline,
        candidate,
        change_pct,
        p_value,
        p_adjusted: p_value,
        threshold_pct,
        floor_pct,
        verdict,
    }
}

/// Expresses a shift interval in percent of `base`. A zero base gives 0 % when the shift is
/// exactly 0 and ±∞ otherwise.
pub fn relative(shift: &Interval, base: f64) -> Interval {
    let pct = |v: f64| {
        if base != 0.0 {
            100.0 * v / base.abs()
        } else if v == 0.0 {
            0.0
        } else {
            v.signum() * f64::INFINITY
        }
    };
    Interval {
        estimate: pct(shift.estimate),
        lo: pct(shift.lo),
        hi: pct(shift.hi),
        confidence: shift.confidence,
    }
}

/// Compares every metric present on both sides; gated metrics decide the outcome.
pub fn compare(baseline: &BenchResult, candidate: &BenchResult, cfg: &GateConfig) -> Comparison {
    let per_gated = cfg.per_metric_confidence();
    let mut metrics = Vec::new();
    for m in Metric::ALL {
        let (x, y) = (baseline.values(m), candidate.values(m));
        if x.is_empty() || y.is_empty() {
            continue;
        }
        let gated = cfg.gate.contains(&m);
        let conf = if gated { per_gated } else { cfg.confidence };
        metrics.push(compare_metric(m, &x, &y, gated, conf, cfg));
    }
    let gated_idx: Vec<usize> = (0..metrics.len()).filter(|i| metrics[*i].gated).collect();
    let adj = stats::holm_adjust(
        &gated_idx
            .iter()
            .map(|i| metrics[*i].p_value)
            .collect::<Vec<_>>(),
    );
    for (i, p) in gated_idx.iter().zip(adj) {
        metrics[*i].p_adjusted = p;
    }
    let gated = metrics.iter().filter(|m| m.gated);
    let outcome = if gated
        .clone()
        .any(|m| matches!(m.verdict, Verdict::Regressed(_)))
    {
        GateOutcome::Regression
    } else if gated.clone().any(|m| m.verdict == Verdict::Inconclusive)
        || cfg
            .gate
            .iter()
            .any(|g| !metrics.iter().any(|m| m.metric == *g))
    {
        GateOutcome::Inconclusive
    } else {
        GateOutcome::Pass
    };
    Comparison {
        name: candidate.name.clone(),
        threshold_pct: cfg.threshold_pct,
        floor_pct: cfg.floor_pct,
        drift_pct: cfg.drift_pct,
        confidence: per_gated,
        metrics,
        outcome,
        environment_mismatches: Vec::new(),
    }
}

/// How many candidate runs to add next while inconclusive: half the current count (at least
/// one), never past `max_runs`. Returns 0 when the budget is spent.
pub fn next_batch(current: usize, max_runs: usize) -> usize {
    if current >= max_runs {
        return 0;
    }
    (current / 2).max(1).min(max_runs - current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(estimate: f64, lo: f64, hi: f64) -> Interval {
        Interval {
            estimate,
            lo,
            hi,
            confidence: 0.975,
        }
    }

    #[test]
    fn verdict_table() {
        let cfg = GateConfig::default();
        assert_eq!(classify(&iv(0.5, -2.0, 3.0), &cfg), Verdict::Pass);
        assert_eq!(
            classify(&iv(14.2, 11.0, 17.5), &cfg),
            Verdict::Regressed(Severity::Low)
        );
        assert_eq!(
            classify(&iv(40.0, 30.0, 50.0), &cfg),
            Verdict::Regressed(Severity::High)
        );
        // interval reaches the threshold but does not clear the floor
        assert_eq!(classify(&iv(4.0, -1.0, 12.0), &cfg), Verdict::Inconclusive);
        // too few runs: unbounded
        assert_eq!(
            classify(&iv(3.0, f64::NEG_INFINITY, f64::INFINITY), &cfg),
            Verdict::Inconclusive
        );
        assert_eq!(classify(&iv(-20.0, -25.0, -15.0), &cfg), Verdict::Improved);
        assert_eq!(classify(&iv(-7.0, -9.0, -6.0), &cfg), Verdict::Pass);
        // a true slowdown at the threshold is caught once the interval clears the floor
        assert!(matches!(
            classify(&iv(9.8, 6.0, 13.0), &cfg),
            Verdict::Regressed(_)
        ));
    }

    #[test]
    fn bonferroni_split_and_batches() {
        let cfg = GateConfig::default();
        assert!((cfg.per_metric_confidence() - 0.975).abs() < 1e-12);
        assert_eq!(next_batch(3, 30), 1);
        assert_eq!(next_batch(10, 30), 5);
        assert_eq!(next_batch(28, 30), 2);
        assert_eq!(next_batch(30, 30), 0);
    }

    #[test]
    fn tiny_rss_differences_are_below_resolution() {
        let cfg = GateConfig::default();
        let kib = 1024.0;
        let base = [1124.0 * kib, 1192.0 * kib, 1108.0 * kib];
        let cand = [
            1200.0 * kib,
            1192.0 * kib,
            1200.0 * kib,
            1104.0 * kib,
            1196.0 * kib,
            1192.0 * kib,
        ];
        let c = compare_metric(Metric::PeakRss, &base, &cand, true, 0.975, &cfg);
        assert_eq!(c.verdict, Verdict::Pass, "{c:?}");
        assert!(c.threshold_pct > 40.0);
        // a 200 MiB program keeps the configured threshold
        let big: Vec<f64> = base.iter().map(|v| v * 200.0).collect();
        let c = compare_metric(Metric::PeakRss, &big, &big, true, 0.975, &cfg);
        assert_eq!(c.threshold_pct, 10.0);
    }

    #[test]
    fn zero_baseline_is_handled() {
        let cfg = GateConfig::default();
        let c = compare_metric(Metric::FaultsMajor, &[0.0; 6], &[0.0; 6], true, 0.975, &cfg);
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(c.change_pct.estimate, 0.0);
    }

    #[test]
    fn synthetic_shift_is_detected_and_aa_passes() {
        let cfg = GateConfig::default();
        let base: Vec<f64> = (0..10).map(|i| 1.0 + 0.01 * ((i * 7) % 5) as f64).collect();
        let slow: Vec<f64> = base.iter().map(|v| v * 1.3).collect();
        let c = compare_metric(Metric::CpuTime, &base, &slow, true, 0.975, &cfg);
        assert_eq!(
            c.verdict,
            Verdict::Regressed(Severity::Medium),
            "{:?}",
            c.change_pct
        );
        let same: Vec<f64> = base.iter().rev().copied().collect();
        let c = compare_metric(Metric::CpuTime, &base, &same, true, 0.975, &cfg);
        assert_eq!(c.verdict, Verdict::Pass, "{:?}", c.change_pct);
    }
}
