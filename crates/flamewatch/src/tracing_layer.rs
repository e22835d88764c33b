//! A `tracing` layer that turns `tracing` spans into profiled functions, with no code change.
//!
//! Each span is keyed by its target and name (`my_app::db` + `query` → `my_app.db.query`),
//! sampled when it is created (before any clock read), measured from creation to close
//! (wall) and while entered (busy), and recorded like any other profiled call. Target
//! filters and the off switch apply as for `#[profiled]`.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::registry().with(flamewatch::FlamewatchLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("load_user").entered();
//! });
//! ```

use crate::registry::{KeyId, dotted, matches_targets};
use crate::runtime::{ENABLED, GENERATION, Runtime};
use crate::span::{Decision, decide, in_stack_pop, in_stack_push, record_measured};
use std::cell::Cell;
use std::sync::atomic::Ordering;
use tracing_core::span::{Attributes, Id};
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Profiles `tracing` spans. Add it to a `tracing_subscriber::registry()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlamewatchLayer {
    _private: (),
}

impl FlamewatchLayer {
    /// A new layer; it records into the process-wide profiler started by [`crate::init`].
    pub fn new() -> Self {
        FlamewatchLayer { _private: () }
    }
}

/// Timing of one sampled span, stored in its extensions.
struct Timing {
    key: KeyId,
    start: quanta::Instant,
    entered: Option<quanta::Instant>,
    busy_ns: u64,
}

const CACHE: usize = 64;

thread_local! {
    /// Metadata address → (generation, key or NO) for the spans this thread creates.
    static KEYS: Cell<[(usize, u32, u32); CACHE]> = const { Cell::new([(0, 0, 0); CACHE]) };
}

const FILTERED: u32 = u32::MAX;

fn key_of(meta: &'static Metadata<'static>) -> Option<KeyId> {
    let addr = meta as *const Metadata<'static> as usize;
    let slot = (addr >> 4) % CACHE;
    let generation = GENERATION.load(Ordering::Relaxed);
    let cached = KEYS.try_with(|c| c.get()[slot]).unwrap_or((0, 0, 0));
    if cached.0 == addr && cached.1 == generation {
        return (cached.2 != FILTERED).then_some(cached.2);
    }
    let rt = Runtime::get()?;
    let name = format!("{}.{}", dotted(meta.target()), meta.name());
    let key = if matches_targets(&name, &rt.settings.load().targets) {
        rt.registry.key_for(&name)
    } else {
        FILTERED
    };
    let _ = KEYS.try_with(|c| {
        let mut cache = c.get();
        cache[slot] = (addr, generation, key);
        c.set(cache);
    });
    (key != FILTERED).then_some(key)
}

impl<S> Layer<S> for FlamewatchLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !crate::COMPILED_IN || !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let Some(key) = key_of(attrs.metadata()) else {
            return;
        };
        if let Decision::Measure(key) = decide(key)
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Timing {
                key,
                start: quanta::Instant::now(),
                entered: None,
                busy_ns: 0,
            });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(t) = ext.get_mut::<Timing>() {
            t.entered = Some(quanta::Instant::now());
            in_stack_push(t.key);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(t) = ext.get_mut::<Timing>()
            && let Some(entered) = t.entered.take()
        {
            t.busy_ns += quanta::Instant::now()
                .saturating_duration_since(entered)
                .as_nanos() as u64;
            in_stack_pop();
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(t) = ext.remove::<Timing>() {
            let end = quanta::Instant::now();
            let wall = end.saturating_duration_since(t.start).as_nanos() as u64;
            record_measured(t.key, end, wall, Some(t.busy_ns), false);
        }
    }
}
