//! The instrumentation hot path: call sites, the sampling decision and span guards.
//!
//! A call site is a `static` [`Callsite`] (the `#[profiled]` macro and [`span!`](crate::span!)
//! create one per site) caching its key id and target-filter verdict in one atomic word,
//! tagged with the configuration generation. Entering a span costs, in order:
//! 1. one relaxed load of the global switch — all that happens when profiling is off;
//! 2. one load of the call site word (its key, and whether targets select it);
//! 3. a thread-local countdown deciding sampling **before any clock is read** (geometric
//!    skips, so the choice is random and cannot alias with periodic work);
//! 4. unsampled: one per-thread counter increment (exact call counts). Sampled: a clock
//!    read now and one at drop, then the event goes to the thread's bounded ring.

use crate::alloc;
use crate::breaker;
use crate::local::{Event, NO_KEY, STACK_DEPTH, ThreadBuffer};
use crate::registry::{KeyId, dotted, matches_targets};
use crate::request::Request;
use crate::runtime::{DETAILED, ENABLED, GENERATION, Runtime, sample_probability};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const INTERESTED: u64 = 1 << 31;
const KEY_MASK: u64 = INTERESTED - 1;

/// A static instrumentation site. Create with `#[profiled]` or [`span!`](crate::span!).
#[derive(Debug)]
pub struct Callsite {
    name: &'static str,
    /// `generation << 32 | interested << 31 | key`; 0 until first resolved.
    state: AtomicU64,
}

impl Callsite {
    /// A call site for `name`: a dotted name, or a Rust path (`a::b::c` becomes `a.b.c`).
    pub const fn new(name: &'static str) -> Self {
        Callsite {
            name,
            state: AtomicU64::new(0),
        }
    }

    /// The name as written at the site.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The key to record under, or `None` if the targets do not select this site.
    #[inline]
    fn key(&self) -> Option<KeyId> {
        let s = self.state.load(Ordering::Relaxed);
        if (s >> 32) as u32 == GENERATION.load(Ordering::Relaxed) {
            (s & INTERESTED != 0).then_some((s & KEY_MASK) as KeyId)
        } else {
            self.resolve()
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> Option<KeyId> {
        let rt = Runtime::get()?;
        let generation = GENERATION.load(Ordering::Acquire);
        let name = dotted(self.name);
        let interested = matches_targets(&name, &rt.settings.load().targets);
        let key = rt.registry.key_for(&name);
        let word = (u64::from(generation) << 32)
            | if interested { INTERESTED } else { 0 }
            | (u64::from(key) & KEY_MASK);
        self.state.store(word, Ordering::Relaxed);
        interested.then_some(key)
    }
}

/// Per-thread hot-path state.
struct Local {
    /// Calls left before the next sampled one.
    skip: Cell<u64>,
    /// The settings generation `skip` was drawn under.
    drawn_at: Cell<u32>,
    rng: Cell<u64>,
    /// Request-level sampling decision in force on this thread, if any.
    forced: Cell<Option<bool>>,
    /// The request this thread is working for, lent by [`with_scope`].
    request: Cell<Option<Arc<Request>>>,
    /// Keys of the sampled spans open on this thread (innermost last).
    stack: Cell<[KeyId; STACK_DEPTH]>,
    depth: Cell<usize>,
    buffer: Arc<ThreadBuffer>,
}

impl Local {
    fn new() -> Self {
        let buffer = Arc::new(ThreadBuffer::new());
        if let Some(rt) = Runtime::get() {
            rt.collector.register(buffer.clone());
        }
        // Seed from the buffer's address and the time: distinct per thread, never zero.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed = (Arc::as_ptr(&buffer) as u64).rotate_left(17) ^ u64::from(nanos);
        Local {
            skip: Cell::new(0),
            drawn_at: Cell::new(0),
            rng: Cell::new(seed | 1),
            forced: Cell::new(None),
            request: Cell::new(None),
            stack: Cell::new([NO_KEY; STACK_DEPTH]),
            depth: Cell::new(0),
            buffer,
        }
    }

    /// Decides whether this call is measured.
    #[inline]
    fn sample(&self) -> bool {
        if let Some(forced) = self.forced.get() {
            return forced && !breaker::OPEN.load(Ordering::Relaxed);
        }
        let generation = GENERATION.load(Ordering::Relaxed);
        let skip = self.skip.get();
        if skip > 0 && self.drawn_at.get() == generation {
            self.skip.set(skip - 1);
            return false;
        }
        self.next_draw(generation)
    }

    /// The countdown ran out, or the settings changed since it was drawn (a rate of 0 draws
    /// "never", so a countdown must not outlive the settings it was drawn under; a thread's
    /// first call lands here too, drawn like every other).
    #[cold]
    fn next_draw(&self, generation: u32) -> bool {
        if self.drawn_at.get() != generation {
            self.drawn_at.set(generation);
            let skip = self.draw_skip();
            if skip > 0 {
                self.skip.set(skip - 1);
                return false;
            }
        }
        self.skip.set(self.draw_skip());
        // The countdown runs on while the breaker is open, so sampling resumes at the
        // configured rate when it closes.
        !breaker::OPEN.load(Ordering::Relaxed)
    }

    /// Draws the number of calls to skip before the next sample: geometric with the current
    /// probability, so sampled calls form a Bernoulli process at that rate.
    #[cold]
    fn draw_skip(&self) -> u64 {
        let p = sample_probability();
        if p >= 1.0 {
            return 0;
        }
        if p <= 0.0 {
            return u64::MAX;
        }
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        (u.ln() / (1.0 - p).ln()).floor().min(u64::MAX as f64) as u64
    }

    fn push_stack(&self, key: KeyId) {
        let depth = self.depth.get();
        if depth < STACK_DEPTH {
            let mut s = self.stack.get();
            s[depth] = key;
            self.stack.set(s);
        }
        self.depth.set(depth + 1);
    }

    fn pop_stack(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// Enclosing sampled spans, innermost first.
    fn parents(&self) -> [KeyId; STACK_DEPTH] {
        let depth = self.depth.get().min(STACK_DEPTH);
        let s = self.stack.get();
        let mut out = [NO_KEY; STACK_DEPTH];
        for (i, k) in s[..depth].iter().rev().enumerate() {
            out[i] = *k;
        }
        out
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.buffer.close();
    }
}

thread_local! {
    static LOCAL: Local = Local::new();
}

/// What [`enter`] decided for one call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Decision {
    /// Not recorded at all (off, filtered out, or during thread teardown).
    Skip,
    /// Counted but not measured.
    Counted,
    /// Measured under this key.
    Measure(KeyId),
}

/// Counts a call of `key` and decides whether to measure it.
#[inline]
pub(crate) fn decide(key: KeyId) -> Decision {
    LOCAL
        .try_with(|l| {
            if l.sample() {
                Decision::Measure(key)
            } else {
                l.buffer.count(key);
                Decision::Counted
            }
        })
        .unwrap_or(Decision::Skip)
}

/// Decides for a call site (checks the global switch and the target filter first).
#[inline]
pub(crate) fn decide_site(site: &Callsite) -> Decision {
    if !ENABLED.load(Ordering::Relaxed) {
        return Decision::Skip;
    }
    match site.key() {
        Some(key) => decide(key),
        None => Decision::Skip,
    }
}

/// Runs `f` with this thread's sampling decisions forced to `sampled` (request scope).
pub(crate) fn with_forced<R>(sampled: Option<bool>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = LOCAL.try_with(|l| l.forced.set(self.0));
        }
    }
    let previous = LOCAL.try_with(|l| l.forced.replace(sampled)).ok().flatten();
    let _restore = Restore(previous);
    f()
}

/// Runs `f` with this thread's scope set to `sampled` and `request`, which is moved into the
/// thread for the duration and handed back afterwards (the previous scope is restored).
pub(crate) fn with_scope<R>(
    sampled: Option<bool>,
    request: &mut Option<Arc<Request>>,
    f: impl FnOnce() -> R,
) -> R {
    struct Restore<'a> {
        forced: Option<bool>,
        previous: Option<Arc<Request>>,
        lent: &'a mut Option<Arc<Request>>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let previous = self.previous.take();
            let forced = self.forced;
            if let Ok(back) = LOCAL.try_with(|l| {
                l.forced.set(forced);
                l.request.replace(previous)
            }) {
                *self.lent = back;
            }
        }
    }
    let mut lent = request.take();
    let entered = LOCAL.try_with(|l| (l.forced.replace(sampled), l.request.replace(lent.take())));
    match entered {
        Ok((forced, previous)) => {
            let _restore = Restore {
                forced,
                previous,
                lent: request,
            };
            f()
        }
        Err(_) => {
            *request = lent;
            f()
        }
    }
}

/// The sampling decision and request in force on this thread.
pub(crate) fn current_scope() -> (Option<bool>, Option<Arc<Request>>) {
    LOCAL
        .try_with(|l| {
            let request = l.request.take();
            let copy = request.clone();
            l.request.set(request);
            (l.forced.get(), copy)
        })
        .unwrap_or((None, None))
}

/// Open measurement of one sampled span.
#[derive(Debug)]
pub(crate) struct Measurement {
    key: KeyId,
    start: quanta::Instant,
    memory: Option<alloc::Mark>,
}

impl Measurement {
    /// Starts measuring (reads the clock) and pushes the span on this thread's stack.
    #[inline]
    pub(crate) fn start(key: KeyId) -> Self {
        let _ = LOCAL.try_with(|l| l.push_stack(key));
        let memory = DETAILED.load(Ordering::Relaxed).then(alloc::Mark::now);
        Measurement {
            key,
            start: quanta::Instant::now(),
            memory,
        }
    }

    /// Ends the span on this thread and queues its event.
    #[inline]
    pub(crate) fn finish(self, busy_ns: Option<u64>, cancelled: bool) {
        let end = quanta::Instant::now();
        let wall = end.saturating_duration_since(self.start).as_nanos() as u64;
        let memory = self.memory.map(|m| m.finish());
        let _ = LOCAL.try_with(|l| {
            l.pop_stack();
            push_event(l, self.key, end, wall, busy_ns, cancelled, memory);
        });
    }
}

#[inline]
fn push_event(
    l: &Local,
    key: KeyId,
    end: quanta::Instant,
    wall_ns: u64,
    busy_ns: Option<u64>,
    cancelled: bool,
    memory: Option<(u64, u64)>,
) {
    let Some(rt) = Runtime::get() else { return };
    let mut flags = 0;
    if busy_ns.is_some() {
        flags |= Event::BUSY;
    }
    if cancelled {
        flags |= Event::CANCELLED;
    }
    if memory.is_some() {
        flags |= Event::MEMORY;
    }
    let (alloc_bytes, peak_bytes) = memory.unwrap_or_default();
    let request = l.request.take();
    l.request.set(request.clone());
    // One struct expression, so the event is written once rather than built and patched.
    l.buffer.push(Event {
        key,
        flags,
        end_ns: rt.ns_at(end),
        wall_ns,
        busy_ns: busy_ns.unwrap_or(0),
        alloc_bytes,
        peak_bytes,
        parents: l.parents(),
        request,
    });
}

/// Records an already measured call of `key` from the current thread (used by adapters
/// that time work themselves, such as async futures and the tracing layer).
pub(crate) fn record_measured(
    key: KeyId,
    end: quanta::Instant,
    wall_ns: u64,
    busy_ns: Option<u64>,
    cancelled: bool,
) {
    let _ = LOCAL.try_with(|l| push_event(l, key, end, wall_ns, busy_ns, cancelled, None));
}

/// Pushes `key` on the thread's span stack (a `tracing` span was entered).
#[cfg(feature = "tracing")]
pub(crate) fn in_stack_push(key: KeyId) {
    let _ = LOCAL.try_with(|l| l.push_stack(key));
}

/// Pops the thread's span stack (a `tracing` span was exited).
#[cfg(feature = "tracing")]
pub(crate) fn in_stack_pop() {
    let _ = LOCAL.try_with(Local::pop_stack);
}

/// Pushes `key` on the thread's span stack for the duration of `f` (one poll of a future).
pub(crate) fn in_stack<R>(key: KeyId, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            let _ = LOCAL.try_with(Local::pop_stack);
        }
    }
    let _ = LOCAL.try_with(|l| l.push_stack(key));
    let _pop = Pop;
    f()
}

/// Measures the scope it lives in; records on drop. Returned by [`span`], [`span!`](crate::span!)
/// and the code `#[profiled]` generates.
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped; bind it with `let _guard = ...`"]
pub struct SpanGuard {
    measurement: Option<Measurement>,
}

impl SpanGuard {
    const OFF: SpanGuard = SpanGuard { measurement: None };

    /// Whether this span is being measured (it was sampled).
    pub fn is_sampled(&self) -> bool {
        self.measurement.is_some()
    }
}

impl Drop for SpanGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.measurement.is_some() {
            self.finish();
        }
    }
}

impl SpanGuard {
    /// Ends a measured span; kept out of line so an unmeasured guard's drop is one test.
    #[inline(never)]
    fn finish(&mut self) {
        if let Some(m) = self.measurement.take() {
            m.finish(None, false);
        }
    }
}

/// Enters a span at a static call site. This is what `#[profiled]` and [`span!`](crate::span!)
/// expand to.
#[inline(always)]
pub fn enter(site: &'static Callsite) -> SpanGuard {
    if !crate::COMPILED_IN || !ENABLED.load(Ordering::Relaxed) {
        return SpanGuard::OFF;
    }
    enter_enabled(site)
}

#[inline]
fn enter_enabled(site: &'static Callsite) -> SpanGuard {
    match site.key().map(decide) {
        Some(Decision::Measure(key)) => SpanGuard {
            measurement: Some(Measurement::start(key)),
        },
        _ => SpanGuard::OFF,
    }
}

/// Per-thread cache from a `&'static str` name's address to its key, so [`span`] needs no
/// hashing on the hot path.
const NAME_CACHE: usize = 64;

thread_local! {
    static NAME_KEYS: Cell<[(usize, u64); NAME_CACHE]> = const { Cell::new([(0, 0); NAME_CACHE]) };
}

#[cold]
fn resolve_name(name: &'static str) -> Option<KeyId> {
    let rt = Runtime::get()?;
    let dotted = dotted(name);
    let interested = matches_targets(&dotted, &rt.settings.load().targets);
    let key = rt.registry.key_for(&dotted);
    let generation = GENERATION.load(Ordering::Acquire);
    let word =
        (u64::from(generation) << 32) | if interested { INTERESTED } else { 0 } | u64::from(key);
    let _ = NAME_KEYS.try_with(|c| {
        let mut cache = c.get();
        cache[(name.as_ptr() as usize >> 3) % NAME_CACHE] =
            (name.as_ptr() as usize ^ name.len(), word);
        c.set(cache);
    });
    interested.then_some(key)
}

/// Enters a span named `name` (a dotted hierarchy such as `"search.embed"`).
///
/// ```
/// let _span = flamewatch::span("search.embed");
/// // ... work measured until `_span` is dropped
/// ```
#[inline]
pub fn span(name: &'static str) -> SpanGuard {
    if !crate::COMPILED_IN || !ENABLED.load(Ordering::Relaxed) {
        return SpanGuard::OFF;
    }
    let tag = name.as_ptr() as usize ^ name.len();
    let cached = NAME_KEYS
        .try_with(|c| c.get()[(name.as_ptr() as usize >> 3) % NAME_CACHE])
        .unwrap_or((0, 0));
    let key = if cached.0 == tag && (cached.1 >> 32) as u32 == GENERATION.load(Ordering::Relaxed) {
        (cached.1 & INTERESTED != 0).then_some((cached.1 & KEY_MASK) as KeyId)
    } else {
        resolve_name(name)
    };
    match key.map(decide) {
        Some(Decision::Measure(key)) => SpanGuard {
            measurement: Some(Measurement::start(key)),
        },
        _ => SpanGuard::OFF,
    }
}

thread_local! {
    static MANUAL: std::cell::RefCell<Vec<(String, Measurement)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Starts a manual measurement named `name` on this thread; end it with [`stop`].
///
/// Manual measurements look names up by hashing, so prefer [`span`] or `#[profiled]` on hot
/// code. Nested measurements with the same name end innermost first.
pub fn start(name: &str) {
    if !crate::COMPILED_IN || !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(rt) = Runtime::get() else { return };
    let dotted = dotted(name);
    if !matches_targets(&dotted, &rt.settings.load().targets) {
        return;
    }
    let key = rt.registry.key_for(&dotted);
    if let Decision::Measure(key) = decide(key) {
        let m = Measurement::start(key);
        let _ = MANUAL.try_with(|v| v.borrow_mut().push((name.to_owned(), m)));
    }
}

/// Ends the innermost manual measurement named `name` on this thread. Returns whether one
/// was open (an unsampled or filtered-out measurement was not).
pub fn stop(name: &str) -> bool {
    let m = MANUAL
        .try_with(|v| {
            let mut v = v.borrow_mut();
            let i = v.iter().rposition(|(n, _)| n == name)?;
            Some(v.remove(i).1)
        })
        .ok()
        .flatten();
    match m {
        Some(m) => {
            m.finish(None, false);
            true
        }
        None => false,
    }
}

/// Creates a static call site and enters a span there: the fastest way to measure a scope.
///
/// ```
/// let _span = flamewatch::span!("cache.lookup");
/// ```
#[macro_export]
macro_rules! span {
    ($name:expr) => {{
        static __FLAMEWATCH_SITE: $crate::Callsite = $crate::Callsite::new($name);
        $crate::enter(&__FLAMEWATCH_SITE)
    }};
}
