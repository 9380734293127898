//! DDPM sampling from a freshly trained model, for `preview.png` and the benchmark: all T
//! steps of diffusers' `DDPMScheduler` with the run's schedule (variance `fixed_small`, x̂0
//! clipped to [−1, 1]).

use super::settings::ScheduleConfig;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::schedulers::{DdpmConfig, DdpmScheduler, Scheduler};
use crate::util::rng::Rng;
use crate::Result;

/// The DDPM scheduler config matching a training schedule (diffusers' defaults otherwise).
pub fn ddpm_config(s: &ScheduleConfig) -> DdpmConfig {
    DdpmConfig { num_train_timesteps: s.num_train_timesteps, beta_start: s.beta_start, beta_end: s.beta_end, ..DdpmConfig::default() }
}

/// `n` samples of `size × size × channels` (NHWC, model range) after all T reverse steps,
/// starting from noise of `Rng::seeded(seed)`; `tick` is called after every step.
pub fn ddpm_sample(model: &mut dyn NoisePredictor, schedule: &ScheduleConfig, n: usize, size: usize, channels: usize, seed: u64, mut tick: impl FnMut()) -> Result<Tensor> {
    let sched = DdpmScheduler::new(ddpm_config(schedule))?;
    let mut rng = Rng::seeded(seed);
    let mut x = Tensor::new(vec![n, size, size, channels], rng.normal_vec(n * size * size * channels))?;
    let steps: Vec<usize> = sched.timesteps().to_vec();
    for t in steps {
        let eps = model.predict(&x, &vec![t as f32; n])?;
        let out = sched.step_with_rng(eps.data(), t, x.data(), &mut rng)?;
        x = Tensor::new(vec![n, size, size, channels], out.prev_sample)?;
        tick();
    }
    Ok(x)
}
