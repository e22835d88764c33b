//! Allocation tracking for `level: detailed`: bytes allocated and peak live bytes per span.
//!
//! [`TrackingAllocator`] wraps any global allocator and keeps three per-thread counters
//! (bytes allocated so far, live bytes, peak live bytes) in const-initialized thread locals,
//! so it never allocates or locks. A span reads them at start and end: "allocated" is the
//! difference of the running total; "peak" is how far live bytes rose above their level at
//! span start. Nested spans save and restore the thread's peak so each span sees its own.
//!
//! Counts are per thread: memory a span's work allocates on other threads is not included.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: flamewatch::alloc::TrackingAllocator<std::alloc::System> =
//!     flamewatch::alloc::TrackingAllocator::new(std::alloc::System);
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A global allocator wrapper that counts bytes per thread.
#[derive(Debug)]
pub struct TrackingAllocator<A> {
    inner: A,
}

impl<A> TrackingAllocator<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        TrackingAllocator { inner }
    }
}

/// Whether a [`TrackingAllocator`] is the global allocator (it has served an allocation).
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

#[inline]
fn on_alloc(size: usize) {
    let size = size as u64;
    let _ = ALLOCATED.try_with(|a| a.set(a.get().wrapping_add(size)));
    let _ = LIVE.try_with(|l| {
        let live = l.get() + size as i64;
        l.set(live);
        let _ = PEAK.try_with(|p| {
            if live > p.get() {
                p.set(live)
            }
        });
    });
}

#[inline]
fn on_dealloc(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get() - size as i64));
}

// SAFETY: every method forwards to the wrapped allocator with the same arguments and only
// adds bookkeeping in thread-local cells, which neither allocates nor unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TrackingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_dealloc(layout.size());
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            on_dealloc(layout.size());
            on_alloc(new_size);
        }
        p
    }
}

/// This thread's counters at the start of a span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    allocated: u64,
    live: i64,
    saved_peak: i64,
}

impl Mark {
    /// Reads the counters and starts a fresh peak for the span.
    pub(crate) fn now() -> Mark {
        let allocated = ALLOCATED.try_with(Cell::get).unwrap_or(0);
        let live = LIVE.try_with(Cell::get).unwrap_or(0);
        let saved_peak = PEAK.try_with(|p| p.replace(live)).unwrap_or(0);
        Mark {
            allocated,
            live,
            saved_peak,
        }
    }

    /// Bytes allocated since the mark and the span's peak above its starting live bytes;
    /// restores the enclosing span's peak.
    pub(crate) fn finish(self) -> (u64, u64) {
        let allocated = ALLOCATED
            .try_with(Cell::get)
            .unwrap_or(0)
            .wrapping_sub(self.allocated);
        let peak = PEAK.try_with(|p| {
            let span_peak = p.get();
            p.set(span_peak.max(self.saved_peak));
            span_peak
        });
        let peak = peak.unwrap_or(self.live);
        (allocated, (peak - self.live).max(0) as u64)
    }
}
