//! DDPM ancestral sampling (Ho et al. 2020) with diffusers' `DDPMScheduler` semantics,
//! including respacing: n < T steps walk a subsequence of the training timesteps, each step
//! using the effective β_eff = 1 − ᾱ_t/ᾱ_prev of the interval it skips.
//!
//! One step from x_t to x_prev (prev = the next timestep in the list; ᾱ_prev = 1 after the last):
//!
//! ```text
//! x̂0     = from the model output by prediction_type, clipped to ±clip_sample_range if enabled
//! β_eff  = 1 − ᾱ_t/ᾱ_prev
//! μ      = √ᾱ_prev·β_eff/(1−ᾱ_t) · x̂0 + √(ᾱ_t/ᾱ_prev)·(1−ᾱ_prev)/(1−ᾱ_t) · x_t
//! σ²     = (1−ᾱ_prev)/(1−ᾱ_t)·β_eff (fixed_small, clamped ≥ 1e-20) or β_eff (fixed_large)
//! x_prev = μ + σ·z,  z ~ N(0, I), except on the step to the clean sample: x_0 = μ
//! ```
//!
//! diffusers adds noise whenever t > 0; so does difflab, except on a final step that starts
//! above 0 (trailing spacing, `steps_offset`), where diffusers adds σ·z to the finished image
//! (σ ≈ 1e-10 for fixed_small, but √β_eff for fixed_large) and difflab, like the DDPM paper,
//! returns the mean.

use super::config::{self, DdpmConfig, VarianceType};
use super::respaced::{write_step, Respaced};
use super::{Scheduler, SchedulerKind, StepIo};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use std::path::Path;

/// diffusers' `DDPMScheduler`: the noise schedule, the current inference timesteps, and `step`.
#[derive(Clone, Debug)]
pub struct DdpmScheduler {
    config: DdpmConfig,
    core: Respaced,
}

impl DdpmScheduler {
    /// A scheduler from its config, visiting all T timesteps until
    /// [`set_timesteps`](Scheduler::set_timesteps) is called.
    /// Errors on an invalid config (see [`DdpmConfig`]).
    pub fn new(config: DdpmConfig) -> Result<Self> {
        let core = Respaced::new(&config)?;
        Ok(DdpmScheduler { config, core })
    }

    /// Load from a `scheduler_config.json`; every error names the file.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self> {
        config::build_from_file(path.as_ref(), DdpmScheduler::new)
    }

    /// The config it was built from.
    pub fn config(&self) -> &DdpmConfig {
        &self.config
    }

    /// Position of `t` in the current timesteps, or an error.
    fn index_of(&self, t: usize) -> Result<usize> {
        self.core.timesteps.iter().position(|&s| s == t).ok_or_else(|| {
            Error::invalid(format!(
                "DDPM step: timestep {t} is not among the {} current timesteps (call set_timesteps, \
                 then step through timesteps())",
                self.core.timesteps.len()
            ))
        })
    }

    /// (ᾱ_t, ᾱ_prev) with ᾱ_prev = 1 when the step lands on the clean sample.
    fn alphas(&self, t: usize, prev: Option<usize>) -> (f64, f64) {
        let a = self.core.schedule.alphas_cumprod_f64();
        (a[t], prev.map_or(1.0, |p| a[p]))
    }

    /// The standard deviation σ of the noise added at a step from `t` to `prev` (0 when none).
    pub fn std_dev(&self, t: usize) -> Result<f64> {
        let prev = self.prev_timestep(t)?;
        if prev.is_none() {
            return Ok(0.0);
        }
        let (a_t, a_prev) = self.alphas(t, prev);
        let beta_eff = 1.0 - a_t / a_prev;
        let small = ((1.0 - a_prev) / (1.0 - a_t) * beta_eff).max(1e-20);
        Ok(match self.config.variance_type {
            VarianceType::FixedSmall => small.sqrt(),
            VarianceType::FixedSmallLog => (0.5 * small.ln()).exp(),
            VarianceType::FixedLarge => beta_eff.sqrt(),
            VarianceType::FixedLargeLog => (0.5 * beta_eff.ln()).exp(),
        })
    }
}

impl Scheduler for DdpmScheduler {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Ddpm
    }
    fn schedule(&self) -> &NoiseSchedule {
        &self.core.schedule
    }
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        self.core.set_timesteps(num_inference_steps)
    }
    fn timesteps(&self) -> &[usize] {
        &self.core.timesteps
    }
    /// The next timestep in the list (diffusers' `previous_timestep`), `None` after the last.
    fn prev_timestep(&self, t: usize) -> Result<Option<usize>> {
        let i = self.index_of(t)?;
        Ok(self.core.timesteps.get(i + 1).copied())
    }
    fn noise_needed(&self, t: usize) -> Result<bool> {
        Ok(self.prev_timestep(t)?.is_some())
    }
    fn step_io(&self, t: usize, io: StepIo<'_>) -> Result<()> {
        let prev = self.prev_timestep(t)?;
        let noise = io.check("DDPM", prev.is_some())?;
        let (a_t, a_prev) = self.alphas(t, prev);
        let predict = self.core.predict("DDPM", t, a_t)?;
        let beta_prod_t = 1.0 - a_t;
        let alpha_eff = a_t / a_prev;
        let beta_eff = 1.0 - alpha_eff;
        let c_x0 = (a_prev.sqrt() * beta_eff / beta_prod_t) as f32;
        let c_xt = (alpha_eff.sqrt() * (1.0 - a_prev) / beta_prod_t) as f32;
        let sigma = self.std_dev(t)? as f32;
        write_step(io, &predict, noise, sigma, |x0, _, x| c_x0 * x0 + c_xt * x);
        Ok(())
    }
}
