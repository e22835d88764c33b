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

/// A fixed-capacity SPSC ring of `T`.
pub struct Ring<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Next slot the producer writes (monotonic).
    head: AtomicUsize,
    /// Next slot the consumer reads (monotonic).
    tail: AtomicUsize,
}

// SAFETY: a slot is written only by the single producer at `head` and read only by the single
// consumer below `head`; publication goes through the release store of `head` (and of `tail`
// for reuse) and the acquire load that reads it. Values cross threads, hence `T: Send`.
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

impl<T> Ring<T> {
    /// An empty ring holding at most `capacity` values (at least 1).
    pub fn new(capacity: usize) -> Self {
        Ring {
            slots: (0..capacity.max(1))
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// How many values the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Values queued now (a snapshot; either side may be moving).
    pub fn len(&self) -> usize {
        self.head
            .load(Ordering::Acquire)
            .wrapping_sub(self.tail.load(Ordering::Acquire))
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `value`, or hands it back when the ring is full.
    ///
    /// # Safety
    /// No other thread may call `push` on this ring concurrently (single producer).
    #[inline]
    pub unsafe fn push(&self, value: T) -> Result<(), T> {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= self.slots.len() {
            return Err(value);
        }
        // SAFETY: slot `head` is not visible to the consumer until `head` is published below,
        // the consumer has finished with it (tail has passed it, checked above), and the
        // caller guarantees no other producer writes it.
        unsafe { (*self.slots[head % self.slots.len()].get()).write(value) };
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Takes every queued value, oldest first.
    ///
    /// # Safety
    /// No other thread may call `drain` on this ring concurrently (single consumer).
    pub unsafe fn drain(&self, mut f: impl FnMut(T)) {
        let head = self.head.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Relaxed);
        while tail != head {
            // SAFETY: slots in tail..head were fully written before `head` was released, and
            // each is read exactly once: `tail` moves past it before the producer may reuse
            // it; the caller guarantees no other consumer reads it.
            let value = unsafe { (*self.slots[tail % self.slots.len()].get()).assume_init_read() };
            tail = tail.wrapping_add(1);
            self.tail.store(tail, Ordering::Release);
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
}
