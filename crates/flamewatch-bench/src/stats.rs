//! Statistics used by the gate, written from the published definitions.
//!
//! - descriptive summaries (median, mean, sample standard deviation, quantiles);
//! - the two-sample Hodges–Lehmann shift estimator with its distribution-free confidence
//!   interval (Moses / Bauer 1972), from the exact Mann–Whitney null distribution for small
//!   samples and its normal approximation for large ones;
//! - the one-sample (paired) Hodges–Lehmann estimator from Walsh averages with the exact
//!   Wilcoxon signed-rank interval, for interleaved A/B runs;
//! - the Mann–Whitney U test p-value (normal approximation with tie correction);
//! - Holm's step-down adjustment and Bonferroni splitting for several metrics at once;
//! - Welch's t-test (Student t via the regularised incomplete beta function), used by the
//!   change-point detector;
//! - the standard normal quantile (Acklam's rational approximation refined by one Halley step).
//!
//! Rank-based intervals need no normality assumption, which matters because run times are
//! skewed and CPU-time noise on a shared VM has occasional large outliers.

use serde::{Deserialize, Serialize};

/// Descriptive summary of one metric over a set of runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single value.
    pub stddev: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (must not be empty).
    pub fn of(values: &[f64]) -> Summary {
        assert!(!values.is_empty(), "summary of no values");
        let mut s = values.to_vec();
        s.sort_by(f64::total_cmp);
        Summary {
            n: s.len(),
            median: quantile_sorted(&s, 0.5),
            mean: mean(&s),
            stddev: stddev(&s),
            min: s[0],
            max: s[s.len() - 1],
        }
    }

    /// Coefficient of variation (σ / mean), 0 when the mean is 0.
    pub fn cv(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            self.stddev / self.mean.abs()
        }
    }
}

/// Arithmetic mean (NaN for no values).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation with Bessel's correction (0 for fewer than two values).
pub fn stddev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Median of unsorted values.
pub fn median(xs: &[f64]) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    quantile_sorted(&s, 0.5)
}

/// Quantile `q` in [0, 1] of sorted values with linear interpolation (type 7).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// A point estimate with a confidence interval. Bounds are infinite when the samples are too
/// small for the requested confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Point estimate.
    pub estimate: f64,
    /// Lower confidence bound.
    #[serde(with = "finite_or_null")]
    pub lo: f64,
    /// Upper confidence bound.
    #[serde(with = "finite_or_null")]
    pub hi: f64,
    /// Confidence level, e.g. 0.975.
    pub confidence: f64,
}

impl Interval {
    /// Whether both bounds are finite.
    pub fn is_bounded(&self) -> bool {
        self.lo.is_finite() && self.hi.is_finite()
    }

    /// Scales estimate and bounds by `factor` (> 0).
    pub fn scaled(&self, factor: f64) -> Interval {
        Interval {
            estimate: self.estimate * factor,
            lo: self.lo * factor,
            hi: self.hi * factor,
            confidence: self.confidence,
        }
    }
}

/// JSON has no infinities: unbounded interval ends are written as `null`.
mod finite_or_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Exact null distribution of the Mann–Whitney statistic U for sample sizes `n` and `m`
/// (no ties): `cdf[u] = P(U ≤ u)` for `u` in `0..=n·m`.
///
/// The counts are the coefficients of the Gaussian binomial coefficient `[n+m choose n]_q`,
/// built as ∏ᵢ (1 − q^{m+i}) / (1 − q^i).
pub fn mann_whitney_cdf(n: usize, m: usize) -> Vec<f64> {
    let (n, m) = if n <= m { (n, m) } else { (m, n) };
    let top = n * m;
    let mut poly = vec![0.0f64; top + 1];
    poly[0] = 1.0;
    for i in 1..=n {
        // multiply by (1 - q^(m+i)), highest degree first so each term is read before written
        let shift = m + i;
        for k in (shift..=top).rev() {
            poly[k] -= poly[k - shift];
        }
        // divide by (1 - q^i): running sum with stride i
        for k in i..=top {
            poly[k] += poly[k - i];
        }
    }
    let total: f64 = poly.iter().sum();
    let mut acc = 0.0;
    poly.iter()
        .map(|c| {
            acc += c.max(0.0);
            (acc / total).min(1.0)
        })
        .collect()
}

/// Exact null distribution of the Wilcoxon signed-rank statistic T⁺ for `n` non-zero pairs:
/// `cdf[t] = P(T⁺ ≤ t)` for `t` in `0..=n(n+1)/2` (coefficients of ∏ (1 + q^i)).
pub fn signed_rank_cdf(n: usize) -> Vec<f64> {
    let top = n * (n + 1) / 2;
    let mut poly = vec![0.0f64; top + 1];
    poly[0] = 1.0;
    for i in 1..=n {
        for k in (i..=top).rev() {
            poly[k] += poly[k - i];
        }
    }
    let total = 2f64.powi(n as i32);
    let mut acc = 0.0;
    poly.iter()
        .map(|c| {
            acc += c;
            (acc / total).min(1.0)
        })
        .collect()
}

/// Largest order-statistic depth `k ≥ 1` with `P(S ≤ k − 1) ≤ tail`, or 0 when none exists.
fn depth_from_cdf(cdf: &[f64], tail: f64) -> usize {
    let mut k = 0;
    while k < cdf.len() && cdf[k] <= tail + 1e-12 {
        k += 1;
    }
    k
}

/// Depth from the normal approximation of a statistic with the given mean and variance.
fn depth_normal(mean: f64, var: f64, tail: f64) -> usize {
    let z = normal_quantile(1.0 - tail);
    let k = (mean - z * var.sqrt()).floor();
    if k < 1.0 { 0 } else { k as usize }
}

/// Above this many pairings the normal approximation is used instead of exact distributions.
const EXACT_LIMIT: usize = 4_000;

/// Two-sample Hodges–Lehmann estimate of the shift `y − x` (the median of all `n·m` pairwise
/// differences) with its distribution-free confidence interval at `confidence`.
///
/// Known answer (Hollander & Wolfe's textbook construction): for x = 1..5 and y = x + 10 the
/// estimate is exactly 10.
///
/// ```
/// use flamewatch_bench::stats::hodges_lehmann_shift;
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0];
/// let y = [11.0, 12.0, 13.0, 14.0, 15.0];
/// let iv = hodges_lehmann_shift(&x, &y, 0.95);
/// assert_eq!(iv.estimate, 10.0);
/// assert!(iv.lo <= 10.0 && iv.hi >= 10.0 && iv.is_bounded());
/// ```
pub fn hodges_lehmann_shift(x: &[f64], y: &[f64], confidence: f64) -> Interval {
    let (n, m) = (x.len(), y.len());
    assert!(n > 0 && m > 0, "shift of empty samples");
    let mut d: Vec<f64> = Vec::with_capacity(n * m);
    for yj in y {
        for xi in x {
            d.push(yj - xi);
        }
    }
    d.sort_by(f64::total_cmp);
    let estimate = quantile_sorted(&d, 0.5);
    let tail = (1.0 - confidence) / 2.0;
    let nm = n * m;
    let k = if nm <= EXACT_LIMIT {
        depth_from_cdf(&mann_whitney_cdf(n, m), tail)
    } else {
        let var = (n * m * (n + m + 1)) as f64 / 12.0;
        depth_normal(nm as f64 / 2.0, var, tail)
    };
    let (lo, hi) = if k == 0 || k > nm.div_ceil(2) {
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        (d[k - 1], d[nm - k])
    };
    Interval {
        estimate,
        lo,
        hi,
        confidence,
    }
}

/// One-sample Hodges–Lehmann estimate of the centre of paired differences `d` (the median of
/// the Walsh averages) with the exact Wilcoxon signed-rank confidence interval.
///
/// Known answer: for n = 7 the exact P(T⁺ ≤ 2) = 3/128 ≈ 0.023 ≤ 0.025, so the 95 % interval
/// runs from the 3rd smallest to the 3rd largest of the 28 Walsh averages.
///
/// ```
/// use flamewatch_bench::stats::hodges_lehmann_paired;
/// let d = [-1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
/// let iv = hodges_lehmann_paired(&d, 0.95);
/// assert_eq!(iv.estimate, 4.0);
/// assert_eq!((iv.lo, iv.hi), (1.0, 6.0));
/// ```
pub fn hodges_lehmann_paired(d: &[f64], confidence: f64) -> Interval {
    let n = d.len();
    assert!(n > 0, "paired estimate of no differences");
    let mut w = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            w.push((d[i] + d[j]) / 2.0);
        }
    }
    w.sort_by(f64::total_cmp);
    let estimate = quantile_sorted(&w, 0.5);
    let tail = (1.0 - confidence) / 2.0;
    let big_m = w.len();
    let k = if n <= 60 {
        depth_from_cdf(&signed_rank_cdf(n), tail)
    } else {
        let nf = n as f64;
        depth_normal(
            big_m as f64 / 2.0,
            nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0,
            tail,
        )
    };
    let (lo, hi) = if k == 0 || k > big_m.div_ceil(2) {
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        (w[k - 1], w[big_m - k])
    };
    Interval {
        estimate,
        lo,
        hi,
        confidence,
    }
}

/// Two-sided Mann–Whitney U test p-value, normal approximation with tie correction and
/// continuity correction. Returns 1 when every value is tied.
pub fn mann_whitney_p(x: &[f64], y: &[f64]) -> f64 {
    let (n, m) = (x.len() as f64, y.len() as f64);
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = all.len();
    let mut rank_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < total {
        let mut j = i;
        while j + 1 < total && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        for item in &all[i..=j] {
            if item.1 {
                rank_x += rank;
            }
        }
        i = j + 1;
    }
    let u = rank_x - n * (n + 1.0) / 2.0;
    let nn = n + m;
    let var = n * m / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u - n * m / 2.0).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * (1.0 - normal_cdf(z))).min(1.0)
}

/// Holm's step-down adjustment of p-values (family-wise error control), in input order.
///
/// ```
/// use flamewatch_bench::stats::holm_adjust;
/// let adj = holm_adjust(&[0.01, 0.04, 0.03]);
/// assert!((adj[0] - 0.03).abs() < 1e-12);
/// assert!((adj[2] - 0.06).abs() < 1e-12 && (adj[1] - 0.06).abs() < 1e-12);
/// ```
pub fn holm_adjust(p: &[f64]) -> Vec<f64> {
    let k = p.len();
    let mut idx: Vec<usize> = (0..k).collect();
    idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut out = vec![0.0; k];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((k - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Standard normal cumulative distribution.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (W. J. Cody's rational Chebyshev form as popularised by
/// Numerical Recipes' `erfcc`, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Quantile of the standard normal distribution (Acklam's algorithm, |error| < 1.2e-9).
///
/// ```
/// use flamewatch_bench::stats::normal_quantile;
/// assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
/// assert!((normal_quantile(0.5)).abs() < 1e-12);
/// ```
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let plow = 0.02425;
    if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Welch's two-sample t-test; returns the two-sided p-value (1 when undefined).
pub fn welch_t_test(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 || y.len() < 2 {
        return 1.0;
    }
    let (n, m) = (x.len() as f64, y.len() as f64);
    let (vx, vy) = (stddev(x).powi(2) / n, stddev(y).powi(2) / m);
    let se2 = vx + vy;
    let diff = mean(y) - mean(x);
    if se2 <= 0.0 {
        return if diff == 0.0 { 1.0 } else { 0.0 };
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (vx * vx / (n - 1.0) + vy * vy / (m - 1.0));
    student_t_two_sided_p(t, df)
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    (2.0 * flamewatch_core::significance::student_t_sf(t.abs(), df)).clamp(0.0, 1.0)
}

/// A small deterministic pseudo-random generator (SplitMix64) for seeded resampling.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Percentile-bootstrap confidence interval of the ratio of medians `median(y) / median(x)`,
/// seeded so repeated calls agree.
pub fn bootstrap_median_ratio(
    x: &[f64],
    y: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Interval {
    let mut rng = SplitMix64::new(seed);
    let mut ratios = Vec::with_capacity(resamples);
    let mut bx = vec![0.0; x.len()];
    let mut by = vec![0.0; y.len()];
    for _ in 0..resamples {
        for v in bx.iter_mut() {
            *v = x[rng.below(x.len())];
        }
        for v in by.iter_mut() {
            *v = y[rng.below(y.len())];
        }
        let mx = median(&bx);
        if mx != 0.0 {
            ratios.push(median(&by) / mx);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let mx = median(x);
    Interval {
        estimate: if mx == 0.0 { f64::NAN } else { median(y) / mx },
        lo: quantile_sorted(&ratios, tail),
        hi: quantile_sorted(&ratios, 1.0 - tail),
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn mann_whitney_exact_distribution_known_values() {
        // n = m = 3: 20 equally likely rank arrangements, one with U = 0.
        let cdf = mann_whitney_cdf(3, 3);
        assert_eq!(cdf.len(), 10);
        assert!(close(cdf[0], 1.0 / 20.0, 1e-12));
        assert!(close(cdf[1], 2.0 / 20.0, 1e-12));
        assert!(close(cdf[9], 1.0, 1e-12));
        // n = m = 5: P(U ≤ 2) = 4/252 (tables: 0.0159); P(U ≤ 0) = 1/252.
        let cdf = mann_whitney_cdf(5, 5);
        assert!(close(cdf[0], 1.0 / 252.0, 1e-12));
        assert!(close(cdf[2], 4.0 / 252.0, 1e-12));
        // symmetric
        assert!(close(cdf[12], 1.0 - cdf[12], 0.1));
    }

    #[test]
    fn signed_rank_exact_distribution_known_values() {
        // n = 6: sums 0, 1, 2 have one subset each; sum 3 has two ({3}, {1, 2}).
        let cdf = signed_rank_cdf(6);
        assert!(close(cdf[0], 1.0 / 64.0, 1e-12));
        assert!(close(cdf[2], 3.0 / 64.0, 1e-12));
        assert!(close(cdf[3], 5.0 / 64.0, 1e-12));
        assert!(close(*cdf.last().unwrap(), 1.0, 1e-12));
    }

    #[test]
    fn moses_interval_depth_matches_tables() {
        // 5 vs 5 at 95 %: critical U = 2 (two-sided 0.05), so the interval runs from the
        // 3rd smallest to the 3rd largest of the 25 differences.
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [10.0, 20.0, 30.0, 40.0, 50.0];
        let iv = hodges_lehmann_shift(&x, &y, 0.95);
        let mut d: Vec<f64> = y
            .iter()
            .flat_map(|b| x.iter().map(move |a| b - a))
            .collect();
        d.sort_by(f64::total_cmp);
        assert_eq!(iv.lo, d[2]);
        assert_eq!(iv.hi, d[22]);
        // 3 vs 3 cannot give a 95 % interval: P(U = 0) = 0.05 > 0.025.
        let iv = hodges_lehmann_shift(&x[..3], &y[..3], 0.95);
        assert!(!iv.is_bounded());
        // but 90 % can: [min diff, max diff]
        let iv = hodges_lehmann_shift(&x[..3], &y[..3], 0.90);
        assert_eq!((iv.lo, iv.hi), (8.0, 30.0));
    }

    #[test]
    fn interval_covers_true_shift_at_nominal_rate() {
        let mut rng = SplitMix64::new(7);
        let mut normal = || {
            // Box–Muller
            let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 + 1e-18;
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let trials = 2000;
        let mut covered = 0;
        for _ in 0..trials {
            let x: Vec<f64> = (0..8).map(|_| normal()).collect();
            let y: Vec<f64> = (0..8).map(|_| normal() + 1.0).collect();
            let iv = hodges_lehmann_shift(&x, &y, 0.95);
            if iv.lo <= 1.0 && 1.0 <= iv.hi {
                covered += 1;
            }
        }
        let rate = covered as f64 / trials as f64;
        assert!((0.935..=0.975).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn normal_approximation_agrees_with_exact_for_large_samples() {
        let x: Vec<f64> = (0..70).map(|i| i as f64).collect();
        let y: Vec<f64> = (0..70).map(|i| i as f64 + 3.5).collect();
        let approx = hodges_lehmann_shift(&x, &y, 0.95);
        let exact_k = depth_from_cdf(&mann_whitney_cdf(70, 70), 0.025);
        let mut d: Vec<f64> = y
            .iter()
            .flat_map(|b| x.iter().map(move |a| b - a))
            .collect();
        d.sort_by(f64::total_cmp);
        assert!(
            (approx.lo - d[exact_k - 1]).abs() <= 1.0,
            "{} vs {}",
            approx.lo,
            d[exact_k - 1]
        );
        assert_eq!(approx.estimate, 3.5);
    }

    #[test]
    fn mann_whitney_p_known_answer() {
        // Completely separated 10 vs 10: exact two-sided p = 2/184756 ≈ 1.1e-5; the normal
        // approximation gives ≈ 1.8e-4 (z = 3.74 with continuity correction).
        let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let y: Vec<f64> = (10..20).map(|i| i as f64).collect();
        let p = mann_whitney_p(&x, &y);
        assert!(close(p, 1.83e-4, 2e-5), "p = {p}");
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), 1.0);
    }

    #[test]
    fn welch_known_answer() {
        // x = 1..5, y = 3..7: t = 2 / sqrt(2.5/5 * 2) = 2, df = 8 → p = 0.0805 (tables).
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [3.0, 4.0, 5.0, 6.0, 7.0];
        assert!(close(welch_t_test(&x, &y), 0.0805, 5e-4));
        assert!(close(student_t_two_sided_p(2.228, 10.0), 0.05, 5e-4));
    }

    #[test]
    fn normal_functions_agree() {
        for p in [0.001, 0.01, 0.2, 0.5, 0.9, 0.999] {
            assert!(close(normal_cdf(normal_quantile(p)), p, 1e-6));
        }
    }

    #[test]
    fn summary_and_quantiles() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!(
            (s.n, s.median, s.min, s.max, s.mean),
            (4, 2.5, 1.0, 10.0, 4.0)
        );
        assert!(close(s.stddev, 4.0825, 1e-4));
    }

    #[test]
    fn bootstrap_is_seeded_and_sane() {
        let x = [10.0, 11.0, 9.0, 10.5, 10.2, 9.8];
        let y = [12.0, 13.0, 11.0, 12.5, 12.2, 11.8];
        let a = bootstrap_median_ratio(&x, &y, 0.95, 2000, 1);
        let b = bootstrap_median_ratio(&x, &y, 0.95, 2000, 1);
        assert_eq!(a, b);
        assert!(a.lo > 1.0 && a.hi < 1.5 && a.lo <= a.estimate && a.estimate <= a.hi);
    }
}
