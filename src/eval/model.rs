//! Evaluating a trained checkpoint folder (as written by `difflab train`): the entry points
//! behind `difflab eval`, callable by `difflab lab` too. The folder is opened by
//! [`TrainedModel::load`], the one checkpoint API.

use super::guided::{sweep_guidance, GuidanceSweep};
use super::run::{
    evaluate_denoiser, evaluator_for, sweep_denoiser, sweep_steps, EvalOptions, EvalReport,
    SweepReport,
};
use super::score::Evaluator;
use crate::schedulers::SamplerKind;
pub use crate::train::model_info;
use crate::train::TrainedModel;
use crate::util::progress::{Progress, Silent};
use crate::Result;
use std::path::Path;

/// Load the checkpoint in `dir` (EMA weights when it has them), generate `opts.count` digits
/// with `opts.sampler` and `opts.steps`, and score them (see [`super::score::Evaluator`]).
pub fn evaluate_model(dir: impl AsRef<Path>, opts: &EvalOptions) -> Result<EvalReport> {
    evaluate_model_with_progress(dir, opts, &mut Silent)
}

/// [`evaluate_model`] reporting the sampling to `progress`.
pub fn evaluate_model_with_progress(
    dir: impl AsRef<Path>,
    opts: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<EvalReport> {
    let mut m = TrainedModel::load(dir)?;
    let evaluator = evaluator_for(&m.info, opts, progress)?;
    evaluate_denoiser(&mut m.model, &m.info, &evaluator, opts, progress)
}

/// Like [`evaluate_model`] for each of `samplers` at 10, 20, 50 and all T steps (and at
/// `opts.steps` if that is another count).
pub fn sweep_model(
    dir: impl AsRef<Path>,
    opts: &EvalOptions,
    samplers: &[SamplerKind],
    progress: &mut dyn Progress,
) -> Result<SweepReport> {
    let mut m = TrainedModel::load(dir)?;
    let mut steps = sweep_steps(m.info.scheduler.num_train_timesteps);
    if let Some(n) = opts.steps {
        if !steps.contains(&n) {
            steps.push(n);
            steps.sort_unstable();
        }
    }
    let evaluator = evaluator_for(&m.info, opts, progress)?;
    sweep_denoiser(
        &mut m.model,
        &m.info,
        &evaluator,
        opts,
        &steps,
        samplers,
        progress,
    )
}

/// A class-conditional checkpoint asked for `digits` (default: all it was trained on) at each
/// guidance scale of `scales`; the FID reference is the MNIST test digits of `digits`.
pub fn guidance_sweep_model(
    dir: impl AsRef<Path>,
    opts: &EvalOptions,
    digits: Option<&[u8]>,
    scales: &[f32],
    progress: &mut dyn Progress,
) -> Result<GuidanceSweep> {
    let mut m = TrainedModel::load(dir)?;
    let info = &m.info;
    let digits = digits.map_or(info.digits.clone(), <[u8]>::to_vec);
    super::guided::check_digits(&m.model, info, &digits)?;
    let evaluator = Evaluator::new(
        info.image_size,
        &digits,
        opts.count,
        opts.seed,
        opts.classifier.as_deref(),
        opts.mnist_dir.as_deref(),
        progress,
    )?;
    let (sweep, _) = sweep_guidance(
        &mut m.model,
        info,
        &evaluator,
        opts,
        &digits,
        scales,
        progress,
    )?;
    Ok(sweep)
}
