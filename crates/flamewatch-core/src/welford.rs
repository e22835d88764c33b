//! Streaming mean and variance (Welford), mergeable across threads and windows.
//!
//! Merging uses the parallel form of the update (Chan, Golub and LeVeque), so the mean and
//! variance of two merged summaries equal those of the concatenated samples up to rounding.

use serde::{Deserialize, Serialize};

/// Count, mean and sum of squared deviations of a stream of values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    /// Adds one value.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Merges another summary into this one.
    pub fn merge(&mut self, other: &Welford) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n = self.count + other.count;
        let delta = other.mean - self.mean;
        let (na, nb) = (self.count as f64, other.count as f64);
        self.mean += delta * nb / n as f64;
        self.m2 += other.m2 + delta * delta * na * nb / n as f64;
        self.count = n;
    }

    /// Removes a summary that was merged into this one (`self = whole, part ⊆ whole`):
    /// the summary of the values not in `part`. Returns `None` if `part` has more values.
    ///
    /// ```
    /// use flamewatch_core::welford::Welford;
    /// let (mut all, mut first) = (Welford::default(), Welford::default());
    /// for x in [1.0, 2.0, 3.0] { all.add(x); first.add(x); }
    /// for x in [10.0, 20.0] { all.add(x); }
    /// let rest = all.subtract(&first).unwrap();
    /// assert_eq!(rest.count(), 2);
    /// assert!((rest.mean() - 15.0).abs() < 1e-9 && (rest.variance() - 50.0).abs() < 1e-6);
    /// ```
    pub fn subtract(&self, part: &Welford) -> Option<Welford> {
        if part.count > self.count {
            return None;
        }
        if part.count == 0 {
            return Some(*self);
        }
        let n = self.count - part.count;
        if n == 0 {
            return Some(Welford::default());
        }
        let (nw, np, nr) = (self.count as f64, part.count as f64, n as f64);
        let mean = (nw * self.mean - np * part.mean) / nr;
        let delta = mean - part.mean;
        let m2 = (self.m2 - part.m2 - delta * delta * np * nr / nw).max(0.0);
        Some(Welford { count: n, mean, m2 })
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Arithmetic mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance (n − 1 denominator; 0 with fewer than two values).
    pub fn variance(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            (self.m2 / (self.count - 1) as f64).max(0.0)
        }
    }

    /// Sample standard deviation.
    pub fn stddev(&self) -> f64 {
        self.variance().sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_two_pass_formulas() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut w = Welford::default();
        xs.iter().for_each(|&x| w.add(x));
        assert_eq!(w.count(), 8);
        assert!((w.mean() - 5.0).abs() < 1e-12);
        // sum of squared deviations is 32, so the sample variance is 32 / 7
        assert!((w.variance() - 32.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn merge_equals_concatenation() {
        let (a, b): (Vec<f64>, Vec<f64>) = (
            (0..1000).map(|i| (i % 17) as f64 * 1.5).collect(),
            (0..333).map(|i| 100.0 + i as f64).collect(),
        );
        let mut wa = Welford::default();
        let mut wb = Welford::default();
        let mut all = Welford::default();
        a.iter().for_each(|&x| {
            wa.add(x);
            all.add(x)
        });
        b.iter().for_each(|&x| {
            wb.add(x);
            all.add(x)
        });
        wa.merge(&wb);
        assert_eq!(wa.count(), all.count());
        assert!((wa.mean() - all.mean()).abs() < 1e-9);
        assert!((wa.variance() - all.variance()).abs() / all.variance() < 1e-9);
        let mut empty = Welford::default();
        empty.merge(&all);
        assert_eq!(empty, all);
    }
}
