//! Record cost of the statistics, to justify the sketch design (see `docs/benchmarks.md`).
//!
//! Compares the log-linear sketch's insert with a DDSketch-style logarithmic index at the
//! same 1 % relative-error target, and with a Welford update, on realistic latencies.
//! Run: `cargo bench -p flamewatch-core --bench sketch`.

use criterion::{Criterion, criterion_group, criterion_main};
use flamewatch_core::sketch::Sketch;
use flamewatch_core::welford::Welford;
use std::hint::black_box;

/// Latencies spread over 50 µs .. 50 ms, in nanoseconds.
fn values() -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (50_000.0 * 1000f64.powf(u)) as u64
        })
        .collect()
}

fn record_cost(c: &mut Criterion) {
    let values = values();
    let mut g = c.benchmark_group("record");
    g.bench_function("log_linear_sketch_add", |b| {
        let mut s = Sketch::default();
        let mut i = 0;
        b.iter(|| {
            s.add(black_box(values[i & 4095]));
            i += 1;
        })
    });
    // A DDSketch-style index: ceil(ln(v) / ln(γ)) with γ = (1 + α) / (1 − α), α = 1 %, into a
    // dense array — the alternative design at the same error bound.
    g.bench_function("log_index_sketch_add", |b| {
        let gamma_ln = ((1.0 + 0.01) / (1.0 - 0.01f64)).ln();
        let mut counts = vec![0u32; 2048];
        let mut i = 0;
        b.iter(|| {
            let v = black_box(values[i & 4095]) as f64;
            let index = (v.ln() / gamma_ln).ceil() as usize;
            counts[index & 2047] += 1;
            i += 1;
        })
    });
    g.bench_function("welford_add", |b| {
        let mut w = Welford::default();
        let mut i = 0;
        b.iter(|| {
            w.add(black_box(values[i & 4095]) as f64);
            i += 1;
        })
    });
    g.finish();
    let mut s = Sketch::default();
    values.iter().for_each(|&v| s.add(v));
    println!(
        "log-linear sketch over 50 µs .. 50 ms: {} bytes of counts for {} values",
        s.heap_bytes(),
        s.count()
    );
}

criterion_group!(benches, record_cost);
criterion_main!(benches);
