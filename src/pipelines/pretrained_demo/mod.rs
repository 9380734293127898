//! Module 4 of the lab, "run a real pretrained model": load a diffusers `UNet2DModel` (by
//! default `google/ddpm-cifar10-32`, 35.7M parameters) from the Hugging Face cache or a folder,
//! generate images with its own scheduler config, show what the number of steps and the sampler
//! do to time and quality, and set the student's toy model beside it.
//!
//! Everything is seeded: sample `i` starts from the same x_T in every run, every figure and
//! every sampler (see [`crate::pipelines::sample`]).

mod figures;
pub mod toy;

use crate::hub::{resolve_model, ModelFiles, ModelSource, DEFAULT_MODEL};
use crate::models::unet_2d::UNet2DModel;
use crate::nn::{Device, Tensor};
use crate::pipelines::forward_demo::FileInfo;
use crate::pipelines::sample::{sample, SampleOptions};
use crate::schedulers::{AnyScheduler, DdpmConfig, Scheduler, SchedulerKind};
use crate::train::console::{duration, thousands};
use crate::util::fsio::{ensure_dir, write_atomic};
use crate::{Error, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use toy::{find_checkpoint, ToyInfo, ToyModel};

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
    pub sampler: Option<SchedulerKind>,
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
    /// `ddpm` or `ddim`.
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
fn build_scheduler(files: &ModelFiles, kind: Option<SchedulerKind>) -> Result<AnyScheduler> {
    match &files.scheduler_config {
        Some(p) => AnyScheduler::from_config_file(p, kind),
        None => AnyScheduler::new(kind.unwrap_or(SchedulerKind::Ddpm), &DdpmConfig::default()),
    }
}

fn scheduler_info(files: &ModelFiles, s: &AnyScheduler) -> SchedulerInfo {
    let config = match s {
        AnyScheduler::Ddpm(d) => serde_json::to_value(d.config()),
        AnyScheduler::Ddim(d) => serde_json::to_value(d.config()),
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

/// A short description, e.g. `DDPM (fixed_large)` or `DDIM (η = 0)`.
fn describe(s: &AnyScheduler) -> String {
    match s {
        AnyScheduler::Ddpm(d) => {
            let v = serde_json::to_value(d.config().variance_type).expect("serialises");
            format!("DDPM ({})", v.as_str().unwrap_or("?"))
        }
        AnyScheduler::Ddim(d) => format!("DDIM (η = {})", d.eta()),
    }
}

fn check_options(cfg: &PretrainedConfig) -> Result<()> {
    if cfg.count == 0 {
        return Err(Error::invalid("--count must be at least 1"));
    }
    if cfg.steps == 0 {
        return Err(Error::invalid("--steps must be at least 1"));
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

fn check_steps(t: usize, cfg: &PretrainedConfig) -> Result<()> {
    for (what, n) in std::iter::once(("--steps", cfg.steps)).chain(
        cfg.step_counts
            .iter()
            .map(|&n| ("a steps.png step count", n)),
    ) {
        if n > t {
            return Err(Error::invalid(format!(
                "{what} of {n} is more than the scheduler's {t} training timesteps"
            )));
        }
    }
    Ok(())
}

/// Seconds of one forward pass over a batch of `n` (this also sizes the model's buffers).
fn time_forward(model: &mut UNet2DModel, n: usize, shape: [usize; 3], t: f32) -> Result<f64> {
    let [h, w, c] = shape;
    let x = Tensor::zeros(vec![n, h, w, c]);
    let started = Instant::now();
    model.forward(&x, &vec![t; n])?;
    Ok(started.elapsed().as_secs_f64())
}

fn sample_options(
    cfg: &PretrainedConfig,
    shape: [usize; 3],
    count: usize,
    steps: usize,
    label: String,
) -> SampleOptions {
    SampleOptions {
        count,
        seed: cfg.seed,
        progress: cfg.progress,
        label,
        ..SampleOptions::new(shape, steps)
    }
}

/// Run Module 4: write `samples.png`, `steps.png`, `toy_vs_pretrained.png` (when a toy
/// checkpoint is found) and `summary.json` into `cfg.out_dir`.
///
/// A model that is neither a folder nor in the Hugging Face cache, and cannot be downloaded,
/// gives [`Error::Unavailable`] before anything is written, so callers can skip the module.
pub fn run_pretrained(cfg: &PretrainedConfig) -> Result<PretrainedReport> {
    let started = Instant::now();
    check_options(cfg)?;
    let files = resolve_model(&cfg.model)?;
    let mut model = UNet2DModel::from_files(&files.config, &files.weights, &Device::Cpu)?;
    let mut notes = Vec::new();
    if !model.unused_weights().is_empty() {
        notes.push(format!(
            "{} tensors of {} were not used by config.json (e.g. {})",
            model.unused_weights().len(),
            files.weights.display(),
            model.unused_weights()[0]
        ));
    }
    let mc = model.config();
    let (height, width) = mc.sample_size.map(|s| s.hw()).ok_or_else(|| {
        Error::file(
            &files.config,
            "has no sample_size: cannot tell what image size to generate",
        )
    })?;
    let shape = [height, width, mc.in_channels];
    let mut scheduler = build_scheduler(&files, cfg.sampler)?;
    let t_total = scheduler.num_train_timesteps();
    check_steps(t_total, cfg)?;
    let (data, training) = training_facts(&files.id);
    let facts = ModelFacts {
        id: files.id.clone(),
        revision: files.revision.clone(),
        source: source_name(&files.source).into(),
        parameters: model.num_parameters(),
        height,
        width,
        channels: mc.in_channels,
        num_train_timesteps: t_total,
        data,
        training,
        config: files.config.display().to_string(),
        weights: files.weights.display().to_string(),
    };
    let sched_text = describe(&scheduler);
    ensure_dir(&cfg.out_dir)?;
    let mut toy = find_checkpoint(&cfg.toy_dirs)
        .map(|d| ToyModel::load(&d))
        .transpose()?;
    let load_seconds = started.elapsed().as_secs_f64();

    // One timed forward pass per batch size gives the estimate (and warms the buffers).
    let t0 = (t_total - 1) as f32;
    let per_step = time_forward(&mut model, cfg.count, shape, t0)?;
    let per_step_cell = if cfg.step_counts.is_empty() {
        0.0
    } else {
        time_forward(&mut model, cfg.step_images, shape, t0)?
    };
    let figure_steps: usize = 2 * cfg.step_counts.iter().sum::<usize>();
    let toy_estimate = match toy.as_mut() {
        Some(t) => t.time_step(cfg.count)? * t.num_train_timesteps() as f64,
        None => 0.0,
    };
    let estimated_seconds =
        per_step * cfg.steps as f64 + per_step_cell * figure_steps as f64 + toy_estimate;
    if cfg.progress {
        eprintln!(
            "Module 4 · {} ({} parameters, {height}×{width}×{}) from {}",
            facts.id,
            fmt_params(facts.parameters),
            facts.channels,
            facts.source
        );
        let mut plan = format!(
            "  {} images × {} steps of {sched_text} ≈ {}",
            cfg.count,
            cfg.steps,
            fmt_seconds(per_step * cfg.steps as f64)
        );
        if figure_steps > 0 {
            let _ = write!(
                plan,
                "; steps.png: {figure_steps} more steps ≈ {}",
                fmt_seconds(per_step_cell * figure_steps as f64)
            );
        }
        if let Some(t) = &toy {
            let _ = write!(
                plan,
                "; the toy: {} steps ≈ {}",
                t.num_train_timesteps(),
                fmt_seconds(toy_estimate)
            );
        }
        eprintln!(
            "{plan}\n  estimated time: about {}",
            fmt_seconds(estimated_seconds)
        );
    }

    let label = format!("samples ({})", scheduler.kind().name());
    let opts = sample_options(cfg, shape, cfg.count, cfg.steps, label);
    let out = sample(&mut model, &mut scheduler, &opts)?;
    let samples_seconds = out.elapsed.as_secs_f64();
    let pics = figures::pictures(shape, out.images.data())?;

    let mut files_out = Vec::new();
    let mut paths = Vec::new();
    let mut record = |name: &str, size: (u32, u32)| {
        files_out.push(FileInfo {
            name: name.into(),
            width: size.0,
            height: size.1,
        });
        paths.push(cfg.out_dir.join(name));
    };
    let p = cfg.out_dir.join("samples.png");
    record(
        "samples.png",
        figures::samples_png(&p, pics.clone(), &facts, &sched_text, cfg.steps, cfg.seed)?,
    );

    let mut step_runs = Vec::new();
    if !cfg.step_counts.is_empty() {
        let mut images = Vec::new();
        for kind in [SchedulerKind::Ddpm, SchedulerKind::Ddim] {
            for &n in &cfg.step_counts {
                let mut s = build_scheduler(&files, Some(kind))?;
                let label = format!("steps.png {} {n}", kind.name());
                let o = sample(
                    &mut model,
                    &mut s,
                    &sample_options(cfg, shape, cfg.step_images, n, label),
                )?;
                step_runs.push(StepRun {
                    sampler: kind.name().into(),
                    steps: n,
                    seconds: o.elapsed.as_secs_f64(),
                });
                images.push(o.images.into_data());
            }
        }
        let p = cfg.out_dir.join("steps.png");
        record(
            "steps.png",
            figures::steps_png(&p, shape, &step_runs, &images, cfg.step_images, cfg.seed)?,
        );
    }

    let (toy, toy_note) = match toy.as_mut() {
        Some(toy) => {
            let t = toy.sample(cfg.count, cfg.seed, cfg.progress)?;
            let p = cfg.out_dir.join("toy_vs_pretrained.png");
            record(
                "toy_vs_pretrained.png",
                figures::toy_vs_pretrained_png(&p, &t, &pics, &facts, cfg.seed)?,
            );
            (Some(t.info), None)
        }
        None => {
            let searched: Vec<String> = cfg
                .toy_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let note = format!(
                "no toy checkpoint in {}: toy_vs_pretrained.png skipped (run `difflab train` first, or pass --toy DIR)",
                if searched.is_empty() { "(no folder given)".into() } else { searched.join(" or ") }
            );
            notes.push(note.clone());
            (None, Some(note))
        }
    };

    let summary = PretrainedSummary {
        model: facts,
        scheduler: scheduler_info(&files, &scheduler),
        count: cfg.count,
        steps: cfg.steps,
        seed: cfg.seed,
        timings: Timings {
            load_seconds,
            estimated_seconds,
            samples_seconds,
            seconds_per_step: samples_seconds / cfg.steps as f64,
            steps_figure: step_runs,
            toy_seconds: toy.as_ref().map(|t| t.sample_seconds),
            total_seconds: started.elapsed().as_secs_f64(),
        },
        toy,
        toy_note,
        files: files_out,
    };
    let json_path = cfg.out_dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises");
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    paths.push(json_path);
    Ok(PretrainedReport {
        summary,
        paths,
        notes,
        samples: out.images,
    })
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
