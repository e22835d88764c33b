//! Detection scenarios with known distributions, driven by a fake clock.

mod scenarios;

/// Deterministic normal random numbers (xorshift64* + Box–Muller).
pub struct Noise(u64);

impl Noise {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Noise(seed.max(1))
    }

    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A normal value with the given mean and standard deviation, floored at 1 µs.
    pub fn normal_ns(&mut self, mean_ms: f64, sd_ms: f64) -> u64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        ((mean_ms + sd_ms * z) * 1e6).max(1e3) as u64
    }
}
