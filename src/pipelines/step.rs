//! Where one step of a sampling loop is ([`StepInfo`]), for hooks and noise sources.

use crate::schedulers::{NoiseLevel, Sampler};
use crate::Result;
use std::ops::Range;

/// Where one step is, for hooks and noise sources.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInfo {
    /// Loop index k (0 = first step).
    pub index: usize,
    /// Number of loop steps ([`Sampler::num_steps`]).
    pub num_steps: usize,
    /// The timestep t_k the model is told.
    pub t: f64,
    /// The next loop index's timestep (`None` at the last step).
    pub prev_t: Option<f64>,
    /// The noise level of the sample entering the step ([`Sampler::level_before`]).
    pub level: NoiseLevel,
    /// The noise level the step lands on ([`Sampler::level_after`]; ᾱ = 1 when clean).
    pub next: NoiseLevel,
    /// The absolute sample indices of the batch.
    pub samples: Range<u64>,
}

impl StepInfo {
    /// Step k of `sampler`'s current timesteps for the batch `samples`.
    pub fn new(sampler: &dyn Sampler, k: usize, samples: Range<u64>) -> Result<Self> {
        let ts = sampler.timesteps();
        sampler.check_index(k)?;
        Ok(StepInfo {
            index: k,
            num_steps: ts.len(),
            t: ts[k],
            prev_t: ts.get(k + 1).copied(),
            level: sampler.level_before(k)?,
            next: sampler.level_after(k)?,
            samples,
        })
    }
    /// Whether this is the loop's last step (it lands on the clean sample).
    pub fn is_last(&self) -> bool {
        self.index + 1 == self.num_steps
    }
}
