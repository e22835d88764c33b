//! Significance tests used by the detectors: Welch's t-test on two summaries.
//!
//! The Student t distribution function is computed from the regularized incomplete beta
//! function (continued fraction, modified Lentz) and a Lanczos log-gamma, accurate to about
//! 1e-10 over the range the detectors use.

use crate::welford::Welford;

/// Natural log of the gamma function (Lanczos approximation, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection formula
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    let t = x + 7.5;
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction for the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// Regularized incomplete beta function I_x(a, b).
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Upper tail `P(T > t)` of Student's t distribution with `df` degrees of freedom.
///
/// ```
/// use flamewatch_core::significance::student_t_sf;
/// assert!((student_t_sf(0.0, 10.0) - 0.5).abs() < 1e-12);
/// // the two-sided 5 % critical value for 10 degrees of freedom is 2.228
/// assert!((student_t_sf(2.228, 10.0) - 0.025).abs() < 1e-4);
/// ```
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 0.0 } else { 1.0 };
    }
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// Result of a one-sided Welch test that the second sample has a larger mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchTest {
    /// The t statistic (positive when the second mean is larger).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// One-sided p-value for "second mean > first mean".
    pub p_greater: f64,
}

/// Welch's unequal-variance t-test of `b` against `a` (one-sided: is `b` larger?).
///
/// Returns `None` when either side has fewer than two values.
pub fn welch_greater(a: &Welford, b: &Welford) -> Option<WelchTest> {
    if a.count() < 2 || b.count() < 2 {
        return None;
    }
    let (na, nb) = (a.count() as f64, b.count() as f64);
    let (va, vb) = (a.variance() / na, b.variance() / nb);
    let diff = b.mean() - a.mean();
    let se2 = va + vb;
    if se2 <= 0.0 {
        // Two constant samples: the difference is certain.
        let p = if diff > 0.0 { 0.0 } else { 1.0 };
        let t = if diff > 0.0 {
            f64::INFINITY
        } else if diff < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        return Some(WelchTest {
            t,
            df: na + nb - 2.0,
            p_greater: p,
        });
    }
    let t = diff / se2.sqrt();
    let df = se2 * se2
        / (va * va / (na - 1.0).max(1.0) + vb * vb / (nb - 1.0).max(1.0)).max(f64::MIN_POSITIVE);
    Some(WelchTest {
        t,
        df,
        p_greater: student_t_sf(t, df),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // one-sided critical values: (df, t, upper tail)
        for (df, t, p) in [
            (1.0, 6.314, 0.05),
            (5.0, 2.015, 0.05),
            (30.0, 2.457, 0.01),
            (100.0, 3.174, 0.001),
        ] {
            let got = student_t_sf(t, df);
            assert!((got - p).abs() / p < 0.01, "df={df} t={t} got={got}");
        }
        assert!((student_t_sf(-2.015, 5.0) - 0.95).abs() < 1e-3);
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(ln_gamma(1.0).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn welch_detects_shift_and_not_equal_means() {
        let mut a = Welford::default();
        let mut b = Welford::default();
        for i in 0..50 {
            let noise = f64::from(i % 10) - 4.5;
            a.add(100.0 + noise);
            b.add(110.0 + noise);
        }
        let w = welch_greater(&a, &b).unwrap();
        assert!(w.p_greater < 1e-10 && w.t > 0.0);
        let w = welch_greater(&b, &a).unwrap();
        assert!(w.p_greater > 0.999);
        let w = welch_greater(&a, &a).unwrap();
        assert!((w.p_greater - 0.5).abs() < 1e-9);
    }
}
