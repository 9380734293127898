//! DDPM sampling from a freshly trained model, for `preview.png` and the benchmark: all T
//! steps of diffusers' `DDPMScheduler` with the run's schedule (variance `fixed_small`, x̂0
//! clipped to [−1, 1]), through the shared sampling pipeline.

use super::settings::ScheduleConfig;
use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::sample::{sample_with_progress, NoHooks, SampleOptions, SeededNoise};
use crate::schedulers::{DdpmConfig, DdpmScheduler, Indexed};
use crate::util::progress::Progress;
use crate::Result;

/// The DDPM scheduler config matching a training schedule (its prediction type and zero-SNR
/// rescaling included; diffusers' defaults otherwise).
pub fn ddpm_config(s: &ScheduleConfig) -> DdpmConfig {
    DdpmConfig {
        num_train_timesteps: s.num_train_timesteps,
        beta_start: s.beta_start,
        beta_end: s.beta_end,
        prediction_type: s.prediction_type,
        rescale_betas_zero_snr: s.rescale_betas_zero_snr,
        ..DdpmConfig::default()
    }
}

/// What [`ddpm_sample_with_progress`] draws: `n` samples of `shape` (`[height, width,
/// channels]`, NHWC) in one batch, seeded by `seed`, starting from `start`.
#[derive(Clone, Copy, Debug)]
pub struct PreviewRun {
    /// Samples.
    pub n: usize,
    /// Shape of one sample.
    pub shape: [usize; 3],
    /// Seed (sample i: stream i).
    pub seed: u64,
    /// Where sampling starts.
    pub start: StartNoise,
}

/// The samples of `run` (model range) after all T reverse steps of `schedule`, reporting to
/// `progress` as the job `preview (DDPM)`.
pub fn ddpm_sample_with_progress(
    model: &mut dyn NoisePredictor,
    schedule: &ScheduleConfig,
    run: &PreviewRun,
    progress: &mut dyn Progress,
) -> Result<Tensor> {
    let mut sched = Indexed::new(DdpmScheduler::new(ddpm_config(schedule))?);
    let opts = SampleOptions {
        count: run.n,
        seed: run.seed,
        label: "preview (DDPM)".into(),
        start: run.start,
        ..SampleOptions::new(run.shape, schedule.num_train_timesteps)
    };
    let mut noise = SeededNoise::new(run.seed);
    Ok(sample_with_progress(model, &mut sched, &opts, &mut noise, &mut NoHooks, progress)?.images)
}
