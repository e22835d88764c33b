//! The profiled functions, named after the functions of the original profiler's test:
//! `fastFunction`, `slowFunction` and `regressionTest`, plus the cheap `ping` and the
//! fixed-work `hashBlocks` used by the overhead benchmark.
//!
//! Each does a SQLite query, hashes on the CPU and sleeps for a stand-in remote call. CPU work
//! is budgeted in wall time (hash 4 KiB blocks until the budget is spent), so a function keeps
//! its nominal duration on a loaded machine; the amount of hashing done varies instead.

use crate::db;
use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

/// CPU time budget of `fastFunction`.
pub const FAST_CPU: Duration = Duration::from_micros(1_500);
/// Stand-in remote call of `fastFunction`.
pub const FAST_REMOTE: Duration = Duration::from_millis(2);
/// CPU time budget of `slowFunction`.
pub const SLOW_CPU: Duration = Duration::from_millis(5);
/// Stand-in remote call of `slowFunction`.
pub const SLOW_REMOTE: Duration = Duration::from_millis(95);
/// CPU time budget of `regressionTest`.
pub const REGRESSION_CPU: Duration = Duration::from_millis(8);
/// Stand-in remote call of `regressionTest`.
pub const REGRESSION_REMOTE: Duration = Duration::from_millis(100);
/// What the switched-on slowdown adds to `regressionTest`'s remote call: with the timer's
/// rounding, ≈ 45 % of the measured ≈ 110 ms.
pub const REGRESSION_EXTRA: Duration = Duration::from_millis(47);

/// Hashes 4 KiB blocks derived from `seed` until `budget` has passed; returns the digest.
pub fn hash_for(budget: Duration, seed: u64) -> u64 {
    let start = Instant::now();
    let mut block = [0u8; 4096];
    for (i, b) in block.iter_mut().enumerate() {
        *b = (seed as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    let mut digest = seed;
    loop {
        let mut h = DefaultHasher::new();
        h.write_u64(digest);
        h.write(&block);
        digest = h.finish();
        block[(digest % 4096) as usize] ^= digest as u8;
        if start.elapsed() >= budget {
            return digest;
        }
    }
}

/// Hashes `len` bytes once: the cheap endpoint's work.
#[flamewatch::profiled("ping")]
pub fn ping(len: usize) -> u64 {
    let mut h = DefaultHasher::new();
    for i in 0..len {
        h.write_u8(i as u8);
    }
    h.finish()
}

/// Hashes `kib` KiB once: a fixed amount of CPU work, whose duration (unlike the budgeted
/// functions') grows when anything else costs CPU time.
#[flamewatch::profiled("hashBlocks")]
pub fn hash_blocks(kib: u32) -> u64 {
    let block = [0x5au8; 1024];
    let mut h = DefaultHasher::new();
    for i in 0..kib {
        h.write_u32(i);
        h.write(&block);
    }
    h.finish()
}

/// ≈ 5 ms: an order lookup, 1.5 ms of hashing, a 2 ms remote call (tokio's timer rounds
/// sleeps up to its 1 ms tick and wakes late under load, so it lasts ≈ 3–3.5 ms); `extra` is added to the remote call (an
/// injected outlier).
#[flamewatch::profiled("fastFunction")]
pub async fn fast_function(order: i64, extra: Duration) -> rusqlite::Result<u64> {
    let amount = db::order_amount(order)?;
    let digest = hash_for(FAST_CPU, amount as u64);
    tokio::time::sleep(FAST_REMOTE + extra).await;
    Ok(digest)
}

/// ≈ 100 ms: a user's total, 5 ms of hashing, a 95 ms remote call.
#[flamewatch::profiled("slowFunction")]
pub async fn slow_function(user: i64) -> rusqlite::Result<u64> {
    let total = db::user_total(user)?;
    let digest = hash_for(SLOW_CPU, total as u64);
    tokio::time::sleep(SLOW_REMOTE).await;
    Ok(digest)
}

/// ≈ 108 ms: a grouped aggregate, 8 ms of hashing, a 100 ms remote call; with `slow` the
/// remote call takes [`REGRESSION_EXTRA`] longer (≈ 157 ms in all).
#[flamewatch::profiled("regressionTest")]
pub async fn regression_test(user: i64, slow: bool) -> rusqlite::Result<u64> {
    let item = db::top_item(user)?;
    let digest = hash_for(REGRESSION_CPU, item.len() as u64);
    let extra = if slow {
        REGRESSION_EXTRA
    } else {
        Duration::ZERO
    };
    tokio::time::sleep(REGRESSION_REMOTE + extra).await;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_spends_its_budget_and_depends_on_the_seed() {
        let start = Instant::now();
        let a = hash_for(Duration::from_millis(3), 1);
        assert!(start.elapsed() >= Duration::from_millis(3));
        assert_ne!(a, hash_for(Duration::ZERO, 2));
        assert_eq!(ping(16), ping(16));
        assert_ne!(hash_blocks(1), hash_blocks(2));
    }
}
