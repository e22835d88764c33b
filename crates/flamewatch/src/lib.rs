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
mod collector;
#[cfg(any())] // re-enabled when the module lands
pub mod config;
mod future;
mod local;
#[cfg(any())] // re-enabled when the module lands
pub mod output;
mod registry;
mod runtime;
mod settings;
pub mod snapshot;
mod span;

pub use collector::AnomalyHook;
pub use flamewatch_core::detect::Comparison;
pub use flamewatch_core::severity::{Severity, SeverityBounds};
pub use flamewatch_macros::profiled;
pub use future::{Instrumented, instrument};
pub use registry::OTHER;
pub use settings::{Level, Mode, Settings};
pub use span::{Callsite, SpanGuard, enter, span, start, stop};

use runtime::Runtime;
use snapshot::Snapshot;

/// Whether instrumentation is compiled in (the default `enabled` feature).
pub const COMPILED_IN: bool = cfg!(feature = "enabled");

/// Starts the process-wide profiler with `settings`, or applies them if it already runs.
pub fn init(settings: Settings) -> Profiler {
    Profiler { rt: Runtime::install(settings) }
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
        f.debug_struct("Profiler").field("settings", &*self.rt.settings.load()).finish()
    }
}

impl Profiler {
    /// Everything recorded so far (drains pending events first).
    pub fn snapshot(&self) -> Snapshot {
        self.rt.collector.snapshot(self.rt)
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
