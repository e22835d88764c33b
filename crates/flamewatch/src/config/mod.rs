//! Configuration of the in-process profiler: the settings tree, how it is loaded, validated and
//! reloaded.
//!
//! The keys mirror the product specification (§2.4) one to one. A configuration is assembled in
//! layers, each overriding the one before:
//!
//! 1. **defaults** ([`Config::default`], documented on every field);
//! 2. **a YAML file** — a standalone `flamewatch.yml`, or a nested section of an application's
//!    file given as a dotted path such as `runtime.profiling`;
//! 3. **environment variables** `FLAMEWATCH_<KEY>`, the dotted key upper-cased with `_` for `.`
//!    (`FLAMEWATCH_ENABLED`, `FLAMEWATCH_SAMPLE_RATE`, `FLAMEWATCH_OUTPUT_TYPE`,
//!    `FLAMEWATCH_ANOMALY_SIGMA`, `FLAMEWATCH_REGRESSION_SEVERITY_HIGH`, …; lists are
//!    comma-separated, an empty value clears an optional key);
//! 4. **values set in code** on the [`ConfigBuilder`], applied last.
//!
//! Invalid configuration is rejected, never silently defaulted: the [`ConfigError`] names the
//! file (or variable), the dotted key, the line and the reason on one line, with a "did you
//! mean" suggestion for misspelt keys. A `FLAMEWATCH_*` variable one or two letters away from
//! a configuration variable (`FLAMEWATCH_SAMPLE_RAT`) is rejected as a typo; other
//! `FLAMEWATCH_*` variables (such as `FLAMEWATCH_CONFIG`) are left to their owners.
//!
//! ```
//! use flamewatch::config::{Config, Mode};
//! let yaml = "enabled: true\nmode: full\nthresholds:\n  slow_call_ms: 250\n";
//! let cfg = Config::builder()
//!     .yaml_str("inline.yml", yaml)
//!     .env([("FLAMEWATCH_SAMPLE_RATE", "0.2")])
//!     .max_records_per_minute(10)
//!     .build()
//!     .unwrap();
//! assert!(cfg.enabled);
//! assert_eq!(cfg.mode, Mode::Full);
//! assert_eq!(cfg.thresholds.slow_call_ms, 250.0);
//! assert_eq!(cfg.sample_rate, 0.2);
//! assert_eq!(cfg.max_records_per_minute, 10);
//!
//! let err = Config::builder().yaml_str("inline.yml", "sample_rate: 1.5\n").build().unwrap_err();
//! assert_eq!(err.to_string(), "inline.yml:1: key `sample_rate`: must be between 0 and 1, found 1.5");
//! ```
//!
//! A running service reads its configuration through a [`ConfigHandle`]: `load()` is a
//! lock-free `ArcSwap` read, safe on the hot path, and [`ConfigBuilder::watch`] starts a
//! polling thread that reloads the file when it changes, keeping the last good configuration
//! when a new one is invalid.

mod builder;
mod error;
mod render;
mod schema;
mod watch;
mod yaml;

pub use builder::ConfigBuilder;
pub use error::{ConfigError, ErrorKind, Origin};
pub use watch::{ConfigHandle, WatchOptions};

pub use flamewatch_core::severity::SeverityBounds;

use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The complete settings of the in-process profiler (SPEC §2.4).
///
/// A plain data structure: every field is public and documented with its default. Build one
/// with [`Config::builder`], [`Config::from_file`] or [`Config::default`]; values assembled by
/// hand should be checked with [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// Master switch. Default `false`: instrumentation is a NoOp (no clock read, no
    /// allocation).
    pub enabled: bool,
    /// `sampling` (a fraction of requests traced in depth) or `full`. Default `sampling`.
    pub mode: Mode,
    /// `basic` timing or `detailed` timing plus allocation bytes and peak. Default `basic`.
    pub level: Level,
    /// Dotted name prefixes to profile, matched on whole segments; empty means everything.
    /// Default empty.
    pub targets: Vec<String>,
    /// Fraction of requests traced in `sampling` mode, in `0..=1`. Default `0.01`.
    pub sample_rate: f64,
    /// Emission and alert thresholds.
    pub thresholds: Thresholds,
    /// Where records go.
    pub output: OutputConfig,
    /// Most records emitted per minute; statistics are never rate limited. Default `100`.
    pub max_records_per_minute: u32,
    /// Attach metadata to records. Default `true`.
    pub include_metadata: bool,
    /// Attach the span stack to records. Default `false`.
    pub include_stack_trace: bool,
    /// Anomaly detection.
    pub anomaly: AnomalyConfig,
    /// Regression detection.
    pub regression: RegressionConfig,
    /// Management HTTP API.
    pub api: ApiConfig,
    /// Self-overhead circuit breaker.
    pub overhead: OverheadConfig,
    /// Triggered capture.
    pub trigger: TriggerConfig,
    /// Caps on memory use.
    pub limits: LimitsConfig,
    /// The ring of time windows statistics are kept in.
    pub window: WindowConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            mode: Mode::Sampling,
            level: Level::Basic,
            targets: Vec::new(),
            sample_rate: 0.01,
            thresholds: Thresholds::default(),
            output: OutputConfig::default(),
            max_records_per_minute: 100,
            include_metadata: true,
            include_stack_trace: false,
            anomaly: AnomalyConfig::default(),
            regression: RegressionConfig::default(),
            api: ApiConfig::default(),
            overhead: OverheadConfig::default(),
            trigger: TriggerConfig::default(),
            limits: LimitsConfig::default(),
            window: WindowConfig::default(),
        }
    }
}

impl Config {
    /// A builder layering a file, environment variables and values set in code over the
    /// defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads a standalone YAML file (no environment overrides).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::builder().file(path.as_ref()).build()
    }

    /// Reads the settings nested at `section` (a dotted path such as `runtime.profiling`) of
    /// an application's YAML file (no environment overrides).
    pub fn from_file_section(path: impl AsRef<Path>, section: &str) -> Result<Config, ConfigError> {
        Config::builder()
            .file(path.as_ref())
            .section(section)
            .build()
    }

    /// Reads YAML text; `name` stands for the file name in error messages.
    pub fn from_yaml_str(name: &str, text: &str) -> Result<Config, ConfigError> {
        Config::builder().yaml_str(name, text).build()
    }

    /// Defaults overridden by `FLAMEWATCH_*` variables taken from `vars` (pass
    /// `std::env::vars()` for the process environment).
    pub fn from_env<I, K, V>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Config::builder().env(vars).build()
    }

    /// Checks every value and the relations between them; errors name the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        schema::validate(self, &schema::Provenance::default())
    }

    /// The configuration as YAML with a comment on every key; it parses back to the same
    /// configuration, except `api.token`, which is written as `"<redacted>"`.
    ///
    /// ```
    /// use flamewatch::config::Config;
    /// let cfg = Config::builder().enabled(true).sample_rate(0.2).build().unwrap();
    /// let yaml = cfg.to_yaml();
    /// assert!(yaml.contains("sample_rate: 0.2  # fraction of requests traced"));
    /// assert_eq!(Config::from_yaml_str("round-trip.yml", &yaml).unwrap(), cfg);
    /// ```
    pub fn to_yaml(&self) -> String {
        render::to_yaml(self)
    }

    /// The default configuration as commented YAML: a starting `flamewatch.yml`.
    pub fn documented_defaults() -> String {
        Config::default().to_yaml()
    }

    /// Every configuration key with the environment variable that overrides it, in
    /// documentation order: `("sample_rate", "FLAMEWATCH_SAMPLE_RATE")`, …
    pub fn env_vars() -> impl Iterator<Item = (&'static str, String)> {
        schema::FIELDS
            .iter()
            .map(|f| (f.key, schema::env_name(f.key)))
    }

    /// [`Thresholds::slow_call_ms`] as a duration.
    pub fn slow_call(&self) -> Duration {
        Duration::from_secs_f64(self.thresholds.slow_call_ms.max(0.0) / 1000.0)
    }

    /// Whether `name` is selected by [`Config::targets`]: empty targets select everything; a
    /// target selects itself and names below it on whole segments (`search` selects
    /// `search.embed` but not `searcher`).
    pub fn is_target(&self, name: &str) -> bool {
        crate::registry::matches_targets(name, &self.targets)
    }
}

/// Request tracing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fraction ([`Config::sample_rate`]) of requests is traced in depth.
    Sampling,
    /// Every request is traced.
    Full,
}

/// How much is measured per span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Timing only.
    Basic,
    /// Timing plus bytes allocated and peak per span.
    Detailed,
}

/// Where emitted records go (`output.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// One JSON record per line on standard error.
    Log,
    /// JSON lines appended to [`OutputConfig::path`], rotated by size.
    File,
    /// No records; the application serves the Prometheus text exposition.
    Prometheus,
    /// No records.
    None,
}

macro_rules! named_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The spelling used in YAML and environment variables.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    other => Err(schema::choice_error(other, Self::NAMES)),
                }
            }
        }
    };
}

named_enum!(Mode { Sampling => "sampling", Full => "full" });
named_enum!(Level { Basic => "basic", Detailed => "detailed" });
named_enum!(OutputKind { Log => "log", File => "file", Prometheus => "prometheus", None => "none" });

/// `thresholds.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Thresholds {
    /// Only calls slower than this many milliseconds are emitted as records. Default `500`.
    pub slow_call_ms: f64,
    /// Alert (emit a record) when a span allocates more than this many MiB. Default `50`.
    pub memory_mb: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            slow_call_ms: 500.0,
            memory_mb: 50.0,
        }
    }
}

/// `output.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OutputConfig {
    /// `output.type`: `log`, `file`, `prometheus` or `none`. Default `log`.
    #[serde(rename = "type")]
    pub kind: OutputKind,
    /// JSONL file for `file` output; required then (a relative path is relative to the
    /// process's working directory). Default none.
    pub path: Option<PathBuf>,
    /// Size at which the JSONL file is rotated, in bytes (YAML also accepts `64MiB`, `1GB`…).
    /// Default 64 MiB; at least 4096.
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.N`, the oldest deleted). Default `5`; 1 to 1000.
    pub max_files: u32,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            kind: OutputKind::Log,
            path: None,
            max_bytes: 64 * 1024 * 1024,
            max_files: 5,
        }
    }
}

/// `anomaly.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AnomalyConfig {
    /// A call above mean + `sigma`·σ is an anomaly. Default `3`.
    pub sigma: f64,
    /// Samples a key needs before anything is reported about it. Default `30`; at least 2.
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

/// `regression.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RegressionConfig {
    /// Slowdown in percent beyond which a significant change is a regression. Default `20`.
    pub threshold_pct: f64,
    /// `regression.severity.{low,medium,high,critical}`: severity bounds in percent. Default
    /// 10 / 20 / 35 / 50.
    pub severity: SeverityBounds,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        RegressionConfig {
            threshold_pct: 20.0,
            severity: SeverityBounds::default(),
        }
    }
}

/// `api.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ApiConfig {
    /// Address the management API listens on. Default `127.0.0.1:6060` (loopback).
    pub bind: SocketAddr,
    /// Path prefix of every API route. Default `/api/code-intelligence/dynamic-profiling`.
    pub prefix: String,
    /// Bearer token required by the API; none by default. Never serialized in clear.
    #[serde(serialize_with = "redact")]
    pub token: Option<String>,
}

fn redact<S: serde::Serializer>(token: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match token {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 6060)),
            prefix: "/api/code-intelligence/dynamic-profiling".to_owned(),
            token: None,
        }
    }
}

/// `overhead.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OverheadConfig {
    /// Deep tracing backs off when the profiler's own overhead exceeds this percentage.
    /// Default `2`; in `[0, 100]`, `0` turns the circuit breaker off.
    pub max_pct: f64,
}

impl Default for OverheadConfig {
    fn default() -> Self {
        OverheadConfig { max_pct: 2.0 }
    }
}

/// `trigger.*`: triggered capture, off while `p95_ms` is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TriggerConfig {
    /// Raise tracing to 100 % when an endpoint's P95 exceeds this many milliseconds. Default
    /// none (off).
    pub p95_ms: Option<f64>,
    /// How long a triggered capture lasts, in seconds. Default `60`.
    pub duration_s: f64,
    /// Quiet time after a capture before another may start, in seconds. Default `300`.
    pub cooldown_s: f64,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        TriggerConfig {
            p95_ms: None,
            duration_s: 60.0,
            cooldown_s: 300.0,
        }
    }
}

/// `limits.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Most distinct keys tracked; further keys are folded into `_other`. Default `10000`; at
    /// most 1,000,000.
    pub max_keys: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_keys: 10_000 }
    }
}

/// `window.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WindowConfig {
    /// Length of one statistics window in seconds. Default `60`; 1 to 86,400.
    pub seconds: u64,
    /// Windows kept in the ring. Default `30`; 1 to 10,000.
    pub count: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            seconds: 60,
            count: 30,
        }
    }
}

impl WindowConfig {
    /// The window length as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec_and_are_valid() {
        let c = Config::default();
        assert!(!c.enabled);
        assert_eq!(c.mode, Mode::Sampling);
        assert_eq!(c.level, Level::Basic);
        assert_eq!(c.sample_rate, 0.01);
        assert_eq!(c.thresholds.slow_call_ms, 500.0);
        assert_eq!(c.output.kind, OutputKind::Log);
        assert_eq!(c.max_records_per_minute, 100);
        assert_eq!(c.api.bind.to_string(), "127.0.0.1:6060");
        assert_eq!(c.limits.max_keys, 10_000);
        c.validate().unwrap();
    }

    #[test]
    fn targets_match_whole_segments() {
        let mut c = Config::default();
        assert!(c.is_target("anything"));
        c.targets = vec!["semantic_search".into()];
        assert!(c.is_target("semantic_search"));
        assert!(c.is_target("semantic_search.search"));
        assert!(!c.is_target("semantic_searcher"));
        assert!(!c.is_target("other.semantic_search"));
    }

    #[test]
    fn token_is_never_serialized_in_clear() {
        let mut c = Config::default();
        c.api.token = Some("s3cret".into());
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("s3cret"));
        assert!(json.contains("\"type\":\"log\""));
    }
}
