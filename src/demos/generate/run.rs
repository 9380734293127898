//! [`run_generate`]: open the checkpoint, sample, compare step counts, draw, summarise.

use super::guidance::{self, GuidanceRun};
use super::{
    compare_steps, figures, files, CompareRun, GenerateConfig, GenerateReport, GenerateSummary,
    StepsRun, Timing, BATCH_SIZE, COMPARE_SAMPLES, FEW_STEPS, FEW_STEP_SAMPLER, GIF_FRAMES,
    GIF_SAMPLES, TRAJECTORY_SNAPSHOTS,
};
use crate::console::StepBars;
use crate::console::{sampler_text, sampler_title};
use crate::eval::guided::{cycled_labels, join};
use crate::models::NoisePredictor;
use crate::pipelines::guidance::{check_scale, ClassifierFreeGuidance, DEFAULT_GUIDANCE};
use crate::pipelines::sample::{
    first_last, sample_observed, sample_with_progress, spread, SampleOptions, Samples, SeededNoise,
};
use crate::schedulers::{AnySampler, SamplerKind};
use crate::train::TrainedModel;
use crate::util::fsio::{ensure_dir, write_atomic};
use crate::viz::FileInfo;
use crate::{Error, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The main run: the first [`GIF_SAMPLES`] with the figures' snapshots, and every sample.
struct MainRun {
    first: Samples,
    images: Vec<f32>,
    sampling: Duration,
    traj_at: Vec<usize>,
    gif_at: Vec<usize>,
}

/// A run in progress: its config, model, progress bars, timings and files.
struct Run<'a> {
    cfg: &'a GenerateConfig,
    m: TrainedModel,
    bars: StepBars,
    timings: Vec<Timing>,
    files: Vec<FileInfo>,
    paths: Vec<PathBuf>,
}

impl Run<'_> {
    fn time(&mut self, part: String, since: Instant) {
        self.timings.push(Timing {
            part,
            seconds: secs(since.elapsed()),
        });
    }

    fn record(&mut self, name: &str, size: (u32, u32)) {
        self.files.push(FileInfo::new(name, size));
        self.paths.push(self.cfg.out_dir.join(name));
    }

    fn shape(&self) -> [usize; 3] {
        let i = &self.m.info;
        [i.image_size, i.image_size, i.channels]
    }
}

/// Run Module 3: generate `cfg.count` samples and write the figures, the animation, every
/// sample as `samples/NNNN.png` and `summary.json` into `cfg.out_dir`.
///
/// Errors (before anything is written): `count` 0, `steps` 0 or above the model's T, a
/// missing checkpoint (the message says to run `difflab train`), a damaged checkpoint or one
/// whose weights do not fit its `config.json` (the message names the file and the tensor),
/// `eta` other than 0 with DDPM.
pub fn run_generate(cfg: &GenerateConfig) -> Result<GenerateReport> {
    let started = Instant::now();
    if cfg.count == 0 {
        return Err(Error::invalid("--count must be at least 1"));
    }
    let t0 = Instant::now();
    let mut m = TrainedModel::open(&cfg.model_dir)?;
    m.info.start = m.info.start.or_pure(cfg.pure_start);
    let steps = m.steps(cfg.steps)?;
    let mut sched = m.sampler(cfg.sampler, cfg.eta)?;
    let guidance = check_conditioning(cfg, &m)?;
    let mut run = Run {
        cfg,
        m,
        bars: StepBars::new(cfg.progress),
        timings: Vec::new(),
        files: Vec::new(),
        paths: Vec::new(),
    };
    run.time("load the model".into(), t0);
    ensure_dir(&cfg.out_dir)?;

    let main = main_run(&mut run, &mut sched, steps)?;
    let label = format!("{} {steps} steps", cfg.sampler.name().to_uppercase());
    run.timings.push(Timing {
        part: format!("generate {} images ({label})", cfg.count),
        seconds: secs(main.sampling),
    });
    let t1 = Instant::now();
    let runs = compare_runs(&mut run)?;
    let t_total = run.m.info.num_train_timesteps;
    let steps_text: Vec<String> = compare_steps(t_total)
        .iter()
        .map(|s| s.to_string())
        .collect();
    run.time(
        format!(
            "compare {} steps (DDPM and DDIM; {} at {})",
            steps_text.join("/"),
            sampler_title(FEW_STEP_SAMPLER),
            FEW_STEPS.map(|n| n.to_string()).join("/")
        ),
        t1,
    );
    draw_figures(&mut run, steps, guidance, &main, &runs)?;
    if run.m.model.num_classes() > 0 && (cfg.digits.is_some() || cfg.guidance_sweep) {
        let t = Instant::now();
        conditional_figures(&mut run, guidance)?;
        let part = if cfg.guidance_sweep {
            "conditional.png and the guidance sweep"
        } else {
            "conditional.png"
        };
        run.time(part.into(), t);
    }
    let t3 = Instant::now();
    let sample_paths =
        files::write_samples(&cfg.out_dir.join("samples"), &main.images, run.shape())?;
    run.time(format!("save {} samples as PNG", cfg.count), t3);
    let summary = summary(run.cfg, steps, &main, &runs, &mut run, started);
    let json_path = cfg.out_dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::invalid(format!("could not encode summary.json: {e}")))?;
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    run.paths.push(json_path);
    Ok(GenerateReport {
        summary,
        paths: run.paths,
        sample_paths,
    })
}

/// The first [`GIF_SAMPLES`] with snapshots for the figures, the rest in big batches without
/// (sample i is the same image either way).
fn main_run(run: &mut Run<'_>, sched: &mut AnySampler, steps: usize) -> Result<MainRun> {
    let cfg = run.cfg;
    let traj_at = spread(steps, TRAJECTORY_SNAPSHOTS);
    let gif_at = spread(steps, GIF_FRAMES);
    let mut snap_at: Vec<usize> = traj_at.iter().chain(&gif_at).copied().collect();
    snap_at.sort_unstable();
    snap_at.dedup();
    let head = cfg.count.min(GIF_SAMPLES);
    let label = format!("{} {steps} steps", cfg.sampler.name().to_uppercase());
    let base = SampleOptions {
        count: head,
        seed: cfg.seed,
        snapshot_at: snap_at,
        label: format!("sampling {label}"),
        start: run.m.info.start,
        ..SampleOptions::new(run.shape(), steps)
    };
    let first = generate(run, sched, &base)?;
    let mut sampling = first.elapsed;
    let mut images = first.images.data().to_vec();
    if cfg.count > head {
        let rest = SampleOptions {
            count: cfg.count - head,
            first_index: head as u64,
            batch_size: BATCH_SIZE,
            snapshot_at: Vec::new(),
            ..base.clone()
        };
        let more = generate(run, sched, &rest)?;
        sampling += more.elapsed;
        images.extend_from_slice(more.images.data());
    }
    Ok(MainRun {
        first,
        images,
        sampling,
        traj_at,
        gif_at,
    })
}

/// `trajectory.png`, `samples.png`, `steps.png` and `denoise.gif`.
fn draw_figures(
    run: &mut Run<'_>,
    steps: usize,
    guidance: f32,
    main: &MainRun,
    runs: &[CompareRun],
) -> Result<()> {
    let cfg = run.cfg;
    let t2 = Instant::now();
    let t_total = run.m.info.num_train_timesteps;
    let asked = cfg.digits.as_ref().map_or(String::new(), |d| {
        format!(" · asked for {} with guidance w = {guidance}", join(d))
    });
    let ctx = figures::Context {
        cfg,
        info: &run.m.info,
        label: sampler_text(cfg.sampler, steps, t_total, cfg.eta) + &asked,
    };
    let out = |name: &str| cfg.out_dir.join(name);
    let made = [
        (
            "trajectory.png",
            ctx.trajectory_png(&out("trajectory.png"), &main.first, &main.traj_at)?,
        ),
        (
            "samples.png",
            ctx.samples_png(&out("samples.png"), &main.images)?,
        ),
        ("steps.png", ctx.steps_png(&out("steps.png"), runs)?),
        (
            "denoise.gif",
            ctx.denoise_gif(&out("denoise.gif"), &main.first, &main.gif_at)?,
        ),
    ];
    for (name, size) in made {
        run.record(name, size);
    }
    run.time("draw the figures and the animation".into(), t2);
    Ok(())
}

/// The content of `summary.json`.
fn summary(
    cfg: &GenerateConfig,
    steps: usize,
    main: &MainRun,
    runs: &[CompareRun],
    run: &mut Run<'_>,
    started: Instant,
) -> GenerateSummary {
    let first = &main.first;
    GenerateSummary {
        model: run.m.info.clone(),
        sampler: cfg.sampler.name().into(),
        eta: cfg.eta,
        steps,
        timesteps: first_last(&first.timesteps),
        seed: cfg.seed,
        seeds: format!(
            "sample i (0 to {}) draws its starting noise and step noise from RNG stream i of seed {}",
            cfg.count - 1,
            cfg.seed
        ),
        images_generated: cfg.count,
        sampling_seconds: secs(main.sampling),
        images_per_second: cfg.count as f64 / secs(main.sampling).max(1e-9),
        steps_comparison: runs
            .iter()
            .map(|r| StepsRun {
                sampler: r.kind.name().into(),
                steps: r.steps,
                images: COMPARE_SAMPLES,
                seconds: secs(r.samples.elapsed),
            })
            .collect(),
        timings: std::mem::take(&mut run.timings),
        wall_seconds: secs(started.elapsed()),
        threads: rayon::current_num_threads(),
        files: std::mem::take(&mut run.files),
    }
}

/// The guidance scale of a run, after checking the conditioning options against the model:
/// `--digit` needs a conditional model trained on those digits; `--guidance` needs `--digit`
/// (or a conditional model) and must be finite and ≥ 0.
fn check_conditioning(cfg: &GenerateConfig, m: &TrainedModel) -> Result<f32> {
    let w = check_scale(cfg.guidance.unwrap_or(DEFAULT_GUIDANCE))?;
    let dir = cfg.model_dir.display();
    let conditional = m.model.num_classes() > 0;
    match &cfg.digits {
        Some(_) if !conditional => Err(Error::invalid(format!(
            "--digit: the model in {dir} is unconditional (trained without labels); train one with `difflab train --conditional`"
        ))),
        Some(d) if d.is_empty() => Err(Error::invalid("--digit needs at least one digit")),
        Some(d) => match d.iter().find(|x| !m.info.digits.contains(x)) {
            Some(x) => Err(Error::invalid(format!(
                "--digit {x}: the model in {dir} was trained on digits {} only",
                join(&m.info.digits)
            ))),
            None => Ok(w),
        },
        None if cfg.guidance.is_some() && !conditional => Err(Error::invalid(format!(
            "--guidance: the model in {dir} is unconditional, there is nothing to guide towards"
        ))),
        None if cfg.guidance.is_some() => Err(Error::invalid(
            "--guidance needs --digit (which digit to guide towards)",
        )),
        None if cfg.guidance_sweep && !conditional => Err(Error::invalid(format!(
            "--guidance-sweep: the model in {dir} is unconditional; train one with `difflab train --conditional`"
        ))),
        None => Ok(w),
    }
}

/// The samples of `opts`, asking for `cfg.digits` with classifier-free guidance when given.
fn generate(run: &mut Run<'_>, sched: &mut AnySampler, opts: &SampleOptions) -> Result<Samples> {
    let cfg = run.cfg;
    let Some(digits) = &cfg.digits else {
        return sample_observed(&mut run.m.model, sched, opts, &mut run.bars);
    };
    let total = opts.first_index as usize + opts.count;
    let w = cfg.guidance.unwrap_or(DEFAULT_GUIDANCE);
    let mut hooks = ClassifierFreeGuidance::new(cycled_labels(digits, total), w)?;
    let mut noise = SeededNoise::new(opts.seed);
    sample_with_progress(
        &mut run.m.model,
        sched,
        opts,
        &mut noise,
        &mut hooks,
        &mut run.bars,
    )
}

/// `conditional.png` (every trained digit at scale `w`) and, with `cfg.guidance_sweep`,
/// `guidance.png` (the first asked-for digit, or the first trained one, across
/// [`guidance::SWEEP_SCALES`]) with `guidance.json`.
fn conditional_figures(run: &mut Run<'_>, w: f32) -> Result<()> {
    let cfg = run.cfg;
    let gr = GuidanceRun {
        sampler: cfg.sampler,
        steps: cfg.steps,
        seed: cfg.seed,
        progress: cfg.progress,
        pure_start: cfg.pure_start,
    };
    let info = run.m.info.clone();
    let about = format!(
        "conditional {} U-Net trained on digits {}",
        info.arch,
        join(&info.digits)
    );
    let digits = info.digits.clone();
    let grid =
        guidance::conditional_samples(&mut run.m.model, &info, &gr, &digits, w, &mut run.bars)?;
    let path = cfg.out_dir.join("conditional.png");
    let size = guidance::conditional_png(&path, &grid, &digits, w, &about)?;
    run.record("conditional.png", size);
    if !cfg.guidance_sweep {
        return Ok(());
    }
    let digit = cfg
        .digits
        .as_ref()
        .and_then(|d| d.first())
        .copied()
        .unwrap_or(digits[0]);
    let count = cfg.sweep_count;
    let evaluator = crate::eval::Evaluator::new(
        info.image_size,
        &[digit],
        count,
        cfg.seed,
        cfg.classifier.as_deref(),
        cfg.mnist_dir.as_deref(),
        &mut run.bars,
    )?;
    let (sweep, shown) = guidance::guidance_sweep(
        &mut run.m.model,
        &info,
        &evaluator,
        &gr,
        digit,
        count,
        &mut run.bars,
    )?;
    let path = cfg.out_dir.join("guidance.png");
    let size = guidance::guidance_png(&path, &sweep, &shown, digit, &about)?;
    run.record("guidance.png", size);
    crate::eval::write_json(&cfg.out_dir.join("guidance.json"), &sweep)
}

/// `steps.png`'s runs: the same starting noise with fewer steps, DDPM and DDIM at every
/// count of [`compare_steps`], [`FEW_STEP_SAMPLER`] at [`FEW_STEPS`].
fn compare_runs(run: &mut Run<'_>) -> Result<Vec<CompareRun>> {
    let cfg = run.cfg;
    let t_total = run.m.info.num_train_timesteps;
    let shape = run.shape();
    let few: Vec<usize> = FEW_STEPS.into_iter().filter(|&n| n < t_total).collect();
    let plan = [
        (SamplerKind::Ddpm, compare_steps(t_total)),
        (SamplerKind::Ddim, compare_steps(t_total)),
        (FEW_STEP_SAMPLER, few),
    ];
    let mut runs = Vec::new();
    for (kind, counts) in plan {
        let eta = if kind == SamplerKind::Ddim && cfg.sampler == SamplerKind::Ddim {
            cfg.eta
        } else {
            0.0
        };
        let mut s = run.m.sampler(kind, eta)?;
        for steps in counts {
            let opts = SampleOptions {
                count: COMPARE_SAMPLES,
                seed: cfg.seed,
                label: format!("steps.png {} {steps}", kind.name().to_uppercase()),
                start: run.m.info.start,
                ..SampleOptions::new(shape, steps)
            };
            let samples = generate(run, &mut s, &opts)?;
            runs.push(CompareRun {
                kind,
                steps,
                eta,
                samples,
            });
        }
    }
    Ok(runs)
}
