//! A bounded single-producer/single-consumer queue: how a recording thread hands measurements
//! to the thread that aggregates them without a lock or an allocation on its own path.
//!
//! The ring never blocks and never grows: [`Ring::push`] on a full ring hands the value back.
//! Being single-producer and single-consumer is a contract of the caller (both operations are
//! `unsafe`): in flamewatch the producer is the thread owning the ring and the consumer is
//! whoever holds the aggregator's lock.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The producer's side, on cache lines of its own (128 bytes: x86 fetches lines in pairs).
#[repr(align(128))]
struct Producer {
    /// Next slot the producer writes (monotonic).
    head: AtomicUsize,
    /// The consumer's `tail` as the producer last read it. Only the producer touches it, so
    /// a push reads the consumer's line only when the ring looks full by this value.
    tail_seen: UnsafeCell<usize>,
}

/// The consumer's side, on cache lines of its own.
#[repr(align(128))]
struct Consumer {
    /// Next slot the consumer reads (monotonic).
    tail: AtomicUsize,
}

/// Values a drain takes before it publishes its progress to the producer (and once at the end).
const PUBLISH_EVERY: usize = 64;

/// A fixed-capacity SPSC ring of `T`.
///
/// The two sides never write the same cache line: a push writes the slot and `head`, a drain
/// writes `tail` once per [`PUBLISH_EVERY`] values, and the producer rereads `tail` only when
/// its cached copy says the ring is full — so a producer and a consumer on different cores
/// pass lines back and forth once per batch, not once per value.
pub struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// `capacity - 1` (the capacity is a power of two).
    mask: usize,
    producer: Producer,
    consumer: Consumer,
}

// SAFETY: a slot is written only by the single producer at `head` and read only by the single
// consumer below `head`; publication goes through the release store of `head` (and of `tail`
// for reuse) and the acquire load that reads it. `tail_seen` is touched only by the producer.
// Values cross threads, hence `T: Send`.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: see the `Sync` impl; nothing in the ring is tied to the creating thread.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

/// Publishes a drain's progress when dropped — also when the consumer's callback panics, so
/// a value already moved out is never read again.
struct Publish<'a> {
    tail: &'a AtomicUsize,
    at: usize,
}

impl Drop for Publish<'_> {
    fn drop(&mut self) {
        self.tail.store(self.at, Ordering::Release);
    }
}

impl<T> Ring<T> {
    /// An empty ring holding at most `capacity` values, rounded up to a power of two (at
    /// least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1).next_power_of_two();
        Ring {
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            mask: capacity - 1,
            producer: Producer {
                head: AtomicUsize::new(0),
                tail_seen: UnsafeCell::new(0),
            },
            consumer: Consumer {
                tail: AtomicUsize::new(0),
            },
        }
    }

    /// How many values the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Values queued now (a snapshot; either side may be moving).
    pub fn len(&self) -> usize {
        self.producer
            .head
            .load(Ordering::Acquire)
            .wrapping_sub(self.consumer.tail.load(Ordering::Acquire))
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `value` and returns an upper bound of the values now queued (exact as of the
    /// producer's last look at the consumer; see [`Ring::queued`]), or hands `value` back when
    /// the ring is full.
    ///
    /// # Safety
    /// No other thread may call `push` or `queued` on this ring concurrently (single
    /// producer).
    #[inline]
    pub unsafe fn push(&self, value: T) -> Result<usize, T> {
        let head = self.producer.head.load(Ordering::Relaxed);
        // SAFETY: only the single producer (the caller) touches `tail_seen`.
        let seen = unsafe { &mut *self.producer.tail_seen.get() };
        if head.wrapping_sub(*seen) >= self.slots.len() {
            *seen = self.consumer.tail.load(Ordering::Acquire);
            if head.wrapping_sub(*seen) >= self.slots.len() {
                return Err(value);
            }
        }
        // SAFETY: slot `head` is not visible to the consumer until `head` is published below,
        // the consumer has finished with it (tail has passed it, checked above), and the
        // caller guarantees no other producer writes it.
        unsafe { (*self.slots[head & self.mask].get()).write(value) };
        let head = head.wrapping_add(1);
        self.producer.head.store(head, Ordering::Release);
        Ok(head.wrapping_sub(*seen))
    }

    /// Values queued now, as the producer sees them (rereads the consumer's progress).
    ///
    /// # Safety
    /// Only the single producer may call it (see [`Ring::push`]).
    pub unsafe fn queued(&self) -> usize {
        // SAFETY: only the single producer (the caller) touches `tail_seen`.
        let seen = unsafe { &mut *self.producer.tail_seen.get() };
        *seen = self.consumer.tail.load(Ordering::Acquire);
        self.producer
            .head
            .load(Ordering::Relaxed)
            .wrapping_sub(*seen)
    }

    /// Takes every queued value, oldest first.
    ///
    /// # Safety
    /// No other thread may call `drain` on this ring concurrently (single consumer).
    pub unsafe fn drain(&self, mut f: impl FnMut(T)) {
        let head = self.producer.head.load(Ordering::Acquire);
        let mut progress = Publish {
            tail: &self.consumer.tail,
            at: self.consumer.tail.load(Ordering::Relaxed),
        };
        while progress.at != head {
            // SAFETY: slots in tail..head were fully written before `head` was released, and
            // each is read exactly once: `progress` moves past it before the callback runs and
            // is published before the producer may reuse it (at the latest when `progress`
            // drops, panic or not); the caller guarantees no other consumer reads it.
            let value = unsafe { (*self.slots[progress.at & self.mask].get()).assume_init_read() };
            progress.at = progress.at.wrapping_add(1);
            if progress.at.is_multiple_of(PUBLISH_EVERY) {
                self.consumer.tail.store(progress.at, Ordering::Release);
            }
            f(value);
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no producer or consumer can be running.
        unsafe { self.drain(drop) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fifo_bounded_and_hands_back_when_full() {
        let r = Ring::new(4);
        for i in 0..4 {
            // SAFETY: one thread.
            assert!(unsafe { r.push(i) }.is_ok());
        }
        // SAFETY: one thread.
        assert_eq!(unsafe { r.push(9) }, Err(9));
        assert_eq!(r.len(), 4);
        let mut seen = Vec::new();
        // SAFETY: one thread.
        unsafe { r.drain(|v| seen.push(v)) };
        assert_eq!(seen, [0, 1, 2, 3]);
        assert!(r.is_empty());
        // SAFETY: one thread.
        assert!(unsafe { r.push(5) }.is_ok());
    }

    #[test]
    fn queued_values_are_dropped_with_the_ring() {
        let counted = Arc::new(());
        let r = Ring::new(8);
        for _ in 0..5 {
            // SAFETY: one thread.
            unsafe { r.push(counted.clone()) }.unwrap();
        }
        assert_eq!(Arc::strong_count(&counted), 6);
        drop(r);
        assert_eq!(Arc::strong_count(&counted), 1);
    }

    #[test]
    fn concurrent_producer_and_consumer_keep_order_and_lose_nothing_accepted() {
        let r = Arc::new(Ring::new(64));
        let producer = {
            let r = r.clone();
            std::thread::spawn(move || {
                let mut rejected = 0u64;
                for i in 0..200_000u64 {
                    // SAFETY: the only producer.
                    if unsafe { r.push(i) }.is_err() {
                        rejected += 1;
                    }
                }
                rejected
            })
        };
        let (mut received, mut last) = (0u64, None);
        let mut take = |v: u64| {
            assert!(last.is_none_or(|l| v > l), "out of order");
            last = Some(v);
            received += 1;
        };
        while !producer.is_finished() {
            // SAFETY: the only consumer.
            unsafe { r.drain(&mut take) };
        }
        let rejected = producer.join().unwrap();
        // SAFETY: the only consumer.
        unsafe { r.drain(&mut take) };
        assert_eq!(received + rejected, 200_000);
    }

    #[test]
    fn capacity_rounds_up_and_push_reports_the_fill() {
        let r = Ring::new(5);
        assert_eq!(r.capacity(), 8);
        for i in 1..=8 {
            // SAFETY: one thread.
            assert_eq!(unsafe { r.push(i) }, Ok(i));
        }
        // SAFETY: one thread.
        assert_eq!(unsafe { r.push(9) }, Err(9));
        // SAFETY: one thread.
        unsafe { r.drain(drop) };
        // the producer's cached view is stale until it looks again: a full-looking ring
        // rereads the consumer
        // SAFETY: one thread.
        let pushed = unsafe { r.push(1) };
        assert_eq!(pushed, Ok(1));
        // SAFETY: one thread.
        assert_eq!(unsafe { r.queued() }, 1);
    }

    #[test]
    fn a_panicking_consumer_never_sees_a_value_twice() {
        let r = Ring::new(256);
        for i in 0..200u32 {
            // SAFETY: one thread.
            unsafe { r.push(Box::new(i)) }.unwrap();
        }
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: one thread.
            unsafe {
                r.drain(|v| {
                    if *v == 100 {
                        panic!("consumer fails");
                    }
                })
            }
        }));
        assert!(caught.is_err());
        let mut rest = Vec::new();
        // SAFETY: one thread.
        unsafe { r.drain(|v| rest.push(*v)) };
        assert_eq!(rest, (101..200).collect::<Vec<_>>());
    }
}
