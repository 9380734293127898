//! DDIM sampling (Song et al. 2021) with diffusers' `DDIMScheduler` semantics.
//!
//! One step from x_t to x_prev, with prev = t − (T div n) as in diffusers (for every spacing),
//! ᾱ_prev = `ᾱ[prev]`, or when prev < 0 the "final" ᾱ: 1 with `set_alpha_to_one`, else ᾱ_0:
//!
//! ```text
//! x̂0, ε̂  = from the model output by prediction_type (x̂0 clipped if enabled, ε̂ from the raw
//!           one, or with `use_clipped_model_output` re-derived from the clipped x̂0)
//! σ       = η·√((1−ᾱ_prev)/(1−ᾱ_t)·(1 − ᾱ_t/ᾱ_prev))
//! x_prev  = √ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ + σ·z,  z ~ N(0, I)
//! ```
//!
//! η = 0 is deterministic; η = 1 gives DDPM's posterior variance. With `set_alpha_to_one` the
//! last step's σ is 0, so no noise is added to the finished sample.
//!
//! diffusers' default (`use_clipped_model_output = False`) pairs a clipped x̂0 with the raw ε̂,
//! so x_prev no longer decomposes into the x̂0 and ε̂ it was built from, and the mismatch adds up
//! over the steps: on difflab's toy model FID *rises* from 57 at 10 steps to 152 at 200. With
//! the option (GLIDE's choice) ε̂ = (x_t − √ᾱ_t·x̂0)/√(1−ᾱ_t) and more steps help (54 → 40).

use super::config::{self, DdimConfig, DdpmConfig};
use super::respaced::{write_step, Respaced};
use super::{Scheduler, SchedulerKind, StepIo};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use std::path::Path;

/// diffusers' `DDIMScheduler`: the noise schedule, the current inference timesteps, `eta` and
/// `step`.
#[derive(Clone, Debug)]
pub struct DdimScheduler {
    config: DdimConfig,
    core: Respaced,
    final_alpha_cumprod: f64,
    eta: f32,
    use_clipped_model_output: bool,
}

impl DdimScheduler {
    /// A scheduler from its config, with `eta` 0, visiting all T timesteps (each step to t − 1)
    /// until [`set_timesteps`](Scheduler::set_timesteps) is called.
    /// Errors on an invalid config (see [`DdimConfig`]).
    pub fn new(config: DdimConfig) -> Result<Self> {
        let core = Respaced::new(&DdpmConfig::from(&config))?;
        let final_alpha_cumprod = if config.set_alpha_to_one {
            1.0
        } else {
            core.schedule.alphas_cumprod_f64()[0]
        };
        Ok(DdimScheduler {
            config,
            core,
            final_alpha_cumprod,
            eta: 0.0,
            use_clipped_model_output: false,
        })
    }

    /// Load from a `scheduler_config.json`; every error names the file.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self> {
        config::build_from_file(path.as_ref(), DdimScheduler::new)
    }

    /// The config it was built from.
    pub fn config(&self) -> &DdimConfig {
        &self.config
    }

    /// η, the weight of the noise the trait's [`step`](Scheduler::step) adds.
    pub fn eta(&self) -> f32 {
        self.eta
    }

    /// Set η for the trait's [`step`](Scheduler::step): 0 (deterministic DDIM) … 1 (DDPM's
    /// variance). Errors outside [0, 1], where √(1−ᾱ_prev−σ²) may not exist.
    pub fn set_eta(&mut self, eta: f32) -> Result<()> {
        check_eta(eta)?;
        self.eta = eta;
        Ok(())
    }

    /// Whether a step re-derives ε̂ from the clipped x̂0 (diffusers' `use_clipped_model_output`).
    pub fn use_clipped_model_output(&self) -> bool {
        self.use_clipped_model_output
    }

    /// diffusers' `step(…, use_clipped_model_output=on)` for every step: with `clip_sample`, ε̂
    /// becomes (x_t − √ᾱ_t·x̂0)/√(1−ᾱ_t) from the clipped x̂0, so each step stays consistent
    /// (see the module docs). Off by default, as in diffusers; no effect without clipping.
    pub fn set_use_clipped_model_output(&mut self, on: bool) {
        self.use_clipped_model_output = on;
    }

    /// (ᾱ_t, ᾱ_prev) for a step from `t`.
    fn alphas(&self, t: usize) -> Result<(f64, f64)> {
        let a = self.core.schedule.alphas_cumprod_f64();
        if t >= a.len() {
            return Err(Error::invalid(format!(
                "DDIM step: timestep {t} is outside 0..{}",
                a.len()
            )));
        }
        let prev = t.checked_sub(self.core.step_ratio);
        Ok((a[t], prev.map_or(self.final_alpha_cumprod, |p| a[p])))
    }

    /// σ at `t` for a given η: η·√((1−ᾱ_prev)/(1−ᾱ_t)·(1 − ᾱ_t/ᾱ_prev)).
    pub fn std_dev(&self, t: usize, eta: f32) -> Result<f64> {
        let (a_t, a_prev) = self.alphas(t)?;
        let variance = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev);
        Ok(eta as f64 * variance.max(0.0).sqrt())
    }

    /// diffusers' `step(model_output, t, sample, eta, variance_noise=noise)`: like the trait's
    /// [`step_io`](Scheduler::step_io) with an explicit η. `io.noise` is required when σ > 0.
    pub fn step_with_eta(&self, t: usize, eta: f32, io: StepIo<'_>) -> Result<()> {
        check_eta(eta)?;
        let (a_t, a_prev) = self.alphas(t)?;
        let predict = self.core.predict("DDIM", t, a_t)?;
        let sigma = self.std_dev(t, eta)?;
        let noise = io.check("DDIM", sigma > 0.0)?;
        let c_x0 = a_prev.sqrt() as f32;
        // 1 − ᾱ_prev − σ² ≥ 0 for η ≤ 1; the clamp only absorbs rounding.
        let c_eps = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt() as f32;
        let rederive = self.use_clipped_model_output && self.config.clip_sample;
        write_step(io, &predict, noise, sigma as f32, |x0, eps, x| {
            let eps = if rederive {
                predict.eps_from_x0(x0, x)
            } else {
                eps
            };
            c_x0 * x0 + c_eps * eps
        });
        Ok(())
    }
}

fn check_eta(eta: f32) -> Result<()> {
    if (0.0..=1.0).contains(&eta) {
        Ok(())
    } else {
        Err(Error::invalid(format!("eta must lie in [0, 1], got {eta}")))
    }
}

impl Scheduler for DdimScheduler {
    fn kind(&self) -> SchedulerKind {
        SchedulerKind::Ddim
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
    fn final_alpha_bar(&self) -> f64 {
        self.final_alpha_cumprod
    }
    /// t − (T div n), `None` when negative (the step lands on the "final" ᾱ).
    fn prev_timestep(&self, t: usize) -> Result<Option<usize>> {
        self.alphas(t)?;
        Ok(t.checked_sub(self.core.step_ratio))
    }
    fn noise_needed(&self, t: usize) -> Result<bool> {
        Ok(self.std_dev(t, self.eta)? > 0.0)
    }
    fn step_io(&self, t: usize, io: StepIo<'_>) -> Result<()> {
        self.step_with_eta(t, self.eta, io)
    }
}
