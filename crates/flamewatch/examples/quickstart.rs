//! A service-shaped workload profiled with flamewatch, end to end.
//!
//! Eight worker threads call three functions named after a classic profiling test run:
//! `fastFunction` (≈ 5 ms), `slowFunction` (≈ 100 ms) and `regressionTest` (≈ 108 ms), each
//! a mix of real CPU work and a real sleep standing in for a remote call. Halfway through,
//! a "deploy" makes `regressionTest` about 45 % slower, and one `fastFunction` call stalls.
//! The profiler (full tracing, one-second windows so the demo is short) reports the
//! statistics, the anomaly and the regression.
//!
//! Run: `cargo run --release -p flamewatch --example quickstart`

use flamewatch::{Mode, Settings, profiled};
use flamewatch_core::window::WindowConfig;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static DEPLOYED: AtomicBool = AtomicBool::new(false);
static STALL_ONCE: AtomicBool = AtomicBool::new(false);
static CHECKSUM: AtomicU64 = AtomicU64::new(0);

/// Real CPU work: an FNV-1a hash over a buffer, repeated for `d`.
fn burn(d: Duration) {
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let start = Instant::now();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    while start.elapsed() < d {
        for b in &data {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    CHECKSUM.fetch_xor(black_box(h), Ordering::Relaxed);
}

#[profiled("fastFunction")]
fn fast_function() {
    burn(Duration::from_millis(1));
    let stall = if STALL_ONCE.swap(false, Ordering::SeqCst) {
        30
    } else {
        4
    };
    std::thread::sleep(Duration::from_millis(stall));
}

#[profiled("slowFunction")]
fn slow_function() {
    burn(Duration::from_millis(2));
    std::thread::sleep(Duration::from_millis(98));
}

#[profiled("regressionTest")]
fn regression_test() {
    burn(Duration::from_millis(2));
    let remote = if DEPLOYED.load(Ordering::Relaxed) {
        155
    } else {
        106
    };
    std::thread::sleep(Duration::from_millis(remote));
}

fn run_for(d: Duration) {
    let until = Instant::now() + d;
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while Instant::now() < until {
                    fast_function();
                    slow_function();
                    regression_test();
                }
            });
        }
    });
}

fn main() {
    let settings = Settings::default().mode(Mode::Full).window(WindowConfig {
        window_ns: 1_000_000_000,
        windows: 30,
        recent_windows: 2,
    });
    let profiler = flamewatch::init(settings);
    let started = Instant::now();

    println!("phase 1: 5 s of normal traffic on 8 threads");
    run_for(Duration::from_secs(5));
    STALL_ONCE.store(true, Ordering::SeqCst);
    println!("phase 2: deploy makes regressionTest slower; 4 s more traffic");
    DEPLOYED.store(true, Ordering::SeqCst);
    run_for(Duration::from_secs(4));

    let snapshot = profiler.snapshot();
    println!();
    print!("{}", snapshot.summary_text());
    println!("\nPer function (lifetime):");
    println!(
        "  {:<16} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "name", "calls", "mean ms", "p50 ms", "p95 ms", "p99 ms"
    );
    for f in &snapshot.functions {
        let ms = |ns: u64| ns as f64 / 1e6;
        println!(
            "  {:<16} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            f.name,
            f.stats.calls,
            f.stats.mean_ns / 1e6,
            ms(f.stats.p50_ns),
            ms(f.stats.p95_ns),
            ms(f.stats.p99_ns)
        );
    }
    println!();
    let shown = snapshot.anomalies.len().saturating_sub(3);
    for a in &snapshot.anomalies[shown..] {
        println!(
            "Anomaly: {} took {:.2} ms, {:.1}σ above its mean of {:.2} ms",
            a.name, a.duration_ms, a.sigmas, a.mean_ms
        );
    }
    let h = snapshot.health;
    if shown > 0 {
        println!("  ({shown} earlier anomalies not shown)");
    }
    println!(
        "\nProfiler health: {} keys, {} dropped events, {} contained panics, collector busy {:.2} ms over {:.1} s",
        h.keys,
        h.dropped_events,
        h.contained_panics,
        h.collector_busy_ns as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}
