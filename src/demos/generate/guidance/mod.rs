//! "From digits to DALL-E": what a class-conditional denoiser does with a class and a guidance
//! scale. The figures of `difflab sample --digit` and of the lab's last section:
//!
//! - `conditional.png`: a row per trained digit, [`PER_ROW`] samples each, at one scale w;
//! - `guidance.png`: one digit at w = 0, 1, 2, 4, 7 from the same starting noise, each row
//!   captioned with how often the evaluator's classifier sees the asked-for digit, its
//!   recognised share and the FID of [`SWEEP_COUNT`] samples at that w.
//!
//! Sample `i` of every run draws its noise from stream `i` of the seed (see
//! [`crate::pipelines::sample`]), so a column of `guidance.png` is one starting noise pushed
//! through every scale.

mod figures;

pub use figures::{conditional_png, guidance_png};

use crate::eval::guided::{sample_guided_with_progress, sweep_guidance, GuidanceSweep};
use crate::eval::{EvalOptions, Evaluator, ModelInfo};
use crate::models::NoisePredictor;
use crate::pipelines::sample::Samples;
use crate::schedulers::SamplerKind;
use crate::util::progress::Progress;
use crate::Result;

/// Samples per digit in `conditional.png` and per scale in `guidance.png`.
pub const PER_ROW: usize = 8;
/// The scales of `guidance.png`.
pub const SWEEP_SCALES: [f32; 5] = [0.0, 1.0, 2.0, 4.0, 7.0];
/// Samples scored per scale in `guidance.png` (the FID needs a few hundred).
pub const SWEEP_COUNT: usize = 200;

/// How to sample for the figures.
#[derive(Clone, Debug)]
pub struct GuidanceRun {
    /// DDPM or DDIM.
    pub sampler: SamplerKind,
    /// Sampling steps (`None`: all T).
    pub steps: Option<usize>,
    /// Seed (sample i: stream i).
    pub seed: u64,
    /// Progress bars on stderr while the evaluator's classifier trains (first use).
    pub progress: bool,
    /// Start from pure noise instead of the model's matched start.
    pub pure_start: bool,
}

impl GuidanceRun {
    fn eval_options(&self, count: usize) -> EvalOptions {
        EvalOptions {
            count,
            sampler: self.sampler,
            steps: self.steps,
            seed: self.seed,
            batch_size: 0,
            pure_start: self.pure_start,
            ..EvalOptions::default()
        }
    }
}

/// The samples of `conditional.png`: [`PER_ROW`] of each digit of `digits` at scale `w`
/// (row r holds samples `r·PER_ROW …`, all asking for `digits[r]`).
pub fn conditional_samples(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    run: &GuidanceRun,
    digits: &[u8],
    w: f32,
    progress: &mut dyn Progress,
) -> Result<Samples> {
    // Sample i asks for rows[i % rows.len()] = rows[i]: digit digits[i / PER_ROW].
    let rows: Vec<u8> = digits
        .iter()
        .flat_map(|&d| std::iter::repeat_n(d, PER_ROW))
        .collect();
    let opts = run.eval_options(rows.len());
    sample_guided_with_progress(model, info, &opts, &rows, w, progress)
}

/// The guidance sweep of `guidance.png`: `count` samples of `digit` at each scale of
/// [`SWEEP_SCALES`] (the same seeds at every scale), scored by `evaluator` (whose reference
/// must be the test digits of `digit`). Returns the scores and the samples of each scale.
pub fn guidance_sweep(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    evaluator: &Evaluator,
    run: &GuidanceRun,
    digit: u8,
    count: usize,
    progress: &mut dyn Progress,
) -> Result<(GuidanceSweep, Vec<Samples>)> {
    let opts = run.eval_options(count);
    sweep_guidance(
        model,
        info,
        evaluator,
        &opts,
        &[digit],
        &SWEEP_SCALES,
        progress,
    )
}
