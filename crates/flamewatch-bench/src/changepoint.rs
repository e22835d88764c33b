//! Change-point detection in a benchmark's history with E-Divisive means.
//!
//! E-Divisive (Matteson & James, 2014) bisects a series at the split that maximises the
//! energy-distance statistic `Q = n·m/(n+m) · (2/(nm) Σ|xᵢ−yⱼ| − 1/C(n,2) Σ|xᵢ−xₖ| − 1/C(m,2) Σ|yⱼ−yₖ|)`
//! and recurses into both halves. As in later production use (Fleming et al., ICPE 2023), the
//! random permutation test that decides whether a split is real is replaced by a deterministic
//! Welch t-test between the two adjacent segments, together with a minimum relative magnitude,
//! so the same history always yields the same change points.

/// Settings for [`e_divisive`].
#[derive(Debug, Clone, Copy)]
pub struct ChangePointConfig {
    /// Minimum points on each side of a split (default 3).
    pub min_size: usize,
    /// Maximum p-value of the t-test between adjacent segments (default 0.001).
    pub max_p: f64,
    /// Minimum relative change of segment means (default 0.02 = 2 %).
    pub min_magnitude: f64,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        ChangePointConfig {
            min_size: 3,
            max_p: 0.001,
            min_magnitude: 0.02,
        }
    }
}

/// Indices where a new segment starts, ascending.
///
/// ```
/// use flamewatch_bench::changepoint::{e_divisive, ChangePointConfig};
/// let mut s = vec![1.00, 1.01, 0.99, 1.00, 1.02, 0.98, 1.01, 1.00];
/// s.extend([1.30, 1.31, 1.29, 1.30, 1.32, 1.28, 1.31, 1.30]);
/// assert_eq!(e_divisive(&s, &ChangePointConfig::default()), vec![8]);
/// ```
pub fn e_divisive(series: &[f64], cfg: &ChangePointConfig) -> Vec<usize> {
    let mut points = Vec::new();
    split(series, 0, cfg, &mut points);
    points.sort_unstable();
    points
}

fn split(series: &[f64], offset: usize, cfg: &ChangePointConfig, out: &mut Vec<usize>) {
    let min = cfg.min_size.max(2);
    let n = series.len();
    if n < 2 * min {
        return;
    }
    let Some(tau) = best_split(series, min) else {
        return;
    };
    let (left, right) = series.split_at(tau);
    let p = crate::stats::welch_t_test(left, right);
    let (ml, mr) = (crate::stats::mean(left), crate::stats::mean(right));
    let magnitude = if ml != 0.0 {
        ((mr - ml) / ml).abs()
    } else {
        f64::INFINITY
    };
    if p > cfg.max_p || magnitude < cfg.min_magnitude {
        return;
    }
    out.push(offset + tau);
    split(left, offset, cfg, out);
    split(right, offset + tau, cfg, out);
}

/// The split maximising the energy statistic, via 2-D prefix sums of pairwise distances.
fn best_split(z: &[f64], min: usize) -> Option<usize> {
    let n = z.len();
    // within[a][b] for a = 0: sum over 0 ≤ i < k < b of |zi − zk|; built incrementally.
    // prefix sums: w0[b] = within(0, b), wn[a] = within(a, n), total = within(0, n)
    let mut w0 = vec![0.0; n + 1];
    for b in 1..=n {
        let add: f64 = (0..b - 1).map(|i| (z[i] - z[b - 1]).abs()).sum();
        w0[b] = w0[b - 1] + add;
    }
    let mut wn = vec![0.0; n + 1];
    for a in (0..n).rev() {
        let add: f64 = (a + 1..n).map(|k| (z[a] - z[k]).abs()).sum();
        wn[a] = wn[a + 1] + add;
    }
    let total = w0[n];
    let mut best = None;
    let mut best_q = f64::NEG_INFINITY;
    for tau in min..=n - min {
        let (nl, nr) = (tau as f64, (n - tau) as f64);
        let within_l = w0[tau];
        let within_r = wn[tau];
        let cross = total - within_l - within_r;
        let e = 2.0 * cross / (nl * nr)
            - within_l / (nl * (nl - 1.0) / 2.0)
            - within_r / (nr * (nr - 1.0) / 2.0);
        let q = nl * nr / (nl + nr) * e;
        if q > best_q {
            best_q = q;
            best = Some(tau);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_two_shifts_and_ignores_noise() {
        let mut s = Vec::new();
        for i in 0..10 {
            s.push(100.0 + (i % 3) as f64);
        }
        for i in 0..10 {
            s.push(120.0 + (i % 3) as f64);
        }
        for i in 0..10 {
            s.push(90.0 + (i % 3) as f64);
        }
        assert_eq!(e_divisive(&s, &ChangePointConfig::default()), vec![10, 20]);
        let flat: Vec<f64> = (0..30)
            .map(|i| 100.0 + ((i * 7) % 5) as f64 * 0.3)
            .collect();
        assert!(e_divisive(&flat, &ChangePointConfig::default()).is_empty());
        assert!(e_divisive(&[1.0, 2.0], &ChangePointConfig::default()).is_empty());
    }
}
