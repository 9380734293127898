//! Judging a class-conditional model: generate digits *for requested classes* (classifier-free
//! guidance at scale w, see [`crate::pipelines::guidance`]) and ask the classifier whether each
//! digit is the one that was asked for, beside the usual recognised share and FID.

use super::run::{EvalOptions, ModelInfo};
use super::score::{Evaluator, SetScores};
use crate::models::{ClassLabel, NoisePredictor};
use crate::pipelines::guidance::ClassifierFreeGuidance;
use crate::pipelines::sample::{sample_with_progress, Samples, SeededNoise};
use crate::schedulers::Sampler;
use crate::util::progress::{Progress, Silent};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The scores of digits generated for requested classes at one guidance scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidedScores {
    /// The guidance scale w.
    pub guidance: f32,
    /// The requested digits (sample i asks for `digits[i % len]`).
    pub digits: Vec<u8>,
    /// Share of the samples the classifier calls the requested digit.
    pub agreement: f64,
    /// That share for each requested digit, in `digits` order.
    pub agreement_per_digit: Vec<f64>,
    /// Recognised share, class histogram and FID against the MNIST test digits of `digits`.
    #[serde(flatten)]
    pub scores: SetScores,
    /// Wall time of the generation.
    pub sample_seconds: f64,
}

/// The label of sample `i` when `digits` are requested in turn.
pub fn cycled_labels(digits: &[u8], count: usize) -> Vec<ClassLabel> {
    (0..count)
        .map(|i| Some(digits[i % digits.len()] as usize))
        .collect()
}

/// Generate `opts.count` digits asking for `digits` in turn (sample `i` for
/// `digits[i % len]`, from noise stream `i` of `opts.seed`) with guidance scale `w`.
pub fn sample_guided(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    opts: &EvalOptions,
    digits: &[u8],
    w: f32,
) -> Result<Samples> {
    sample_guided_with_progress(model, info, opts, digits, w, &mut Silent)
}

/// [`sample_guided`] reporting the sampling to `progress`.
pub fn sample_guided_with_progress(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    opts: &EvalOptions,
    digits: &[u8],
    w: f32,
    progress: &mut dyn Progress,
) -> Result<Samples> {
    check_digits(model, info, digits)?;
    let mut scheduler = opts.sampler(info)?;
    let t_max = scheduler.num_train_timesteps();
    let steps = opts.steps.unwrap_or(t_max);
    let label = format!("w = {w}, {} {steps} steps", opts.sampler.name());
    let sopts = opts.sample_options(info, steps, label);
    let mut hooks = ClassifierFreeGuidance::new(cycled_labels(digits, opts.count), w)?;
    sample_with_progress(
        model,
        &mut scheduler,
        &sopts,
        &mut SeededNoise::new(opts.seed),
        &mut hooks,
        progress,
    )
}

/// An error unless the model is conditional and was trained on every requested digit.
pub fn check_digits(model: &dyn NoisePredictor, info: &ModelInfo, digits: &[u8]) -> Result<()> {
    if model.num_classes() == 0 {
        return Err(Error::invalid(format!(
            "{} is unconditional: it cannot be asked for a digit (train one with `difflab train --conditional`)",
            info.name
        )));
    }
    if digits.is_empty() {
        return Err(Error::invalid("no digit requested"));
    }
    if let Some(d) = digits.iter().find(|d| !info.digits.contains(d)) {
        return Err(Error::invalid(format!(
            "digit {d} was not trained: {} knows only digits {}",
            info.name,
            join(&info.digits)
        )));
    }
    Ok(())
}

/// "0, 1, 2, 3".
pub fn join(digits: &[u8]) -> String {
    digits
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Score `samples` generated for `digits` in turn (as [`sample_guided`] makes them); the
/// evaluator's reference should be the test digits of `digits`.
pub fn score_guided(
    evaluator: &Evaluator,
    samples: &Samples,
    digits: &[u8],
    w: f32,
) -> Result<GuidedScores> {
    let (scores, predicted) = evaluator.score_samples_predicted(&samples.images)?;
    let mut hit = vec![0usize; digits.len()];
    let mut asked = vec![0usize; digits.len()];
    for (i, &p) in predicted.iter().enumerate() {
        let k = i % digits.len();
        asked[k] += 1;
        hit[k] += usize::from(p == digits[k] as usize);
    }
    let total: usize = hit.iter().sum();
    Ok(GuidedScores {
        guidance: w,
        digits: digits.to_vec(),
        agreement: total as f64 / predicted.len().max(1) as f64,
        agreement_per_digit: hit
            .iter()
            .zip(&asked)
            .map(|(&h, &a)| h as f64 / a.max(1) as f64)
            .collect(),
        scores,
        sample_seconds: samples.elapsed.as_secs_f64(),
    })
}

/// [`sample_guided`] then [`score_guided`].
pub fn evaluate_guided(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    evaluator: &Evaluator,
    opts: &EvalOptions,
    digits: &[u8],
    w: f32,
) -> Result<(GuidedScores, Samples)> {
    let samples = sample_guided(model, info, opts, digits, w)?;
    Ok((score_guided(evaluator, &samples, digits, w)?, samples))
}

/// A conditional model asked for its trained digits at several guidance scales, as written to
/// `guidance.json` and printed by `difflab eval --guidance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidanceSweep {
    /// The model evaluated.
    pub model: String,
    /// `ddpm` or `ddim`, and the steps.
    pub sampler: String,
    /// Sampling steps.
    pub steps: usize,
    /// Digits generated per scale.
    pub count: usize,
    /// Real training digits of the same classes, scored alike: the floor.
    pub floor: SetScores,
    /// One run per scale, in the order asked.
    pub runs: Vec<GuidedScores>,
}

impl GuidanceSweep {
    /// The terminal table: one row per scale.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let digits = self.runs.first().map_or(String::new(), |r| join(&r.digits));
        let _ = writeln!(
            s,
            "{} digits per scale from {} asking for digits {digits} in turn, {} {} steps",
            self.count,
            self.model,
            self.sampler.to_uppercase(),
            self.steps
        );
        let _ = writeln!(
            s,
            "  {:>6} {:>10} {:>11} {:>8}   per digit",
            "w", "asked-for", "recognised", "FID"
        );
        for r in &self.runs {
            let per: Vec<String> = r
                .digits
                .iter()
                .zip(&r.agreement_per_digit)
                .map(|(d, a)| format!("{d}: {:.0}%", 100.0 * a))
                .collect();
            let _ = writeln!(
                s,
                "  {:>6} {:>9.1}% {:>10.1}% {:>8.2}   {}",
                r.guidance,
                100.0 * r.agreement,
                100.0 * r.scores.recognised,
                r.scores.fid,
                per.join("  ")
            );
        }
        let _ = writeln!(
            s,
            "  {:>6} {:>10} {:>10.1}% {:>8.2}   (real training digits)",
            "real",
            "",
            100.0 * self.floor.recognised,
            self.floor.fid
        );
        s
    }
}

/// [`evaluate_guided`] at each scale of `scales` (the sampling reporting to `progress`) for `digits` (same seeds at every scale); also
/// returns the samples of each scale, in `scales` order.
pub fn sweep_guidance(
    model: &mut dyn NoisePredictor,
    info: &ModelInfo,
    evaluator: &Evaluator,
    opts: &EvalOptions,
    digits: &[u8],
    scales: &[f32],
    progress: &mut dyn Progress,
) -> Result<(GuidanceSweep, Vec<Samples>)> {
    check_digits(model, info, digits)?;
    let steps = opts.steps.unwrap_or(info.scheduler.num_train_timesteps);
    let mut runs = Vec::with_capacity(scales.len());
    let mut samples = Vec::with_capacity(scales.len());
    for &w in scales {
        let s = sample_guided_with_progress(model, info, opts, digits, w, progress)?;
        runs.push(score_guided(evaluator, &s, digits, w)?);
        samples.push(s);
    }
    let sweep = GuidanceSweep {
        model: info.name.clone(),
        sampler: opts.sampler.name().into(),
        steps,
        count: opts.count,
        floor: evaluator.floor.clone(),
        runs,
    };
    Ok((sweep, samples))
}
