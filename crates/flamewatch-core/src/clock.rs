//! Time sources for the statistics layer.
//!
//! Statistics never read a clock themselves: callers pass timestamps in nanoseconds taken from
//! a [`Clock`]. Production code uses [`MonotonicClock`]; tests use [`FakeClock`] and move time
//! by hand, so window rotation and detection are deterministic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A monotonic source of nanosecond timestamps.
pub trait Clock: Send + Sync {
    /// Nanoseconds since an arbitrary, fixed origin. Never decreases.
    fn now_ns(&self) -> u64;
}

/// The operating system's monotonic clock, with its origin at construction.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use flamewatch_core::clock::{Clock, FakeClock};
/// let clock = FakeClock::default();
/// clock.advance_ms(1500);
/// assert_eq!(clock.now_ns(), 1_500_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    now: Arc<AtomicU64>,
}

impl FakeClock {
    /// Moves time forward by `ns` nanoseconds.
    pub fn advance_ns(&self, ns: u64) {
        self.now.fetch_add(ns, Ordering::SeqCst);
    }

    /// Moves time forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        self.advance_ns(ms * 1_000_000);
    }

    /// Sets the absolute time; it must not go backwards.
    pub fn set_ns(&self, ns: u64) {
        self.now.fetch_max(ns, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
