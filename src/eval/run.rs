//! Evaluating a denoiser: generate digits with the sampling pipeline and score them, once
//! ([`evaluate_denoiser`]) or across samplers and step counts ([`sweep_denoiser`]).

use super::score::{Evaluator, SetScores, CONFIDENCE};
use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::pipelines::sample::{
    check_steps, sample_with_progress, NoHooks, SampleOptions, SeededNoise,
};
use crate::schedulers::{AnySampler, Sampler, SamplerKind};
pub use crate::train::ModelInfo;
use crate::util::progress::Progress;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Digits to generate (and real digits in the floor).
    pub count: usize,
    /// The sampler.
    pub sampler: SamplerKind,
    /// Sampling steps; `None` = all T training timesteps.
    pub steps: Option<usize>,
    /// Seed of the generation (sample `i` uses stream `i`) and of the floor's choice of digits.
    pub seed: u64,
    /// Most samples sent through the model at once (0 = all).
    pub batch_size: usize,
    /// The classifier file (default: the cache, trained on first use).
    pub classifier: Option<PathBuf>,
    /// Where MNIST is (default: the data layer's lookup).
    pub mnist_dir: Option<PathBuf>,
    /// Start sampling from pure noise N(0, I), as the Python lab does, instead of the model's
    /// own start (noise matched to its training data; see [`StartNoise`]).
    pub pure_start: bool,
    /// DDIM exactly as diffusers' default step, pairing the clipped x̂0 with the raw ε̂, instead
    /// of difflab's consistent step (ε̂ re-derived from the clipped x̂0; see
    /// [`crate::schedulers::DdimScheduler::set_use_clipped_model_output`]).
    pub diffusers_ddim: bool,
}

impl EvalOptions {
    /// The sampler these options ask for, on `info`'s schedule (an error when it cannot run
    /// the model's `prediction_type`).
    pub fn sampler(&self, info: &ModelInfo) -> Result<AnySampler> {
        let mut s = crate::train::trained::sampler_for(self.sampler, &info.scheduler)?;
        s.set_use_clipped_model_output(!self.diffusers_ddim);
        Ok(s)
    }
}

impl EvalOptions {
    /// The sampling run of these options for `info` at `steps`: `count` one-channel digits of
    /// its size in batches of `batch_size`, seeded by `seed`, from its start (or pure noise).
    pub fn sample_options(&self, info: &ModelInfo, steps: usize, label: String) -> SampleOptions {
        let s = info.image_size;
        SampleOptions {
            count: self.count,
            batch_size: self.batch_size,
            seed: self.seed,
            label,
            start: info.start.or_pure(self.pure_start),
            ..SampleOptions::new([s, s, 1], steps)
        }
    }
}

impl Default for EvalOptions {
    /// 1000 digits, DDPM over all steps, seed 42, batches of 250, no progress bars.
    fn default() -> Self {
        EvalOptions {
            count: 1000,
            sampler: SamplerKind::Ddpm,
            steps: None,
            seed: 42,
            batch_size: 250,
            classifier: None,
            mnist_dir: None,
            pure_start: false,
            diffusers_ddim: false,
        }
    }
}

/// The classifier behind the scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSummary {
    /// Its file (`None` if it was not cached).
    pub path: Option<PathBuf>,
    /// Side of the digits it takes.
    pub image_size: usize,
    /// Accuracy on the 10,000 MNIST test digits.
    pub test_accuracy: f64,
}

fn pure_name() -> String {
    StartNoise::Pure.name().into()
}

/// One evaluation, as printed and written to `eval.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The model evaluated.
    pub model: String,
    /// The sampler's short name (`ddpm`, `ddim`, `dpm++`, …; see
    /// [`SamplerKind::name`]).
    pub sampler: String,
    /// `matched` or `pure`: where sampling started (see [`StartNoise`]). Absent in reports
    /// from before it was recorded, which started from pure noise.
    #[serde(default = "pure_name")]
    pub start: String,
    /// True when DDIM ran diffusers' default step (clipped x̂0 with the raw ε̂) rather than
    /// difflab's consistent one ([`EvalOptions::diffusers_ddim`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub diffusers_ddim: bool,
    /// Sampling steps used.
    pub steps: usize,
    /// T, the model's training timesteps.
    pub num_train_timesteps: usize,
    /// Seed of the generation.
    pub seed: u64,
    /// Side of the digits.
    pub image_size: usize,
    /// The digits the model was trained on.
    pub digits: Vec<u8>,
    /// Top-class probability needed to count as recognised.
    pub confidence_threshold: f32,
    /// The generated digits' scores (count, recognised, in_classes, class_histogram, fid).
    #[serde(flatten)]
    pub generated: SetScores,
    /// The same scores for as many real MNIST training digits of the same classes.
    pub floor: SetScores,
    /// Number of MNIST test digits of the trained classes the FIDs are measured against.
    pub reference_count: usize,
    /// The classifier.
    pub classifier: ClassifierSummary,
    /// Wall time of the generation.
    pub sample_seconds: f64,
    /// Digits generated per second.
    pub images_per_second: f64,
    /// Wall time of the scoring.
    pub score_seconds: f64,
}

/// The ready-made [`Evaluator`] for a model: its classifier (cached, or trained reporting to
/// `progress`), reference and floor for `opts.count` digits.
pub fn evaluator_for(
    info: &ModelInfo,
    opts: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<Evaluator> {
    Evaluator::new(
        info.image_size,
        &info.digits,
        opts.count,
        opts.seed,
        opts.classifier.as_deref(),
        opts.mnist_dir.as_deref(),
        progress,
    )
}

/// Generate `opts.count` digits with `model` (sampler and steps from `opts`) and score them;
/// the sampling reports to `progress`.
pub fn evaluate_denoiser(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    evaluator: &Evaluator,
    opts: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<EvalReport> {
    let mut scheduler = opts.sampler(info)?;
    let t_max = scheduler.num_train_timesteps();
    let steps = check_steps(opts.steps, t_max, &info.name)?;
    if evaluator.image_size() != info.image_size {
        return Err(Error::invalid(format!(
            "the evaluator scores {0}×{0} digits but the model makes {1}×{1}",
            evaluator.image_size(),
            info.image_size
        )));
    }
    let s = info.image_size;
    let label = format!("{} {steps} steps", opts.sampler.name());
    let sopts = opts.sample_options(info, steps, label);
    let mut noise = SeededNoise::new(opts.seed);
    let samples = sample_with_progress(
        model,
        &mut scheduler,
        &sopts,
        &mut noise,
        &mut NoHooks,
        progress,
    )?;
    let scored = Instant::now();
    let generated = evaluator.score_samples(&samples.images)?;
    let sample_seconds = samples.elapsed.as_secs_f64();
    Ok(EvalReport {
        model: info.name.clone(),
        sampler: opts.sampler.name().into(),
        start: sopts.start.name().into(),
        diffusers_ddim: opts.diffusers_ddim && opts.sampler == SamplerKind::Ddim,
        steps,
        num_train_timesteps: t_max,
        seed: opts.seed,
        image_size: s,
        digits: evaluator.digits.clone(),
        confidence_threshold: CONFIDENCE,
        generated,
        floor: evaluator.floor.clone(),
        reference_count: evaluator.reference.count,
        classifier: ClassifierSummary {
            path: evaluator.classifier.path.clone(),
            image_size: s,
            test_accuracy: evaluator.classifier.info.test_accuracy,
        },
        sample_seconds,
        images_per_second: opts.count as f64 / sample_seconds.max(1e-9),
        score_seconds: scored.elapsed().as_secs_f64(),
    })
}

/// The step counts of a sweep: 10, 20, 50 and T (those ≤ T, without repeats).
pub fn sweep_steps(num_train_timesteps: usize) -> Vec<usize> {
    let mut v: Vec<usize> = [10, 20, 50, num_train_timesteps]
        .into_iter()
        .filter(|&n| n <= num_train_timesteps)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Evaluations across samplers and step counts, as written to `quality_vs_steps.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The model evaluated.
    pub model: String,
    /// The FID (and other scores) of real training digits: the floor.
    pub floor: SetScores,
    /// One evaluation per sampler and step count, in the order of the samplers asked for,
    /// steps ascending.
    pub runs: Vec<EvalReport>,
    /// The samplers that cannot run the model, with the reason (e.g. PNDM on a
    /// zero-terminal-SNR schedule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedSampler>,
}

/// A sampler a sweep left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedSampler {
    /// Its short name.
    pub sampler: String,
    /// The error that building it for the model gave.
    pub reason: String,
}

/// Evaluate `model` with every sampler of `samplers` at each of `steps` (see [`sweep_steps`]);
/// `opts.sampler` and `opts.steps` are ignored. A sampler that cannot run the model is left out
/// and listed in [`SweepReport::skipped`].
pub fn sweep_denoiser(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    evaluator: &Evaluator,
    opts: &EvalOptions,
    steps: &[usize],
    samplers: &[SamplerKind],
    progress: &mut dyn Progress,
) -> Result<SweepReport> {
    let (mut runs, mut skipped) = (Vec::new(), Vec::new());
    for &sampler in samplers {
        let base = EvalOptions {
            sampler,
            ..opts.clone()
        };
        if let Err(e) = base.sampler(info) {
            skipped.push(SkippedSampler {
                sampler: sampler.name().into(),
                reason: e.to_string(),
            });
            continue;
        }
        for &n in steps {
            let o = EvalOptions {
                steps: Some(n),
                ..base.clone()
            };
            runs.push(evaluate_denoiser(model, info, evaluator, &o, progress)?);
        }
    }
    Ok(SweepReport {
        model: info.name.clone(),
        floor: evaluator.floor.clone(),
        runs,
        skipped,
    })
}
