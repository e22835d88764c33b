//! Integration tests of request profiling and the management API, on loopback.
//!
//! The profiler is process-wide: tests that change its settings hold [`serial`] for their
//! whole run and use endpoint and function names of their own.

mod api;
mod layer;

use std::sync::{Mutex, MutexGuard};

/// Serializes tests that change the process-wide profiler's settings.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
