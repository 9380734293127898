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

use super::config::{DdpmConfig, VarianceType};
use super::{check_step_args, check_terminal, spaced_timesteps, Predict, Scheduler, SchedulerKind};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use std::path::Path;

/// diffusers' `DDPMScheduler`: the noise schedule, the current inference timesteps, and `step`.
#[derive(Clone, Debug)]
pub struct DdpmScheduler {
    config: DdpmConfig,
    schedule: NoiseSchedule,
    timesteps: Vec<usize>,
}

impl DdpmScheduler {
    /// A scheduler from its config, visiting all T timesteps until
    /// [`set_timesteps`](Scheduler::set_timesteps) is called.
    /// Errors on an invalid config (see [`DdpmConfig`]).
    pub fn new(config: DdpmConfig) -> Result<Self> {
        let schedule = config.common().schedule()?;
        let timesteps = (0..config.num_train_timesteps).rev().collect();
        Ok(DdpmScheduler {
            config,
            schedule,
            timesteps,
        })
    }

    /// Load from a `scheduler_config.json`; every error names the file.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let config = DdpmConfig::load(path)?;
        DdpmScheduler::new(config).map_err(|e| Error::file(path, e.to_string()))
    }

    /// The config it was built from.
    pub fn config(&self) -> &DdpmConfig {
        &self.config
    }

    /// Position of `t` in the current timesteps, or an error.
    fn index_of(&self, t: usize) -> Result<usize> {
        self.timesteps.iter().position(|&s| s == t).ok_or_else(|| {
            Error::invalid(format!(
                "DDPM step: timestep {t} is not among the {} current timesteps (call set_timesteps, \
                 then step through timesteps())",
                self.timesteps.len()
            ))
        })
    }

    /// (ᾱ_t, ᾱ_prev) with ᾱ_prev = 1 when the step lands on the clean sample.
    fn alphas(&self, t: usize, prev: Option<usize>) -> (f64, f64) {
        let a = self.schedule.alphas_cumprod_f64();
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
        &self.schedule
    }
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        self.timesteps = spaced_timesteps(
            self.config.num_train_timesteps,
            num_inference_steps,
            self.config.timestep_spacing,
            self.config.steps_offset,
        )?;
        Ok(())
    }
    fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }
    /// The next timestep in the list (diffusers' `previous_timestep`), `None` after the last.
    fn prev_timestep(&self, t: usize) -> Result<Option<usize>> {
        let i = self.index_of(t)?;
        Ok(self.timesteps.get(i + 1).copied())
    }
    fn noise_needed(&self, t: usize) -> Result<bool> {
        Ok(self.prev_timestep(t)?.is_some())
    }
    fn step_into(
        &self,
        model_output: &[f32],
        t: usize,
        sample: &[f32],
        noise: Option<&[f32]>,
        prev_sample: &mut [f32],
        pred_original_sample: &mut [f32],
    ) -> Result<()> {
        let prev = self.prev_timestep(t)?;
        let noisy = prev.is_some();
        check_step_args(
            "DDPM",
            model_output,
            sample,
            noise,
            noisy,
            prev_sample,
            pred_original_sample,
        )?;
        let (a_t, a_prev) = self.alphas(t, prev);
        check_terminal("DDPM", self.config.prediction_type, a_t, t)?;
        let beta_prod_t = 1.0 - a_t;
        let alpha_eff = a_t / a_prev;
        let beta_eff = 1.0 - alpha_eff;
        let c_x0 = (a_prev.sqrt() * beta_eff / beta_prod_t) as f32;
        let c_xt = (alpha_eff.sqrt() * (1.0 - a_prev) / beta_prod_t) as f32;
        let sigma = self.std_dev(t)? as f32;
        let clip = self
            .config
            .clip_sample
            .then_some(self.config.clip_sample_range);
        let predict = Predict::new(self.config.prediction_type, a_t, clip);

        for i in 0..sample.len() {
            let x = sample[i];
            let (x0, _) = predict.x0_eps(model_output[i], x);
            pred_original_sample[i] = x0;
            let mean = c_x0 * x0 + c_xt * x;
            prev_sample[i] = match (noisy, noise) {
                (true, Some(z)) => mean + sigma * z[i],
                _ => mean,
            };
        }
        Ok(())
    }
}
