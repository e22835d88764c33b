//! Costs of building a profile and writing each format, on a synthetic profile shaped like
//! a DWARF-unwound recording: 20 000 samples, 20–40 frames deep, many distinct leaf
//! addresses (so most stacks are distinct), a quarter of the time off CPU.
//!
//! Run: `cargo bench -p flamewatch-profile --bench formats`.

use criterion::{Criterion, criterion_group, criterion_main};
use flamewatch_profile::flamegraph::{self, SvgOptions};
use flamewatch_profile::{Frame, MapOptions, Profile, ValueType, folded, map, pprof, report};
use std::hint::black_box;

type Sample = (Vec<Frame>, [i64; 2], bool);

fn samples(n: usize) -> Vec<Sample> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let depth = 20 + (state % 20) as usize;
            let frames = (0..depth)
                .map(|d| {
                    let f = (state >> (d % 48)) % 8 + d as u64 * 8;
                    Frame {
                        function: format!("app::module_{}::function_{f}", f % 7),
                        file: Some(format!("src/module_{}.rs", f % 7)),
                        line: Some((f % 200) as u32 + 1),
                        module: Some("/usr/bin/app".into()),
                        address: 0x40_0000 + f * 0x40 + if d == 0 { state % 64 } else { 0 },
                        inlined: false,
                    }
                })
                .collect();
            let off = i % 4 == 0;
            let values = if off { [0, 5_000_000] } else { [1_001_001, 0] };
            (frames, values, off)
        })
        .collect()
}

fn build(samples: &[Sample]) -> Profile {
    let mut p = Profile::new(vec![
        ValueType::new("cpu", "nanoseconds"),
        ValueType::new("off_cpu", "nanoseconds"),
    ]);
    p.set_command("app --bench");
    for (frames, values, off) in samples {
        if *off {
            p.add_sample(
                frames,
                values,
                &[("thread", "worker"), ("off_cpu_reason", "lock")],
            );
        } else {
            p.add_sample(frames, values, &[("thread", "worker")]);
        }
    }
    p
}

fn formats(c: &mut Criterion) {
    let input = samples(20_000);
    let profile = build(&input);
    let encoded = pprof::encode(&profile);
    let mut g = c.benchmark_group("profile_20k_samples");
    g.sample_size(10);
    g.bench_function("add_sample", |b| b.iter(|| black_box(build(&input))));
    g.bench_function("pprof_encode", |b| {
        b.iter(|| black_box(pprof::encode(&profile)))
    });
    g.bench_function("pprof_decode", |b| {
        b.iter(|| black_box(pprof::decode(&encoded).unwrap()))
    });
    g.bench_function("folded_write", |b| {
        b.iter(|| black_box(folded::to_string(&profile)))
    });
    g.bench_function("map_build", |b| {
        b.iter(|| black_box(map::build(&profile, MapOptions::default())))
    });
    g.bench_function("report_render", |b| {
        let m = map::build(&profile, MapOptions::default());
        b.iter(|| black_box(report::render(&profile, &m)))
    });
    g.bench_function("svg_render", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            flamegraph::write_svg(&profile, &SvgOptions::default(), &mut out).unwrap();
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, formats);
criterion_main!(benches);
