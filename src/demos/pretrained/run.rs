//! [`run_pretrained`]: load the model, estimate the time, sample, draw, summarise.

use super::toy::{find_checkpoint, ToyInfo, ToyModel};
use super::{
    build_scheduler, check_options, describe, figures, fmt_params, fmt_seconds, scheduler_info,
    source_name, training_facts, ModelFacts, PretrainedConfig, PretrainedReport, PretrainedSummary,
    StepRun, Timings,
};
use crate::console::StepBars;
use crate::hub::{resolve_model, ModelFiles};
use crate::models::unet_2d::UNet2DModel;
use crate::nn::{Device, Tensor};
use crate::pipelines::sample::{
    check_steps, sample_observed, SampleOptions, FEW_STEPS, PRETRAINED_FEW_STEP_SAMPLER,
};
use crate::schedulers::{AnySampler, Sampler, SamplerKind};
use crate::util::fsio::{ensure_dir, write_atomic};
use crate::viz::{FileInfo, Picture};
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// The loaded model with what the run needs to know about it.
struct Loaded {
    files: ModelFiles,
    model: UNet2DModel,
    scheduler: AnySampler,
    shape: [usize; 3],
    facts: ModelFacts,
    notes: Vec<String>,
}

/// The figures written so far and their paths.
struct Written<'a> {
    out: &'a std::path::Path,
    files: Vec<FileInfo>,
    paths: Vec<PathBuf>,
}

impl Written<'_> {
    fn record(&mut self, name: &str, size: (u32, u32)) {
        self.files.push(FileInfo::new(name, size));
        self.paths.push(self.out.join(name));
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
    let mut m = load(cfg)?;
    let sched_text = describe(&m.scheduler);
    ensure_dir(&cfg.out_dir)?;
    let mut toy = find_checkpoint(&cfg.toy_dirs)
        .map(|d| ToyModel::load(&d))
        .transpose()?;
    let load_seconds = started.elapsed().as_secs_f64();
    let estimated_seconds = estimate(cfg, &mut m, toy.as_mut(), &sched_text)?;

    let mut bars = StepBars::new(cfg.progress);
    let label = format!("samples ({})", m.scheduler.kind().name());
    let opts = sample_options(cfg, m.shape, cfg.count, cfg.steps, label);
    let out = sample_observed(&mut m.model, &mut m.scheduler, &opts, &mut bars)?;
    let samples_seconds = out.elapsed.as_secs_f64();
    let pics = figures::pictures(m.shape, out.images.data())?;
    let mut written = Written {
        out: &cfg.out_dir,
        files: Vec::new(),
        paths: Vec::new(),
    };
    let p = cfg.out_dir.join("samples.png");
    let size = figures::samples_png(&p, pics.clone(), &m.facts, &sched_text, cfg.steps, cfg.seed)?;
    written.record("samples.png", size);
    let step_runs = steps_figure(cfg, &mut m, &mut bars, &mut written)?;
    let (toy, toy_note) = toy_figure(cfg, toy.as_mut(), &pics, &m, &mut bars, &mut written)?;
    if let Some(note) = &toy_note {
        m.notes.push(note.clone());
    }

    let summary = PretrainedSummary {
        scheduler: scheduler_info(&m.files, &m.scheduler),
        model: m.facts,
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
        files: written.files,
    };
    let json_path = cfg.out_dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises");
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    written.paths.push(json_path);
    Ok(PretrainedReport {
        summary,
        paths: written.paths,
        notes: m.notes,
        samples: out.images,
    })
}

/// Resolve and load the model and its scheduler, check the step counts against its T.
fn load(cfg: &PretrainedConfig) -> Result<Loaded> {
    let files = resolve_model(&cfg.model)?;
    let model = UNet2DModel::from_files(&files.config, &files.weights, &Device::Cpu)?;
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
    let scheduler = build_scheduler(&files, cfg.sampler)?;
    let t_total = scheduler.num_train_timesteps();
    check_steps(Some(cfg.steps), t_total, &files.id)?;
    if let Some(&n) = cfg.step_counts.iter().find(|&&n| n > t_total) {
        return Err(Error::invalid(format!(
            "a steps.png step count of {n} is more than the scheduler's {t_total} training timesteps"
        )));
    }
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
    Ok(Loaded {
        files,
        model,
        scheduler,
        shape,
        facts,
        notes,
    })
}

/// The estimated seconds of the run, from one timed forward pass per batch size (which also
/// warms the buffers); printed with the plan when `cfg.progress`.
fn estimate(
    cfg: &PretrainedConfig,
    m: &mut Loaded,
    toy: Option<&mut ToyModel>,
    sched_text: &str,
) -> Result<f64> {
    let t0 = (m.facts.num_train_timesteps - 1) as f32;
    let per_step = time_forward(&mut m.model, cfg.count, m.shape, t0)?;
    let per_step_cell = if cfg.step_counts.is_empty() {
        0.0
    } else {
        time_forward(&mut m.model, cfg.step_images, m.shape, t0)?
    };
    let figure_steps: usize = 2 * cfg.step_counts.iter().sum::<usize>();
    let (toy_estimate, toy_steps) = match toy {
        Some(t) => {
            let n = t.num_train_timesteps();
            (t.time_step(cfg.count)? * n as f64, Some(n))
        }
        None => (0.0, None),
    };
    let estimated_seconds =
        per_step * cfg.steps as f64 + per_step_cell * figure_steps as f64 + toy_estimate;
    if !cfg.progress {
        return Ok(estimated_seconds);
    }
    let f = &m.facts;
    eprintln!(
        "Module 4 · {} ({} parameters, {}×{}×{}) from {}",
        f.id,
        fmt_params(f.parameters),
        f.height,
        f.width,
        f.channels,
        f.source
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
    if let Some(n) = toy_steps {
        let _ = write!(plan, "; the toy: {n} steps ≈ {}", fmt_seconds(toy_estimate));
    }
    eprintln!(
        "{plan}\n  estimated time: about {}",
        fmt_seconds(estimated_seconds)
    );
    Ok(estimated_seconds)
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
        label,
        ..SampleOptions::new(shape, steps)
    }
}

/// `steps.png`: each step count with DDPM and DDIM, and [`PRETRAINED_FEW_STEP_SAMPLER`] at
/// [`FEW_STEPS`]
/// (skipped without step counts).
fn steps_figure(
    cfg: &PretrainedConfig,
    m: &mut Loaded,
    bars: &mut StepBars,
    written: &mut Written<'_>,
) -> Result<Vec<StepRun>> {
    let mut step_runs = Vec::new();
    if cfg.step_counts.is_empty() {
        return Ok(step_runs);
    }
    let mut images = Vec::new();
    let t_total = m.scheduler.num_train_timesteps();
    let few_steps: Vec<usize> = FEW_STEPS.into_iter().filter(|&n| n <= t_total).collect();
    let plan = [
        (SamplerKind::Ddpm, cfg.step_counts.clone()),
        (SamplerKind::Ddim, cfg.step_counts.clone()),
        (PRETRAINED_FEW_STEP_SAMPLER, few_steps),
    ];
    for (kind, counts) in plan {
        for n in counts {
            let mut s = build_scheduler(&m.files, Some(kind))?;
            let label = format!("steps.png {} {n}", kind.name());
            let opts = sample_options(cfg, m.shape, cfg.step_images, n, label);
            let o = sample_observed(&mut m.model, &mut s, &opts, bars)?;
            step_runs.push(StepRun {
                sampler: kind.name().into(),
                steps: n,
                seconds: o.elapsed.as_secs_f64(),
            });
            images.push(o.images.into_data());
        }
    }
    let p = cfg.out_dir.join("steps.png");
    let size = figures::steps_png(&p, m.shape, &step_runs, &images, cfg.step_images, cfg.seed)?;
    written.record("steps.png", size);
    Ok(step_runs)
}

/// `toy_vs_pretrained.png` with the toy's samples, or the note saying why there is none.
fn toy_figure(
    cfg: &PretrainedConfig,
    toy: Option<&mut ToyModel>,
    pics: &[Picture],
    m: &Loaded,
    bars: &mut StepBars,
    written: &mut Written<'_>,
) -> Result<(Option<ToyInfo>, Option<String>)> {
    if let Some(toy) = toy {
        let t = toy.sample(cfg.count, cfg.seed, bars)?;
        let p = cfg.out_dir.join("toy_vs_pretrained.png");
        let size = figures::toy_vs_pretrained_png(&p, &t, pics, &m.facts, cfg.seed)?;
        written.record("toy_vs_pretrained.png", size);
        return Ok((Some(t.info), None));
    }
    let searched: Vec<String> = cfg
        .toy_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let note = format!(
        "no toy checkpoint in {}: toy_vs_pretrained.png skipped (run `difflab train` first, or pass --toy DIR)",
        if searched.is_empty() { "(no folder given)".into() } else { searched.join(" or ") }
    );
    Ok((None, Some(note)))
}
