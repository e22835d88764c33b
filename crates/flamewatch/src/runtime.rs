//! The process-wide profiler: global switches read by the hot path, and the runtime that
//! owns the registry, the collector thread and the outputs.
//!
//! Hot-path globals are plain atomics read with relaxed loads: [`ENABLED`] (the ~1 ns
//! runtime off switch), the sampling probability, the detail level and the configuration
//! generation that call sites compare against to know when to re-check their target filter.

use crate::collector::Collector;
use crate::registry::Registry;
use crate::settings::{Level, Settings};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether recording is on. Checked first by every call site.
pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);
/// Sampling probability as `f64` bits.
static SAMPLE_P: AtomicU64 = AtomicU64::new(0);
/// Whether spans read allocation counters.
pub(crate) static DETAILED: AtomicBool = AtomicBool::new(false);
/// Bumped on every settings change; starts at 1 so a fresh call site (0) always resolves.
pub(crate) static GENERATION: AtomicU32 = AtomicU32::new(1);

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide runtime.
pub(crate) struct Runtime {
    pub registry: Registry,
    pub collector: Collector,
    pub settings: ArcSwap<Settings>,
    /// The watched configuration, kept alive while the profiler runs.
    pub config: std::sync::Mutex<Option<crate::config::ConfigHandle>>,
    origin: quanta::Instant,
    origin_unix: f64,
}

impl Runtime {
    /// The runtime, if [`crate::init`] was called.
    #[inline]
    pub(crate) fn get() -> Option<&'static Runtime> {
        RUNTIME.get()
    }

    /// Starts the runtime on first call; later calls apply the settings to it.
    pub(crate) fn install(settings: Settings) -> &'static Runtime {
        let mut created = false;
        let rt = RUNTIME.get_or_init(|| {
            created = true;
            Runtime {
                registry: Registry::new(settings.max_keys),
                collector: Collector::new(),
                settings: ArcSwap::from_pointee(settings.clone()),
                config: std::sync::Mutex::new(None),
                origin: quanta::Instant::now(),
                origin_unix: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs_f64(),
            }
        });
        if created {
            rt.collector.start_thread(rt);
        }
        rt.apply(settings);
        rt
    }

    /// Publishes new settings to the hot path.
    pub(crate) fn apply(&self, settings: Settings) {
        SAMPLE_P.store(settings.effective_rate().to_bits(), Ordering::Relaxed);
        DETAILED.store(settings.level == Level::Detailed, Ordering::Relaxed);
        let enabled = settings.enabled;
        self.registry.set_max_keys(settings.max_keys);
        self.settings.store(Arc::new(settings));
        GENERATION.fetch_add(1, Ordering::AcqRel);
        ENABLED.store(enabled, Ordering::Release);
    }

    /// Nanoseconds since the runtime started (monotonic).
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.ns_at(quanta::Instant::now())
    }

    /// Nanoseconds from the runtime's origin to `t`.
    #[inline]
    pub(crate) fn ns_at(&self, t: quanta::Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Unix time in seconds of a runtime timestamp.
    pub(crate) fn unix_at(&self, ns: u64) -> f64 {
        self.origin_unix + ns as f64 / 1e9
    }

    /// Unix time the runtime started.
    pub(crate) fn started_unix(&self) -> f64 {
        self.origin_unix
    }
}

/// The current sampling probability.
#[inline]
pub(crate) fn sample_probability() -> f64 {
    f64::from_bits(SAMPLE_P.load(Ordering::Relaxed))
}
