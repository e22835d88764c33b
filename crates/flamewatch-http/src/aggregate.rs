//! Where finished requests are aggregated, off the request path.
//!
//! A request that completes becomes a [`RequestEvent`] in the ring of the thread that finished
//! it (one bounded SPSC ring per thread and recorder: no lock, no allocation for user ids up
//! to 32 bytes). The aggregate — per endpoint a [`KeyStats`] window ring plus one latency cell
//! per `(status, user)` — is updated by whoever holds its lock and drains the rings: the
//! recorder's background thread every 25 ms, every reader before it reads, and a request
//! thread whose ring is half full (with `try_lock`, so a request never waits).

use crate::UserId;
use crate::record::{CaptureEvent, Detection, Endpoint, FastMap, RequestAnomaly, unix_now};
use flamewatch::OTHER;
use flamewatch_core::ring::Ring;
use flamewatch_core::welford::Welford;
use flamewatch_core::window::KeyStats;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Finished requests a thread can hold between two drains (64 bytes each: 128 KiB per thread
/// that serves requests). A thread drains by itself at half full, so the ring only overflows
/// when another thread is draining at that moment.
pub(crate) const RING_CAPACITY: usize = 2048;

/// One finished request on its way to the aggregate.
pub(crate) struct RequestEvent {
    /// The recorder epoch the endpoint index belongs to (events from before a clear are
    /// discarded).
    pub(crate) epoch: u64,
    pub(crate) index: u32,
    pub(crate) status: u16,
    pub(crate) sampled: bool,
    pub(crate) end_ns: u64,
    pub(crate) wall_ns: u64,
    pub(crate) user: Option<UserId>,
}

/// The ring of one thread, for one recorder.
#[derive(Debug)]
pub(crate) struct ThreadRing {
    pub(crate) ring: Ring<RequestEvent>,
    /// Set when the thread exits; the ring is dropped once drained.
    pub(crate) closed: AtomicBool,
}

/// This thread's rings, by recorder id; marked closed when the thread exits.
struct Rings(RefCell<Vec<(u64, Arc<ThreadRing>)>>);

impl Drop for Rings {
    fn drop(&mut self) {
        for (_, r) in self.0.get_mut().iter() {
            r.closed.store(true, Ordering::Release);
        }
    }
}

thread_local! {
    static RINGS: Rings = const { Rings(RefCell::new(Vec::new())) };
}

/// Runs `f` with this thread's ring for recorder `uid`, creating it (and handing it to
/// `register`) on first use. `None` during thread teardown.
pub(crate) fn with_ring<R>(
    uid: u64,
    register: impl FnOnce(Arc<ThreadRing>),
    f: impl FnOnce(&ThreadRing) -> R,
) -> Option<R> {
    RINGS
        .try_with(|rings| {
            {
                let list = rings.0.try_borrow().ok()?;
                if let Some((_, r)) = list.iter().find(|(id, _)| *id == uid) {
                    return Some(f(r));
                }
            }
            let r = Arc::new(ThreadRing {
                ring: Ring::new(RING_CAPACITY),
                closed: AtomicBool::new(false),
            });
            rings.0.try_borrow_mut().ok()?.push((uid, r.clone()));
            register(r.clone());
            Some(f(&r))
        })
        .ok()
        .flatten()
}

/// Latencies of one `(endpoint, status, user)` cell.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cell {
    pub(crate) wall: Welford,
    pub(crate) max_ns: u64,
}

/// Statistics of one endpoint.
#[derive(Debug)]
pub(crate) struct EndpointStats {
    pub(crate) key: KeyStats,
    /// Status → user → measured latencies.
    pub(crate) cells: BTreeMap<u16, FastMap<Box<str>, Cell>>,
    /// Users with rows of their own, with their Space-Saving counts.
    users: FastMap<Box<str>, u64>,
}

impl EndpointStats {
    pub(crate) fn new(key: KeyStats) -> Self {
        EndpointStats {
            key,
            cells: BTreeMap::new(),
            users: FastMap::default(),
        }
    }
}

/// Everything aggregated, under the recorder's aggregate lock.
#[derive(Debug, Default)]
pub(crate) struct Aggregate {
    /// By endpoint index (current epoch); grown as endpoints report.
    pub(crate) stats: Vec<EndpointStats>,
    pub(crate) anomalies: VecDeque<RequestAnomaly>,
    pub(crate) captures: VecDeque<CaptureEvent>,
}

/// Requests between two P95 checks of one endpoint for triggered capture.
const TRIGGER_CHECK_EVERY: u64 = 16;
/// Capture events kept for reading back.
const MAX_CAPTURE_EVENTS: usize = 100;

/// Limits the aggregate applies.
pub(crate) struct Limits {
    pub(crate) max_users: usize,
    pub(crate) max_anomalies: usize,
    pub(crate) trigger: Option<crate::record::TriggerConfig>,
}

impl Aggregate {
    /// Adds one finished request of `endpoint` (whose statistics exist); returns whether it
    /// was an anomaly.
    pub(crate) fn apply(
        &mut self,
        endpoint: &Endpoint,
        d: &Detection,
        limits: &Limits,
        e: &RequestEvent,
    ) -> bool {
        let user = e
            .user
            .as_ref()
            .map_or(crate::record::NO_USER, UserId::as_str);
        let EndpointStats { key, cells, users } = &mut self.stats[e.index as usize];
        let hit = key.record(&d.window, &d.anomaly, e.end_ns, e.wall_ns, None);
        let name = admit_user(users, cells, user, limits.max_users);
        let by_user = cells.entry(e.status).or_default();
        let cell = match by_user.get_mut(name) {
            Some(c) => c,
            None => by_user.entry(name.into()).or_default(),
        };
        cell.wall.add(e.wall_ns as f64);
        cell.max_ns = cell.max_ns.max(e.wall_ns);
        if let Some(t) = limits.trigger
            && key.total().calls().is_multiple_of(TRIGGER_CHECK_EVERY)
            && e.end_ns >= endpoint.cooldown_until_ns.load(Ordering::Relaxed)
            && let Some(p95) = key.recent_quantile(0.95).filter(|&p| p >= t.p95_ns)
        {
            endpoint
                .capture_until_ns
                .store(e.end_ns + t.duration_ns, Ordering::Relaxed);
            endpoint
                .cooldown_until_ns
                .store(e.end_ns + t.duration_ns + t.cooldown_ns, Ordering::Relaxed);
            if self.captures.len() >= MAX_CAPTURE_EVENTS {
                self.captures.pop_front();
            }
            self.captures.push_back(CaptureEvent {
                endpoint: endpoint.name(),
                p95_ms: p95 as f64 / 1e6,
                threshold_ms: t.p95_ns as f64 / 1e6,
                started_at: unix_now(),
                duration_s: t.duration_ns as f64 / 1e9,
                cooldown_s: t.cooldown_ns as f64 / 1e9,
            });
        }
        let Some(hit) = hit else { return false };
        if self.anomalies.len() >= limits.max_anomalies.max(1) {
            self.anomalies.pop_front();
        }
        self.anomalies.push_back(RequestAnomaly {
            endpoint: endpoint.name(),
            method: endpoint.method.to_string(),
            route: endpoint.route.to_string(),
            status: e.status,
            user: user.to_string(),
            sampled: e.sampled,
            duration_ms: hit.duration_ns as f64 / 1e6,
            mean_ms: hit.mean_ns / 1e6,
            stddev_ms: hit.stddev_ns / 1e6,
            threshold_ms: hit.threshold_ns / 1e6,
            sigmas: hit.sigmas,
            timestamp: unix_now(),
        });
        true
    }
}

/// The row `user`'s request goes to: its own, or `_other`. Users are kept with the
/// Space-Saving algorithm: while there is room every user gets a row; at the cap a newcomer
/// takes the row of the least-counted user (whose latencies fold into `_other`) with that
/// count plus one. A user making more than `1/max` of the requests therefore always keeps
/// its row (top-K), while one-off users churn at the bottom.
fn admit_user<'a>(
    users: &mut FastMap<Box<str>, u64>,
    cells: &mut BTreeMap<u16, FastMap<Box<str>, Cell>>,
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
