//! DDPM and DDIM as [`Sampler`]s: a timestep-keyed [`Scheduler`] driven by the loop index.
//!
//! Both are single-step schedulers, so step k is just the wrapped scheduler's step at
//! t = `timesteps()[k]`; it may be repeated or run out of order. The level a step lands on is
//! ᾱ of the wrapped scheduler's [`prev_timestep`](Scheduler::prev_timestep), or after the last
//! step its [`final_alpha_bar`](Scheduler::final_alpha_bar) (1, or ᾱ_0 for DDIM without
//! `set_alpha_to_one`).

use super::config::PredictionType;
use super::sampler::{NoiseLevel, Sampler, SamplerKind};
use super::{DdimScheduler, DdpmScheduler, Scheduler, SchedulerKind, StepIo};
use crate::diffusion::NoiseSchedule;
use crate::Result;

/// A timestep-keyed [`Scheduler`] (DDPM or DDIM) seen as a [`Sampler`].
#[derive(Clone, Debug)]
pub struct Indexed<S> {
    inner: S,
    timesteps: Vec<f64>,
}

impl<S: Scheduler> Indexed<S> {
    /// Wrap a scheduler; its current timesteps carry over.
    pub fn new(inner: S) -> Self {
        let timesteps = inner.timesteps().iter().map(|&t| t as f64).collect();
        Indexed { inner, timesteps }
    }
    /// The wrapped scheduler.
    pub fn inner(&self) -> &S {
        &self.inner
    }
    /// The wrapped scheduler, e.g. to set DDIM's `eta`.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: Scheduler + HasPredictionType> Indexed<S> {
    /// The training timestep of loop index k.
    fn t(&self, k: usize) -> Result<usize> {
        self.check_index(k)?;
        Ok(self.inner.timesteps()[k])
    }
}

/// The prediction type of a wrapped DDPM or DDIM scheduler.
pub trait HasPredictionType {
    /// What the model predicts.
    fn prediction_type(&self) -> PredictionType;
}

impl HasPredictionType for DdpmScheduler {
    fn prediction_type(&self) -> PredictionType {
        self.config().prediction_type
    }
}

impl HasPredictionType for DdimScheduler {
    fn prediction_type(&self) -> PredictionType {
        self.config().prediction_type
    }
}

impl<S: Scheduler + HasPredictionType> Sampler for Indexed<S> {
    fn kind(&self) -> SamplerKind {
        match self.inner.kind() {
            SchedulerKind::Ddpm => SamplerKind::Ddpm,
            SchedulerKind::Ddim => SamplerKind::Ddim,
        }
    }
    fn schedule(&self) -> &NoiseSchedule {
        self.inner.schedule()
    }
    fn alphas_cumprod(&self) -> &[f64] {
        self.inner.schedule().alphas_cumprod_f64()
    }
    fn prediction_type(&self) -> PredictionType {
        HasPredictionType::prediction_type(&self.inner)
    }
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        self.inner.set_timesteps(n)?;
        self.timesteps = self.inner.timesteps().iter().map(|&t| t as f64).collect();
        Ok(())
    }
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }
    fn noise_needed(&self, k: usize) -> Result<bool> {
        self.inner.noise_needed(self.t(k)?)
    }
    fn level_before(&self, k: usize) -> Result<NoiseLevel> {
        Ok(NoiseLevel::vp(self.inner.schedule().alpha_bar(self.t(k)?)))
    }
    fn level_after(&self, k: usize) -> Result<NoiseLevel> {
        let a = match self.inner.prev_timestep(self.t(k)?)? {
            Some(p) => self.inner.schedule().alpha_bar(p),
            None => self.inner.final_alpha_bar(),
        };
        Ok(NoiseLevel::vp(a))
    }
    fn reset(&mut self) {}
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()> {
        let t = self.t(k)?;
        self.inner.step_io(t, io)
    }
}
