//! `flamewatch`: low-overhead, always-on profiling for Rust services.
//!
//! Put `#[flamewatch::profiled]` on functions (sync or async), open scopes with
//! [`span`] / [`span!`], wrap futures with [`instrument`], or let the `tracing` layer
//! (feature `tracing`) turn existing `tracing` spans into profiled functions. A sampled
//! fraction of calls is measured; every call is counted. A background collector keeps
//! per-function statistics (count, mean, σ, min, max, P50–P99), flags 3σ anomalies after
//! calibration and detects regressions with a severity, all readable through [`Profiler`].
//!
//! ```
//! use flamewatch::{Settings, Mode};
//!
//! #[flamewatch::profiled("docs.example.work")]
//! fn work(n: u64) -> u64 {
//!     (0..n).sum()
//! }
//!
//! let profiler = flamewatch::init(Settings::default().mode(Mode::Full));
//! for _ in 0..10 {
//!     work(1_000);
//! }
//! let snapshot = profiler.snapshot();
//! let stats = snapshot.functions.iter().find(|f| f.name == "docs.example.work").unwrap();
//! assert_eq!(stats.stats.calls, 10);
//! ```
//!
//! # Cost
//! With profiling off at run time a call site is one relaxed atomic load. Unsampled calls
//! add a thread-local countdown and counter; sampled calls read the clock twice and push an
//! event to a bounded per-thread ring (see `docs/benchmarks.md`). Building without the
//! default `enabled` feature compiles every call site down to nothing.
//!
//! # Safety for the host
//! The hot path never blocks, never allocates without bound and never panics into the
//! caller: rings drop (and count) when full, key cardinality is capped (`_other`), and
//! panics in the collector or in user hooks are caught and counted in
//! [`snapshot::Health::contained_panics`].

pub mod alloc;
mod breaker;
mod collector;
pub mod config;
mod future;
mod local;
pub mod output;
mod registry;
mod request;
mod runtime;
mod settings;
pub mod snapshot;
mod span;
#[cfg(feature = "tracing")]
mod tracing_layer;

pub use breaker::{BreakerSettings, BreakerState, BreakerStatus};
pub use collector::AnomalyHook;
pub use flamewatch_core::detect::Comparison;
pub use flamewatch_core::severity::{Severity, SeverityBounds};
pub use flamewatch_macros::profiled;
pub use future::{Instrumented, instrument};
pub use registry::OTHER;
pub use request::{MAX_ID_LEN, Request, Scope, Scoped, propagate};
pub use settings::{Level, Mode, Settings};
pub use span::{Callsite, SpanGuard, enter, span, start, stop};
#[cfg(feature = "tracing")]
pub use tracing_layer::FlamewatchLayer;

use runtime::Runtime;
use snapshot::Snapshot;

/// Whether instrumentation is compiled in (the default `enabled` feature).
pub const COMPILED_IN: bool = cfg!(feature = "enabled");

/// Starts the process-wide profiler with `settings`, or applies them if it already runs.
///
/// Settings given here replace any configuration file being watched by [`init_from_file`].
pub fn init(settings: Settings) -> Profiler {
    let rt = Runtime::install(settings);
    rt.config
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    Profiler { rt }
}

/// Errors starting the profiler from configuration.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] Box<config::ConfigError>),
    /// The configured output could not be opened.
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

/// Starts (or reconfigures) the profiler from a validated [`config::Config`], opening its
/// output (`log`, `file`, `prometheus` or `none`).
pub fn init_with_config(config: &config::Config) -> Result<Profiler, InitError> {
    let emitter = output::Emitter::from_config(config)?;
    let profiler = init(Settings::from(config));
    profiler
        .rt
        .collector
        .set_emitter(Some(std::sync::Arc::new(emitter)));
    Ok(profiler)
}

/// Starts the profiler from a YAML file — the whole file, or the dotted `section` of an
/// application's file (`"runtime.profiling"`) — with `FLAMEWATCH_*` environment overrides,
/// and reloads it whenever the file changes (an invalid change keeps the last good
/// configuration and is reported on stderr).
///
/// ```no_run
/// let profiler = flamewatch::init_from_file("flamewatch.yml", None)?;
/// # Ok::<(), flamewatch::InitError>(())
/// ```
pub fn init_from_file(
    path: impl AsRef<std::path::Path>,
    section: Option<&str>,
) -> Result<Profiler, InitError> {
    let builder = config::Config::builder().file(path.as_ref());
    init_from_builder(builder, section, config::WatchOptions::default())
}

/// Like [`init_from_file`], with a prepared builder and watch options (e.g. a shorter
/// polling interval).
pub fn init_from_builder(
    builder: config::ConfigBuilder,
    section: Option<&str>,
    watch: config::WatchOptions,
) -> Result<Profiler, InitError> {
    let builder = match section {
        Some(section) => builder.section(section),
        None => builder,
    };
    let handle = builder
        .env(std::env::vars())
        .watch(watch)
        .map_err(Box::new)?;
    let profiler = init_with_config(&handle.get())?;
    let rt = profiler.rt;
    handle.on_change(move |config| {
        rt.apply(Settings::from(&**config));
        if let Some(emitter) = rt.collector.emitter() {
            // A new output that cannot open keeps the old one (the emitter reports it).
            let _ = emitter.reconfigure(config);
        }
    });
    *rt.config
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
    Ok(profiler)
}

/// The running profiler, if [`init`] was called.
pub fn profiler() -> Option<Profiler> {
    Runtime::get().map(|rt| Profiler { rt })
}

/// Runs `f` with every profiled call on this thread measured (`true`) or skipped (`false`)
/// regardless of the sampling rate: how a request-level sampling decision reaches the
/// functions the request calls. Scopes nest; the previous decision is restored after `f`.
pub fn with_sampling<R>(sampled: bool, f: impl FnOnce() -> R) -> R {
    span::with_forced(Some(sampled), f)
}

/// A handle to the running profiler. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Profiler {
    rt: &'static Runtime,
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiler")
            .field("settings", &*self.rt.settings.load())
            .finish()
    }
}

impl Profiler {
    /// Everything recorded so far (drains pending events first).
    pub fn snapshot(&self) -> Snapshot {
        self.rt.collector.snapshot(self.rt)
    }

    /// Aggregates everything recorded so far now, instead of at the collector's next tick.
    pub fn flush(&self) {
        self.rt.collector.pass(self.rt, false);
    }

    /// The Prometheus text exposition: per-function summaries and call counters, plus the
    /// profiler's own health, output and configuration counters.
    pub fn prometheus(&self) -> String {
        // Every name here is fixed and every label value is escaped by the encoder, so encoding
        // cannot fail; an empty answer is still better than a partial exposition.
        output::prometheus::encode(&self.metric_families()).unwrap_or_default()
    }

    /// The metric families behind [`Profiler::prometheus`], for an application that adds its
    /// own before encoding.
    pub fn metric_families(&self) -> Vec<output::prometheus::MetricFamily> {
        use output::prometheus::{FunctionStats, MetricFamily, function_families};
        let snap = self.snapshot();
        let quantiles: Vec<[(f64, f64); 4]> = snap
            .functions
            .iter()
            .map(|f| {
                let q = |ns: u64| ns as f64 / 1e9;
                let s = &f.stats;
                [
                    (0.5, q(s.p50_ns)),
                    (0.9, q(s.p90_ns)),
                    (0.95, q(s.p95_ns)),
                    (0.99, q(s.p99_ns)),
                ]
            })
            .collect();
        let functions: Vec<FunctionStats<'_>> = snap
            .functions
            .iter()
            .zip(&quantiles)
            .map(|(f, q)| FunctionStats {
                name: &f.name,
                calls: f.stats.calls,
                sampled: f.stats.sampled,
                sum_seconds: f.stats.sum_ns as f64 / 1e9,
                quantiles: q,
            })
            .collect();
        let mut families = function_families(&functions);
        let mut anomalies = MetricFamily::counter(
            "flamewatch_anomalies_total",
            "Anomalous executions detected.",
        );
        for f in &snap.functions {
            anomalies = anomalies.with_value(&[("function", &f.name)], f.anomalies as f64);
        }
        let mut regressions = MetricFamily::gauge(
            "flamewatch_regression_change_ratio",
            "Current regressions: relative slowdown of the mean.",
        );
        for r in &snap.regressions {
            let labels = [
                ("function", r.name.as_str()),
                ("severity", r.severity.as_str()),
            ];
            regressions = regressions.with_value(&labels, r.change_pct / 100.0);
        }
        let h = snap.health;
        if let Some(b) = h.breaker {
            let open = f64::from(u8::from(b.state == BreakerState::Open));
            families.extend([
                MetricFamily::gauge(
                    "flamewatch_overhead_ratio",
                    "Estimated profiler overhead over the last period, as a fraction of process CPU time.",
                )
                .with_value(&[], b.overhead_pct / 100.0),
                MetricFamily::gauge(
                    "flamewatch_breaker_open",
                    "1 while the circuit breaker has stopped deep tracing.",
                )
                .with_value(&[], open),
                MetricFamily::counter("flamewatch_breaker_trips_total", "Times the circuit breaker opened.")
                    .with_value(&[], b.trips as f64),
            ]);
        }
        let counter =
            |name: &str, help: &str, v: f64| MetricFamily::counter(name, help).with_value(&[], v);
        let gauge =
            |name: &str, help: &str, v: f64| MetricFamily::gauge(name, help).with_value(&[], v);
        families.extend([
            anomalies,
            regressions,
            counter(
                "flamewatch_dropped_events_total",
                "Measured calls dropped because a thread buffer was full.",
                h.dropped_events as f64,
            ),
            counter(
                "flamewatch_contained_panics_total",
                "Panics inside profiler code that were contained.",
                h.contained_panics as f64,
            ),
            gauge("flamewatch_keys", "Distinct profiled names.", h.keys as f64),
            counter(
                "flamewatch_collector_busy_seconds_total",
                "Time the collector thread spent aggregating.",
                h.collector_busy_ns as f64 / 1e9,
            ),
            gauge(
                "flamewatch_effective_sample_ratio",
                "Measured calls over all calls.",
                snap.session.effective_sample_rate,
            ),
        ]);
        if let Some(emitter) = self.rt.collector.emitter() {
            families.extend(emitter.stats().metric_families());
        }
        let config = self
            .rt
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handle) = config.as_ref() {
            families.extend(handle.metric_families());
        }
        drop(config);
        families
    }

    /// The human summary of [`Profiler::snapshot`].
    pub fn summary(&self) -> String {
        self.snapshot().summary_text()
    }

    /// The settings in force.
    pub fn settings(&self) -> Settings {
        (**self.rt.settings.load()).clone()
    }

    /// Applies new settings at run time (what a configuration reload does).
    pub fn apply(&self, settings: Settings) {
        self.rt.apply(settings);
    }

    /// Turns recording on or off at run time, keeping collected data.
    pub fn set_enabled(&self, on: bool) {
        self.apply(self.settings().enabled(on));
    }

    /// Forgets collected statistics, anomalies and regressions.
    pub fn clear(&self) {
        self.rt.collector.clear(self.rt);
    }

    /// Calls `hook` for every anomaly, on the collector thread. A panicking hook is contained.
    pub fn on_anomaly(&self, hook: impl Fn(&snapshot::Anomaly) + Send + Sync + 'static) {
        self.rt.collector.add_hook(Box::new(hook));
    }

    /// Freezes every function's calibrated distribution as the baseline `name` (replacing
    /// one of the same name); returns how many functions it holds.
    pub fn freeze_baseline(&self, name: &str) -> usize {
        self.rt.collector.freeze_baseline(self.rt, name)
    }

    /// Names of the frozen baselines.
    pub fn baselines(&self) -> Vec<String> {
        self.rt.collector.baseline_names()
    }

    /// Deletes a frozen baseline; returns whether it existed.
    pub fn drop_baseline(&self, name: &str) -> bool {
        self.rt.collector.drop_baseline(name)
    }

    /// Each function's recent behaviour compared with the frozen baseline `name`, worst
    /// change first; `None` if there is no such baseline.
    pub fn compare_to_baseline(&self, name: &str) -> Option<Vec<(String, Comparison)>> {
        self.rt.collector.compare_to_baseline(self.rt, name)
    }
}
