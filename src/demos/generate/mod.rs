//! Module 3 of the lab, "generate digits from pure noise": load the denoiser trained in
//! Module 2, start from Gaussian noise x_T and let a sampler (DDPM by default) walk it back to
//! digits (see [`crate::pipelines::sample`]), then show how it happened. The conditional part
//! (`--digit`, `--guidance-sweep`) is [`guidance`].
//!
//! [`run_generate`] writes into the output folder:
//! - `trajectory.png`: sample #0 at 10 steps from t = T−1 to 0, and the model's guess x̂0 at each;
//! - `samples.png`: the first 12 samples, numbered, and `samples/0000.png`, … every sample of
//!   the run at its native resolution (for outside evaluation);
//! - `steps.png`: samples #0–#3 from the same starting noise with 10, 20, 50, 100 and T steps,
//!   DDPM (respaced as diffusers does) and DDIM, and with 10 and 20 steps of SDE-DPM-Solver++, with
//!   the wall time of each;
//! - `denoise.gif`: 16 samples forming from noise, looping, about 4 s;
//! - `summary.json`: model, sampler, steps, seed, images generated, wall time, images per second.
//!
//! Sample `i` always draws its noise from stream `i` of the seed, so the same seed gives the
//! same images bit for bit, whatever `count`, and every figure shows the same samples.

mod figures;
mod files;
pub mod guidance;
mod report;
mod run;

pub use crate::train::ModelInfo;
pub use report::GenerateReport;
pub use run::run_generate;

use crate::pipelines::sample::{serialize_timesteps, Samples};
use crate::schedulers::SamplerKind;
use crate::viz::FileInfo;
use serde::Serialize;
use std::path::PathBuf;

/// Samples generated when no count is given: enough for the 4×4 animation.
pub const DEFAULT_COUNT: usize = 16;
/// Samples shown in `samples.png` (3 rows of 4).
pub const GRID_SAMPLES: usize = 12;
/// Samples in `denoise.gif` (4×4).
pub const GIF_SAMPLES: usize = 16;
/// Snapshots in `trajectory.png`.
pub const TRAJECTORY_SNAPSHOTS: usize = 10;
/// Frames of the animation between the noise and the final digits (at most).
pub const GIF_FRAMES: usize = 48;
/// Step counts compared in `steps.png`, besides all T (those above T are left out).
pub const COMPARE_STEPS: [usize; 4] = [10, 20, 50, 100];
pub use crate::pipelines::sample::{FEW_STEPS, FEW_STEP_SAMPLER};
/// Samples per cell of `steps.png` (2×2).
pub const COMPARE_SAMPLES: usize = 4;
/// Most samples sent through the model at once beyond the first [`GIF_SAMPLES`].
pub const BATCH_SIZE: usize = 256;

/// Everything `difflab sample` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateConfig {
    /// The checkpoint folder written by `difflab train`.
    pub model_dir: PathBuf,
    /// DDPM or DDIM.
    pub sampler: SamplerKind,
    /// Sampling steps (1 ..= T); `None` means all T.
    pub steps: Option<usize>,
    /// Samples to generate (at least 1), each saved as `samples/NNNN.png`.
    pub count: usize,
    /// Seed of every noise draw.
    pub seed: u64,
    /// DDIM's η (0 = deterministic); must be 0 for DDPM.
    pub eta: f32,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// Class-conditional models: the digits to ask for (sample `i` asks for
    /// `digits[i % len]`); `None` samples unconditionally.
    pub digits: Option<Vec<u8>>,
    /// The classifier-free guidance scale w with `digits` (`None`:
    /// [`crate::pipelines::guidance::DEFAULT_GUIDANCE`]).
    pub guidance: Option<f32>,
    /// Conditional models: also score the guidance sweep and draw `guidance.png` (needs the
    /// evaluator's classifier, trained on first use).
    pub guidance_sweep: bool,
    /// Samples scored per scale by the guidance sweep (at least 2; see
    /// [`guidance::SWEEP_COUNT`]).
    pub sweep_count: usize,
    /// The guidance sweep's classifier file (default: the shared cache, trained on first use).
    pub classifier: Option<PathBuf>,
    /// Where MNIST is, for the guidance sweep's evaluator (default: the data layer's lookup).
    pub mnist_dir: Option<PathBuf>,
    /// Start from pure noise N(0, I), as the Python lab does, instead of noise matched to the
    /// model's training data (see [`crate::diffusion::StartNoise`]).
    pub pure_start: bool,
}

impl Default for GenerateConfig {
    /// The lab's defaults: the Module 2 checkpoint, DDPM over all T steps, 16 samples, seed 42,
    /// `lab8-out/module3`, no progress bars.
    fn default() -> Self {
        GenerateConfig {
            model_dir: PathBuf::from("lab8-out/module2"),
            sampler: SamplerKind::Ddpm,
            steps: None,
            count: DEFAULT_COUNT,
            seed: 42,
            eta: 0.0,
            out_dir: PathBuf::from("lab8-out/module3"),
            progress: false,
            digits: None,
            guidance: None,
            guidance_sweep: false,
            sweep_count: guidance::SWEEP_COUNT,
            classifier: None,
            mnist_dir: None,
            pure_start: false,
        }
    }
}

/// One run of `steps.png`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepsRun {
    /// The sampler's short name: `ddpm`, `ddim` or `dpm++`.
    pub sampler: String,
    /// Sampling steps.
    pub steps: usize,
    /// Images generated.
    pub images: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// How long one part of the run took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timing {
    /// What was done.
    pub part: String,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenerateSummary {
    /// The model that generated.
    pub model: ModelInfo,
    /// The sampler's short name (`ddpm`, `ddim`, `dpm++`, …).
    pub sampler: String,
    /// DDIM's η (0 for the other samplers).
    pub eta: f32,
    /// Sampling steps.
    pub steps: usize,
    /// The timesteps visited, first and last (e.g. 199 and 0).
    #[serde(serialize_with = "serialize_timesteps")]
    pub timesteps: [f64; 2],
    /// The seed.
    pub seed: u64,
    /// How the seed becomes per-sample noise.
    pub seeds: String,
    /// Images generated by the main run (all saved under `samples/`).
    pub images_generated: usize,
    /// Wall time of the main run's sampling, in seconds.
    pub sampling_seconds: f64,
    /// Images generated per second of sampling.
    pub images_per_second: f64,
    /// The runs of `steps.png`.
    pub steps_comparison: Vec<StepsRun>,
    /// Every part of the run and its wall time.
    pub timings: Vec<Timing>,
    /// Wall time of the whole command, in seconds.
    pub wall_seconds: f64,
    /// Threads of the compute core.
    pub threads: usize,
    /// The figures and animation written, with their sizes.
    pub files: Vec<FileInfo>,
}

/// One cell of `steps.png`.
pub(crate) struct CompareRun {
    pub kind: SamplerKind,
    pub steps: usize,
    pub eta: f32,
    pub samples: Samples,
}

/// The step counts of `steps.png` for T timesteps: 10, 20, 50, 100 (those below T) and T.
pub fn compare_steps(t_total: usize) -> Vec<usize> {
    let mut v: Vec<usize> = COMPARE_STEPS
        .iter()
        .copied()
        .filter(|&s| s < t_total)
        .collect();
    v.push(t_total);
    v
}
