//! Module 4 of the lab, "run a real pretrained model": load a diffusers `UNet2DModel` (by
//! default `google/ddpm-cifar10-32`, 35.7M parameters) from the Hugging Face cache or a folder,
//! generate images with its own scheduler config, show what the number of steps and the sampler
//! do to time and quality, and set the student's toy model beside it.
//!
//! Everything is seeded: sample `i` starts from the same x_T in every run, every figure and
//! every sampler (see [`crate::pipelines::sample`]).

mod figures;
mod run;
pub mod toy;

pub use run::run_pretrained;

use crate::console::sampler_title;
use crate::console::{duration, thousands};
use crate::hub::{ModelFiles, ModelSource, DEFAULT_MODEL};
use crate::nn::Tensor;
use crate::schedulers::{AnySampler, DdpmConfig, EulerVariant, Sampler, SamplerKind};
use crate::viz::FileInfo;
use crate::{Error, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use toy::ToyInfo;

/// The step counts of `steps.png` by default.
pub const DEFAULT_STEP_COUNTS: [usize; 3] = [25, 50, 100];

/// Everything `difflab pretrained` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct PretrainedConfig {
    /// A Hugging Face repo id or a local model folder.
    pub model: String,
    /// Images to generate (at least 1).
    pub count: usize,
    /// Sampling steps for `samples.png`.
    pub steps: usize,
    /// The sampler; `None` uses the class of the model's `scheduler_config.json` (DDPM when it
    /// has none).
    pub sampler: Option<SamplerKind>,
    /// Seed of every draw.
    pub seed: u64,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Folders searched, in order, for the toy checkpoint to compare with; the first holding one
    /// is used, and with none `toy_vs_pretrained.png` is skipped.
    pub toy_dirs: Vec<PathBuf>,
    /// Step counts of `steps.png` (each run with DDPM and with DDIM); empty skips the figure.
    pub step_counts: Vec<usize>,
    /// Images per cell of `steps.png`.
    pub step_images: usize,
    /// Progress bars and the time estimate on stderr.
    pub progress: bool,
}

impl Default for PretrainedConfig {
    /// The lab's defaults: `google/ddpm-cifar10-32`, 16 images, 50 steps with the model's own
    /// scheduler, seed 42, `lab8-out/module4`, the toy from `lab8-out/module3` or `module2`,
    /// `steps.png` at 25, 50 and 100 steps with one image per cell.
    fn default() -> Self {
        PretrainedConfig {
            model: DEFAULT_MODEL.into(),
            count: 16,
            steps: 50,
            sampler: None,
            seed: 42,
            out_dir: PathBuf::from("lab8-out/module4"),
            toy_dirs: vec![
                PathBuf::from("lab8-out/module3"),
                PathBuf::from("lab8-out/module2"),
            ],
            step_counts: DEFAULT_STEP_COUNTS.to_vec(),
            step_images: 1,
            progress: true,
        }
    }
}

/// What is known about the pretrained model, for captions and the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelFacts {
    /// The repo id or folder.
    pub id: String,
    /// The hub snapshot (commit), when known.
    pub revision: Option<String>,
    /// `local folder`, `cache` or `download`.
    pub source: String,
    /// Parameters (as PyTorch counts them).
    pub parameters: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Image channels.
    pub channels: usize,
    /// T of its scheduler.
    pub num_train_timesteps: usize,
    /// What it was trained on (`null` when difflab does not know: see its model card).
    pub data: Option<String>,
    /// How long it was trained (`null` when difflab does not know).
    pub training: Option<String>,
    /// Its `config.json`.
    pub config: String,
    /// Its weights file.
    pub weights: String,
}

/// The scheduler of `samples.png`, as recorded in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SchedulerInfo {
    /// diffusers' class: `DDPMScheduler` or `DDIMScheduler`.
    pub class_name: String,
    /// In words, e.g. `DDPM (fixed_large)` or `DDIM (η = 0)`.
    pub sampler: String,
    /// The `scheduler_config.json` it was read from, or why defaults were used.
    pub source: String,
    /// The full configuration (diffusers' field names).
    pub config: serde_json::Value,
}

/// One run of `steps.png`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRun {
    /// The sampler's short name: `ddpm`, `ddim` or `dpm++`.
    pub sampler: String,
    /// Sampling steps.
    pub steps: usize,
    /// Wall time of the run.
    pub seconds: f64,
}

/// Wall times of the run, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timings {
    /// Finding and loading the model.
    pub load_seconds: f64,
    /// The estimate printed before sampling.
    pub estimated_seconds: f64,
    /// Generating the images of `samples.png`.
    pub samples_seconds: f64,
    /// That, per step.
    pub seconds_per_step: f64,
    /// Each run of `steps.png`.
    pub steps_figure: Vec<StepRun>,
    /// Generating the toy's samples (`null` without a toy).
    pub toy_seconds: Option<f64>,
    /// The whole run.
    pub total_seconds: f64,
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PretrainedSummary {
    /// The pretrained model.
    pub model: ModelFacts,
    /// Its scheduler for `samples.png`.
    pub scheduler: SchedulerInfo,
    /// Images generated.
    pub count: usize,
    /// Sampling steps.
    pub steps: usize,
    /// The seed.
    pub seed: u64,
    /// Wall times.
    pub timings: Timings,
    /// The toy compared with (`null` when there was none).
    pub toy: Option<ToyInfo>,
    /// Why there is no comparison, when there is none.
    pub toy_note: Option<String>,
    /// The figures written, with their sizes.
    pub files: Vec<FileInfo>,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct PretrainedReport {
    /// The summary (also in `summary.json`).
    pub summary: PretrainedSummary,
    /// Every file written, `summary.json` last.
    pub paths: Vec<PathBuf>,
    /// Remarks for the terminal (no toy, unused weights, ...).
    pub notes: Vec<String>,
    /// The generated images `[count, h, w, c]`, in the model's range (about [−1, 1]).
    pub samples: Tensor,
}

/// Parameters as `35.7M`, `312k`, `4.2k` or `512`.
pub fn fmt_params(n: usize) -> String {
    let v = n as f64;
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        n.to_string()
    }
}

/// Seconds as `7 ms`, `0.42 s`, `2.5 s`, `42 s` or `3 min 05 s`.
pub fn fmt_seconds(s: f64) -> String {
    if s < 0.1 {
        format!("{:.0} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{s:.2} s")
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else {
        duration(s)
    }
}

/// Training data and time of the models whose papers state them (captions); others point to
/// their model card.
fn training_facts(id: &str) -> (Option<String>, Option<String>) {
    let name = id.trim_end_matches('/').rsplit('/').next().unwrap_or(id);
    match name {
        // Ho et al. 2020, "Denoising Diffusion Probabilistic Models", appendix B.
        "ddpm-cifar10-32" => (
            Some("CIFAR-10, 50,000 photos".into()),
            Some("800k steps ≈ 10.6 h on a TPU v3-8".into()),
        ),
        _ => (None, None),
    }
}

fn source_name(s: &ModelSource) -> &'static str {
    match s {
        ModelSource::LocalFolder => "local folder",
        ModelSource::Cache => "cache",
        ModelSource::Download => "download",
    }
}

/// The model's scheduler as `kind` (`None`: the config's own class), or DDPMScheduler's
/// defaults when the model has no `scheduler_config.json`.
fn build_scheduler(files: &ModelFiles, kind: Option<SamplerKind>) -> Result<AnySampler> {
    match &files.scheduler_config {
        Some(p) => AnySampler::from_config_file(p, kind),
        None => {
            AnySampler::from_ddpm_config(kind.unwrap_or(SamplerKind::Ddpm), &DdpmConfig::default())
        }
    }
}

fn scheduler_info(files: &ModelFiles, s: &AnySampler) -> SchedulerInfo {
    let config = match s {
        AnySampler::Ddpm(d) => serde_json::to_value(d.inner().config()),
        AnySampler::Ddim(d) => serde_json::to_value(d.inner().config()),
        AnySampler::DpmSolver(d) => serde_json::to_value(d.config()),
        AnySampler::UniPc(d) => serde_json::to_value(d.config()),
        AnySampler::Euler(d) => match d.variant() {
            EulerVariant::Plain(c) => serde_json::to_value(c),
            EulerVariant::Ancestral(c) => serde_json::to_value(c),
        },
        AnySampler::Pndm(d) => serde_json::to_value(d.config()),
    }
    .expect("scheduler configs serialise");
    SchedulerInfo {
        class_name: s.kind().class_name().into(),
        sampler: describe(s),
        source: files.scheduler_config.as_ref().map_or_else(
            || "DDPMScheduler defaults (the model has no scheduler_config.json)".into(),
            |p| p.display().to_string(),
        ),
        config,
    }
}

/// A short description, e.g. `DDPM (fixed_large)`, `DDIM (η = 0)` or `DPM-Solver++`.
fn describe(s: &AnySampler) -> String {
    match s {
        AnySampler::Ddpm(d) => {
            let v = serde_json::to_value(d.inner().config().variance_type).expect("serialises");
            format!("DDPM ({})", v.as_str().unwrap_or("?"))
        }
        AnySampler::Ddim(d) => format!("DDIM (η = {})", d.inner().eta()),
        other => sampler_title(other.kind()).to_string(),
    }
}

fn check_options(cfg: &PretrainedConfig) -> Result<()> {
    if cfg.count == 0 {
        return Err(Error::invalid("--count must be at least 1"));
    }
    if cfg.step_counts.contains(&0) {
        return Err(Error::invalid(
            "every step count of steps.png must be at least 1",
        ));
    }
    if cfg.step_images == 0 {
        return Err(Error::invalid("steps.png needs at least 1 image per cell"));
    }
    Ok(())
}

impl PretrainedReport {
    /// The short readable summary printed by `difflab pretrained`.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let m = &s.model;
        let t = &s.timings;
        let mut o = String::new();
        let _ = writeln!(o, "Module 4 · a pretrained diffusion model: {}", m.id);
        let rev = m
            .revision
            .as_deref()
            .map(|r| format!(" @ {}", &r[..r.len().min(12)]))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  model      {}{rev} ({}), {} parameters, {}×{}×{}",
            m.id,
            m.source,
            thousands(m.parameters),
            m.height,
            m.width,
            m.channels
        );
        let _ = writeln!(
            o,
            "  scheduler  {} {} from {}",
            s.scheduler.class_name, s.scheduler.sampler, s.scheduler.source
        );
        let _ = writeln!(
            o,
            "  samples    {} images × {} of {} steps, seed {}: {} ({} per step)",
            s.count,
            s.steps,
            m.num_train_timesteps,
            s.seed,
            fmt_seconds(t.samples_seconds),
            fmt_seconds(t.seconds_per_step)
        );
        for sampler in ["ddpm", "ddim"] {
            let runs: Vec<String> = t
                .steps_figure
                .iter()
                .filter(|r| r.sampler == sampler)
                .map(|r| format!("{} steps {}", r.steps, fmt_seconds(r.seconds)))
                .collect();
            if !runs.is_empty() {
                let _ = writeln!(
                    o,
                    "  steps.png  {:<4} {}",
                    sampler.to_uppercase(),
                    runs.join(" · ")
                );
            }
        }
        if let Some(toy) = &s.toy {
            let _ = writeln!(
                o,
                "  toy        {} ({} U-Net, {} parameters, {}×{}, trained {}) vs {} parameters",
                toy.dir,
                toy.arch,
                thousands(toy.parameters),
                toy.image_size,
                toy.image_size,
                fmt_seconds(toy.train_seconds),
                thousands(m.parameters)
            );
        }
        for n in &self.notes {
            let _ = writeln!(o, "  note: {n}");
        }
        let _ = writeln!(o, "  wrote:");
        for p in &self.paths {
            let _ = writeln!(o, "    {}", p.display());
        }
        let _ = writeln!(
            o,
            "  total {} (estimated {})",
            fmt_seconds(t.total_seconds),
            fmt_seconds(t.estimated_seconds)
        );
        o
    }
}
