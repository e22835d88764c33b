//! Per-thread recording buffers: the only memory the hot path writes.
//!
//! Each thread that records gets a [`ThreadBuffer`] shared with the collector:
//! * **call counters** — one `AtomicU64` per key, written only by the owning thread with a
//!   relaxed load + store (no locked instruction), read by the collector, which keeps the
//!   last value it saw to compute deltas;
//! * **an event ring** — a fixed-capacity single-producer/single-consumer queue of measured
//!   calls. A full ring drops the event and counts it; it never blocks or grows.
//!
//! The collector is the only consumer of every ring and holds its state lock while draining,
//! which is what makes the single-consumer side sound.

use crate::registry::KeyId;
use crate::request::Request;
use flamewatch_core::ring::Ring;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// Keys per counter chunk.
const CHUNK: usize = 64;
/// Counter chunks per thread: keys beyond `CHUNKS * CHUNK` are counted in the last slot.
const CHUNKS: usize = 256;
/// Events a thread can hold between two collector passes (80 bytes each: 320 KiB per
/// recording thread, enough for 160,000 measured calls per second per thread at the
/// collector's 25 ms tick).
pub(crate) const RING_CAPACITY: usize = 4096;
/// Span-stack depth carried with each event.
pub(crate) const STACK_DEPTH: usize = 6;
/// Marks an unused stack slot.
pub(crate) const NO_KEY: KeyId = KeyId::MAX;

/// One measured call.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub key: KeyId,
    pub flags: u32,
    /// End of the call, nanoseconds since the runtime's origin.
    pub end_ns: u64,
    pub wall_ns: u64,
    pub busy_ns: u64,
    pub alloc_bytes: u64,
    pub peak_bytes: u64,
    /// Enclosing spans, innermost first, padded with [`NO_KEY`].
    pub parents: [KeyId; STACK_DEPTH],
    /// The request the call ran in, if it ran inside a request scope.
    pub request: Option<Arc<Request>>,
}

impl Event {
    pub const BUSY: u32 = 1;
    pub const CANCELLED: u32 = 2;
    pub const MEMORY: u32 = 4;

    pub(crate) fn new(key: KeyId, end_ns: u64, wall_ns: u64) -> Self {
        Event {
            key,
            flags: 0,
            end_ns,
            wall_ns,
            busy_ns: 0,
            alloc_bytes: 0,
            peak_bytes: 0,
            parents: [NO_KEY; STACK_DEPTH],
            request: None,
        }
    }
}

struct Chunk {
    counts: [AtomicU64; CHUNK],
}

/// The buffers of one thread.
pub(crate) struct ThreadBuffer {
    chunks: Box<[AtomicPtr<Chunk>]>,
    ring: Ring<Event>,
    dropped: AtomicU64,
    closed: AtomicBool,
}

// SAFETY: the counter chunks are atomics published once with release/acquire and freed only
// with the buffer; the ring is `Sync` itself (its SPSC contract is kept by `push`/`drain`).
unsafe impl Sync for ThreadBuffer {}
// SAFETY: see the `Sync` impl; nothing in the buffer is tied to the creating thread.
unsafe impl Send for ThreadBuffer {}

impl ThreadBuffer {
    pub(crate) fn new() -> Self {
        ThreadBuffer {
            chunks: (0..CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            ring: Ring::new(RING_CAPACITY),
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Counts one unmeasured call of `key`. Owner thread only.
    #[inline]
    pub(crate) fn count(&self, key: KeyId) {
        let key = (key as usize).min(CHUNKS * CHUNK - 1);
        let chunk = self.chunks[key / CHUNK].load(Ordering::Acquire);
        let chunk = if chunk.is_null() {
            self.alloc_chunk(key / CHUNK)
        } else {
            chunk
        };
        // SAFETY: chunks are allocated once, never freed before the buffer, and only the owner
        // thread publishes them.
        let slot = unsafe { &(*chunk).counts[key % CHUNK] };
        slot.store(slot.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    #[cold]
    fn alloc_chunk(&self, index: usize) -> *mut Chunk {
        let chunk = Box::into_raw(Box::new(Chunk {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }));
        self.chunks[index].store(chunk, Ordering::Release);
        chunk
    }

    /// Calls `f(key, total)` for every key this thread has counted. Any thread.
    pub(crate) fn for_each_count(&self, mut f: impl FnMut(KeyId, u64)) {
        for (ci, chunk) in self.chunks.iter().enumerate() {
            let chunk = chunk.load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: a published chunk lives as long as the buffer.
            let counts = unsafe { &(*chunk).counts };
            for (i, c) in counts.iter().enumerate() {
                let v = c.load(Ordering::Relaxed);
                if v > 0 {
                    f((ci * CHUNK + i) as KeyId, v);
                }
            }
        }
    }

    /// Queues a measured call. When the ring is full the measurement is dropped and counted,
    /// and the call is still counted (call counts stay exact). Owner thread only.
    #[inline]
    pub(crate) fn push(&self, event: Event) {
        // SAFETY: only the owner thread pushes (documented contract of this method).
        if let Err(event) = unsafe { self.ring.push(event) } {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.count(event.key);
        }
    }

    /// Takes every queued event. Must only be called by the single consumer.
    pub(crate) fn drain(&self, f: impl FnMut(Event)) {
        // SAFETY: the collector, the only consumer, drains under its state lock.
        unsafe { self.ring.drain(f) };
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Drop for ThreadBuffer {
    fn drop(&mut self) {
        for chunk in self.chunks.iter() {
            let chunk = chunk.load(Ordering::Acquire);
            if !chunk.is_null() {
                // SAFETY: allocated by `alloc_chunk` with `Box::into_raw`, freed once here.
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_fifo_bounded_and_counts_drops() {
        let b = ThreadBuffer::new();
        for i in 0..(RING_CAPACITY as u64 + 10) {
            b.push(Event::new(1, i, i));
        }
        assert_eq!(b.dropped(), 10);
        let mut counted = 0;
        b.for_each_count(|_, n| counted += n);
        assert_eq!(counted, 10, "dropped measurements still count as calls");
        let mut seen = Vec::new();
        b.drain(|e| seen.push(e.end_ns));
        assert_eq!(seen, (0..RING_CAPACITY as u64).collect::<Vec<_>>());
        b.push(Event::new(1, 5, 5));
        let mut n = 0;
        b.drain(|_| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn concurrent_producer_and_consumer_lose_nothing_they_did_not_count() {
        let b = Arc::new(ThreadBuffer::new());
        let producer = {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..200_000u64 {
                    b.push(Event::new(0, i, i));
                    b.count(3);
                }
            })
        };
        let mut received = 0u64;
        let mut last = None;
        while !producer.is_finished() {
            b.drain(|e| {
                assert!(last.is_none_or(|l| e.end_ns > l), "out of order");
                last = Some(e.end_ns);
                received += 1;
            });
        }
        producer.join().unwrap();
        b.drain(|_| received += 1);
        assert_eq!(received + b.dropped(), 200_000);
        let (mut key3, mut key0) = (0, 0);
        b.for_each_count(|k, v| match k {
            3 => key3 = v,
            0 => key0 = v,
            _ => panic!("unexpected key {k}"),
        });
        assert_eq!((key3, key0), (200_000, b.dropped()));
    }
}
