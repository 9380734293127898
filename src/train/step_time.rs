//! How long one training step takes on this machine: `difflab train` and the lab use it to
//! estimate a run's duration before it starts, and `difflab bench` reports it.

use crate::models::{Arch, Denoiser, ModelConfig};
use crate::nn::optim::{Adam, AdamConfig};
use crate::util::rng::Rng;
use crate::util::timing::{median, time_runs};
use crate::Result;

/// Milliseconds per training step of `arch` (median of `runs` after `warmup`) on random images
/// and timesteps, batch `batch`, 16×16; `tick` after each timed step.
pub fn train_step_ms(
    arch: Arch,
    batch: usize,
    warmup: usize,
    runs: usize,
    tick: impl FnMut(),
) -> Result<f64> {
    let mut rng = Rng::seeded(7);
    let mut model = Denoiser::new(&ModelConfig::new(arch, 16), &mut rng)?;
    let mut ctx = model.train_ctx(batch, 16, 16)?;
    let mut adam = Adam::new(AdamConfig::adam(1e-3), model.num_params());
    let x = rng.normal_vec(batch * 256);
    let noise = rng.normal_vec(batch * 256);
    let t: Vec<f32> = (0..batch).map(|_| rng.below(200) as f32).collect();
    // The model made the context, so neither call can fail; a failure would still be reported.
    let mut failed = None;
    let times = time_runs(
        warmup,
        runs,
        || {
            let step = model
                .forward(&mut ctx, &x, &t)
                .map(|_| ())
                .and_then(|()| model.loss_backward(&mut ctx, &noise));
            if let Err(e) = step {
                failed.get_or_insert(e);
            }
            adam.step(model.params_mut(), ctx.grads());
        },
        tick,
    );
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(1e3 * median(&times))
}
