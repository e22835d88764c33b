//! Hot-path costs, each next to a bare relaxed atomic load measured in the same run.
//!
//! Run: `cargo bench -p flamewatch --bench hot_path`. Figures and the machine they were
//! measured on are recorded in `docs/benchmarks.md`.

use criterion::{Criterion, criterion_group, criterion_main};
use flamewatch::{Mode, Settings};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

static FLAG: AtomicBool = AtomicBool::new(false);

/// Default settings with the circuit breaker off: a loop doing nothing but profiled calls is
/// all overhead by construction, and an open breaker would turn the recording path being
/// measured into the counting path.
fn settings() -> Settings {
    Settings::default().breaker(flamewatch::BreakerSettings::off())
}

/// Times `iters` calls of `f` in batches small enough for the per-thread ring, draining
/// it between batches (untimed) so every measured call takes the recording path.
fn batched(iters: u64, profiler: &flamewatch::Profiler, mut f: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(2_000);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        profiler.flush();
        left -= n;
    }
    total
}

fn hot_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("call_site");
    let profiler = flamewatch::init(settings().enabled(false));
    g.bench_function("bare_atomic_load", |b| {
        b.iter_custom(|iters| {
            batched(iters, &profiler, || {
                black_box(FLAG.load(Ordering::Relaxed));
            })
        })
    });
    g.bench_function("disabled", |b| {
        b.iter_custom(|iters| {
            batched(iters, &profiler, || {
                drop(black_box(flamewatch::span!("bench.disabled")))
            })
        })
    });

    profiler.apply(settings().sample_rate(0.01));
    g.bench_function("sampled_1pct", |b| {
        b.iter_custom(|iters| {
            batched(iters, &profiler, || {
                drop(black_box(flamewatch::span!("bench.one_percent")))
            })
        })
    });

    profiler.apply(settings().mode(Mode::Full));
    g.bench_function("sampled_recorded", |b| {
        b.iter_custom(|iters| {
            batched(iters, &profiler, || {
                drop(black_box(flamewatch::span!("bench.recorded")))
            })
        })
    });
    g.bench_function("span_fn_recorded", |b| {
        b.iter_custom(|iters| {
            batched(iters, &profiler, || {
                drop(black_box(flamewatch::span("bench.span_fn")))
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("tracing_span");
    let registry = tracing_subscriber::registry();
    tracing::subscriber::with_default(registry, || {
        g.bench_function("registry_alone", |b| {
            b.iter_custom(|iters| {
                batched(iters, &profiler, || {
                    drop(black_box(tracing::info_span!("bench.tracing").entered()))
                })
            })
        });
    });
    for (label, settings) in [
        ("with_layer_1pct", settings().sample_rate(0.01)),
        ("with_layer_full", settings().mode(Mode::Full)),
    ] {
        profiler.apply(settings);
        let layered = tracing_subscriber::registry().with(flamewatch::FlamewatchLayer::new());
        tracing::subscriber::with_default(layered, || {
            g.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    batched(iters, &profiler, || {
                        drop(black_box(tracing::info_span!("bench.tracing").entered()))
                    })
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
