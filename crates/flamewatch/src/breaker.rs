//! The circuit breaker: measures the profiler's own overhead and backs off deep tracing when
//! it exceeds `overhead.max_pct` of the process's CPU time.
//!
//! Overhead is estimated every evaluation period from what the profiler did in it: unsampled
//! calls × the cost of the counting path, sampled calls × the cost of the recording path
//! (both calibrated once at start-up on the collector thread), plus the collector's measured
//! busy time; it is divided by the process CPU time of the same period
//! (`CLOCK_PROCESS_CPUTIME_ID`). After `consecutive` periods over the limit the breaker
//! **opens**: no call is sampled any more (calls are still counted, endpoint statistics go on).
//! After `cooldown` it goes **half-open** and samples again; one period over the limit opens it
//! again with twice the cooldown (up to 16×), one period under closes it.
//!
//! A period only counts as over the limit when the estimated cost is also large in absolute
//! terms (at least [`BreakerSettings::min_cost_per_s`] of CPU per second, 10 ms — 1 % of one
//! core — by default): a mostly idle service spends almost no CPU, so the collector's small
//! fixed cost (about 1 ms per second in a debug build) is a large share of it without harming
//! anything, and opening the breaker would only lose samples without removing that cost.

use crate::local::{Event, ThreadBuffer};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether the breaker forbids sampling. Read by the sampling decision.
pub(crate) static OPEN: AtomicBool = AtomicBool::new(false);

/// Circuit-breaker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BreakerSettings {
    /// Overhead limit in percent of process CPU time; 0 disables the breaker. Default 2.
    pub max_pct: f64,
    /// Consecutive periods over the limit before opening. Default 3.
    pub consecutive: u32,
    /// Evaluation period. Default 1 s.
    pub period: Duration,
    /// First cooldown before retrying. Default 30 s.
    pub cooldown: Duration,
    /// Estimated overhead below this much CPU per second is never judged excessive, whatever
    /// its percentage (an idle process). Default 10 ms (1 % of one core).
    pub min_cost_per_s: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            max_pct: 2.0,
            consecutive: 3,
            period: Duration::from_secs(1),
            cooldown: Duration::from_secs(30),
            min_cost_per_s: Duration::from_millis(10),
        }
    }
}

impl BreakerSettings {
    /// A breaker that never opens (`overhead.max_pct: 0`).
    pub fn off() -> Self {
        BreakerSettings {
            max_pct: 0.0,
            ..BreakerSettings::default()
        }
    }
}

/// The breaker's state, as reported in snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Normal operation.
    Closed,
    /// Deep tracing stopped until the cooldown ends.
    Open,
    /// Tracing again on trial after a cooldown.
    HalfOpen,
}

/// What the breaker reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BreakerStatus {
    /// Current state.
    pub state: BreakerState,
    /// Estimated overhead of the last evaluation period, in percent of process CPU time.
    pub overhead_pct: f64,
    /// The configured limit.
    pub max_pct: f64,
    /// Times the breaker has opened.
    pub trips: u64,
    /// Calibrated cost of an unsampled (counted) call, in nanoseconds.
    pub call_cost_ns: f64,
    /// Calibrated cost of a sampled (recorded) call, in nanoseconds.
    pub sample_cost_ns: f64,
}

/// Breaker bookkeeping, owned by the collector.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: BreakerState,
    over: u32,
    trips: u64,
    overhead_pct: f64,
    cooldown_factor: u32,
    /// When the current period started (runtime ns) and the counters then.
    period_start_ns: u64,
    start_cpu_ns: u64,
    start_calls: u64,
    start_sampled: u64,
    start_busy_ns: u64,
    reopen_at_ns: u64,
    call_cost_ns: f64,
    sample_cost_ns: f64,
}

/// CPU time consumed by the whole process, in nanoseconds.
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Measures the per-call cost of the counting and recording paths on a scratch buffer.
fn calibrate() -> (f64, f64) {
    const N: u64 = 20_000;
    let scratch = ThreadBuffer::new();
    let t = quanta::Instant::now();
    for i in 0..N {
        scratch.count(std::hint::black_box((i % 7) as u32));
    }
    let call = t.elapsed().as_nanos() as f64 / N as f64;
    let t = quanta::Instant::now();
    for i in 0..N {
        let start = quanta::Instant::now();
        let end = quanta::Instant::now();
        let wall = end.saturating_duration_since(start).as_nanos() as u64;
        scratch.push(Event::new(std::hint::black_box((i % 7) as u32), wall, wall));
        if i % 1024 == 1023 {
            scratch.drain(|e| {
                std::hint::black_box(e);
            });
        }
    }
    let sample = t.elapsed().as_nanos() as f64 / N as f64;
    (call.max(0.5), sample.max(call))
}

/// The overhead of one period in percent of the process CPU time, and whether it is over the
/// limit: both the share and the absolute cost (against [`BreakerSettings::min_cost_per_s`]).
fn judge(s: &BreakerSettings, cost_ns: f64, cpu_ns: u64, elapsed_ns: u64) -> (f64, bool) {
    let pct = if cpu_ns > 0 {
        cost_ns / cpu_ns as f64 * 100.0
    } else {
        0.0
    };
    let floor_ns = s.min_cost_per_s.as_nanos() as f64 * (elapsed_ns as f64 / 1e9);
    (pct, pct > s.max_pct && cost_ns >= floor_ns)
}

impl Breaker {
    pub(crate) fn new() -> Self {
        let (call_cost_ns, sample_cost_ns) = calibrate();
        Breaker {
            state: BreakerState::Closed,
            over: 0,
            trips: 0,
            overhead_pct: 0.0,
            cooldown_factor: 1,
            period_start_ns: 0,
            start_cpu_ns: process_cpu_ns(),
            start_calls: 0,
            start_sampled: 0,
            start_busy_ns: 0,
            reopen_at_ns: 0,
            call_cost_ns,
            sample_cost_ns,
        }
    }

    /// Whether an evaluation period has elapsed at `now_ns`.
    pub(crate) fn due(&self, s: &BreakerSettings, now_ns: u64) -> bool {
        now_ns.saturating_sub(self.period_start_ns) >= (s.period.as_nanos() as u64).max(1)
    }

    /// Evaluates the period ending `now_ns` given lifetime totals of calls, sampled calls and
    /// collector busy time. Does nothing until a period has elapsed.
    pub(crate) fn evaluate(
        &mut self,
        s: &BreakerSettings,
        now_ns: u64,
        calls: u64,
        sampled: u64,
        busy_ns: u64,
    ) {
        if s.max_pct <= 0.0 {
            self.state = BreakerState::Closed;
            OPEN.store(false, Ordering::Relaxed);
            return;
        }
        if !self.due(s, now_ns) {
            return;
        }
        let cpu = process_cpu_ns();
        let d_cpu = cpu.saturating_sub(self.start_cpu_ns);
        let d_sampled = sampled.saturating_sub(self.start_sampled);
        let d_unsampled = calls
            .saturating_sub(self.start_calls)
            .saturating_sub(d_sampled);
        let d_busy = busy_ns.saturating_sub(self.start_busy_ns);
        let cost = d_unsampled as f64 * self.call_cost_ns
            + d_sampled as f64 * self.sample_cost_ns
            + d_busy as f64;
        let elapsed_ns = now_ns.saturating_sub(self.period_start_ns);
        let over;
        (self.overhead_pct, over) = judge(s, cost, d_cpu, elapsed_ns);
        (self.period_start_ns, self.start_cpu_ns) = (now_ns, cpu);
        (self.start_calls, self.start_sampled, self.start_busy_ns) = (calls, sampled, busy_ns);
        match self.state {
            BreakerState::Closed => {
                self.over = if over { self.over + 1 } else { 0 };
                if self.over >= s.consecutive.max(1) {
                    self.open(s, now_ns);
                }
            }
            BreakerState::Open => {
                if now_ns >= self.reopen_at_ns {
                    self.state = BreakerState::HalfOpen;
                    OPEN.store(false, Ordering::Relaxed);
                }
            }
            BreakerState::HalfOpen => {
                if over {
                    self.cooldown_factor = (self.cooldown_factor * 2).min(16);
                    self.open(s, now_ns);
                } else {
                    self.state = BreakerState::Closed;
                    self.cooldown_factor = 1;
                    self.over = 0;
                }
            }
        }
    }

    fn open(&mut self, s: &BreakerSettings, now_ns: u64) {
        self.state = BreakerState::Open;
        self.trips += 1;
        self.over = 0;
        self.reopen_at_ns = now_ns + s.cooldown.as_nanos() as u64 * u64::from(self.cooldown_factor);
        OPEN.store(true, Ordering::Relaxed);
    }

    pub(crate) fn status(&self, s: &BreakerSettings) -> BreakerStatus {
        BreakerStatus {
            state: self.state,
            overhead_pct: self.overhead_pct,
            max_pct: s.max_pct,
            trips: self.trips,
            call_cost_ns: self.call_cost_ns,
            sample_cost_ns: self.sample_cost_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            max_pct: 2.0,
            consecutive: 2,
            period: Duration::from_millis(1),
            cooldown: Duration::from_millis(10),
            min_cost_per_s: Duration::from_millis(1),
        }
    }

    #[test]
    fn opens_after_consecutive_periods_over_the_limit_then_recovers() {
        let s = settings();
        let mut b = Breaker::new();
        b.call_cost_ns = 1.0;
        b.sample_cost_ns = 1.0;
        // An absurd number of calls per period is far over 2 % of any CPU time.
        let mut now = 0;
        let mut calls = 0;
        for _ in 0..2 {
            now += 2_000_000;
            calls += 1_000_000_000_000;
            b.evaluate(&s, now, calls, 0, 0);
        }
        assert_eq!(b.state, BreakerState::Open);
        assert!(OPEN.load(Ordering::Relaxed));
        assert_eq!(b.trips, 1);
        // cooldown over: half-open, sampling allowed again
        now += 20_000_000;
        b.evaluate(&s, now, calls, 0, 0);
        assert_eq!(b.state, BreakerState::HalfOpen);
        assert!(!OPEN.load(Ordering::Relaxed));
        // a quiet period closes it
        now += 2_000_000;
        b.evaluate(&s, now, calls, 0, 0);
        assert_eq!(b.state, BreakerState::Closed);
        assert!(b.overhead_pct < 2.0);
    }

    #[test]
    fn a_tiny_absolute_cost_never_trips_however_large_its_share() {
        let s = BreakerSettings::default();
        // A nearly idle second: 30 ms of process CPU, 1 ms of it the collector → 3.3 %, but
        // under 10 ms/s.
        let (pct, over) = judge(&s, 1_000_000.0, 30_000_000, 1_000_000_000);
        assert!((pct - 100.0 / 30.0).abs() < 1e-9, "{pct}");
        assert!(!over);
        // The same share at 20 ms of cost is over both limits; so is it over half a second.
        let (pct, over) = judge(&s, 20_000_000.0, 600_000_000, 1_000_000_000);
        assert!((pct - 100.0 / 30.0).abs() < 1e-9 && over);
        assert!(judge(&s, 10_000_000.0, 300_000_000, 500_000_000).1);
        // A large absolute cost under the share limit is fine.
        let (_, over) = judge(&s, 15_000_000.0, 1_000_000_000, 1_000_000_000);
        assert!(!over);
        // No CPU measured: 0 %, never over.
        assert_eq!(judge(&s, 1e9, 0, 1_000_000_000), (0.0, false));
    }

    #[test]
    fn calibration_gives_plausible_costs() {
        let (call, sample) = calibrate();
        assert!(call > 0.0 && call < 1_000.0, "{call}");
        assert!(sample >= call && sample < 10_000.0, "{sample}");
    }
}
