//! A Rust program for unwinding tests: CPU burnt at the bottom of a 24-deep call chain of
//! 512-byte frames, compiled without frame pointers so only DWARF CFI can unwind it.

use std::hint::black_box;

#[inline(never)]
fn leaf(n: u64) -> u64 {
    let mut x = black_box(n) | 1;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

#[inline(never)]
fn descend(depth: u32, n: u64) -> u64 {
    if depth == 0 {
        leaf(n)
    } else {
        // Keep 512 bytes of locals alive in every frame (about 13 KiB of stack at the
        // bottom, more than an 8 KiB stack copy holds).
        let keep = [n; 64];
        let r = black_box(descend(black_box(depth - 1), n.wrapping_add(1)));
        black_box(keep)[0] ^ r
    }
}

fn main() {
    let rounds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1500);
    let mut acc = 0u64;
    for i in 0..rounds {
        acc ^= descend(24, i);
    }
    println!("{acc}");
}
