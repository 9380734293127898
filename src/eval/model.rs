//! Evaluating a trained checkpoint folder (as written by `difflab train`): the entry points
//! behind `difflab eval`, callable by `difflab lab` too.

use super::guided::{sweep_guidance, GuidanceSweep};
use super::run::{
    evaluate_denoiser, evaluator_for, sweep_denoiser, sweep_steps, EvalOptions, EvalReport,
    ModelInfo, SweepReport,
};
use super::score::Evaluator;
use crate::schedulers::{ConfigFile, DdpmConfig};
use crate::train::checkpoint::{load_denoiser, CheckpointConfig, SCHEDULER_FILE};
use crate::Result;
use std::path::Path;

/// What the evaluation needs from a checkpoint: image size, trained digits, and the schedule
/// (its `scheduler_config.json` when present, else the linear schedule of `config.json`).
pub fn model_info(dir: &Path, cfg: &CheckpointConfig) -> Result<ModelInfo> {
    let path = dir.join(SCHEDULER_FILE);
    let scheduler = if path.is_file() {
        DdpmConfig::load(&path)?
    } else {
        let s = &cfg.settings.schedule;
        DdpmConfig {
            num_train_timesteps: s.num_train_timesteps,
            beta_start: s.beta_start,
            beta_end: s.beta_end,
            ..Default::default()
        }
    };
    Ok(ModelInfo {
        name: dir.display().to_string(),
        image_size: cfg.settings.data.image_size,
        digits: cfg.settings.data.digits.clone(),
        scheduler,
        start: cfg.start_noise(),
    })
}

/// Load the checkpoint in `dir` (EMA weights when it has them), generate `opts.count` digits
/// with `opts.sampler` and `opts.steps`, and score them (see [`super::score::Evaluator`]).
pub fn evaluate_model(dir: impl AsRef<Path>, opts: &EvalOptions) -> Result<EvalReport> {
    let dir = dir.as_ref();
    let (mut model, cfg) = load_denoiser(dir)?;
    let info = model_info(dir, &cfg)?;
    let evaluator = evaluator_for(&info, opts)?;
    evaluate_denoiser(model.as_mut(), &info, &evaluator, opts)
}

/// Like [`evaluate_model`] for DDPM and DDIM at 10, 25, 50, 100 and all T steps (and at
/// `opts.steps` if that is another count).
pub fn sweep_model(dir: impl AsRef<Path>, opts: &EvalOptions) -> Result<SweepReport> {
    let dir = dir.as_ref();
    let (mut model, cfg) = load_denoiser(dir)?;
    let info = model_info(dir, &cfg)?;
    let mut steps = sweep_steps(info.scheduler.num_train_timesteps);
    if let Some(n) = opts.steps {
        if !steps.contains(&n) {
            steps.push(n);
            steps.sort_unstable();
        }
    }
    let evaluator = evaluator_for(&info, opts)?;
    sweep_denoiser(model.as_mut(), &info, &evaluator, opts, &steps)
}

/// A class-conditional checkpoint asked for `digits` (default: all it was trained on) at each
/// guidance scale of `scales`; the FID reference is the MNIST test digits of `digits`.
pub fn guidance_sweep_model(
    dir: impl AsRef<Path>,
    opts: &EvalOptions,
    digits: Option<&[u8]>,
    scales: &[f32],
) -> Result<GuidanceSweep> {
    let dir = dir.as_ref();
    let (mut model, cfg) = load_denoiser(dir)?;
    let info = model_info(dir, &cfg)?;
    let digits = digits.map_or(info.digits.clone(), <[u8]>::to_vec);
    super::guided::check_digits(model.as_ref(), &info, &digits)?;
    let evaluator = Evaluator::new(
        info.image_size,
        &digits,
        opts.count,
        opts.seed,
        opts.classifier.as_deref(),
        opts.mnist_dir.as_deref(),
        opts.progress,
    )?;
    Ok(sweep_guidance(model.as_mut(), &info, &evaluator, opts, &digits, scales)?.0)
}
