//! Measuring futures: wall time from first poll to completion, plus busy (polling) time.
//!
//! The measurement state lives inside the future, not in a thread local, so it stays right
//! when a work-stealing runtime moves the future between threads. The sampling decision is
//! taken at the first poll. A future dropped before completing is recorded as cancelled
//! (counted, kept out of the duration statistics).

use crate::registry::KeyId;
use crate::span::{Callsite, Decision, decide_site, in_stack, record_measured};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Debug)]
enum State {
    /// Not polled yet.
    Fresh,
    /// Not measured.
    Off,
    /// Measured since `start`, busy for `busy_ns` so far.
    On {
        key: KeyId,
        start: quanta::Instant,
        busy_ns: u64,
    },
    /// Completed and recorded.
    Done,
}

/// A future measured as one call of its call site. Create it with [`instrument`] or
/// `#[profiled]` on an `async fn`.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    site: &'static Callsite,
    state: State,
    inner: F,
}

/// Wraps `future` so it is measured at `site`.
///
/// ```
/// static SITE: flamewatch::Callsite = flamewatch::Callsite::new("jobs.refresh");
/// let fut = flamewatch::instrument(&SITE, async { 40 + 2 });
/// # let _ = fut;
/// ```
pub fn instrument<F: Future>(site: &'static Callsite, future: F) -> Instrumented<F> {
    Instrumented {
        site,
        state: State::Fresh,
        inner: future,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self` (the `Drop`
        // impl only reads `state`); `site` and `state` are ordinary fields, never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `inner` stays in place for the life of `self`.
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        if let State::Fresh = this.state {
            this.state = match (crate::COMPILED_IN, decide_site(this.site)) {
                (true, Decision::Measure(key)) => State::On {
                    key,
                    start: quanta::Instant::now(),
                    busy_ns: 0,
                },
                _ => State::Off,
            };
        }
        let State::On {
            key,
            start,
            busy_ns,
        } = &mut this.state
        else {
            return inner.poll(cx);
        };
        let (key, start) = (*key, *start);
        let poll_start = quanta::Instant::now();
        let result = in_stack(key, || inner.poll(cx));
        let end = quanta::Instant::now();
        *busy_ns += end.saturating_duration_since(poll_start).as_nanos() as u64;
        if result.is_ready() {
            let wall = end.saturating_duration_since(start).as_nanos() as u64;
            record_measured(key, end, wall, Some(*busy_ns), false);
            this.state = State::Done;
        }
        result
    }
}

impl<F> Drop for Instrumented<F> {
    fn drop(&mut self) {
        if let State::On {
            key,
            start,
            busy_ns,
        } = self.state
        {
            let end = quanta::Instant::now();
            let wall = end.saturating_duration_since(start).as_nanos() as u64;
            record_measured(key, end, wall, Some(busy_ns), true);
        }
    }
}
