//! The runtime's view of the configuration: what the hot path and the collector obey.
//!
//! [`Settings`] is a plain struct derived from the validated YAML [`crate::config::Config`]
//! (or built in code). Applying new settings to a running profiler publishes the few values
//! the hot path reads as relaxed atomics and bumps a generation counter so every call site
//! re-evaluates its target filter once; nothing on the hot path takes a lock.

use crate::breaker::BreakerSettings;
use crate::config::Config;
use flamewatch_core::detect::{AnomalyConfig, RegressionConfig};
use flamewatch_core::window::WindowConfig;

pub use crate::config::{Level, Mode};

/// Runtime settings. Defaults match the documented configuration defaults, except that
/// building settings in code starts them enabled.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// Whether anything is recorded.
    pub enabled: bool,
    /// Sampling or full.
    pub mode: Mode,
    /// Basic or detailed.
    pub level: Level,
    /// Name prefixes to profile (whole dotted segments); empty means everything.
    pub targets: Vec<String>,
    /// Fraction of calls measured in sampling mode, in `[0, 1]`.
    pub sample_rate: f64,
    /// Anomaly detector settings.
    pub anomaly: AnomalyConfig,
    /// Regression detector settings.
    pub regression: RegressionConfig,
    /// Window ring shape.
    pub window: WindowConfig,
    /// Cardinality cap on keys; further names share `_other`.
    pub max_keys: usize,
    /// Anomalies kept for reading back.
    pub max_anomalies: usize,
    /// Calls at least this long are offered to the output (`thresholds.slow_call_ms`).
    pub slow_call_ns: u64,
    /// At `level: detailed`, calls allocating more are offered to the output too
    /// (`thresholds.memory_mb`).
    pub memory_alert_bytes: u64,
    /// The self-overhead circuit breaker (`overhead.max_pct`).
    pub breaker: BreakerSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            mode: Mode::Sampling,
            level: Level::Basic,
            targets: Vec::new(),
            sample_rate: 0.01,
            anomaly: AnomalyConfig::default(),
            regression: RegressionConfig::default(),
            window: WindowConfig::default(),
            max_keys: 10_000,
            max_anomalies: 1_000,
            slow_call_ns: 500_000_000,
            memory_alert_bytes: 50 << 20,
            breaker: BreakerSettings::default(),
        }
    }
}

impl From<&Config> for Settings {
    fn from(c: &Config) -> Self {
        let defaults = Settings::default();
        Settings {
            enabled: c.enabled,
            mode: c.mode,
            level: c.level,
            targets: c.targets.clone(),
            sample_rate: c.sample_rate,
            anomaly: AnomalyConfig {
                sigma: c.anomaly.sigma,
                min_samples: c.anomaly.min_samples,
            },
            regression: RegressionConfig {
                threshold_pct: c.regression.threshold_pct,
                bounds: c.regression.severity,
                min_samples: c.anomaly.min_samples,
                ..defaults.regression
            },
            window: WindowConfig {
                window_ns: c.window.seconds.saturating_mul(1_000_000_000),
                windows: c.window.count,
                ..defaults.window
            },
            max_keys: c.limits.max_keys,
            max_anomalies: defaults.max_anomalies,
            slow_call_ns: (c.thresholds.slow_call_ms.max(0.0) * 1e6) as u64,
            memory_alert_bytes: (c.thresholds.memory_mb.max(0.0) * 1048576.0) as u64,
            breaker: BreakerSettings {
                max_pct: c.overhead.max_pct,
                ..defaults.breaker
            },
        }
    }
}

impl Settings {
    /// The probability that one call is measured.
    pub fn effective_rate(&self) -> f64 {
        match self.mode {
            Mode::Full => 1.0,
            Mode::Sampling => self.sample_rate.clamp(0.0, 1.0),
        }
    }

    /// Sets `enabled`.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Sets `mode`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets `level`.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Sets `sample_rate`.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = rate;
        self
    }

    /// Sets `targets`.
    pub fn targets<I: IntoIterator<Item = S>, S: Into<String>>(mut self, targets: I) -> Self {
        self.targets = targets.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the window ring shape.
    pub fn window(mut self, window: WindowConfig) -> Self {
        self.window = window;
        self
    }

    /// Sets the anomaly detector.
    pub fn anomaly(mut self, anomaly: AnomalyConfig) -> Self {
        self.anomaly = anomaly;
        self
    }

    /// Sets the regression detector.
    pub fn regression(mut self, regression: RegressionConfig) -> Self {
        self.regression = regression;
        self
    }

    /// Sets the circuit breaker.
    pub fn breaker(mut self, breaker: BreakerSettings) -> Self {
        self.breaker = breaker;
        self
    }

    /// Sets the cardinality cap.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }
}
