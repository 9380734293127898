//! Where a sampling run's randomness comes from: the [`NoiseSource`] trait and its default,
//! [`SeededNoise`] (sample `i` draws from its own stream `Rng::stream(seed, i)`).

use super::step::StepInfo;
use crate::util::rng::Rng;
use crate::{Error, Result};
use std::ops::Range;

/// Supplies the randomness of a run: the initial noise and the noise of each noisy step, as
/// standard normals laid out like the batch (`samples.len()` items of h·w·c values, NHWC).
pub trait NoiseSource {
    /// Fill `out` with the standard normals of x_T for `samples` (the loop scales them: see
    /// [`crate::pipelines::sample::start_sample`]).
    fn initial(&mut self, samples: Range<u64>, out: &mut [f32]) -> Result<()>;
    /// Fill `out` with the noise of the step described by `step` (called only when the
    /// sampler's step `step.index` adds noise, and by inpainting for the known region).
    fn step_noise(&mut self, step: &StepInfo, out: &mut [f32]) -> Result<()>;
}

/// The default [`NoiseSource`]: sample `i` draws from `Rng::stream(seed, i)`, x_T first, then
/// each step's noise in loop order.
pub struct SeededNoise {
    seed: u64,
    first: u64,
    streams: Vec<Rng>,
}

impl SeededNoise {
    /// Streams of `seed`.
    pub fn new(seed: u64) -> Self {
        SeededNoise {
            seed,
            first: 0,
            streams: Vec::new(),
        }
    }
    fn fill(&mut self, samples: &Range<u64>, out: &mut [f32]) -> Result<()> {
        let n = self.streams.len();
        if samples.start != self.first || (samples.end - samples.start) as usize != n || n == 0 {
            return Err(Error::invalid(format!(
                "step noise asked for samples {samples:?}, but initial noise was drawn for {}..{}",
                self.first,
                self.first + n as u64
            )));
        }
        if !out.len().is_multiple_of(n) {
            return Err(Error::invalid(format!(
                "noise buffer of {} values for {n} samples",
                out.len()
            )));
        }
        let per = out.len() / n;
        for (rng, chunk) in self.streams.iter_mut().zip(out.chunks_mut(per)) {
            rng.fill_normal(chunk);
        }
        Ok(())
    }
}

impl NoiseSource for SeededNoise {
    fn initial(&mut self, samples: Range<u64>, out: &mut [f32]) -> Result<()> {
        self.first = samples.start;
        self.streams = samples.clone().map(|i| Rng::stream(self.seed, i)).collect();
        self.fill(&samples, out)
    }
    fn step_noise(&mut self, step: &StepInfo, out: &mut [f32]) -> Result<()> {
        self.fill(&step.samples, out)
    }
}
