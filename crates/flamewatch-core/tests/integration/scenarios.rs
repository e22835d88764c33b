//! The scenarios the in-process detectors must get right.

use crate::Noise;
use flamewatch_core::clock::{Clock, FakeClock};
use flamewatch_core::detect::{AnomalyConfig, RegressionConfig};
use flamewatch_core::severity::Severity;
use flamewatch_core::window::{KeyStats, WindowConfig};

struct Key {
    stats: KeyStats,
}

impl Key {
    fn new(cfg: &WindowConfig, clock: &FakeClock) -> Self {
        Key {
            stats: KeyStats::new(cfg, clock.now_ns()),
        }
    }

    fn call(&mut self, cfg: &WindowConfig, clock: &FakeClock, ns: u64) -> bool {
        self.stats
            .record(cfg, &AnomalyConfig::default(), clock.now_ns(), ns, None)
            .is_some()
    }
}

/// The seed's test run: three functions, one of which goes from ≈108 ms to ≈157 ms.
#[test]
fn seed_scenario_reports_regression_test_as_high() {
    let clock = FakeClock::default();
    let cfg = WindowConfig::default();
    let reg = RegressionConfig::default();
    let mut noise = Noise::new(7);
    let mut fast = Key::new(&cfg, &clock);
    let mut slow = Key::new(&cfg, &clock);
    let mut regression_test = Key::new(&cfg, &clock);
    // 20 minutes of normal traffic, one call of each per second.
    for _ in 0..1200 {
        clock.advance_ms(1000);
        fast.call(&cfg, &clock, noise.normal_ns(5.0, 0.4));
        slow.call(&cfg, &clock, noise.normal_ns(100.0, 4.0));
        regression_test.call(&cfg, &clock, noise.normal_ns(108.0, 5.0));
        for key in [&mut fast, &mut slow, &mut regression_test] {
            assert!(
                !key.stats
                    .update_regression(&cfg, &reg)
                    .is_some_and(|c| c.regressed)
            );
        }
    }
    // The change ships: regressionTest now takes ≈157 ms.
    for _ in 0..180 {
        clock.advance_ms(1000);
        fast.call(&cfg, &clock, noise.normal_ns(5.0, 0.4));
        slow.call(&cfg, &clock, noise.normal_ns(100.0, 4.0));
        regression_test.call(&cfg, &clock, noise.normal_ns(157.0, 6.0));
        regression_test.stats.update_regression(&cfg, &reg);
    }
    // The slow windows are now part of the history, but the regression stays measured
    // against the baseline it was detected on.
    assert!(regression_test.stats.baseline_pinned());
    let c = regression_test
        .stats
        .regression(&cfg, &reg)
        .expect("calibrated");
    assert!(c.regressed, "{c:?}");
    assert_eq!(c.severity, Severity::High);
    assert!(
        (c.change_pct - 45.4).abs() < 3.0,
        "change {:.1}%",
        c.change_pct
    );
    assert!((c.baseline_mean_ns / 1e6 - 108.0).abs() < 1.0);
    assert!((c.recent_mean_ns / 1e6 - 157.0).abs() < 1.5);
    for key in [&fast, &slow] {
        assert!(!key.stats.regression(&cfg, &reg).unwrap().regressed);
    }
    let snap = slow.stats.total().snapshot();
    assert_eq!(snap.calls, 1380);
    assert!((snap.mean_ns / 1e6 - 100.0).abs() < 0.5);
    assert!((snap.p50_ns as f64 / 1e6 - 100.0).abs() < 1.5);
}

#[test]
fn three_sigma_anomalies() {
    let clock = FakeClock::default();
    let cfg = WindowConfig::default();
    let mut noise = Noise::new(11);
    let mut fast = Key::new(&cfg, &clock); // 5 ± 2 ms
    let mut slow = Key::new(&cfg, &clock); // 100 ± 8 ms
    for _ in 0..29 {
        clock.advance_ms(500);
        fast.call(&cfg, &clock, noise.normal_ns(5.0, 2.0));
        slow.call(&cfg, &clock, noise.normal_ns(100.0, 8.0));
    }
    // still calibrating: even a huge outlier is not reported
    assert!(!fast.call(&cfg, &clock, 500_000_000));
    let mut fast = Key::new(&cfg, &clock);
    for _ in 0..500 {
        clock.advance_ms(500);
        fast.call(&cfg, &clock, noise.normal_ns(5.0, 2.0));
        slow.call(&cfg, &clock, noise.normal_ns(100.0, 8.0));
    }
    assert!(
        fast.call(&cfg, &clock, 15_000_000),
        "15 ms on 5 ± 2 ms is 5σ"
    );
    assert!(
        !slow.call(&cfg, &clock, 115_000_000),
        "115 ms on 100 ± 8 ms is under 2σ"
    );
}

#[test]
fn stationary_noise_raises_no_regression() {
    let clock = FakeClock::default();
    let cfg = WindowConfig::default();
    let reg = RegressionConfig::default();
    let mut noise = Noise::new(1234);
    let mut key = Key::new(&cfg, &clock);
    let mut checks = 0;
    for i in 0..10_000 {
        clock.advance_ms(100 + (i % 7) * 40);
        key.call(&cfg, &clock, noise.normal_ns(20.0, 2.0)); // CV 10 %
        if let Some(c) = key.stats.update_regression(&cfg, &reg) {
            checks += 1;
            assert!(!c.regressed, "false alarm after {i} samples: {c:?}");
        }
    }
    assert!(
        checks > 9_000,
        "the detector must have been active: {checks}"
    );
}

#[test]
fn a_25_percent_shift_is_detected_within_200_samples() {
    for (seed, shift_at_ms) in [(1u64, 0u64), (2, 20_000), (3, 45_000)] {
        let clock = FakeClock::default();
        let cfg = WindowConfig::default();
        let reg = RegressionConfig::default();
        let mut noise = Noise::new(seed);
        let mut key = Key::new(&cfg, &clock);
        // one call per second for ten minutes, then the shift lands somewhere in a window
        for _ in 0..600 {
            clock.advance_ms(1000);
            key.call(&cfg, &clock, noise.normal_ns(40.0, 4.0));
            assert!(
                !key.stats
                    .update_regression(&cfg, &reg)
                    .is_some_and(|c| c.regressed)
            );
        }
        clock.advance_ms(shift_at_ms);
        let mut detected_after = None;
        for n in 1..=200 {
            clock.advance_ms(1000);
            key.call(&cfg, &clock, noise.normal_ns(50.0, 5.0));
            if key
                .stats
                .update_regression(&cfg, &reg)
                .is_some_and(|c| c.regressed)
            {
                detected_after = Some(n);
                break;
            }
        }
        let _n = detected_after
            .unwrap_or_else(|| panic!("25 % shift (seed {seed}) not detected in 200 samples"));
        let c = key.stats.regression(&cfg, &reg).unwrap();
        assert!(c.severity >= Severity::Medium, "{c:?}");
    }
}

/// A deploy guarded by a frozen baseline: compared 20 s after the freeze — inside the same
/// one-minute window — the verdict sees only the calls since the freeze, so a 45 % slowdown
/// reads as 45 %, not diluted by the minute of normal calls around it.
#[test]
fn frozen_baseline_compares_exactly_the_calls_since_the_freeze() {
    let clock = FakeClock::default();
    let cfg = WindowConfig::default();
    let reg = RegressionConfig::default();
    let mut noise = Noise::new(11);
    let mut key = Key::new(&cfg, &clock);
    // ten minutes of normal traffic, ten calls a second; the freeze lands mid-window
    for _ in 0..6_040 {
        clock.advance_ms(100);
        key.call(&cfg, &clock, noise.normal_ns(108.0, 5.0));
    }
    let frozen = key.stats.freeze().expect("calls were measured");
    assert_eq!(frozen.lifetime.count(), 6_040);
    for _ in 0..200 {
        clock.advance_ms(100);
        key.call(&cfg, &clock, noise.normal_ns(157.0, 6.0));
    }
    let since = key.stats.since(&cfg, &frozen);
    assert_eq!(since.count(), 200);
    assert!((since.mean() / 1e6 - 157.0).abs() < 1.5, "{since:?}");
    let c = key
        .stats
        .regression_against(&cfg, &frozen, &reg)
        .expect("both sides calibrated");
    assert!(c.regressed, "{c:?}");
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.recent_samples, 200);
    assert!((c.change_pct - 45.4).abs() < 3.0, "{c:?}");
    // the recent windows alone would have mixed in the 400 normal calls of this window
    // and the previous one
    assert!(key.stats.recent(&cfg).count() > 200);
    // after the statistics are cleared the comparison falls back to the recent windows
    let mut fresh = Key::new(&cfg, &clock);
    clock.advance_ms(100);
    fresh.call(&cfg, &clock, 150_000_000);
    assert_eq!(fresh.stats.since(&cfg, &frozen).count(), 1);
}
