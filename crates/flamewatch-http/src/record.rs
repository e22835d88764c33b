//! Per-endpoint request statistics and the edge sampling decision.
//!
//! Every request is counted and timed against its endpoint (`METHOD route-template`). The
//! registry maps a route to its endpoints under a read-mostly lock; each endpoint keeps the
//! sampling state in atomics, so the decision at the edge takes no lock. A finished request
//! goes to its thread's ring and is aggregated off the request path (see the `aggregate`
//! module): per endpoint a [`KeyStats`] window ring (percentiles, anomalies, regressions)
//! plus one cell per `(status, user)` pair for breakdowns. Every dimension is capped: endpoints
//! beyond [`RecorderConfig::max_endpoints`] share the `_other` route; per endpoint, the
//! [`RecorderConfig::max_users_per_endpoint`] most frequent users (Space-Saving) keep rows of
//! their own and the rest share the `_other` user.

use crate::aggregate::{self, Aggregate, EndpointStats, RequestEvent, ThreadRing};
use flamewatch::OTHER;
use flamewatch_core::detect::{AnomalyConfig, Comparison, RegressionConfig};
use flamewatch_core::stats::StatsSnapshot;
use flamewatch_core::welford::Welford;
use flamewatch_core::window::{Frozen, KeyStats, WindowConfig};
use serde::Serialize;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// FNV-1a: short keys (route templates, user ids) hash in a few nanoseconds. Maps keyed by
/// client-supplied values are capped, so a degenerate distribution costs at most a scan of
/// the cap.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// The user of requests without a user id.
pub const NO_USER: &str = "_none";
/// The route of requests no route template matched.
pub const UNMATCHED: &str = "_unmatched";

/// Limits and sampling guarantees of the request recorder.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// Distinct `METHOD route` endpoints kept; further ones share the `_other` route. Default 500.
    pub max_endpoints: usize,
    /// Users with a row of their own per endpoint (the most frequent ones, by Space-Saving);
    /// the rest share `_other`. Default 100.
    pub max_users_per_endpoint: usize,
    /// Every endpoint gets at least this many sampled requests per window. Default 5.
    pub min_sampled_per_window: u64,
    /// A request arriving this long after its endpoint's previous one is always sampled
    /// (endpoints under one request a minute are sampled in full). Default 60 s.
    pub idle_sample_after_ns: u64,
    /// Endpoint anomalies kept for reading back. Default 1000.
    pub max_anomalies: usize,
    /// Triggered capture: off by default.
    pub trigger: Option<TriggerConfig>,
}

/// Triggered capture: when an endpoint's recent P95 reaches `p95_ns`, every one of its
/// requests is traced for `duration_ns`; then it cannot trigger again for `cooldown_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerConfig {
    /// P95 latency (current and previous window) that starts a capture.
    pub p95_ns: u64,
    /// How long a capture traces every request.
    pub duration_ns: u64,
    /// Quiet time after a capture ends.
    pub cooldown_ns: u64,
}

/// One triggered capture.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureEvent {
    /// `METHOD route`.
    pub endpoint: String,
    /// The recent P95 that started it.
    pub p95_ms: f64,
    /// The configured threshold.
    pub threshold_ms: f64,
    /// Unix time it started.
    pub started_at: f64,
    /// How long it traces every request.
    pub duration_s: f64,
    /// Quiet time after it.
    pub cooldown_s: f64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            max_endpoints: 500,
            max_users_per_endpoint: 100,
            min_sampled_per_window: 5,
            idle_sample_after_ns: 60_000_000_000,
            max_anomalies: 1000,
            trigger: None,
        }
    }
}

impl RecorderConfig {
    /// Sets [`RecorderConfig::max_endpoints`].
    pub fn max_endpoints(mut self, n: usize) -> Self {
        self.max_endpoints = n;
        self
    }

    /// Sets [`RecorderConfig::max_users_per_endpoint`].
    pub fn max_users_per_endpoint(mut self, n: usize) -> Self {
        self.max_users_per_endpoint = n;
        self
    }

    /// Sets [`RecorderConfig::min_sampled_per_window`].
    pub fn min_sampled_per_window(mut self, n: u64) -> Self {
        self.min_sampled_per_window = n;
        self
    }

    /// Turns on triggered capture.
    pub fn trigger(mut self, trigger: TriggerConfig) -> Self {
        self.trigger = Some(trigger);
        self
    }

    /// Sets [`RecorderConfig::idle_sample_after_ns`].
    pub fn idle_sample_after_ns(mut self, ns: u64) -> Self {
        self.idle_sample_after_ns = ns;
        self
    }
}

/// Why a request was (or was not) traced in depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not traced.
    Skip,
    /// Traced because the random draw at the configured rate chose it.
    Random,
    /// Traced because of a low-traffic guarantee.
    Guaranteed,
    /// Traced because a triggered capture is running on the endpoint.
    Triggered,
}

impl Decision {
    /// Whether the request is traced.
    pub fn sampled(self) -> bool {
        self != Decision::Skip
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    (t ^ addr.rotate_left(32)) | 1
}

/// A uniform draw from a per-thread xorshift generator (a few nanoseconds, no lock).
fn next_random() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r.set(x);
        x
    })
}

/// `rate` in `[0, 1]` as a threshold for [`next_random`].
pub(crate) fn rate_threshold(rate: f64) -> u64 {
    if rate >= 1.0 {
        u64::MAX
    } else if rate > 0.0 {
        (rate * u64::MAX as f64) as u64
    } else {
        0
    }
}

/// One `METHOD route` endpoint: its name and the sampling state the edge decision reads and
/// writes (atomics, no lock). Its statistics live in the recorder's aggregate, at `index`.
///
/// An unsampled request writes none of these atomics (`last_seen_ns` at most once a
/// millisecond), so worker threads serving the same endpoint on different cores do not pass
/// its cache line back and forth: requests are counted where they are aggregated.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) method: Arc<str>,
    pub(crate) route: Arc<str>,
    /// Position in the recorder's endpoint list and aggregate.
    pub(crate) index: u32,
    /// The recorder epoch it belongs to.
    pub(crate) epoch: u64,
    /// Nanoseconds (recorder clock) of a recent request (at most [`LAST_SEEN_GRAIN_NS`]
    /// older than the newest), `u64::MAX` before the first.
    last_seen_ns: AtomicU64,
    /// Recorder-clock end of the window `window_sampled` counts in (0 before the first).
    window_end_ns: AtomicU64,
    window_sampled: AtomicU64,
    /// Finished requests whose measurement was lost to a full ring (counted as requests).
    dropped: AtomicU64,
    sampled_random: AtomicU64,
    sampled_guaranteed: AtomicU64,
    sampled_triggered: AtomicU64,
    /// Recorder-clock end of the running capture (0: none).
    pub(crate) capture_until_ns: AtomicU64,
    /// No new capture before this.
    pub(crate) cooldown_until_ns: AtomicU64,
}

impl Endpoint {
    /// `METHOD route`.
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}
/// An anomalously slow request, with its context.
#[derive(Debug, Clone, Serialize)]
pub struct RequestAnomaly {
    /// `METHOD route`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// Response status.
    pub status: u16,
    /// User id (hashed when configured), or `_none`.
    pub user: String,
    /// Whether the request was traced in depth.
    pub sampled: bool,
    /// Its latency.
    pub duration_ms: f64,
    /// Mean of the reference distribution.
    pub mean_ms: f64,
    /// Its standard deviation.
    pub stddev_ms: f64,
    /// The anomaly threshold.
    pub threshold_ms: f64,
    /// Standard deviations above the mean.
    pub sigmas: f64,
    /// Unix time the request ended.
    pub timestamp: f64,
}

/// The live detection settings, copied from the profiler's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Detection {
    pub(crate) window: WindowConfig,
    pub(crate) anomaly: AnomalyConfig,
    pub(crate) regression: RegressionConfig,
}

/// Frozen endpoint baselines kept at most.
pub const MAX_BASELINES: usize = 64;

/// Source of [`Recorder`] ids and epochs (unique in the process).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The process's TSC clock (calibrated once; shared by every recorder).
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Granularity of an endpoint's last-seen time (1 ms; the idle rule is 60 s by default).
const LAST_SEEN_GRAIN_NS: u64 = 1_000_000;

/// How often the background thread drains the request rings.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(25);

/// Every endpoint's statistics.
#[derive(Debug)]
pub struct Recorder {
    /// Unique among every recorder of the process (key of the per-thread rings).
    uid: u64,
    /// Unique among every recorder of the process and renewed by `clear`: endpoint cache key,
    /// and the tag that lets a drain discard requests recorded before a clear.
    epoch: AtomicU64,
    pub(crate) config: RecorderConfig,
    /// [`clock`] reading at creation: the recorder's time zero.
    origin_raw: u64,
    routes: RwLock<FastMap<Box<str>, Vec<Arc<Endpoint>>>>,
    /// The window length, for the sampling decision (mirrors `detection`).
    pub(crate) window_ns: AtomicU64,
    endpoints: RwLock<Vec<Arc<Endpoint>>>,
    /// Every thread's request ring.
    rings: Mutex<Vec<Arc<ThreadRing>>>,
    aggregate: Mutex<Aggregate>,
    anomalies_total: AtomicU64,
    /// Latency measurements lost because a ring was full (the requests are still counted).
    dropped: AtomicU64,
    detection: RwLock<Detection>,
    /// The background drain thread, woken early by a ring that passes half full.
    drainer: OnceLock<std::thread::Thread>,
    /// Set by the first request thread that finds its ring half full, cleared by the drain
    /// thread before it drains: one wake-up per drain at most.
    wake_pending: AtomicBool,
    /// Frozen endpoint baselines: name → endpoint key → distribution.
    baselines: Mutex<BTreeMap<String, BTreeMap<String, Frozen>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    /// An empty recorder. Its statistics are brought up to date on every read; call
    /// [`Recorder::spawn_drain`] to also keep them current in the background.
    pub fn new(config: RecorderConfig) -> Self {
        Recorder {
            uid: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            epoch: AtomicU64::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            config,
            origin_raw: clock().raw(),
            routes: RwLock::default(),
            window_ns: AtomicU64::new(WindowConfig::default().window_ns),
            endpoints: RwLock::default(),
            rings: Mutex::default(),
            aggregate: Mutex::default(),
            anomalies_total: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            detection: RwLock::default(),
            baselines: Mutex::default(),
            drainer: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
        }
    }

    /// Starts the thread that drains finished requests into the statistics every 25 ms, and
    /// sooner when a thread's ring passes half full (so anomalies and triggered captures are
    /// found without a reader asking, and request threads do not aggregate).
    pub fn spawn_drain(&'static self) -> std::io::Result<()> {
        let handle = std::thread::Builder::new()
            .name("flamewatch-http".into())
            .spawn(move || {
                loop {
                    std::thread::park_timeout(DRAIN_EVERY);
                    self.wake_pending.store(false, Ordering::Relaxed);
                    self.sync();
                }
            })?;
        let _ = self.drainer.set(handle.thread().clone());
        Ok(())
    }

    /// Has a half-full ring drained: by the drain thread (woken once per drain; the load
    /// first keeps the flag's cache line shared while a wake-up is pending), or right here
    /// when there is none.
    fn drain_soon(&self) {
        match self.drainer.get() {
            Some(drainer) => {
                if !self.wake_pending.load(Ordering::Relaxed)
                    && !self.wake_pending.swap(true, Ordering::Relaxed)
                {
                    drainer.unpark();
                }
            }
            None => self.try_sync(),
        }
    }

    /// Nanoseconds since the recorder was created: one TSC read and a multiply-shift.
    pub(crate) fn now_ns(&self) -> u64 {
        let clock = clock();
        clock.delta_as_nanos(self.origin_raw, clock.raw())
    }

    fn detection(&self) -> Detection {
        *self.detection.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes new detection settings.
    pub(crate) fn set_detection(&self, d: Detection) {
        let mut current = self.detection.write().unwrap_or_else(|e| e.into_inner());
        if *current != d {
            *current = d;
            self.window_ns.store(d.window.window_ns, Ordering::Relaxed);
        }
    }

    /// Runs `f` on the endpoint of `method` + `route`, found through a one-entry per-thread
    /// cache: a thread serving the same endpoint again pays two short string compares instead
    /// of a lock and a hash, and no reference count changes hands. Entries carry the
    /// recorder's epoch, renewed by [`Recorder::clear`], so the cache never serves a cleared
    /// endpoint or another recorder's.
    pub(crate) fn with_endpoint<R>(
        &self,
        method: &str,
        route: &str,
        f: impl FnOnce(&Endpoint) -> R,
    ) -> R {
        thread_local! {
            static LAST: std::cell::RefCell<Option<(u64, Arc<Endpoint>)>> =
                const { std::cell::RefCell::new(None) };
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut f = Some(f);
        let hit = LAST.try_with(|last| {
            let last = last.try_borrow().ok()?;
            let (cached, e) = last.as_ref()?;
            if *cached == epoch && &*e.route == route && &*e.method == method {
                f.take().map(|f| f(e))
            } else {
                None
            }
        });
        if let Ok(Some(r)) = hit {
            return r;
        }
        let e = self.endpoint(method, route);
        let _ = LAST.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = Some((epoch, e.clone()));
            }
        });
        match f.take() {
            Some(f) => f(&e),
            None => unreachable!("the closure runs at most once"),
        }
    }

    /// The endpoint of `method` + `route`, created if needed (or `_other`'s beyond the cap).
    /// Extension methods (anything but the nine standard ones) share the method `_other`, so
    /// clients cannot grow the table by inventing methods.
    pub(crate) fn endpoint(&self, method: &str, route: &str) -> Arc<Endpoint> {
        const STANDARD: [&str; 9] = [
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
        ];
        let method = if STANDARD.contains(&method) {
            method
        } else {
            OTHER
        };
        let find = |routes: &FastMap<Box<str>, Vec<Arc<Endpoint>>>, route: &str| {
            routes
                .get(route)
                .and_then(|v| v.iter().find(|e| &*e.method == method))
                .cloned()
        };
        if let Some(e) = find(
            &self.routes.read().unwrap_or_else(|e| e.into_inner()),
            route,
        ) {
            return e;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = find(&routes, route) {
            return e;
        }
        let mut all = self.endpoints.write().unwrap_or_else(|e| e.into_inner());
        let route = if all.len() >= self.config.max_endpoints && route != OTHER {
            OTHER
        } else {
            route
        };
        if let Some(e) = find(&routes, route) {
            return e;
        }
        let e = Arc::new(Endpoint {
            method: method.into(),
            route: route.into(),
            index: all.len() as u32,
            epoch: self.epoch.load(Ordering::Acquire),
            last_seen_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(0),
            window_sampled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sampled_random: AtomicU64::new(0),
            sampled_guaranteed: AtomicU64::new(0),
            sampled_triggered: AtomicU64::new(0),
            capture_until_ns: AtomicU64::new(0),
            cooldown_until_ns: AtomicU64::new(0),
        });
        routes.entry(route.into()).or_default().push(e.clone());
        all.push(e.clone());
        e
    }

    /// Decides whether a request to `endpoint` is traced: the low-traffic guarantees first,
    /// then a random draw below `threshold` (see [`rate_threshold`]). Reads no clock: `now_ns`
    /// is the caller's.
    pub(crate) fn decide(
        &self,
        endpoint: &Endpoint,
        threshold: u64,
        enabled: bool,
        now_ns: u64,
    ) -> Decision {
        // Load then store, not a swap: two requests racing here both see an older time, which
        // at worst samples one more request. Stored only when it moved by a grain, so a busy
        // endpoint's line stays shared between cores (the idle rule works in seconds).
        let previous = endpoint.last_seen_ns.load(Ordering::Relaxed);
        if previous == u64::MAX || now_ns.saturating_sub(previous) >= LAST_SEEN_GRAIN_NS {
            endpoint.last_seen_ns.store(now_ns, Ordering::Relaxed);
        }
        if !enabled {
            return Decision::Skip;
        }
        // A division only when a window ends (a window length changed at run time applies
        // from the next window on).
        if now_ns >= endpoint.window_end_ns.load(Ordering::Relaxed) {
            let window_ns = self.window_ns.load(Ordering::Relaxed).max(1);
            let end = (now_ns / window_ns)
                .saturating_add(1)
                .saturating_mul(window_ns);
            endpoint.window_end_ns.store(end, Ordering::Relaxed);
            endpoint.window_sampled.store(0, Ordering::Relaxed);
        }
        let idle = previous == u64::MAX
            || now_ns.saturating_sub(previous) >= self.config.idle_sample_after_ns;
        let decision = if idle
            || endpoint.window_sampled.load(Ordering::Relaxed) < self.config.min_sampled_per_window
        {
            endpoint.sampled_guaranteed.fetch_add(1, Ordering::Relaxed);
            Decision::Guaranteed
        } else if now_ns < endpoint.capture_until_ns.load(Ordering::Relaxed) {
            endpoint.sampled_triggered.fetch_add(1, Ordering::Relaxed);
            Decision::Triggered
        } else if threshold != 0 && next_random() <= threshold {
            endpoint.sampled_random.fetch_add(1, Ordering::Relaxed);
            Decision::Random
        } else {
            Decision::Skip
        };
        if decision.sampled() {
            endpoint.window_sampled.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    /// Records one finished request: queued in this thread's ring, aggregated later. A ring
    /// found half full wakes the drain thread; a full one is drained right here if no one
    /// else is draining.
    pub(crate) fn record(&self, event: RequestEvent) {
        let (index, epoch) = (event.index, event.epoch);
        let pushed = aggregate::with_ring(
            self.uid,
            |ring| lock(&self.rings).push(ring),
            |ring| {
                const HALF: usize = aggregate::RING_CAPACITY / 2;
                // SAFETY: this thread's own ring: the only producer.
                let pushed = unsafe { ring.ring.push(event) };
                pushed.map(|bound| {
                    // The exact count reads the drain's cache line: only when the bound says
                    // half full.
                    // SAFETY: as above, the only producer.
                    bound >= HALF && unsafe { ring.ring.queued() } >= HALF
                })
            },
        );
        match pushed {
            Some(Ok(half_full)) => {
                if half_full {
                    self.drain_soon();
                }
            }
            Some(Err(event)) => {
                // Full while another thread drains: try once more after draining ourselves.
                self.try_sync();
                let retried = aggregate::with_ring(self.uid, drop, |ring| {
                    // SAFETY: as above.
                    unsafe { ring.ring.push(event) }.is_ok()
                });
                if retried != Some(true) {
                    self.lost(index, epoch);
                }
            }
            None => self.lost(index, epoch),
        }
    }

    /// Counts a finished request whose measurement could not be queued.
    fn lost(&self, index: u32, epoch: u64) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let endpoints = self.endpoints.read().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = endpoints.get(index as usize).filter(|e| e.epoch == epoch) {
            e.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Aggregates every queued request now, waiting for the aggregate lock.
    pub fn sync(&self) {
        let mut agg = lock(&self.aggregate);
        self.drain_into(&mut agg);
    }

    /// Aggregates every queued request now unless another thread is doing it.
    fn try_sync(&self) {
        if let Ok(mut agg) = self.aggregate.try_lock() {
            self.drain_into(&mut agg);
        }
    }

    /// Drains every ring into `agg` (the caller holds the aggregate lock, which makes it the
    /// rings' single consumer).
    fn drain_into(&self, agg: &mut Aggregate) {
        let rings: Vec<Arc<ThreadRing>> = {
            let mut rings = lock(&self.rings);
            // A ring whose thread has exited is drained one last time below, then forgotten.
            let all = rings.clone();
            rings.retain(|r| !r.closed.load(Ordering::Acquire));
            all
        };
        if rings.iter().all(|r| r.ring.is_empty()) {
            return;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let endpoints = self.all();
        let d = self.detection();
        let limits = aggregate::Limits {
            max_users: self.config.max_users_per_endpoint,
            max_anomalies: self.config.max_anomalies,
            trigger: self.config.trigger,
        };
        let mut anomalies = 0;
        for r in &rings {
            let mut apply = |e: RequestEvent| {
                let Some(endpoint) = endpoints.get(e.index as usize) else {
                    return;
                };
                if e.epoch != epoch || endpoint.epoch != epoch {
                    return;
                }
                while agg.stats.len() <= e.index as usize {
                    agg.stats
                        .push(EndpointStats::new(KeyStats::new(&d.window, e.end_ns)));
                }
                anomalies += u64::from(agg.apply(endpoint, &d, &limits, &e));
            };
            // SAFETY: the aggregate lock is held: this is the rings' only consumer.
            unsafe { r.ring.drain(&mut apply) };
        }
        self.anomalies_total.fetch_add(anomalies, Ordering::Relaxed);
    }

    /// Forgets every endpoint and anomaly (frozen endpoint baselines are kept).
    pub fn clear(&self) {
        let mut agg = lock(&self.aggregate);
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let mut all = self.endpoints.write().unwrap_or_else(|e| e.into_inner());
        self.epoch
            .store(NEXT_ID.fetch_add(1, Ordering::Relaxed), Ordering::Release);
        routes.clear();
        all.clear();
        drop((routes, all));
        *agg = Aggregate::default();
        self.anomalies_total.store(0, Ordering::Relaxed);
        // Queued requests of the old epoch are discarded; requests that started after the
        // epoch changed are kept in the fresh statistics.
        self.drain_into(&mut agg);
    }

    fn all(&self) -> Vec<Arc<Endpoint>> {
        self.endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` over every endpoint with its statistics brought up to date (window advanced
    /// to now); endpoints without a finished request yet get `None`.
    fn each<R>(
        &self,
        mut f: impl FnMut(&Endpoint, Option<&mut EndpointStats>, &Detection) -> R,
    ) -> Vec<R> {
        let mut agg = lock(&self.aggregate);
        self.drain_into(&mut agg);
        let d = self.detection();
        let now = self.now_ns();
        let epoch = self.epoch.load(Ordering::Acquire);
        self.all()
            .iter()
            .filter(|e| e.epoch == epoch)
            .map(|e| {
                let mut stats = agg.stats.get_mut(e.index as usize);
                if let Some(s) = stats.as_deref_mut() {
                    s.key.advance(&d.window, now);
                }
                f(e, stats, &d)
            })
            .collect()
    }

    /// Recent endpoint anomalies, newest last.
    pub fn anomalies(&self) -> Vec<RequestAnomaly> {
        let mut agg = lock(&self.aggregate);
        self.drain_into(&mut agg);
        agg.anomalies.iter().cloned().collect()
    }

    /// Triggered captures, oldest first.
    pub fn captures(&self) -> Vec<CaptureEvent> {
        let mut agg = lock(&self.aggregate);
        self.drain_into(&mut agg);
        agg.captures.iter().cloned().collect()
    }

    /// Endpoints with a triggered capture running now.
    pub fn capturing(&self) -> Vec<String> {
        let now = self.now_ns();
        self.all()
            .iter()
            .filter(|e| now < e.capture_until_ns.load(Ordering::Relaxed))
            .map(|e| e.name())
            .collect()
    }

    /// Endpoint anomalies detected since start or the last clear.
    pub fn anomalies_total(&self) -> u64 {
        self.sync();
        self.anomalies_total.load(Ordering::Relaxed)
    }

    /// Request latencies lost because a thread's ring was full while another thread was
    /// draining (the requests themselves are still counted).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Per-endpoint statistics, in registration order.
    pub fn endpoints(&self) -> Vec<EndpointReport> {
        self.each(|e, s, d| {
            let requests = requests(e, s.as_deref());
            let random = e.sampled_random.load(Ordering::Relaxed);
            let guaranteed = e.sampled_guaranteed.load(Ordering::Relaxed);
            let triggered = e.sampled_triggered.load(Ordering::Relaxed);
            let now = self.now_ns();
            EndpointReport {
                endpoint: e.name(),
                method: e.method.to_string(),
                route: e.route.to_string(),
                requests,
                sampled: random + guaranteed + triggered,
                sampled_random: random,
                sampled_guaranteed: guaranteed,
                sampled_triggered: triggered,
                capture_active: now < e.capture_until_ns.load(Ordering::Relaxed),
                effective_sample_rate: ratio(random + guaranteed + triggered, requests),
                latency: s
                    .as_ref()
                    .map_or_else(StatsSnapshot::default, |s| s.key.total().snapshot()),
                recent_p95_ms: s
                    .as_ref()
                    .and_then(|s| s.key.recent_quantile(0.95))
                    .map(|ns| ns as f64 / 1e6),
                calibrated: s.is_some_and(|s| s.key.calibrated().count() >= d.anomaly.min_samples),
            }
        })
    }

    /// Request and sampling totals over every endpoint.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        self.each(|e, s, _| {
            t.requests += requests(e, s.as_deref());
            t.sampled_random += e.sampled_random.load(Ordering::Relaxed);
            t.sampled_guaranteed += e.sampled_guaranteed.load(Ordering::Relaxed);
            t.sampled_triggered += e.sampled_triggered.load(Ordering::Relaxed);
        });
        t
    }

    /// Request latencies grouped by one dimension, over the cells passing `filter`.
    pub fn grouped(&self, by: GroupBy, filter: &Filter) -> Vec<Group> {
        let mut groups: BTreeMap<String, (Welford, u64)> = BTreeMap::new();
        self.each(|e, s, _| {
            let Some(s) = s else { return };
            if filter
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(&e.method))
                || filter.route.as_deref().is_some_and(|r| r != &*e.route)
            {
                return;
            }
            for (user, row) in s.rows() {
                if filter.user.as_deref().is_some_and(|u| u != user) {
                    continue;
                }
                for &(status, ref cell) in &row.by_status {
                    if filter.status.is_some_and(|f| f != status) {
                        continue;
                    }
                    let key = match by {
                        GroupBy::Route => e.name(),
                        GroupBy::Method => e.method.to_string(),
                        GroupBy::Status => status.to_string(),
                        GroupBy::User => user.to_string(),
                    };
                    let g = groups.entry(key).or_default();
                    g.0.merge(&cell.wall);
                    g.1 = g.1.max(cell.max_ns);
                }
            }
        });
        groups
            .into_iter()
            .map(|(key, (w, max))| Group {
                key,
                requests: w.count(),
                mean_ms: w.mean() / 1e6,
                stddev_ms: w.stddev() / 1e6,
                max_ms: max as f64 / 1e6,
            })
            .collect()
    }

    /// Ongoing endpoint regressions against each endpoint's calibrated history.
    pub fn regressions(&self) -> Vec<(String, Comparison)> {
        self.each(|e, s, d| {
            let c = s?.key.update_regression(&d.window, &d.regression)?;
            Some((e.name(), c))
        })
        .into_iter()
        .flatten()
        .collect()
    }

    /// Freezes every endpoint's calibrated distribution as baseline `name` (replacing one of
    /// the same name); returns how many endpoints it holds, or `None` when
    /// [`MAX_BASELINES`] other baselines exist already.
    pub fn freeze_baseline(&self, name: &str) -> Option<usize> {
        {
            let baselines = lock(&self.baselines);
            if baselines.len() >= MAX_BASELINES && !baselines.contains_key(name) {
                return None;
            }
        }
        let frozen: BTreeMap<String, Frozen> = self
            .each(|e, s, _| Some((e.name(), s?.key.freeze()?)))
            .into_iter()
            .flatten()
            .collect();
        let n = frozen.len();
        lock(&self.baselines).insert(name.to_string(), frozen);
        Some(n)
    }

    /// Endpoints in the frozen baseline `name`, if it exists.
    pub fn baseline_len(&self, name: &str) -> Option<usize> {
        lock(&self.baselines).get(name).map(BTreeMap::len)
    }

    /// Names of the frozen endpoint baselines.
    pub fn baseline_names(&self) -> Vec<String> {
        lock(&self.baselines).keys().cloned().collect()
    }

    /// Deletes a frozen endpoint baseline; returns whether it existed.
    pub fn drop_baseline(&self, name: &str) -> bool {
        lock(&self.baselines).remove(name).is_some()
    }

    /// Each endpoint's requests since the baseline `name` was frozen against it (the recent
    /// windows if the data was cleared since).
    pub fn compare_to_baseline(&self, name: &str) -> Option<Vec<(String, Comparison)>> {
        let frozen = lock(&self.baselines).get(name)?.clone();
        let out = self
            .each(|e, s, d| {
                let key = e.name();
                let base = frozen.get(&key)?;
                let c = s?.key.regression_against(&d.window, base, &d.regression)?;
                Some((key, c))
            })
            .into_iter()
            .flatten()
            .collect();
        Some(out)
    }
}
/// Finished requests of `e`: every one aggregated, plus those whose measurement was lost.
fn requests(e: &Endpoint, stats: Option<&EndpointStats>) -> u64 {
    stats.map_or(0, |s| s.key.total().calls()) + e.dropped.load(Ordering::Relaxed)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Request and sampling totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Requests finished (a request in flight is counted when it ends, cancelled ones with
    /// status 499).
    pub requests: u64,
    /// Traced by the random draw.
    pub sampled_random: u64,
    /// Traced by a low-traffic guarantee.
    pub sampled_guaranteed: u64,
    /// Traced by a triggered capture.
    pub sampled_triggered: u64,
}

impl Totals {
    /// Requests traced in depth.
    pub fn sampled(&self) -> u64 {
        self.sampled_random + self.sampled_guaranteed + self.sampled_triggered
    }

    /// `sampled / requests`.
    pub fn effective_sample_rate(&self) -> f64 {
        ratio(self.sampled(), self.requests)
    }
}

/// Statistics of one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    /// `METHOD route`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Route template (never a raw path).
    pub route: String,
    /// Requests finished (a request in flight is counted when it ends, cancelled ones with
    /// status 499).
    pub requests: u64,
    /// Requests traced in depth.
    pub sampled: u64,
    /// Of those, chosen by the random draw.
    pub sampled_random: u64,
    /// Of those, chosen by a low-traffic guarantee.
    pub sampled_guaranteed: u64,
    /// Of those, traced by a triggered capture.
    pub sampled_triggered: u64,
    /// Whether a triggered capture is running.
    pub capture_active: bool,
    /// `sampled / requests`.
    pub effective_sample_rate: f64,
    /// Latency of every request.
    pub latency: StatsSnapshot,
    /// P95 over the current and previous window.
    pub recent_p95_ms: Option<f64>,
    /// Whether enough requests were seen for anomaly detection.
    pub calibrated: bool,
}

/// A dimension of `/endpoints?group_by=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// `METHOD route`.
    Route,
    /// HTTP method.
    Method,
    /// Response status.
    Status,
    /// User id.
    User,
}

impl std::str::FromStr for GroupBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "route" | "endpoint" => Ok(GroupBy::Route),
            "method" => Ok(GroupBy::Method),
            "status" => Ok(GroupBy::Status),
            "user" => Ok(GroupBy::User),
            other => Err(format!(
                "unknown group_by `{other}`: expected one of route, method, status, user"
            )),
        }
    }
}

/// Filters of `/endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this method (case-insensitive).
    pub method: Option<String>,
    /// Only this route template.
    pub route: Option<String>,
    /// Only this status.
    pub status: Option<u16>,
    /// Only this user (hashed form when hashing is on).
    pub user: Option<String>,
}

/// One group of `/endpoints?group_by=`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    /// The group's value (`GET /users/{id}`, `POST`, `500`, a user id).
    pub key: String,
    /// Requests in the group.
    pub requests: u64,
    /// Mean latency.
    pub mean_ms: f64,
    /// Standard deviation of the latency.
    pub stddev_ms: f64,
    /// Slowest request.
    pub max_ms: f64,
}
