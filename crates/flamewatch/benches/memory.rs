//! Memory of the in-process library at 10,000 distinct keys, and beyond the cap.
//!
//! Run: `cargo bench -p flamewatch --bench memory`. Prints the resident-set growth of the
//! process and the statistics' own accounting; `docs/benchmarks.md` records the figures.

use flamewatch::{Mode, Settings};
use flamewatch_core::window::WindowConfig;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn fill(prefix: &str, keys: usize, calls_per_key: u64) {
    for k in 0..keys {
        let name = format!("{prefix}.key{k}");
        for _ in 0..calls_per_key {
            flamewatch::start(&name);
            flamewatch::stop(&name);
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let window = WindowConfig {
        window_ns: 50_000_000,
        windows: 30,
        recent_windows: 2,
    };
    let profiler = flamewatch::init(
        Settings::default()
            // A loop of profiled calls is all overhead: keep the breaker from stopping it.
            .breaker(flamewatch::BreakerSettings::off())
            .mode(Mode::Full)
            .window(window)
            .max_keys(10_000),
    );
    let base = rss_bytes();
    // Spread calls over several windows so every key has closed windows and recent sketches.
    for round in 0..4 {
        fill("memory", 10_000, 5);
        profiler.flush();
        std::thread::sleep(std::time::Duration::from_millis(60));
        let _ = round;
    }
    let snap = profiler.snapshot();
    let at_10k = rss_bytes().saturating_sub(base);
    println!(
        "10,000 keys: rss growth {:.1} MiB, statistics {:.1} MiB, keys {}",
        at_10k as f64 / 1048576.0,
        snap.health.stats_bytes as f64 / 1048576.0,
        snap.health.keys
    );
    fill("beyond", 20_000, 2);
    let snap = profiler.snapshot();
    let beyond = rss_bytes().saturating_sub(base);
    println!(
        "after 20,000 more names: rss growth {:.1} MiB, keys {} (cap 10,000 + _other), {} registrations folded into _other",
        beyond as f64 / 1048576.0,
        snap.health.keys,
        snap.health.keys_over_cap
    );
}
