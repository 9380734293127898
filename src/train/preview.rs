//! DDPM sampling from a freshly trained model, for `preview.png` and the benchmark: all T
//! steps of diffusers' `DDPMScheduler` with the run's schedule (variance `fixed_small`, x̂0
//! clipped to [−1, 1]), through the shared sampling pipeline.

use super::settings::ScheduleConfig;
use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::sample::{sample, SampleOptions};
use crate::schedulers::{DdpmConfig, DdpmScheduler};
use crate::Result;

/// The DDPM scheduler config matching a training schedule (diffusers' defaults otherwise).
pub fn ddpm_config(s: &ScheduleConfig) -> DdpmConfig {
    DdpmConfig {
        num_train_timesteps: s.num_train_timesteps,
        beta_start: s.beta_start,
        beta_end: s.beta_end,
        ..DdpmConfig::default()
    }
}

/// `n` samples of `shape` (`[height, width, channels]`; NHWC, model range) after all T reverse
/// steps from `start`, in one batch, seeded by `seed`; a progress bar when `progress`.
pub fn ddpm_sample(
    model: &mut dyn NoisePredictor,
    schedule: &ScheduleConfig,
    n: usize,
    shape: [usize; 3],
    seed: u64,
    start: StartNoise,
    progress: bool,
) -> Result<Tensor> {
    let mut sched = DdpmScheduler::new(ddpm_config(schedule))?;
    let opts = SampleOptions {
        count: n,
        seed,
        progress,
        label: "preview (DDPM)".into(),
        start,
        ..SampleOptions::new(shape, schedule.num_train_timesteps)
    };
    Ok(sample(model, &mut sched, &opts)?.images)
}
