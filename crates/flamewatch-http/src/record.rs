//! Per-endpoint request statistics and the edge sampling decision.
//!
//! Every request is counted and timed against its endpoint (`METHOD route-template`). The
//! registry maps a route to its endpoints under a read-mostly lock; each endpoint keeps the
//! sampling state in atomics (so the decision at the edge takes no lock) and its statistics
//! behind its own mutex: a [`KeyStats`] window ring (percentiles, anomalies, regressions) plus
//! one cell per `(status, user)` pair for breakdowns. Every dimension is capped: endpoints
//! beyond [`RecorderConfig::max_endpoints`] share the `_other` route; per endpoint, the
//! [`RecorderConfig::max_users_per_endpoint`] most frequent users (Space-Saving) keep rows of
//! their own and the rest share the `_other` user.

use flamewatch::OTHER;
use flamewatch_core::detect::{AnomalyConfig, Comparison, RegressionConfig};
use flamewatch_core::stats::StatsSnapshot;
use flamewatch_core::welford::Welford;
use flamewatch_core::window::{KeyStats, WindowConfig};
use serde::Serialize;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
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

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

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

/// Requests between two P95 checks of one endpoint for triggered capture.
const TRIGGER_CHECK_EVERY: u64 = 16;
/// Capture events kept for reading back.
const MAX_CAPTURE_EVENTS: usize = 100;

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

/// One `METHOD route` endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) method: Box<str>,
    pub(crate) route: Box<str>,
    /// Nanoseconds (recorder clock) of the previous request, `u64::MAX` before the first.
    last_seen_ns: AtomicU64,
    window_index: AtomicU64,
    window_sampled: AtomicU64,
    requests: AtomicU64,
    sampled_random: AtomicU64,
    sampled_guaranteed: AtomicU64,
    sampled_triggered: AtomicU64,
    /// Recorder-clock end of the running capture (0: none).
    capture_until_ns: AtomicU64,
    /// No new capture before this.
    cooldown_until_ns: AtomicU64,
    stats: Mutex<EndpointStats>,
}

#[derive(Debug)]
struct EndpointStats {
    /// This endpoint's copy of the detection settings, as of `generation`.
    detection: Detection,
    generation: u64,
    key: KeyStats,
    /// Status → user → measured latencies.
    cells: BTreeMap<u16, FastMap<Box<str>, Cell2>>,
    /// Users with rows of their own, with their Space-Saving counts.
    users: FastMap<Box<str>, u64>,
}

/// The row `user`'s request goes to: its own, or `_other`. Users are kept with the
/// Space-Saving algorithm: while there is room every user gets a row; at the cap a newcomer
/// takes the row of the least-counted user (whose latencies fold into `_other`) with that
/// count plus one. A user making more than `1/max` of the requests therefore always keeps
/// its row (top-K), while one-off users churn at the bottom.
fn admit_user<'a>(
    users: &mut FastMap<Box<str>, u64>,
    cells: &mut BTreeMap<u16, FastMap<Box<str>, Cell2>>,
    user: &'a str,
    max: usize,
) -> &'a str {
    if let Some(count) = users.get_mut(user) {
        *count += 1;
        return user;
    }
    if max == 0 || user == OTHER {
        return OTHER;
    }
    if users.len() < max {
        users.insert(user.into(), 1);
        return user;
    }
    let Some((victim, min)) = users
        .iter()
        .min_by_key(|(_, count)| **count)
        .map(|(name, count)| (name.clone(), *count))
    else {
        return OTHER;
    };
    users.remove(&victim);
    users.insert(user.into(), min + 1);
    for by_user in cells.values_mut() {
        if let Some(evicted) = by_user.remove(&victim) {
            let other = by_user.entry(OTHER.into()).or_default();
            other.wall.merge(&evicted.wall);
            other.max_ns = other.max_ns.max(evicted.max_ns);
        }
    }
    user
}

/// Latencies of one `(endpoint, status, user)` cell.
#[derive(Debug, Clone, Copy, Default)]
struct Cell2 {
    wall: Welford,
    max_ns: u64,
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

/// Source of [`Recorder`] ids.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Every endpoint's statistics.
#[derive(Debug)]
pub struct Recorder {
    /// Unique among every recorder of the process and renewed by `clear` (cache key).
    id: AtomicU64,
    pub(crate) config: RecorderConfig,
    epoch: quanta::Instant,
    routes: RwLock<FastMap<Box<str>, Vec<Arc<Endpoint>>>>,
    /// The window length, for the sampling decision (mirrors `detection`).
    pub(crate) window_ns: AtomicU64,
    endpoints: RwLock<Vec<Arc<Endpoint>>>,
    anomalies: Mutex<VecDeque<RequestAnomaly>>,
    anomalies_total: AtomicU64,
    captures: Mutex<VecDeque<CaptureEvent>>,
    detection: RwLock<Detection>,
    /// Bumped when `detection` changes; endpoints keep a copy and re-read it on a change.
    generation: AtomicU64,
    /// Frozen endpoint baselines: name → endpoint key → distribution.
    baselines: Mutex<BTreeMap<String, BTreeMap<String, Welford>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    /// An empty recorder.
    pub fn new(config: RecorderConfig) -> Self {
        Recorder {
            id: AtomicU64::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            config,
            epoch: quanta::Instant::now(),
            routes: RwLock::default(),
            window_ns: AtomicU64::new(WindowConfig::default().window_ns),
            endpoints: RwLock::default(),
            anomalies: Mutex::default(),
            anomalies_total: AtomicU64::new(0),
            captures: Mutex::default(),
            detection: RwLock::default(),
            generation: AtomicU64::new(1),
            baselines: Mutex::default(),
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        quanta::Instant::now()
            .saturating_duration_since(self.epoch)
            .as_nanos() as u64
    }

    fn detection(&self) -> Detection {
        *self.detection.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes new detection settings (no-op when unchanged).
    pub(crate) fn set_detection(&self, d: Detection) {
        let mut current = self.detection.write().unwrap_or_else(|e| e.into_inner());
        if *current != d {
            *current = d;
            self.window_ns.store(d.window.window_ns, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// The endpoint of `method` + `route`, through a one-entry per-thread cache: a thread
    /// serving the same endpoint again pays two short string compares instead of a lock and
    /// a hash. Entries carry the recorder's id, renewed by [`Recorder::clear`], so the cache
    /// never serves a cleared endpoint or another recorder's.
    pub(crate) fn endpoint_cached(&self, method: &str, route: &str) -> Arc<Endpoint> {
        thread_local! {
            static LAST: std::cell::RefCell<Option<(u64, Arc<Endpoint>)>> =
                const { std::cell::RefCell::new(None) };
        }
        let id = self.id.load(Ordering::Acquire);
        let hit = LAST.try_with(|last| {
            let last = last.try_borrow().ok()?;
            let (cached_id, e) = last.as_ref()?;
            (*cached_id == id && &*e.route == route && &*e.method == method).then(|| e.clone())
        });
        if let Ok(Some(e)) = hit {
            return e;
        }
        let e = self.endpoint(method, route);
        let _ = LAST.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = Some((id, e.clone()));
            }
        });
        e
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
        {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = routes
                .get(route)
                .and_then(|v| v.iter().find(|e| &*e.method == method))
            {
                return e.clone();
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = routes
            .get(route)
            .and_then(|v| v.iter().find(|e| &*e.method == method))
        {
            return e.clone();
        }
        let mut all = self.endpoints.write().unwrap_or_else(|e| e.into_inner());
        let route = if all.len() >= self.config.max_endpoints && route != OTHER {
            OTHER
        } else {
            route
        };
        if let Some(e) = routes
            .get(route)
            .and_then(|v| v.iter().find(|e| &*e.method == method))
        {
            return e.clone();
        }
        let window = self.detection().window;
        let e = Arc::new(Endpoint {
            method: method.into(),
            route: route.into(),
            last_seen_ns: AtomicU64::new(u64::MAX),
            window_index: AtomicU64::new(0),
            window_sampled: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            sampled_random: AtomicU64::new(0),
            sampled_guaranteed: AtomicU64::new(0),
            sampled_triggered: AtomicU64::new(0),
            capture_until_ns: AtomicU64::new(0),
            cooldown_until_ns: AtomicU64::new(0),
            stats: Mutex::new(EndpointStats {
                detection: self.detection(),
                generation: self.generation.load(Ordering::Acquire),
                key: KeyStats::new(&window, self.now_ns()),
                cells: BTreeMap::new(),
                users: FastMap::default(),
            }),
        });
        routes.entry(route.into()).or_default().push(e.clone());
        all.push(e.clone());
        e
    }

    /// Decides whether a request to `endpoint` is traced: the low-traffic guarantees first,
    /// then a random draw below `threshold` (see [`rate_threshold`]). Reads no clock when
    /// `now_ns` is given by the caller.
    pub(crate) fn decide(
        &self,
        endpoint: &Endpoint,
        threshold: u64,
        enabled: bool,
        now_ns: u64,
    ) -> Decision {
        endpoint.requests.fetch_add(1, Ordering::Relaxed);
        let previous = endpoint.last_seen_ns.swap(now_ns, Ordering::Relaxed);
        if !enabled {
            return Decision::Skip;
        }
        let window_ns = self.window_ns.load(Ordering::Relaxed).max(1);
        let index = now_ns / window_ns;
        if endpoint.window_index.load(Ordering::Relaxed) != index {
            endpoint.window_index.store(index, Ordering::Relaxed);
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

    /// Records one finished request.
    pub(crate) fn record(
        &self,
        endpoint: &Endpoint,
        status: u16,
        user: &str,
        sampled: bool,
        end_ns: u64,
        wall_ns: u64,
    ) {
        let mut guard = lock(&endpoint.stats);
        let generation = self.generation.load(Ordering::Acquire);
        if guard.generation != generation {
            guard.detection = self.detection();
            guard.generation = generation;
        }
        let EndpointStats {
            detection: d,
            key,
            cells,
            users,
            ..
        } = &mut *guard;
        let hit = key.record(&d.window, &d.anomaly, end_ns, wall_ns, None);
        let name = admit_user(users, cells, user, self.config.max_users_per_endpoint);
        let by_user = cells.entry(status).or_default();
        let cell = match by_user.get_mut(name) {
            Some(c) => c,
            None => by_user.entry(name.into()).or_default(),
        };
        cell.wall.add(wall_ns as f64);
        cell.max_ns = cell.max_ns.max(wall_ns);
        let capture = self.config.trigger.and_then(|t| {
            if !key.total().calls().is_multiple_of(TRIGGER_CHECK_EVERY)
                || end_ns < endpoint.cooldown_until_ns.load(Ordering::Relaxed)
            {
                return None;
            }
            let p95 = key.recent_quantile(0.95).filter(|&p| p >= t.p95_ns)?;
            endpoint
                .capture_until_ns
                .store(end_ns + t.duration_ns, Ordering::Relaxed);
            endpoint
                .cooldown_until_ns
                .store(end_ns + t.duration_ns + t.cooldown_ns, Ordering::Relaxed);
            Some(CaptureEvent {
                endpoint: format!("{} {}", endpoint.method, endpoint.route),
                p95_ms: p95 as f64 / 1e6,
                threshold_ms: t.p95_ns as f64 / 1e6,
                started_at: unix_now(),
                duration_s: t.duration_ns as f64 / 1e9,
                cooldown_s: t.cooldown_ns as f64 / 1e9,
            })
        });
        drop(guard);
        if let Some(event) = capture {
            let mut ring = lock(&self.captures);
            if ring.len() >= MAX_CAPTURE_EVENTS {
                ring.pop_front();
            }
            ring.push_back(event);
        }
        if let Some(hit) = hit {
            self.anomalies_total.fetch_add(1, Ordering::Relaxed);
            let mut ring = lock(&self.anomalies);
            if ring.len() >= self.config.max_anomalies.max(1) {
                ring.pop_front();
            }
            ring.push_back(RequestAnomaly {
                endpoint: format!("{} {}", endpoint.method, endpoint.route),
                method: endpoint.method.to_string(),
                route: endpoint.route.to_string(),
                status,
                user: user.to_string(),
                sampled,
                duration_ms: hit.duration_ns as f64 / 1e6,
                mean_ms: hit.mean_ns / 1e6,
                stddev_ms: hit.stddev_ns / 1e6,
                threshold_ms: hit.threshold_ns / 1e6,
                sigmas: hit.sigmas,
                timestamp: unix_now(),
            });
        }
    }

    /// Forgets every endpoint and anomaly (frozen endpoint baselines are kept).
    pub fn clear(&self) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let mut all = self.endpoints.write().unwrap_or_else(|e| e.into_inner());
        routes.clear();
        all.clear();
        self.id
            .store(NEXT_ID.fetch_add(1, Ordering::Relaxed), Ordering::Release);
        lock(&self.anomalies).clear();
        lock(&self.captures).clear();
        self.anomalies_total.store(0, Ordering::Relaxed);
    }

    fn all(&self) -> Vec<Arc<Endpoint>> {
        self.endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Recent endpoint anomalies, newest last.
    pub fn anomalies(&self) -> Vec<RequestAnomaly> {
        lock(&self.anomalies).iter().cloned().collect()
    }

    /// Triggered captures, oldest first.
    pub fn captures(&self) -> Vec<CaptureEvent> {
        lock(&self.captures).iter().cloned().collect()
    }

    /// Endpoints with a triggered capture running now.
    pub fn capturing(&self) -> Vec<String> {
        let now = self.now_ns();
        self.all()
            .iter()
            .filter(|e| now < e.capture_until_ns.load(Ordering::Relaxed))
            .map(|e| format!("{} {}", e.method, e.route))
            .collect()
    }

    /// Endpoint anomalies detected since start or the last clear.
    pub fn anomalies_total(&self) -> u64 {
        self.anomalies_total.load(Ordering::Relaxed)
    }

    /// Per-endpoint statistics, in registration order.
    pub fn endpoints(&self) -> Vec<EndpointReport> {
        let d = self.detection();
        let now = self.now_ns();
        self.all()
            .iter()
            .map(|e| {
                let mut s = lock(&e.stats);
                s.key.advance(&d.window, now);
                let requests = e.requests.load(Ordering::Relaxed);
                let random = e.sampled_random.load(Ordering::Relaxed);
                let guaranteed = e.sampled_guaranteed.load(Ordering::Relaxed);
                let triggered = e.sampled_triggered.load(Ordering::Relaxed);
                EndpointReport {
                    endpoint: format!("{} {}", e.method, e.route),
                    method: e.method.to_string(),
                    route: e.route.to_string(),
                    requests,
                    sampled: random + guaranteed + triggered,
                    sampled_random: random,
                    sampled_guaranteed: guaranteed,
                    sampled_triggered: triggered,
                    capture_active: now < e.capture_until_ns.load(Ordering::Relaxed),
                    effective_sample_rate: ratio(random + guaranteed + triggered, requests),
                    latency: s.key.total().snapshot(),
                    recent_p95_ms: s.key.recent_quantile(0.95).map(|ns| ns as f64 / 1e6),
                    calibrated: s.key.calibrated().count() >= d.anomaly.min_samples,
                }
            })
            .collect()
    }

    /// Request and sampling totals over every endpoint.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in self.all() {
            t.requests += e.requests.load(Ordering::Relaxed);
            t.sampled_random += e.sampled_random.load(Ordering::Relaxed);
            t.sampled_guaranteed += e.sampled_guaranteed.load(Ordering::Relaxed);
            t.sampled_triggered += e.sampled_triggered.load(Ordering::Relaxed);
        }
        t
    }

    /// Request latencies grouped by one dimension, over the cells passing `filter`.
    pub fn grouped(&self, by: GroupBy, filter: &Filter) -> Vec<Group> {
        let mut groups: BTreeMap<String, (Welford, u64)> = BTreeMap::new();
        for e in self.all() {
            if filter
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(&e.method))
                || filter.route.as_deref().is_some_and(|r| r != &*e.route)
            {
                continue;
            }
            let s = lock(&e.stats);
            for (&status, users) in &s.cells {
                if filter.status.is_some_and(|f| f != status) {
                    continue;
                }
                for (user, cell) in users {
                    if filter.user.as_deref().is_some_and(|u| u != &**user) {
                        continue;
                    }
                    let key = match by {
                        GroupBy::Route => format!("{} {}", e.method, e.route),
                        GroupBy::Method => e.method.to_string(),
                        GroupBy::Status => status.to_string(),
                        GroupBy::User => user.to_string(),
                    };
                    let g = groups.entry(key).or_default();
                    g.0.merge(&cell.wall);
                    g.1 = g.1.max(cell.max_ns);
                }
            }
        }
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
        let d = self.detection();
        let now = self.now_ns();
        let mut out = Vec::new();
        for e in self.all() {
            let mut s = lock(&e.stats);
            s.key.advance(&d.window, now);
            if let Some(c) = s.key.update_regression(&d.window, &d.regression) {
                out.push((format!("{} {}", e.method, e.route), c));
            }
        }
        out
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
        let d = self.detection();
        let now = self.now_ns();
        let mut frozen = BTreeMap::new();
        for e in self.all() {
            let mut s = lock(&e.stats);
            s.key.advance(&d.window, now);
            let w = s.key.calibrated();
            if w.count() > 0 {
                frozen.insert(format!("{} {}", e.method, e.route), w);
            }
        }
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

    /// Each endpoint's recent behaviour against the frozen baseline `name`.
    pub fn compare_to_baseline(&self, name: &str) -> Option<Vec<(String, Comparison)>> {
        let frozen = lock(&self.baselines).get(name)?.clone();
        let d = self.detection();
        let now = self.now_ns();
        let mut out = Vec::new();
        for e in self.all() {
            let key = format!("{} {}", e.method, e.route);
            let Some(base) = frozen.get(&key) else {
                continue;
            };
            let mut s = lock(&e.stats);
            s.key.advance(&d.window, now);
            if let Some(c) = s.key.regression_against(&d.window, base, &d.regression) {
                out.push((key, c));
            }
        }
        Some(out)
    }
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
    /// Requests seen.
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
    /// Requests seen.
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
