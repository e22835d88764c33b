//! Per-key statistics over time: lifetime totals plus a bounded ring of time windows.
//!
//! Windows are aligned to multiples of [`WindowConfig::window_ns`] (one minute by default).
//! Each closed window keeps only a Welford summary and its call count (48 bytes), and at most
//! [`WindowConfig::windows`] of them are kept, so memory per key is bounded forever. Quantile
//! sketches are kept for the lifetime, the current window and the previous one (the "recent"
//! percentiles used for triggers).
//!
//! From the ring the detectors get three distributions:
//! * **calibrated** — every window in the ring (the key's normal behaviour; anomalies are
//!   judged against the recent windows once they are calibrated, else against this);
//! * **recent** — the newest `recent_windows` windows (current included);
//! * **baseline** — the ring's windows older than the recent ones (the calibrated history).
//!
//! When a regression is detected, the baseline it was detected against is **pinned**: as the
//! slow windows age into the history they would otherwise raise the baseline and make an
//! ongoing regression fade away unseen. The pin is released when the recent distribution
//! comes back within half the threshold, or by [`KeyStats::reset_baseline`].

use crate::detect::{
    AnomalyConfig, AnomalyHit, Comparison, RegressionConfig, check_anomaly, compare,
};
use crate::sketch::Sketch;
use crate::stats::DurationStats;
use crate::welford::Welford;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Shape of the window ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowConfig {
    /// Length of one window in nanoseconds. Default 60 s.
    pub window_ns: u64,
    /// Windows kept in the ring, current included. Default 30.
    pub windows: usize,
    /// Newest windows that form the "recent" distribution, current included. Default 2.
    pub recent_windows: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            window_ns: 60_000_000_000,
            windows: 30,
            recent_windows: 2,
        }
    }
}

impl WindowConfig {
    fn index(&self, now_ns: u64) -> u64 {
        now_ns / self.window_ns.max(1)
    }
}

/// A key frozen as (part of) a named baseline: see [`KeyStats::freeze`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frozen {
    /// The calibrated distribution when frozen: what the key is compared against.
    pub calibrated: Welford,
    /// Lifetime totals when frozen: subtracted to find the calls since.
    pub lifetime: Welford,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct WindowSummary {
    index: u64,
    calls: u64,
    wall: Welford,
}

/// Statistics of one key: totals, a window ring, and recent quantile sketches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyStats {
    total: DurationStats,
    current: WindowSummary,
    closed: VecDeque<WindowSummary>,
    /// Merge of every closed window, refreshed at rotation.
    closed_merged: Welford,
    current_sketch: Sketch,
    previous_sketch: Sketch,
    /// The baseline a detected regression was measured against.
    pinned: Option<Welford>,
}

impl KeyStats {
    /// Empty statistics whose current window contains `now_ns`.
    pub fn new(cfg: &WindowConfig, now_ns: u64) -> Self {
        KeyStats {
            current: WindowSummary {
                index: cfg.index(now_ns),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Closes windows that ended before `now_ns`. Called by every write; call it before reads
    /// of an idle key so its recent view is not stale.
    pub fn advance(&mut self, cfg: &WindowConfig, now_ns: u64) {
        let index = cfg.index(now_ns);
        if index <= self.current.index {
            return;
        }
        let closing = std::mem::take(&mut self.current);
        if closing.calls > 0 {
            self.closed.push_back(closing);
        }
        self.previous_sketch = if index == closing.index + 1 {
            std::mem::take(&mut self.current_sketch)
        } else {
            self.current_sketch = Sketch::default();
            Sketch::default()
        };
        self.current.index = index;
        let oldest_kept = (index + 1).saturating_sub(cfg.windows.max(1) as u64);
        while self.closed.front().is_some_and(|w| w.index < oldest_kept) {
            self.closed.pop_front();
        }
        self.closed_merged = Welford::default();
        for w in &self.closed {
            self.closed_merged.merge(&w.wall);
        }
    }

    /// Counts `n` calls that were not measured.
    pub fn record_calls(&mut self, cfg: &WindowConfig, now_ns: u64, n: u64) {
        self.advance(cfg, now_ns);
        self.total.record_calls(n);
        self.current.calls += n;
    }

    /// Records one measured call; returns an anomaly if it was one, judged against the
    /// calibrated distribution before this call is added to it.
    pub fn record(
        &mut self,
        cfg: &WindowConfig,
        anomaly: &AnomalyConfig,
        now_ns: u64,
        wall_ns: u64,
        busy_ns: Option<u64>,
    ) -> Option<AnomalyHit> {
        self.advance(cfg, now_ns);
        let hit = check_anomaly(&self.anomaly_reference(cfg, anomaly), wall_ns, anomaly);
        self.total.record(wall_ns, busy_ns);
        self.current.calls += 1;
        self.current.wall.add(wall_ns as f64);
        self.current_sketch.add(wall_ns);
        hit
    }

    /// The distribution an execution is judged against: the recent windows once they hold
    /// `min_samples` (so after a shift — which the regression detector reports — new normal
    /// calls stop being flagged within two windows), else every window in the ring.
    fn anomaly_reference(&self, cfg: &WindowConfig, anomaly: &AnomalyConfig) -> Welford {
        let recent = self.recent(cfg);
        if recent.count() >= anomaly.min_samples {
            recent
        } else {
            self.calibrated()
        }
    }

    /// Lifetime statistics.
    pub fn total(&self) -> &DurationStats {
        &self.total
    }

    /// Every window in the ring, current included.
    pub fn calibrated(&self) -> Welford {
        let mut w = self.closed_merged;
        w.merge(&self.current.wall);
        w
    }

    fn is_recent(&self, cfg: &WindowConfig, w: &WindowSummary) -> bool {
        w.index + cfg.recent_windows.max(1) as u64 > self.current.index
    }

    /// The newest `recent_windows` windows, current included.
    pub fn recent(&self, cfg: &WindowConfig) -> Welford {
        let mut w = self.current.wall;
        for c in self
            .closed
            .iter()
            .rev()
            .take_while(|c| self.is_recent(cfg, c))
        {
            w.merge(&c.wall);
        }
        w
    }

    /// The ring's windows older than the recent ones.
    pub fn baseline(&self, cfg: &WindowConfig) -> Welford {
        let mut w = Welford::default();
        for c in self.closed.iter().take_while(|c| !self.is_recent(cfg, c)) {
            w.merge(&c.wall);
        }
        w
    }

    /// Calls counted in the current window (sampled or not).
    pub fn current_window_calls(&self) -> u64 {
        self.current.calls
    }

    /// Recent quantile (current and previous window), e.g. the P95 used by triggers.
    pub fn recent_quantile(&self, q: f64) -> Option<u64> {
        let mut s = self.previous_sketch.clone();
        s.merge(&self.current_sketch);
        s.quantile(q)
    }

    /// Recent vs the calibrated history (or the pinned baseline of an ongoing regression);
    /// `None` while calibrating. Read-only: see [`KeyStats::update_regression`].
    pub fn regression(&self, cfg: &WindowConfig, reg: &RegressionConfig) -> Option<Comparison> {
        let baseline = self.pinned.unwrap_or_else(|| self.baseline(cfg));
        compare(&baseline, &self.recent(cfg), reg)
    }

    /// Like [`KeyStats::regression`], and pins the baseline when a regression starts or
    /// releases it when the key has recovered. Detectors call this periodically.
    pub fn update_regression(
        &mut self,
        cfg: &WindowConfig,
        reg: &RegressionConfig,
    ) -> Option<Comparison> {
        let baseline = self.pinned.unwrap_or_else(|| self.baseline(cfg));
        let c = compare(&baseline, &self.recent(cfg), reg)?;
        if c.regressed {
            self.pinned.get_or_insert(baseline);
        } else if c.change_pct < reg.threshold_pct / 2.0 {
            self.pinned = None;
        }
        Some(c)
    }

    /// Whether an ongoing regression holds the baseline pinned.
    pub fn baseline_pinned(&self) -> bool {
        self.pinned.is_some()
    }

    /// Accepts the current behaviour as normal: drops the pinned baseline and the history, so
    /// calibration starts again from the current window.
    pub fn reset_baseline(&mut self) {
        self.pinned = None;
        self.closed.clear();
        self.closed_merged = Welford::default();
    }

    /// The calls since `frozen` was taken (see [`KeyStats::since`]) against its calibrated
    /// distribution.
    pub fn regression_against(
        &self,
        cfg: &WindowConfig,
        frozen: &Frozen,
        reg: &RegressionConfig,
    ) -> Option<Comparison> {
        compare(&frozen.calibrated, &self.since(cfg, frozen), reg)
    }

    /// Freezes this key as a named baseline would: its calibrated distribution and its
    /// lifetime totals now. `None` while it has no measured call.
    pub fn freeze(&self) -> Option<Frozen> {
        let calibrated = self.calibrated();
        (calibrated.count() > 0).then(|| Frozen {
            calibrated,
            lifetime: *self.total.wall(),
        })
    }

    /// Exactly the calls measured since `frozen` was taken (lifetime now minus lifetime then),
    /// so a deploy compared soon after the freeze is not diluted by the calls before it; the
    /// recent windows when the statistics were cleared since.
    pub fn since(&self, cfg: &WindowConfig, frozen: &Frozen) -> Welford {
        self.total
            .wall()
            .subtract(&frozen.lifetime)
            .unwrap_or_else(|| self.recent(cfg))
    }

    /// Approximate heap bytes held by this key.
    pub fn heap_bytes(&self) -> usize {
        self.total.heap_bytes()
            + self.current_sketch.heap_bytes()
            + self.previous_sketch.heap_bytes()
            + self.closed.capacity() * std::mem::size_of::<WindowSummary>()
    }
}
