//! Anomaly and regression detection over calibrated distributions.
//!
//! * An **anomaly** is one execution slower than `mean + k·σ` of its key's calibrated
//!   distribution (k = 3 by default). σ is floored at 1 % of the mean so a key with constant
//!   timings does not flag every nanosecond of jitter.
//! * A **regression** compares a recent distribution with a baseline one (the calibrated
//!   history, or a frozen snapshot). It is called only when the mean slowed down by at least
//!   `threshold_pct` **and** Welch's one-sided t-test says the slowdown is significant at
//!   `alpha`, so steady noise does not raise alarms while a real shift does.
//!
//! Neither detector says anything for a key with fewer than `min_samples` samples.

use crate::severity::{Severity, SeverityBounds};
use crate::significance::welch_greater;
use crate::welford::Welford;
use serde::{Deserialize, Serialize};

/// Settings of the anomaly detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnomalyConfig {
    /// How many standard deviations above the mean make an anomaly. Default 3.
    pub sigma: f64,
    /// Samples needed before the detector speaks (calibration). Default 30.
    pub min_samples: u64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            sigma: 3.0,
            min_samples: 30,
        }
    }
}

/// One execution that was anomalously slow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnomalyHit {
    /// The execution's duration.
    pub duration_ns: u64,
    /// Mean of the calibrated distribution it was judged against.
    pub mean_ns: f64,
    /// Standard deviation of that distribution (before the 1 % floor).
    pub stddev_ns: f64,
    /// The duration above which an execution is anomalous.
    pub threshold_ns: f64,
    /// How many (floored) standard deviations above the mean it was.
    pub sigmas: f64,
}

/// Judges one duration against a calibrated distribution.
///
/// ```
/// use flamewatch_core::detect::{check_anomaly, AnomalyConfig};
/// use flamewatch_core::welford::Welford;
/// let mut cal = Welford::default();
/// for i in 0..100 { cal.add(if i % 2 == 0 { 3e6 } else { 7e6 }); } // 5 ± 2 ms
/// let cfg = AnomalyConfig::default();
/// assert!(check_anomaly(&cal, 15_000_000, &cfg).is_some());
/// assert!(check_anomaly(&cal, 9_000_000, &cfg).is_none());
/// ```
pub fn check_anomaly(
    calibrated: &Welford,
    duration_ns: u64,
    cfg: &AnomalyConfig,
) -> Option<AnomalyHit> {
    if calibrated.count() < cfg.min_samples.max(2) {
        return None;
    }
    let mean = calibrated.mean();
    let value = duration_ns as f64;
    if value <= mean && cfg.sigma >= 0.0 {
        // At or below the mean: never over `mean + k·σ` (the common case, without a sqrt).
        return None;
    }
    let stddev = calibrated.stddev();
    let effective = stddev.max(mean.abs() * 0.01).max(f64::MIN_POSITIVE);
    let threshold = mean + cfg.sigma * effective;
    (value > threshold).then(|| AnomalyHit {
        duration_ns,
        mean_ns: mean,
        stddev_ns: stddev,
        threshold_ns: threshold,
        sigmas: (value - mean) / effective,
    })
}

/// Settings of the regression detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionConfig {
    /// Smallest slowdown of the mean, in percent, that counts. Default 20.
    pub threshold_pct: f64,
    /// Significance level of the one-sided Welch test. Default 0.001.
    pub alpha: f64,
    /// Samples needed on each side. Default 30.
    pub min_samples: u64,
    /// The severity scale.
    pub bounds: SeverityBounds,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        RegressionConfig {
            threshold_pct: 20.0,
            alpha: 0.001,
            min_samples: 30,
            bounds: SeverityBounds::default(),
        }
    }
}

/// The comparison of a recent distribution with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Change of the mean in percent (positive = slower).
    pub change_pct: f64,
    /// Baseline mean.
    pub baseline_mean_ns: f64,
    /// Recent mean.
    pub recent_mean_ns: f64,
    /// Samples in the baseline.
    pub baseline_samples: u64,
    /// Samples in the recent distribution.
    pub recent_samples: u64,
    /// One-sided p-value of "recent is slower".
    pub p_value: f64,
    /// `1 − p_value`.
    pub confidence: f64,
    /// Severity of the change on the shared scale.
    pub severity: Severity,
    /// Whether this is a regression: beyond the threshold and significant.
    pub regressed: bool,
}

/// Compares `recent` with `baseline`; `None` while either side is still calibrating.
///
/// ```
/// use flamewatch_core::detect::{compare, RegressionConfig};
/// use flamewatch_core::severity::Severity;
/// use flamewatch_core::welford::Welford;
/// let (mut before, mut after) = (Welford::default(), Welford::default());
/// for i in 0..60 {
///     let jitter = (i % 7) as f64 * 1e6;
///     before.add(105e6 + jitter);
///     after.add(154e6 + jitter);
/// }
/// let c = compare(&before, &after, &RegressionConfig::default()).unwrap();
/// assert!(c.regressed && c.severity == Severity::High);
/// assert!((c.change_pct - 45.3).abs() < 0.5);
/// ```
pub fn compare(baseline: &Welford, recent: &Welford, cfg: &RegressionConfig) -> Option<Comparison> {
    let min = cfg.min_samples.max(2);
    if baseline.count() < min || recent.count() < min || baseline.mean() <= 0.0 {
        return None;
    }
    let change_pct = (recent.mean() - baseline.mean()) / baseline.mean() * 100.0;
    let p_value = welch_greater(baseline, recent).map_or(1.0, |w| w.p_greater);
    let regressed = change_pct >= cfg.threshold_pct && p_value < cfg.alpha;
    Some(Comparison {
        change_pct,
        baseline_mean_ns: baseline.mean(),
        recent_mean_ns: recent.mean(),
        baseline_samples: baseline.count(),
        recent_samples: recent.count(),
        p_value,
        confidence: 1.0 - p_value,
        severity: cfg.bounds.classify(change_pct),
        regressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(mean: f64, spread: f64, n: usize) -> Welford {
        let mut w = Welford::default();
        for i in 0..n {
            // a symmetric saw-tooth with the given half-range
            let u = (i % 21) as f64 / 10.0 - 1.0;
            w.add(mean + spread * u);
        }
        w
    }

    #[test]
    fn silent_until_calibrated() {
        let cal = dist(5e6, 2e6, 29);
        assert!(check_anomaly(&cal, 50_000_000, &AnomalyConfig::default()).is_none());
        let cal = dist(5e6, 2e6, 30);
        assert!(check_anomaly(&cal, 50_000_000, &AnomalyConfig::default()).is_some());
        assert!(
            compare(
                &dist(1e6, 1e5, 29),
                &dist(2e6, 1e5, 100),
                &RegressionConfig::default()
            )
            .is_none()
        );
    }

    #[test]
    fn constant_timings_need_a_real_deviation() {
        let cal = dist(1e6, 0.0, 100);
        let cfg = AnomalyConfig::default();
        assert!(check_anomaly(&cal, 1_020_000, &cfg).is_none());
        assert!(check_anomaly(&cal, 1_040_000, &cfg).is_some());
    }

    #[test]
    fn large_but_noisy_difference_is_not_significant() {
        // Means differ by 30 % but with 5 samples of huge noise; with min_samples lowered.
        let cfg = RegressionConfig {
            min_samples: 5,
            ..Default::default()
        };
        let c = compare(&dist(100.0, 90.0, 5), &dist(130.0, 90.0, 5), &cfg).unwrap();
        assert!(c.change_pct > 20.0);
        assert!(!c.regressed, "p={}", c.p_value);
    }

    #[test]
    fn improvement_is_not_a_regression() {
        let c = compare(
            &dist(100.0, 5.0, 100),
            &dist(60.0, 5.0, 100),
            &RegressionConfig::default(),
        )
        .unwrap();
        assert!(!c.regressed && c.change_pct < 0.0 && c.severity == Severity::None);
    }
}
