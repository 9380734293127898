//! `difflab inpaint`: take a real MNIST test digit, hide part of it, and let a trained denoiser
//! regenerate the hidden part several times (see [`crate::pipelines::inpaint`]).
//!
//! [`run_inpaint`] writes into the output folder:
//! - `inpaint.png`: the original, the masked input (hidden region hatched grey) and the
//!   completions, the regenerated region outlined;
//! - `inpaint.gif`: completion #0 forming: xₜ and the model's running guess x̂₀ (with the known
//!   pixels) side by side at every step shown, looping;
//! - `summary.json`: model, test image, mask, sampler, jumps, guidance, seed, the known region's
//!   largest deviation from the original (0), each completion's error on the hidden region,
//!   wall times.

mod figures;

use crate::console::sampler_text;
use crate::console::{thousands, StepBars};
use crate::data::{resize, Mnist, PixelRange, ResizeFilter, Split};
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::guidance::ClassifierFreeGuidance;
pub use crate::pipelines::guidance::DEFAULT_GUIDANCE;
use crate::pipelines::inpaint::{inpaint_with_progress, InpaintTask, Inpainted, Mask, MaskSource};
use crate::pipelines::sample::{
    first_last, serialize_timesteps, spread, NoHooks, SampleHooks, SampleOptions,
};
use crate::schedulers::SamplerKind;
use crate::train::{ModelInfo, TrainedModel};
use crate::util::fsio::{ensure_dir, write_atomic};
use crate::viz::FileInfo;
use crate::{Error, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Completions when no count is given (the figure shows all of them).
pub const DEFAULT_COUNT: usize = 6;
/// Frames of `inpaint.gif` between the noise and the finished completion (at most).
pub const GIF_FRAMES: usize = 40;

/// Everything `difflab inpaint` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct InpaintConfig {
    /// The checkpoint folder written by `difflab train`.
    pub model_dir: PathBuf,
    /// Index of the MNIST test image; `None`: the first test image of a digit the model knows.
    pub index: Option<usize>,
    /// `left`, `right`, `top`, `bottom`, `center`, or the path of a mask picture (white = hidden).
    pub mask: String,
    /// Completions (at least 1), each from its own noise.
    pub count: usize,
    /// DDPM or DDIM (η = 0).
    pub sampler: SamplerKind,
    /// Sampling steps (1 ..= T); `None` means all T.
    pub steps: Option<usize>,
    /// RePaint passes per step (1 = plain replacement).
    pub jumps: usize,
    /// Seed of every noise draw.
    pub seed: u64,
    /// Steer the completions towards this digit (a class-conditional model only).
    pub digit: Option<u8>,
    /// Guidance scale w with `digit` (default [`DEFAULT_GUIDANCE`]).
    pub guidance: Option<f32>,
    /// `--mnist-dir`, else the usual lookup.
    pub mnist_dir: Option<PathBuf>,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for InpaintConfig {
    /// The Module 2 checkpoint, the first test digit it knows, left half hidden, 6 completions,
    /// DDPM over all T steps, no resampling, seed 42, into `lab8-out/inpaint`.
    fn default() -> Self {
        InpaintConfig {
            model_dir: PathBuf::from("lab8-out/module2"),
            index: None,
            mask: "left".into(),
            count: DEFAULT_COUNT,
            sampler: SamplerKind::Ddpm,
            steps: None,
            jumps: 1,
            seed: 42,
            digit: None,
            guidance: None,
            mnist_dir: None,
            out_dir: PathBuf::from("lab8-out/inpaint"),
            progress: false,
        }
    }
}

/// The mask, as recorded in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaskInfo {
    /// `left`, …, or the picture's path.
    pub source: String,
    /// "left half hidden".
    pub description: String,
    /// Hidden pixels at the model's image size.
    pub hidden_pixels: usize,
    /// Hidden share of the image.
    pub hidden_share: f64,
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InpaintSummary {
    /// The model that completed.
    pub model: ModelInfo,
    /// Index of the MNIST test image.
    pub test_index: usize,
    /// Its label.
    pub test_digit: u8,
    /// The hidden region.
    pub mask: MaskInfo,
    /// `ddpm` or `ddim`.
    pub sampler: String,
    /// Sampling steps.
    pub steps: usize,
    /// The first and last timestep visited.
    #[serde(serialize_with = "serialize_timesteps")]
    pub timesteps: [f64; 2],
    /// RePaint passes per step.
    pub jumps: usize,
    /// Model calls per completion (steps × jumps; ×2 inside the model call with guidance).
    pub model_calls_per_completion: usize,
    /// The digit the completions were steered to, if any.
    pub digit: Option<u8>,
    /// Its guidance scale.
    pub guidance: Option<f32>,
    /// The seed.
    pub seed: u64,
    /// How the seed becomes per-completion noise.
    pub seeds: String,
    /// Completions made.
    pub completions: usize,
    /// Largest |completion − original| over the known region (0: it is kept exactly).
    pub known_region_max_error: f32,
    /// Per completion, the RMS difference from the original over the hidden region (model
    /// range [−1, 1]): how close each guess came to the digit that was hidden.
    pub hidden_region_rmse: Vec<f64>,
    /// Wall time of the sampling, in seconds.
    pub sampling_seconds: f64,
    /// Wall time of the whole command, in seconds.
    pub wall_seconds: f64,
    /// Threads of the compute core.
    pub threads: usize,
    /// The figure and animation written, with their sizes.
    pub files: Vec<FileInfo>,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct InpaintReport {
    /// The summary (also in `summary.json`).
    pub summary: InpaintSummary,
    /// `inpaint.png`, `inpaint.gif`, `summary.json`.
    pub paths: Vec<PathBuf>,
}

impl InpaintReport {
    /// The lines `difflab inpaint` prints: what was done, what was written, how long it took.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let m = &s.model;
        let mut o = String::new();
        let _ = writeln!(o, "Inpainting · regenerating a hidden part of a real digit");
        let _ = writeln!(
            o,
            "  model     {} ({} U-Net, {} parameters, trained on digits {:?}, T = {})",
            m.name,
            m.arch,
            thousands(m.params),
            m.digits,
            m.num_train_timesteps
        );
        let _ = writeln!(
            o,
            "  image     MNIST test #{} (a {}), {} ({} of {} pixels)",
            s.test_index,
            s.test_digit,
            s.mask.description,
            s.mask.hidden_pixels,
            m.image_size * m.image_size
        );
        let sampler = SamplerKind::parse(&s.sampler)
            .map(|k| sampler_text(k, s.steps, m.num_train_timesteps, 0.0))
            .unwrap_or_else(|_| s.sampler.clone());
        let steer = match (s.digit, s.guidance) {
            (Some(d), Some(w)) => format!(", steered to {d} (guidance w = {w})"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  sampler   {sampler}, jumps {}{steer}, seed {}",
            s.jumps, s.seed
        );
        let _ = writeln!(
            o,
            "  result    {} completions in {:.2} s; known region kept exactly (max error {:.1e})",
            s.completions, s.sampling_seconds, s.known_region_max_error
        );
        let _ = writeln!(o, "  wrote:");
        for p in &self.paths {
            let _ = writeln!(o, "    {}", p.display());
        }
        let _ = writeln!(o, "  elapsed   {:.2} s", s.wall_seconds);
        o
    }
}

/// The first test image whose label is one of `digits` (0 if none is).
pub fn default_index(test: &Mnist, digits: &[u8]) -> usize {
    test.labels()
        .iter()
        .position(|l| digits.contains(l))
        .unwrap_or(0)
}

/// Test image `index` at `size × size` (bilinear, as the training images), model range.
fn test_image(test: &Mnist, index: usize, size: usize) -> Result<Vec<f32>> {
    let unit = test.image(index, PixelRange::Unit)?;
    let (rows, cols) = (test.rows(), test.cols());
    let fitted = if (rows, cols) == (size, size) {
        unit
    } else {
        resize(&unit, rows, cols, size, size, ResizeFilter::Bilinear)
    };
    Ok(fitted
        .into_iter()
        .map(|v| PixelRange::Symmetric.from_unit(v))
        .collect())
}

/// The hooks for `--digit`/`--guidance`, checked on one small model call so that a model that
/// cannot be steered to the digit fails before the run, with the checkpoint named.
fn guidance_hooks(
    cfg: &InpaintConfig,
    model: &mut dyn NoisePredictor,
    shape: [usize; 3],
) -> Result<Option<ClassifierFreeGuidance>> {
    let dir = cfg.model_dir.display();
    let d = match (cfg.digit, cfg.guidance) {
        (None, None) => return Ok(None),
        (None, Some(w)) => {
            return Err(Error::invalid(format!(
                "--guidance {w} needs --digit: guidance steers the completion towards a digit"
            )))
        }
        (Some(d), _) if d > 9 => {
            return Err(Error::invalid(format!("--digit {d}: a digit is 0 to 9")))
        }
        (Some(d), _) => d,
    };
    if model.num_classes() == 0 {
        return Err(Error::invalid(format!(
            "--digit {d}: the model in {dir} is unconditional (trained without labels), so it cannot be steered to a digit; train one with `difflab train --conditional` or leave out --digit"
        )));
    }
    let w = cfg.guidance.unwrap_or(DEFAULT_GUIDANCE);
    let hooks = ClassifierFreeGuidance::new(vec![Some(d as usize); cfg.count], w)?;
    let probe = Tensor::zeros([1, shape[0], shape[1], shape[2]]);
    hooks
        .predict_with(model, &probe, &[0.0], &[Some(d as usize)])
        .map_err(|e| Error::invalid(format!("--digit {d} with the model in {dir}: {e}")))?;
    Ok(Some(hooks))
}

/// Largest |a − b| where `keep`, and per image the RMS of a − b where not.
fn region_errors(images: &[f32], original: &[f32], hidden: &[bool]) -> (f32, Vec<f64>) {
    let mut known_max = 0.0f32;
    let rmse = images
        .chunks_exact(original.len())
        .map(|img| {
            let (mut sum, mut n) = (0.0f64, 0usize);
            for ((&v, &o), &h) in img.iter().zip(original).zip(hidden) {
                if h {
                    sum += ((v - o) as f64).powi(2);
                    n += 1;
                } else {
                    known_max = known_max.max((v - o).abs());
                }
            }
            (sum / n.max(1) as f64).sqrt()
        })
        .collect();
    (known_max, rmse)
}

/// Run `difflab inpaint`: load the model and the test image, complete it `cfg.count` times,
/// write `inpaint.png`, `inpaint.gif` and `summary.json` into `cfg.out_dir`.
///
/// Errors (before anything is written): `count` or `steps` 0, `steps` above T, `jumps` 0, a
/// missing or damaged checkpoint, `--index` past the test set, a bad mask (preset or file, the
/// file named), `--digit` with an unconditional model (the checkpoint named), `--guidance`
/// without `--digit` or negative.
pub fn run_inpaint(cfg: &InpaintConfig) -> Result<InpaintReport> {
    let started = Instant::now();
    if cfg.count == 0 {
        return Err(Error::invalid("--count must be at least 1"));
    }
    if cfg.jumps == 0 {
        return Err(Error::invalid(
            "--jumps must be at least 1 (1 = no resampling)",
        ));
    }
    let (mut m, steps) = open_model(cfg)?;
    let size = m.info.image_size;
    let shape = [size, size, 1];
    let mask = Mask::parse(&cfg.mask, size, size)?;
    let mut steer = guidance_hooks(cfg, &mut m.model, shape)?;
    let mut sched = m.sampler(cfg.sampler, 0.0)?;
    let test = Mnist::load(Split::Test, cfg.mnist_dir.as_deref())?;
    let index = cfg
        .index
        .unwrap_or_else(|| default_index(&test, &m.info.digits));
    let original = test_image(&test, index, size)?;
    let test_digit = test.label(index);

    let gif_at = spread(steps, GIF_FRAMES);
    let opts = SampleOptions {
        count: cfg.count,
        seed: cfg.seed,
        snapshot_at: gif_at.clone(),
        label: format!(
            "inpainting {} {steps} steps",
            cfg.sampler.name().to_uppercase()
        ),
        start: m.info.start,
        ..SampleOptions::new(shape, steps)
    };
    let hooks: &mut dyn SampleHooks = match steer.as_mut() {
        Some(g) => g,
        None => &mut NoHooks,
    };
    let original_t = Tensor::new(shape.to_vec(), original.clone())?;
    let task = InpaintTask {
        original: &original_t,
        mask: &mask,
        jumps: cfg.jumps,
    };
    let mut bars = StepBars::new(cfg.progress);
    let done = inpaint_with_progress(&mut m.model, &mut sched, &opts, &task, hooks, &mut bars)?;
    let (known_max, rmse) = region_errors(done.samples.images.data(), &original, mask.hidden());

    ensure_dir(&cfg.out_dir)?;
    let ctx = figures::Context {
        size,
        original: &original,
        mask: &mask,
        run: &done,
        heading: heading(cfg, &m.info, index, test_digit, steps, &mask),
        rmse: &rmse,
    };
    let out = |name: &str| cfg.out_dir.join(name);
    let files = vec![
        FileInfo::new("inpaint.png", ctx.inpaint_png(&out("inpaint.png"))?),
        FileInfo::new(
            "inpaint.gif",
            ctx.inpaint_gif(&out("inpaint.gif"), &gif_at)?,
        ),
    ];
    let run = Completed {
        info: m.info,
        index,
        test_digit,
        mask: &mask,
        steps,
        done: &done,
        guidance: steer.as_ref().map(|g| g.scale()),
        known_max,
        rmse,
    };
    let summary = summary(cfg, run, started, files);
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::invalid(format!("could not encode summary.json: {e}")))?;
    write_atomic(&out("summary.json"), format!("{json}\n").as_bytes())?;
    Ok(InpaintReport {
        summary,
        paths: ["inpaint.png", "inpaint.gif", "summary.json"]
            .iter()
            .map(|n| out(n))
            .collect(),
    })
}

/// The checkpoint of `cfg.model_dir` and the run's steps; an error unless it makes grayscale
/// images.
fn open_model(cfg: &InpaintConfig) -> Result<(TrainedModel, usize)> {
    let m = TrainedModel::open(&cfg.model_dir)?;
    let steps = m.steps(cfg.steps)?;
    if m.info.channels != 1 {
        return Err(Error::invalid(format!(
            "the model in {} works on {}-channel images; inpainting MNIST digits needs a grayscale model",
            cfg.model_dir.display(),
            m.info.channels
        )));
    }
    Ok((m, steps))
}

/// What a finished run reports in `summary.json`.
struct Completed<'a> {
    info: ModelInfo,
    index: usize,
    test_digit: u8,
    mask: &'a Mask,
    steps: usize,
    done: &'a Inpainted,
    guidance: Option<f32>,
    known_max: f32,
    rmse: Vec<f64>,
}

fn summary(
    cfg: &InpaintConfig,
    run: Completed<'_>,
    started: Instant,
    files: Vec<FileInfo>,
) -> InpaintSummary {
    let (mask, done) = (run.mask, run.done);
    InpaintSummary {
        model: run.info,
        test_index: run.index,
        test_digit: run.test_digit,
        mask: MaskInfo {
            source: match mask.source() {
                MaskSource::File(p) => p.display().to_string(),
                _ => cfg.mask.to_ascii_lowercase(),
            },
            description: mask.describe(),
            hidden_pixels: mask.hidden_count(),
            hidden_share: mask.hidden_share(),
        },
        sampler: cfg.sampler.name().into(),
        steps: run.steps,
        timesteps: first_last(&done.samples.timesteps),
        jumps: cfg.jumps,
        model_calls_per_completion: done.model_calls,
        digit: cfg.digit,
        guidance: run.guidance,
        seed: cfg.seed,
        seeds: format!(
            "completion i (0 to {}) draws all its noise from RNG stream i of seed {}",
            cfg.count - 1,
            cfg.seed
        ),
        completions: cfg.count,
        known_region_max_error: run.known_max,
        hidden_region_rmse: run.rmse,
        sampling_seconds: done.samples.elapsed.as_secs_f64(),
        wall_seconds: started.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
        files,
    }
}

/// The figure's subtitle: model, image and mask; then sampler, resampling, guidance, seed.
fn heading(
    cfg: &InpaintConfig,
    info: &ModelInfo,
    index: usize,
    digit: u8,
    steps: usize,
    mask: &Mask,
) -> String {
    let digits: Vec<String> = info.digits.iter().map(|d| d.to_string()).collect();
    let steer = match cfg.digit {
        Some(d) => format!(
            " · steered to {d}, w = {}",
            cfg.guidance.unwrap_or(DEFAULT_GUIDANCE)
        ),
        None => String::new(),
    };
    let jumps = if cfg.jumps > 1 {
        format!(" · RePaint resampling ×{}", cfg.jumps)
    } else {
        String::new()
    };
    format!(
        "{} U-Net trained on digits {} · MNIST test #{index} (a {digit}), {}\n{}{jumps}{steer} · seed {}",
        info.arch,
        digits.join(", "),
        mask.describe(),
        sampler_text(cfg.sampler, steps, info.num_train_timesteps, 0.0),
        cfg.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_errors_split_known_and_hidden() {
        let original = [0.0, 1.0, -1.0, 0.5];
        let hidden = [false, false, true, true];
        let images = [0.0, 1.0, 0.0, 0.5, 0.25, 1.0, -1.0, -0.5];
        let (known, rmse) = region_errors(&images, &original, &hidden);
        assert_eq!(known, 0.25);
        assert!((rmse[0] - (0.5f64).sqrt()).abs() < 1e-12);
        assert!((rmse[1] - (0.5f64).sqrt()).abs() < 1e-12);
    }
}
