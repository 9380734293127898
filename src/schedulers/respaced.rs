//! What the two timestep-keyed schedulers, DDPM and DDIM, share: the validated training
//! schedule, the respaced inference timesteps, and how a step reads the model's output and
//! writes its results.

use super::config::{DdpmConfig, PredictionType, TimestepSpacing};
use super::{spaced_timesteps, Predict, StepIo};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};

/// The schedule, timesteps and x̂0 rule of a DDPM or DDIM scheduler.
#[derive(Clone, Debug)]
pub(crate) struct Respaced {
    /// The training schedule (betas and ᾱ).
    pub schedule: NoiseSchedule,
    /// The timesteps the loop visits, descending: all T until `set_timesteps`.
    pub timesteps: Vec<usize>,
    /// T div n for the current n (1 until `set_timesteps`).
    pub step_ratio: usize,
    spacing: TimestepSpacing,
    steps_offset: usize,
    prediction_type: PredictionType,
    clip: Option<f64>,
}

impl Respaced {
    /// From DDPM's fields (DDIM's shared ones convert to them); errors on an invalid config.
    pub fn new(config: &DdpmConfig) -> Result<Self> {
        Ok(Respaced {
            schedule: config.schedule()?,
            timesteps: (0..config.num_train_timesteps).rev().collect(),
            step_ratio: 1,
            spacing: config.timestep_spacing,
            steps_offset: config.steps_offset,
            prediction_type: config.prediction_type,
            clip: config.clip_sample.then_some(config.clip_sample_range),
        })
    }

    /// Respace to `n` timesteps per the config's `timestep_spacing` (see [`spaced_timesteps`]).
    pub fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let t_train = self.schedule.num_train_timesteps();
        self.timesteps = spaced_timesteps(t_train, n, self.spacing, self.steps_offset)?;
        self.step_ratio = t_train / n;
        Ok(())
    }

    /// How `who`'s step at `t`, where ᾱ_t = `alpha_prod_t`, turns the model's output into x̂0
    /// (clipped if configured) and ε̂. An error for an ε-prediction at ᾱ_t = 0 (the first step
    /// of a zero-terminal-SNR schedule), where x̂0 = (x − √(1−ᾱ)·ε)/√ᾱ divides by zero.
    pub fn predict(&self, who: &str, t: usize, alpha_prod_t: f64) -> Result<Predict> {
        if alpha_prod_t <= 0.0 && self.prediction_type == PredictionType::Epsilon {
            return Err(Error::invalid(format!(
                "{who} step at t = {t}: ᾱ_t = 0 (zero terminal SNR), where an epsilon prediction \
                 cannot give x̂0 (it divides by √ᾱ_t = 0); use prediction_type v_prediction"
            )));
        }
        Ok(Predict::new(self.prediction_type, alpha_prod_t, self.clip))
    }
}

/// Write a step's results element by element: x̂0 and ε̂ by `predict`, x̂0 into
/// `io.pred_original_sample`, and `mean(x̂0, ε̂, x) + σ·z` into `io.prev_sample`, with the noise
/// term only where `noise` (the checked noise, see [`StepIo`]) is given.
pub(crate) fn write_step(
    io: StepIo<'_>,
    predict: &Predict,
    noise: Option<&[f32]>,
    sigma: f32,
    mean: impl Fn(f32, f32, f32) -> f32,
) {
    for i in 0..io.sample.len() {
        let x = io.sample[i];
        let (x0, eps) = predict.x0_eps(io.model_output[i], x);
        io.pred_original_sample[i] = x0;
        let m = mean(x0, eps, x);
        io.prev_sample[i] = match noise {
            Some(z) => m + sigma * z[i],
            None => m,
        };
    }
}
