//! The collector: a background thread that drains every thread's buffers, feeds the per-key
//! statistics and detectors, and answers snapshot requests.
//!
//! All aggregation happens here, off the hot path. The collector is the single consumer of
//! every ring; it drains under its state lock, so a snapshot request (which drains first, to
//! include the latest calls) and the periodic pass never consume concurrently. Any panic in a
//! pass is caught, counted in `health.contained_panics`, and never reaches the host.

use crate::breaker::Breaker;
use crate::local::{Event, NO_KEY, ThreadBuffer};
use crate::output::{Emitter, Record};
use crate::registry::KeyId;
use crate::runtime::Runtime;
use crate::settings::Settings;
use crate::snapshot::{Anomaly, FunctionStats, Health, MemoryStats, Regression, Session, Snapshot};
use flamewatch_core::detect::Comparison;
use flamewatch_core::welford::Welford;
use flamewatch_core::window::{Frozen, KeyStats};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How often the collector drains buffers.
const TICK: Duration = Duration::from_millis(25);
/// How often regressions are re-evaluated.
const REGRESSION_EVERY_NS: u64 = 1_000_000_000;

/// A callback told about every anomaly (e.g. to alert). Runs on the collector thread.
pub type AnomalyHook = Box<dyn Fn(&Anomaly) + Send + Sync>;

struct ThreadEntry {
    buffer: Arc<ThreadBuffer>,
    seen: HashMap<KeyId, u64>,
}

#[derive(Default)]
struct Memory {
    alloc: Welford,
    alloc_max: u64,
    peak_max: u64,
}

struct KeyState {
    stats: KeyStats,
    cancelled: u64,
    anomalies: u64,
    memory: Option<Memory>,
    regression: Option<Comparison>,
    dirty: bool,
}

#[derive(Default)]
struct State {
    threads: Vec<ThreadEntry>,
    keys: Vec<Option<KeyState>>,
    anomalies: VecDeque<Anomaly>,
    anomalies_total: u64,
    retired_dropped: u64,
    last_regression_ns: u64,
    baselines: BTreeMap<String, HashMap<KeyId, Frozen>>,
    hooks: Vec<AnomalyHook>,
    emitter: Option<Arc<Emitter>>,
    /// Created (and calibrated) on the collector's first pass.
    breaker: Option<Breaker>,
}

/// Aggregates what every thread records.
pub(crate) struct Collector {
    pending: Mutex<Vec<Arc<ThreadBuffer>>>,
    state: Mutex<State>,
    contained_panics: AtomicU64,
    busy_ns: AtomicU64,
    started: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Collector {
    pub(crate) fn new() -> Self {
        Collector {
            pending: Mutex::new(Vec::new()),
            state: Mutex::new(State::default()),
            contained_panics: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            started: AtomicBool::new(false),
        }
    }

    /// Adopts a new thread's buffer (called once per thread, from its first recorded call).
    pub(crate) fn register(&self, buffer: Arc<ThreadBuffer>) {
        lock(&self.pending).push(buffer);
    }

    pub(crate) fn start_thread(&'static self, rt: &'static Runtime) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("flamewatch-collector".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    self.pass(rt, false);
                }
            });
        if spawned.is_err() {
            // Without a collector thread, snapshots still drain the buffers on demand.
            self.started.store(false, Ordering::Release);
        }
    }

    pub(crate) fn add_hook(&self, hook: AnomalyHook) {
        lock(&self.state).hooks.push(hook);
    }

    /// Sets where slow calls are written (`None`: nowhere).
    pub(crate) fn set_emitter(&self, emitter: Option<Arc<Emitter>>) {
        lock(&self.state).emitter = emitter;
    }

    /// The output, if one is set.
    pub(crate) fn emitter(&self) -> Option<Arc<Emitter>> {
        lock(&self.state).emitter.clone()
    }

    /// One aggregation pass; panics are contained and counted.
    pub(crate) fn pass(&self, rt: &Runtime, force_regressions: bool) {
        let t0 = quanta::Instant::now();
        let mut state = lock(&self.state);
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.drain(rt, &mut state, force_regressions)
        }));
        if result.is_err() {
            self.contained_panics.fetch_add(1, Ordering::Relaxed);
        }
        drop(state);
        self.busy_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn drain(&self, rt: &Runtime, state: &mut State, force_regressions: bool) {
        let settings = rt.settings.load_full();
        let now = rt.now_ns();
        for buffer in lock(&self.pending).drain(..) {
            state.threads.push(ThreadEntry {
                buffer,
                seen: HashMap::new(),
            });
        }
        let mut threads = std::mem::take(&mut state.threads);
        let mut names: Option<Vec<Arc<str>>> = None;
        for entry in &mut threads {
            let closed = entry.buffer.is_closed();
            let mut events = Vec::new();
            entry.buffer.drain(|e| events.push(e));
            for event in events {
                self.on_event(rt, state, &settings, &mut names, event);
            }
            entry.buffer.for_each_count(|key, total| {
                let seen = entry.seen.entry(key).or_insert(0);
                if total > *seen {
                    let delta = total - *seen;
                    *seen = total;
                    key_state(state, &settings, key, now).stats.record_calls(
                        &settings.window,
                        now,
                        delta,
                    );
                }
            });
            if closed {
                state.retired_dropped += entry.buffer.dropped();
            }
        }
        threads.retain(|t| !t.buffer.is_closed());
        state.threads = threads;
        let breaker = state.breaker.get_or_insert_with(Breaker::new);
        if breaker.due(&settings.breaker, now) {
            let (mut calls, mut sampled) = (0, 0);
            for ks in state.keys.iter().flatten() {
                calls += ks.stats.total().calls();
                sampled += ks.stats.total().sampled();
            }
            let busy = self.busy_ns.load(Ordering::Relaxed);
            if let Some(b) = state.breaker.as_mut() {
                b.evaluate(&settings.breaker, now, calls, sampled, busy);
            }
        }
        if force_regressions || now.saturating_sub(state.last_regression_ns) >= REGRESSION_EVERY_NS
        {
            state.last_regression_ns = now;
            for ks in state.keys.iter_mut().flatten() {
                if ks.dirty || ks.regression.is_some() {
                    ks.stats.advance(&settings.window, now);
                    ks.regression = ks
                        .stats
                        .update_regression(&settings.window, &settings.regression);
                    ks.dirty = false;
                }
            }
        }
    }

    fn on_event(
        &self,
        rt: &Runtime,
        state: &mut State,
        settings: &Settings,
        names: &mut Option<Vec<Arc<str>>>,
        e: Event,
    ) {
        let busy = (e.flags & Event::BUSY != 0).then_some(e.busy_ns);
        let ks = key_state(state, settings, e.key, e.end_ns);
        ks.dirty = true;
        if e.flags & Event::CANCELLED != 0 {
            // A cancelled future did not complete: count it, keep it out of the durations.
            ks.cancelled += 1;
            ks.stats.record_calls(&settings.window, e.end_ns, 1);
            return;
        }
        if e.flags & Event::MEMORY != 0 {
            let m = ks.memory.get_or_insert_with(Memory::default);
            m.alloc.add(e.alloc_bytes as f64);
            m.alloc_max = m.alloc_max.max(e.alloc_bytes);
            m.peak_max = m.peak_max.max(e.peak_bytes);
        }
        let hit = ks.stats.record(
            &settings.window,
            &settings.anomaly,
            e.end_ns,
            e.wall_ns,
            busy,
        );
        ks.anomalies += u64::from(hit.is_some());
        let (calls, mean_ns) = (ks.stats.total().calls(), ks.stats.total().wall().mean());
        let offered = e.wall_ns >= settings.slow_call_ns
            || (e.flags & Event::MEMORY != 0
                && e.alloc_bytes.max(e.peak_bytes) > settings.memory_alert_bytes);
        if !offered && hit.is_none() {
            return;
        }
        let names = names.get_or_insert_with(|| rt.registry.names());
        let name_of = |k: KeyId| {
            names
                .get(k as usize)
                .map_or_else(|| format!("#{k}"), |n| n.to_string())
        };
        if offered && let Some(emitter) = &state.emitter {
            let unix = Duration::from_secs_f64(rt.unix_at(e.end_ns).max(0.0));
            let ended = std::time::UNIX_EPOCH + unix;
            let mut record = Record::new(name_of(e.key), Duration::from_nanos(e.wall_ns), ended);
            let mut metadata = serde_json::Map::new();
            metadata.insert("calls".into(), calls.into());
            metadata.insert("mean_ms".into(), (mean_ns / 1e6).into());
            metadata.insert("anomaly".into(), hit.is_some().into());
            if let Some(busy) = busy {
                metadata.insert("busy_ms".into(), (busy as f64 / 1e6).into());
            }
            record.metadata = Some(metadata);
            if e.flags & Event::MEMORY != 0 {
                record.memory_bytes = Some(e.alloc_bytes);
                record.peak_bytes = Some(e.peak_bytes);
            }
            let mut stack: Vec<String> = e
                .parents
                .iter()
                .take_while(|&&k| k != NO_KEY)
                .map(|&k| name_of(k))
                .collect();
            stack.reverse();
            stack.push(record.name.clone());
            record.stack = Some(stack);
            record.request = e.request.as_deref().map(crate::Request::context);
            emitter.emit(&record);
        }
        let Some(hit) = hit else { return };
        let anomaly = Anomaly {
            name: name_of(e.key),
            duration_ms: hit.duration_ns as f64 / 1e6,
            mean_ms: hit.mean_ns / 1e6,
            stddev_ms: hit.stddev_ns / 1e6,
            threshold_ms: hit.threshold_ns / 1e6,
            sigmas: hit.sigmas,
            timestamp: rt.unix_at(e.end_ns),
            stack: e
                .parents
                .iter()
                .take_while(|&&k| k != NO_KEY)
                .map(|&k| name_of(k))
                .collect(),
            request: e.request.as_deref().map(crate::Request::context),
        };
        state.anomalies_total += 1;
        for hook in &state.hooks {
            if catch_unwind(AssertUnwindSafe(|| hook(&anomaly))).is_err() {
                self.contained_panics.fetch_add(1, Ordering::Relaxed);
            }
        }
        if state.anomalies.len() >= settings.max_anomalies.max(1) {
            state.anomalies.pop_front();
        }
        state.anomalies.push_back(anomaly);
    }

    /// Drains everything recorded so far and builds a snapshot.
    pub(crate) fn snapshot(&self, rt: &Runtime) -> Snapshot {
        self.pass(rt, true);
        let settings = rt.settings.load_full();
        let names = rt.registry.names();
        let state = lock(&self.state);
        let name_of = |k: usize| {
            names
                .get(k)
                .map_or_else(|| format!("#{k}"), |n| n.to_string())
        };
        let mut functions = Vec::new();
        let mut regressions = Vec::new();
        let (mut calls, mut sampled, mut calibrating, mut bytes) = (0, 0, 0, 0);
        for (id, ks) in state.keys.iter().enumerate() {
            let Some(ks) = ks else { continue };
            let stats = ks.stats.total().snapshot();
            calls += stats.calls;
            sampled += stats.sampled;
            bytes += ks.stats.heap_bytes();
            let calibrated = stats.sampled >= settings.anomaly.min_samples;
            calibrating += usize::from(!calibrated);
            if let Some(c) = ks.regression.filter(|c| c.regressed) {
                regressions.push(Regression {
                    name: name_of(id),
                    change_pct: c.change_pct,
                    baseline_mean_ms: c.baseline_mean_ns / 1e6,
                    recent_mean_ms: c.recent_mean_ns / 1e6,
                    baseline_samples: c.baseline_samples,
                    recent_samples: c.recent_samples,
                    p_value: c.p_value,
                    confidence: c.confidence,
                    severity: c.severity,
                });
            }
            functions.push(FunctionStats {
                name: name_of(id),
                recent_p95_ns: ks.stats.recent_quantile(0.95),
                calibrated,
                cancelled: ks.cancelled,
                anomalies: ks.anomalies,
                memory: ks.memory.as_ref().map(|m| MemoryStats {
                    alloc_bytes_mean: m.alloc.mean(),
                    alloc_bytes_max: m.alloc_max,
                    peak_bytes_max: m.peak_max,
                }),
                stats,
            });
        }
        functions.sort_by(|a, b| b.stats.mean_ns.total_cmp(&a.stats.mean_ns));
        regressions.sort_by(|a, b| b.change_pct.total_cmp(&a.change_pct));
        let mut by_severity = BTreeMap::new();
        for r in &regressions {
            *by_severity.entry(r.severity).or_insert(0) += 1;
        }
        let dropped: u64 = state.retired_dropped
            + state
                .threads
                .iter()
                .map(|t| t.buffer.dropped())
                .sum::<u64>();
        let now = rt.now_ns();
        Snapshot {
            version: 1,
            session: Session {
                enabled: settings.enabled,
                mode: settings.mode,
                level: settings.level,
                sample_rate: settings.sample_rate,
                effective_sample_rate: if calls > 0 {
                    sampled as f64 / calls as f64
                } else {
                    0.0
                },
                started_at: rt.started_unix(),
                uptime_s: now as f64 / 1e9,
                calls,
                sampled,
                functions_profiled: functions.iter().filter(|f| f.stats.calls > 0).count(),
                calibrating,
                anomalies_total: state.anomalies_total,
                regressions_by_severity: by_severity,
            },
            functions,
            anomalies: state.anomalies.iter().cloned().collect(),
            regressions,
            health: Health {
                dropped_events: dropped,
                dropped_records: state.emitter.as_ref().map_or(0, |e| e.dropped()),
                breaker: state.breaker.as_ref().map(|b| b.status(&settings.breaker)),
                contained_panics: self.contained_panics.load(Ordering::Relaxed),
                keys: names.len(),
                keys_over_cap: rt.registry.overflowed(),
                threads: state.threads.len(),
                collector_busy_ns: self.busy_ns.load(Ordering::Relaxed),
                stats_bytes: bytes,
            },
        }
    }

    /// Forgets every statistic, anomaly and regression (keys stay registered).
    pub(crate) fn clear(&self, rt: &Runtime) {
        self.pass(rt, false);
        let mut state = lock(&self.state);
        state.keys.clear();
        state.anomalies.clear();
        state.anomalies_total = 0;
    }

    /// Freezes the calibrated distribution of every key under `name`.
    pub(crate) fn freeze_baseline(&self, rt: &Runtime, name: &str) -> usize {
        self.pass(rt, false);
        let mut state = lock(&self.state);
        let frozen: HashMap<KeyId, Frozen> = state
            .keys
            .iter()
            .enumerate()
            .filter_map(|(id, ks)| Some((id as KeyId, ks.as_ref()?.stats.freeze()?)))
            .collect();
        let n = frozen.len();
        state.baselines.insert(name.to_owned(), frozen);
        n
    }

    /// Names of frozen baselines.
    pub(crate) fn baseline_names(&self) -> Vec<String> {
        lock(&self.state).baselines.keys().cloned().collect()
    }

    /// Drops a frozen baseline; returns whether it existed.
    pub(crate) fn drop_baseline(&self, name: &str) -> bool {
        lock(&self.state).baselines.remove(name).is_some()
    }

    /// Every key's calls since the baseline was frozen compared with it (falling back to the
    /// recent windows if data was cleared since); `None` if no such baseline. Keys still
    /// calibrating on either side are left out.
    pub(crate) fn compare_to_baseline(
        &self,
        rt: &Runtime,
        name: &str,
    ) -> Option<Vec<(String, Comparison)>> {
        self.pass(rt, false);
        let settings = rt.settings.load_full();
        let names = rt.registry.names();
        let mut state = lock(&self.state);
        let now = rt.now_ns();
        let frozen = state.baselines.get(name)?.clone();
        let mut out = Vec::new();
        for (id, ks) in state.keys.iter_mut().enumerate() {
            let (Some(ks), Some(base)) = (ks.as_mut(), frozen.get(&(id as KeyId))) else {
                continue;
            };
            ks.stats.advance(&settings.window, now);
            if let Some(c) =
                ks.stats
                    .regression_against(&settings.window, base, &settings.regression)
            {
                out.push((
                    names
                        .get(id)
                        .map_or_else(|| format!("#{id}"), |n| n.to_string()),
                    c,
                ));
            }
        }
        out.sort_by(|a, b| b.1.change_pct.total_cmp(&a.1.change_pct));
        Some(out)
    }
}

fn key_state<'a>(
    state: &'a mut State,
    settings: &Settings,
    key: KeyId,
    now: u64,
) -> &'a mut KeyState {
    let i = key as usize;
    if state.keys.len() <= i {
        state.keys.resize_with(i + 1, || None);
    }
    state.keys[i].get_or_insert_with(|| KeyState {
        stats: KeyStats::new(&settings.window, now),
        cancelled: 0,
        anomalies: 0,
        memory: None,
        regression: None,
        dirty: false,
    })
}
