//! A mergeable quantile sketch with bounded relative error, for nanosecond durations.
//!
//! # Design
//! Log-linear buckets: values below 64 get one bucket each (exact); above, every power-of-two
//! octave `[2^e, 2^(e+1))` is split into 64 equal buckets. A bucket's width is at most 1/64 of
//! its lower bound, and a value is reported as its bucket's midpoint, so the **relative error
//! of any quantile is at most 1/128 ≈ 0.78 %** (the specification asks for ≤ 1 %).
//!
//! The bucket index is computed with a leading-zero count and two shifts (no logarithm, no
//! floating point), which is why this beats a DDSketch (`ln` per value) on record cost at the
//! same error bound. Counts live in a dense `Vec<u32>` covering only the indices seen, so a
//! typical latency distribution spanning one or two octaves costs 0.25–0.5 KiB.
//!
//! Memory is bounded: at most [`Sketch::DEFAULT_MAX_BUCKETS`] buckets (16 octaves, a 65,536×
//! spread of values) are kept; beyond that the lowest buckets collapse into the lowest kept
//! one (as DDSketch does), which only affects the precision of low quantiles. When a bucket
//! would overflow `u32`, all counts are halved, which keeps the shape of the distribution.
//!
//! Sketches merge exactly (bucket-wise addition), so per-thread, per-window and per-instance
//! sketches combine into the same result as one sketch fed every value.

use serde::{Deserialize, Serialize};

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

/// Bucket index of a value.
#[inline]
fn index_of(v: u64) -> u16 {
    if v < SUB {
        v as u16
    } else {
        let e = 63 - v.leading_zeros();
        let shift = e - SUB_BITS;
        let mantissa = (v >> shift) & (SUB - 1);
        ((u64::from(e - SUB_BITS + 1) << SUB_BITS) + mantissa) as u16
    }
}

/// Lower bound and width of a bucket.
#[inline]
fn bucket_bounds(index: u16) -> (u64, u64) {
    let i = u64::from(index);
    if i < SUB {
        (i, 1)
    } else {
        let group = i >> SUB_BITS;
        let shift = group - 1;
        let lower = (SUB + (i & (SUB - 1))) << shift;
        (lower, 1 << shift)
    }
}

/// A quantile sketch over `u64` values (nanoseconds), relative error ≤ 0.78 %.
///
/// ```
/// use flamewatch_core::sketch::Sketch;
/// let mut s = Sketch::default();
/// for v in 1..=10_000u64 { s.add(v * 1000); }
/// let p99 = s.quantile(0.99).unwrap() as f64;
/// assert!((p99 - 9_900_000.0).abs() / 9_900_000.0 < 0.01);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    /// Index of `counts[0]`.
    offset: u16,
    counts: Vec<u32>,
    /// Sum of `counts` (kept to avoid a scan per query).
    total: u64,
    min: u64,
    max: u64,
    max_buckets: u16,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::with_max_buckets(Self::DEFAULT_MAX_BUCKETS)
    }
}

impl Sketch {
    /// Default bucket cap: 16 octaves at 64 buckets each (a 65,536× spread of values, at most
    /// 4 KiB of counts).
    pub const DEFAULT_MAX_BUCKETS: u16 = 1024;

    /// The guaranteed bound on the relative error of every quantile above the collapsed range.
    pub const RELATIVE_ERROR: f64 = 1.0 / 128.0;

    /// An empty sketch keeping at most `max_buckets` buckets (at least 64).
    pub fn with_max_buckets(max_buckets: u16) -> Self {
        Sketch {
            offset: 0,
            counts: Vec::new(),
            total: 0,
            min: u64::MAX,
            max: 0,
            max_buckets: max_buckets.max(SUB as u16),
        }
    }

    /// Number of values the bucket counts represent (after any halving).
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Smallest value added, if any.
    pub fn min(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min)
    }

    /// Largest value added, if any.
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// Heap bytes used by the bucket counts.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u32>()
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, v: u64) {
        self.add_n(v, 1);
    }

    /// Adds `n` occurrences of a value.
    pub fn add_n(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let slot = self.slot_for(index_of(v));
        self.bump(slot, n);
    }

    fn bump(&mut self, slot: usize, n: u32) {
        match self.counts[slot].checked_add(n) {
            Some(c) => {
                self.counts[slot] = c;
                self.total += u64::from(n);
            }
            None => {
                self.halve();
                self.bump(slot, n.div_ceil(2));
            }
        }
    }

    /// Halves every count (rounding up non-zero counts so no bucket disappears).
    fn halve(&mut self) {
        self.total = 0;
        for c in &mut self.counts {
            *c = c.div_ceil(2);
            self.total += u64::from(*c);
        }
    }

    /// Returns the position in `counts` for a bucket index, growing or collapsing the range.
    fn slot_for(&mut self, index: u16) -> usize {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(0);
            return 0;
        }
        let lo = self.offset;
        let hi = self.offset + self.counts.len() as u16 - 1;
        if index < lo {
            // Grow downwards, unless that exceeds the cap: then the value joins the lowest bucket.
            if hi - index >= self.max_buckets {
                return 0;
            }
            let extra = usize::from(lo - index);
            self.counts.splice(0..0, std::iter::repeat_n(0, extra));
            self.offset = index;
            0
        } else if index > hi {
            let new_len = usize::from(index - lo) + 1;
            self.counts.resize(new_len, 0);
            if new_len > usize::from(self.max_buckets) {
                self.collapse_low(new_len - usize::from(self.max_buckets));
            }
            usize::from(index - self.offset)
        } else {
            usize::from(index - lo)
        }
    }

    /// Folds the lowest `n` buckets into the one above them.
    fn collapse_low(&mut self, n: usize) {
        let folded: u64 = self.counts[..n].iter().map(|&c| u64::from(c)).sum();
        self.counts.drain(..n);
        self.offset += n as u16;
        let merged = u64::from(self.counts[0]) + folded;
        match u32::try_from(merged) {
            Ok(c) => self.counts[0] = c,
            Err(_) => {
                self.counts[0] = u32::MAX;
                self.total -= merged - u64::from(u32::MAX);
            }
        }
    }

    /// Merges another sketch into this one (exact bucket-wise addition).
    pub fn merge(&mut self, other: &Sketch) {
        if other.is_empty() {
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                let slot = self.slot_for(other.offset + i as u16);
                self.bump(slot, c);
            }
        }
    }

    /// The value at quantile `q` in `[0, 1]`: the smallest bucket holding at least `q·n`
    /// values, reported as its midpoint and clamped to the observed min and max. `q = 0` and
    /// `q = 1` return the exact minimum and maximum.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 || q.is_nan() {
            return None;
        }
        if q <= 0.0 {
            return Some(self.min);
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= target {
                let (lower, width) = bucket_bounds(self.offset + i as u16);
                let mid = lower + width / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Iterates over non-empty buckets as `(upper bound exclusive, count)`, ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let (lower, width) = bucket_bounds(self.offset + i as u16);
                (lower.saturating_add(width), c)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_monotonic_and_bounds_contain_value() {
        let mut last = 0u16;
        for v in 0..200_000u64 {
            let i = index_of(v);
            assert!(i >= last);
            last = i;
        }
        for v in (0..200_000u64)
            .chain((0..64).map(|s| 1u64 << s))
            .chain([u64::MAX])
        {
            let i = index_of(v);
            let (lower, width) = bucket_bounds(i);
            assert!(
                lower <= v && v - lower < width,
                "v={v} i={i} lower={lower} width={width}"
            );
            if v >= 64 {
                assert!((width as f64) / (lower as f64) <= 1.0 / 64.0 + 1e-12);
            }
        }
    }

    fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
        let target = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[target - 1]
    }

    #[test]
    fn relative_error_within_bound_on_known_distributions() {
        // log-uniform over four decades plus a uniform block: a wide and a narrow shape
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values: Vec<u64> = (0..50_000)
            .map(|_| {
                let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
                (1_000.0 * 10f64.powf(u * 2.3)) as u64
            })
            .collect();
        values.extend((0..10_000).map(|_| 5_000_000 + next() % 400_000));
        let mut s = Sketch::default();
        values.iter().for_each(|&v| s.add(v));
        values.sort_unstable();
        for q in [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let exact = exact_quantile(&values, q) as f64;
            let est = s.quantile(q).unwrap() as f64;
            assert!(
                (est - exact).abs() / exact <= Sketch::RELATIVE_ERROR + 1e-9,
                "q={q} exact={exact} est={est}"
            );
        }
    }

    #[test]
    fn merge_equals_single_sketch() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        let mut all = Sketch::default();
        for v in 0..5_000u64 {
            let x = 1_000_000 + v * 37;
            if v % 3 == 0 {
                a.add(x)
            } else {
                b.add(x)
            }
            all.add(x);
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        for q in [0.5, 0.9, 0.99] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
    }

    #[test]
    fn memory_is_capped_and_high_quantiles_survive_collapse() {
        let mut s = Sketch::default();
        // 1 ns .. ~1 s: far more than 16 octaves
        for e in 0..30u32 {
            for k in 0..100u64 {
                s.add((1u64 << e) + k);
            }
        }
        assert!(s.counts.len() <= usize::from(Sketch::DEFAULT_MAX_BUCKETS));
        assert_eq!(s.count(), 3000);
        let p99 = s.quantile(0.99).unwrap() as f64;
        let exact = (1u64 << 29) as f64;
        assert!((p99 - exact).abs() / exact < 0.01, "p99={p99}");
    }

    #[test]
    fn overflow_halves_instead_of_wrapping() {
        let mut s = Sketch::default();
        s.add_n(1000, u32::MAX);
        s.add_n(2000, u32::MAX);
        s.add_n(1000, 10);
        assert!(s.count() > u64::from(u32::MAX) / 2);
        let p25 = s.quantile(0.25).unwrap();
        assert!((990..=1010).contains(&p25));
        assert_eq!(s.quantile(0.9).unwrap(), 2000);
    }

    #[test]
    fn empty_and_edge_quantiles() {
        let s = Sketch::default();
        assert_eq!(s.quantile(0.5), None);
        let mut s = Sketch::default();
        s.add(0);
        s.add(u64::MAX);
        assert_eq!(s.quantile(0.0), Some(0));
        assert_eq!(s.quantile(1.0), Some(u64::MAX));
    }
}
