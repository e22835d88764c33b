//! Where finished requests are aggregated, off the request path.
//!
//! A request that completes becomes a [`RequestEvent`] in the ring of the thread that finished
//! it (one bounded SPSC ring per thread and recorder: no lock, no allocation for user ids up
//! to 32 bytes). The aggregate — per endpoint a [`KeyStats`] window ring plus one latency cell
//! per `(status, user)` — is updated by whoever holds its lock and drains the rings: the
//! recorder's background thread every 25 ms (and as soon as a ring is half full), every reader
//! before it reads, and — only when its ring is full, or there is no background thread — a
//! request thread (with `try_lock`, so a request never waits).

use crate::UserId;
use crate::record::{CaptureEvent, Detection, Endpoint, FastMap, RequestAnomaly, unix_now};
use flamewatch::OTHER;
use flamewatch_core::ring::Ring;
use flamewatch_core::welford::Welford;
use flamewatch_core::window::KeyStats;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Finished requests a thread can hold between two drains (64 bytes each: 128 KiB per thread
/// that serves requests). At half full the thread wakes the drain thread; at full it drains
/// by itself, so the ring only overflows when another thread is draining at that moment.
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

impl Cell {
    fn add(&mut self, wall_ns: u64) {
        self.wall.add(wall_ns as f64);
        self.max_ns = self.max_ns.max(wall_ns);
    }

    fn merge(&mut self, other: &Cell) {
        self.wall.merge(&other.wall);
        self.max_ns = self.max_ns.max(other.max_ns);
    }
}

/// One user's latencies by status (a handful of statuses: a short list beats a map).
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub(crate) by_status: Vec<(u16, Cell)>,
}

impl Row {
    fn add(&mut self, status: u16, wall_ns: u64) {
        match self.by_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, c)) => c.add(wall_ns),
            None => {
                let mut c = Cell::default();
                c.add(wall_ns);
                self.by_status.push((status, c));
            }
        }
    }

    fn merge(&mut self, other: &Row) {
        for (status, cell) in &other.by_status {
            match self.by_status.iter_mut().find(|(s, _)| s == status) {
                Some((_, c)) => c.merge(cell),
                None => self.by_status.push((*status, *cell)),
            }
        }
    }
}

/// Statistics of one endpoint.
#[derive(Debug)]
pub(crate) struct EndpointStats {
    pub(crate) key: KeyStats,
    /// Requests without a user id (`_none`).
    anonymous: Row,
    /// Users beyond the cap, and evicted ones (`_other`).
    other: Row,
    /// Users with rows of their own, with their Space-Saving counts.
    users: FastMap<Box<str>, (u64, Row)>,
}

impl EndpointStats {
    pub(crate) fn new(key: KeyStats) -> Self {
        EndpointStats {
            key,
            anonymous: Row::default(),
            other: Row::default(),
            users: FastMap::default(),
        }
    }

    /// Every row with its user name (`_none`, `_other`, then the users with rows).
    pub(crate) fn rows(&self) -> impl Iterator<Item = (&str, &Row)> {
        [
            (crate::record::NO_USER, &self.anonymous),
            (OTHER, &self.other),
        ]
        .into_iter()
        .chain(self.users.iter().map(|(u, (_, row))| (&**u, row)))
    }

    /// Adds a request of `user` (one hash lookup in the common case). Users are kept with the
    /// Space-Saving algorithm: while there is room every user gets a row; at the cap a
    /// newcomer takes the row of the least-counted user (whose latencies fold into `_other`)
    /// with that count plus one. A user making more than `1/max` of the requests therefore
    /// always keeps its row (top-K), while one-off users churn at the bottom.
    fn add(&mut self, user: Option<&str>, status: u16, wall_ns: u64, max: usize) {
        let Some(user) = user else {
            self.anonymous.add(status, wall_ns);
            return;
        };
        if let Some((count, row)) = self.users.get_mut(user) {
            *count += 1;
            row.add(status, wall_ns);
            return;
        }
        if max == 0 || user == OTHER || user == crate::record::NO_USER {
            self.other.add(status, wall_ns);
            return;
        }
        let count = if self.users.len() < max {
            1
        } else {
            let Some((victim, min)) = self
                .users
                .iter()
                .min_by_key(|(_, (count, _))| *count)
                .map(|(name, (count, _))| (name.clone(), *count))
            else {
                self.other.add(status, wall_ns);
                return;
            };
            if let Some((_, evicted)) = self.users.remove(&victim) {
                self.other.merge(&evicted);
            }
            min + 1
        };
        let mut row = Row::default();
        row.add(status, wall_ns);
        self.users.insert(user.into(), (count, row));
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
        let user = e.user.as_ref().map(UserId::as_str);
        let stats = &mut self.stats[e.index as usize];
        let hit = stats
            .key
            .record(&d.window, &d.anomaly, e.end_ns, e.wall_ns, None);
        stats.add(user, e.status, e.wall_ns, limits.max_users);
        let key = &stats.key;
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
            user: user.unwrap_or(crate::record::NO_USER).to_string(),
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
