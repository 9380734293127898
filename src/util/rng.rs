//! Seeded, reproducible randomness for weights, noise and data order.
//!
//! One generator type everywhere ([`Rng`], ChaCha8), so a `--seed` fixes every draw. Normal
//! samples come from `rand_distr::StandardNormal`.

use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// difflab's random generator: ChaCha8 seeded from a `u64`.
pub struct Rng(rand_chacha::ChaCha8Rng);

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn seeded(seed: u64) -> Self {
        Rng(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }
    /// An independent generator for sub-stream `stream` of `seed` (e.g. one per sample or per epoch).
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream);
        Rng(r)
    }
    /// Fill `out` with independent N(0, 1) samples.
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        for v in out.iter_mut() {
            *v = StandardNormal.sample(&mut self.0);
        }
    }
    /// A vector of `n` N(0, 1) samples.
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        let mut v = vec![0.0; n];
        self.fill_normal(&mut v);
        v
    }
    /// One N(0, 1) sample.
    pub fn normal(&mut self) -> f32 {
        StandardNormal.sample(&mut self.0)
    }
    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0.gen_range(lo..hi)
    }
    /// Uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.gen_range(0..n)
    }
    /// Shuffle `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        use rand::seq::SliceRandom;
        items.shuffle(&mut self.0);
    }
}
