//! Module 3 of the lab, "generate digits from pure noise": load the denoiser trained in
//! Module 2, start from Gaussian noise x_T and let a DDPM or DDIM scheduler walk it back to
//! digits (see [`crate::pipelines::sample`]), then show how it happened.
//!
//! [`run_generate`] writes into the output folder:
//! - `trajectory.png`: sample #0 at 10 steps from t = T−1 to 0, and the model's guess x̂0 at each;
//! - `samples.png`: the first 12 samples, numbered, and `samples/0000.png`, … every sample of
//!   the run at its native resolution (for outside evaluation);
//! - `steps.png`: samples #0–#3 from the same starting noise with 50, 100 and T steps, DDPM
//!   (respaced as diffusers does) and DDIM, with the wall time of each;
//! - `denoise.gif`: 16 samples forming from noise, looping, about 4 s;
//! - `summary.json`: model, sampler, steps, seed, images generated, wall time, images per second.
//!
//! Sample `i` always draws its noise from stream `i` of the seed, so the same seed gives the
//! same images bit for bit, whatever `count`, and every figure shows the same samples.

mod figures;
mod files;

use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::pipelines::forward_demo::FileInfo;
use crate::pipelines::guidance::{check_scale, ClassifierFreeGuidance, DEFAULT_GUIDANCE};
use crate::pipelines::guidance_demo::{self, GuidanceRun};
use crate::pipelines::sample::{sample, sample_with, SampleOptions, Samples, SeededNoise};
use crate::schedulers::{AnyScheduler, Scheduler, SchedulerKind};
use crate::train::checkpoint::{Checkpoint, CheckpointConfig, CONFIG_FILE, SCHEDULER_FILE};
use crate::train::preview::ddpm_config;
use crate::train::Denoiser;
use crate::util::fsio::{ensure_dir, write_atomic};
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use report::GenerateReport;
mod report;

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
pub const COMPARE_STEPS: [usize; 2] = [50, 100];
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
    pub sampler: SchedulerKind,
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
    /// The classifier-free guidance scale w with `digits` (`None`: [`DEFAULT_GUIDANCE`]).
    pub guidance: Option<f32>,
    /// Conditional models: also score the guidance sweep and draw `guidance.png` (needs the
    /// evaluator's classifier, trained on first use).
    pub guidance_sweep: bool,
    /// Samples scored per scale by the guidance sweep (at least 2; see
    /// [`guidance_demo::SWEEP_COUNT`]).
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
            sampler: SchedulerKind::Ddpm,
            steps: None,
            count: DEFAULT_COUNT,
            seed: 42,
            eta: 0.0,
            out_dir: PathBuf::from("lab8-out/module3"),
            progress: false,
            digits: None,
            guidance: None,
            guidance_sweep: false,
            sweep_count: guidance_demo::SWEEP_COUNT,
            classifier: None,
            mnist_dir: None,
            pure_start: false,
        }
    }
}

/// The model, as recorded in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The checkpoint folder.
    pub dir: String,
    /// `toy` or `lab`.
    pub arch: String,
    /// Number of parameters.
    pub params: usize,
    /// `ema` or `trained`: which weights generated.
    pub weights: String,
    /// The digits it was trained on.
    pub digits: Vec<u8>,
    /// Side of its images.
    pub image_size: usize,
    /// Image channels.
    pub channels: usize,
    /// T, its training timesteps.
    pub num_train_timesteps: usize,
    /// Epochs it was trained for.
    pub epochs: usize,
    /// Where sampling starts: `matched` (noise matched to the training data) or `pure`.
    pub start: String,
}

/// One run of `steps.png`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepsRun {
    /// `ddpm` or `ddim`.
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
    /// `ddpm` or `ddim`.
    pub sampler: String,
    /// DDIM's η (0 for DDPM).
    pub eta: f32,
    /// Sampling steps.
    pub steps: usize,
    /// The timesteps visited, first and last (e.g. 199 and 0).
    pub timesteps: [usize; 2],
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

/// Load the checkpoint in `dir` with errors a student can act on: a missing folder or
/// `config.json` says to run `difflab train` first.
pub fn load_checkpoint(dir: &Path) -> Result<Checkpoint> {
    let hint = "run `difflab train` first (it writes lab8-out/module2/), or point --model at a checkpoint folder";
    if !dir.exists() {
        return Err(Error::invalid(format!(
            "no trained model: {} does not exist; {hint}",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "--model {} is a file; it must be the checkpoint folder written by `difflab train`",
            dir.display()
        )));
    }
    if !dir.join(CONFIG_FILE).is_file() {
        return Err(Error::invalid(format!(
            "no trained model in {} (no {CONFIG_FILE}); {hint}",
            dir.display()
        )));
    }
    Checkpoint::load(dir)
}

/// The scheduler of `kind` for a checkpoint: its `scheduler_config.json` when present (else
/// the training schedule), checked against the T of its `config.json`; DDIM re-derives ε̂ from
/// the clipped x̂0 ([`crate::schedulers::DdimScheduler::set_use_clipped_model_output`]).
pub fn checkpoint_scheduler(
    dir: &Path,
    ck: &CheckpointConfig,
    kind: SchedulerKind,
    eta: f32,
) -> Result<AnyScheduler> {
    let path = dir.join(SCHEDULER_FILE);
    let t_model = ck.settings.schedule.num_train_timesteps;
    let mut s = if path.is_file() {
        let s = AnyScheduler::from_config_file(&path, Some(kind))?;
        if s.num_train_timesteps() != t_model {
            return Err(Error::file(
                &path,
                format!(
                    "num_train_timesteps is {}, but {CONFIG_FILE} says the model was trained with T = {t_model}",
                    s.num_train_timesteps()
                ),
            ));
        }
        s
    } else {
        AnyScheduler::new(kind, &ddpm_config(&ck.settings.schedule))?
    };
    // Consistent DDIM steps: with diffusers' default the toy's digits degrade as steps grow.
    s.set_use_clipped_model_output(true);
    s.set_eta(eta).map_err(|e| match kind {
        SchedulerKind::Ddpm => Error::invalid(format!(
            "--eta {eta} applies only to --sampler ddim (DDPM's noise is fixed by its variance type)"
        )),
        SchedulerKind::Ddim => Error::invalid(format!("--eta {eta}: {e}")),
    })?;
    Ok(s)
}

/// The step counts of `steps.png` for T timesteps: 50, 100 (those below T) and T.
pub fn compare_steps(t_total: usize) -> Vec<usize> {
    let mut v: Vec<usize> = COMPARE_STEPS
        .iter()
        .copied()
        .filter(|&s| s < t_total)
        .collect();
    v.push(t_total);
    v
}

/// `k` loop indices spread evenly over `0 ..= n − 1`, both ends included (fewer if n < k).
pub fn spread(n: usize, k: usize) -> Vec<usize> {
    if n <= k || k < 2 {
        return (0..n.min(k.max(1))).collect();
    }
    let mut v: Vec<usize> = (0..k)
        .map(|j| ((j * (n - 1)) as f64 / (k - 1) as f64).round() as usize)
        .collect();
    v.dedup();
    v
}

/// The loaded model and what the figures need to describe it.
pub(crate) struct Loaded {
    pub model: Denoiser,
    pub config: CheckpointConfig,
    pub info: ModelInfo,
    /// Where this run's samples start: the checkpoint's own start unless `--pure-start`.
    pub start: StartNoise,
}

/// The model as `summary.json` records it; `start` is where this run's samples start.
pub(crate) fn model_info(
    dir: &Path,
    model: &Denoiser,
    ck: &CheckpointConfig,
    ema: bool,
    start: StartNoise,
) -> ModelInfo {
    let m = ck.model();
    ModelInfo {
        dir: dir.display().to_string(),
        arch: m.arch().name().into(),
        params: model.num_params(),
        weights: if ema { "ema" } else { "trained" }.into(),
        digits: ck.settings.data.digits.clone(),
        image_size: m.image_size(),
        channels: m.in_channels(),
        num_train_timesteps: ck.settings.schedule.num_train_timesteps,
        epochs: ck.stats.epochs_done,
        start: start.name().into(),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
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
    if cfg.steps == Some(0) {
        return Err(Error::invalid(
            "--steps must be at least 1 (the sampler needs at least one denoising step)",
        ));
    }
    let mut timings = Vec::new();
    let t0 = Instant::now();
    let ck = load_checkpoint(&cfg.model_dir)?;
    let has_ema = ck.ema.is_some();
    let (model, config) = ck.into_denoiser();
    let start = config.start_noise().or_pure(cfg.pure_start);
    let info = model_info(&cfg.model_dir, &model, &config, has_ema, start);
    let t_total = info.num_train_timesteps;
    let steps = cfg.steps.unwrap_or(t_total);
    if steps > t_total {
        return Err(Error::invalid(format!(
            "--steps {steps} is more than the {t_total} timesteps the model in {} was trained with: use 1 to {t_total}",
            cfg.model_dir.display()
        )));
    }
    let mut sched = checkpoint_scheduler(&cfg.model_dir, &config, cfg.sampler, cfg.eta)?;
    let guidance = check_conditioning(cfg, &model, &info)?;
    timings.push(Timing {
        part: "load the model".into(),
        seconds: secs(t0.elapsed()),
    });
    ensure_dir(&cfg.out_dir)?;
    let mut loaded = Loaded {
        model,
        config,
        info,
        start,
    };

    // The main run: the first GIF_SAMPLES with snapshots for the figures, the rest in big
    // batches without (sample i is the same image either way).
    let shape = {
        let i = &loaded.info;
        [i.image_size, i.image_size, i.channels]
    };
    let n = steps;
    let traj_at = spread(n, TRAJECTORY_SNAPSHOTS);
    let gif_at = spread(n, GIF_FRAMES);
    let mut snap_at: Vec<usize> = traj_at.iter().chain(&gif_at).copied().collect();
    snap_at.sort_unstable();
    snap_at.dedup();
    let head = cfg.count.min(GIF_SAMPLES);
    let label = format!("{} {steps} steps", cfg.sampler.name().to_uppercase());
    let base = SampleOptions {
        count: head,
        seed: cfg.seed,
        snapshot_at: snap_at,
        progress: cfg.progress,
        label: format!("sampling {label}"),
        start: loaded.start,
        ..SampleOptions::new(shape, steps)
    };
    let first = generate(cfg, &mut loaded.model, &mut sched, &base)?;
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
        let more = generate(cfg, &mut loaded.model, &mut sched, &rest)?;
        sampling += more.elapsed;
        images.extend_from_slice(more.images.data());
    }
    timings.push(Timing {
        part: format!("generate {} images ({label})", cfg.count),
        seconds: secs(sampling),
    });

    // steps.png: the same starting noise with fewer steps, both samplers.
    let t1 = Instant::now();
    let runs = compare_runs(cfg, &mut loaded, shape)?;
    timings.push(Timing {
        part: format!(
            "compare {} steps (DDPM and DDIM)",
            join_steps(&compare_steps(t_total))
        ),
        seconds: secs(t1.elapsed()),
    });

    let t2 = Instant::now();
    let ctx = figures::Context {
        cfg,
        info: &loaded.info,
        schedule: sched.schedule(),
        label: sampler_text(cfg.sampler, steps, t_total, cfg.eta)
            + &cfg.digits.as_ref().map_or(String::new(), |d| {
                format!(
                    " · asked for {} with guidance w = {guidance}",
                    digits_list(d)
                )
            }),
    };
    let mut files = Vec::new();
    let mut paths = Vec::new();
    let mut record = |name: &str, size: (u32, u32)| {
        files.push(FileInfo {
            name: name.into(),
            width: size.0,
            height: size.1,
        });
        paths.push(cfg.out_dir.join(name));
    };
    let out = |name: &str| cfg.out_dir.join(name);
    record(
        "trajectory.png",
        ctx.trajectory_png(&out("trajectory.png"), &first, &traj_at)?,
    );
    record(
        "samples.png",
        ctx.samples_png(&out("samples.png"), &images)?,
    );
    record("steps.png", ctx.steps_png(&out("steps.png"), &runs)?);
    record(
        "denoise.gif",
        ctx.denoise_gif(&out("denoise.gif"), &first, &gif_at)?,
    );
    timings.push(Timing {
        part: "draw the figures and the animation".into(),
        seconds: secs(t2.elapsed()),
    });
    if loaded.model.num_classes() > 0 && (cfg.digits.is_some() || cfg.guidance_sweep) {
        let t = Instant::now();
        let made = conditional_figures(cfg, &mut loaded, guidance)?;
        for (name, size) in made {
            record(name, size);
        }
        timings.push(Timing {
            part: if cfg.guidance_sweep {
                "conditional.png and the guidance sweep".into()
            } else {
                "conditional.png".into()
            },
            seconds: secs(t.elapsed()),
        });
    }

    let t3 = Instant::now();
    let sample_paths = files::write_samples(&out("samples"), &images, shape)?;
    timings.push(Timing {
        part: format!("save {} samples as PNG", cfg.count),
        seconds: secs(t3.elapsed()),
    });

    let summary = GenerateSummary {
        model: loaded.info.clone(),
        sampler: cfg.sampler.name().into(),
        eta: cfg.eta,
        steps,
        timesteps: [first.timesteps[0], *first.timesteps.last().expect("at least one step")],
        seed: cfg.seed,
        seeds: format!(
            "sample i (0 to {}) draws its starting noise and step noise from RNG stream i of seed {}",
            cfg.count - 1,
            cfg.seed
        ),
        images_generated: cfg.count,
        sampling_seconds: secs(sampling),
        images_per_second: cfg.count as f64 / secs(sampling).max(1e-9),
        steps_comparison: runs
            .iter()
            .map(|r| StepsRun {
                sampler: r.kind.name().into(),
                steps: r.steps,
                images: COMPARE_SAMPLES,
                seconds: secs(r.samples.elapsed),
            })
            .collect(),
        timings,
        wall_seconds: secs(started.elapsed()),
        threads: rayon::current_num_threads(),
        files,
    };
    let json_path = out("summary.json");
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::invalid(format!("could not encode summary.json: {e}")))?;
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    paths.push(json_path);
    Ok(GenerateReport {
        summary,
        paths,
        sample_paths,
    })
}

/// The guidance scale of a run, after checking the conditioning options against the model:
/// `--digit` needs a conditional model trained on those digits; `--guidance` needs `--digit`
/// (or a conditional model) and must be finite and ≥ 0.
fn check_conditioning(cfg: &GenerateConfig, model: &Denoiser, info: &ModelInfo) -> Result<f32> {
    let w = check_scale(cfg.guidance.unwrap_or(DEFAULT_GUIDANCE))?;
    let dir = cfg.model_dir.display();
    match &cfg.digits {
        Some(d) => {
            if model.num_classes() == 0 {
                return Err(Error::invalid(format!(
                    "--digit: the model in {dir} is unconditional (trained without labels); train one with `difflab train --conditional`"
                )));
            }
            if d.is_empty() {
                return Err(Error::invalid("--digit needs at least one digit"));
            }
            if let Some(x) = d.iter().find(|x| !info.digits.contains(x)) {
                return Err(Error::invalid(format!(
                    "--digit {x}: the model in {dir} was trained on digits {} only",
                    digits_list(&info.digits)
                )));
            }
        }
        None if cfg.guidance.is_some() && model.num_classes() == 0 => {
            return Err(Error::invalid(format!(
                "--guidance: the model in {dir} is unconditional, there is nothing to guide towards"
            )));
        }
        None if cfg.guidance.is_some() => {
            return Err(Error::invalid(
                "--guidance needs --digit (which digit to guide towards)",
            ));
        }
        None if cfg.guidance_sweep && model.num_classes() == 0 => {
            return Err(Error::invalid(format!(
                "--guidance-sweep: the model in {dir} is unconditional; train one with `difflab train --conditional`"
            )));
        }
        None => {}
    }
    Ok(w)
}

/// "0, 1, 2".
fn digits_list(d: &[u8]) -> String {
    crate::eval::guided::join(d)
}

/// [`sample`] of `opts`, asking for `cfg.digits` with classifier-free guidance when given.
fn generate(
    cfg: &GenerateConfig,
    model: &mut Denoiser,
    sched: &mut AnyScheduler,
    opts: &SampleOptions,
) -> Result<Samples> {
    let Some(digits) = &cfg.digits else {
        return sample(model, sched, opts);
    };
    let total = opts.first_index as usize + opts.count;
    let labels = crate::eval::guided::cycled_labels(digits, total);
    let w = cfg.guidance.unwrap_or(DEFAULT_GUIDANCE);
    let mut hooks = ClassifierFreeGuidance::new(labels, w)?;
    sample_with(
        model,
        sched,
        opts,
        &mut SeededNoise::new(opts.seed),
        &mut hooks,
    )
}

/// `conditional.png` (every trained digit at scale `w`) and, with `cfg.guidance_sweep`,
/// `guidance.png` (the first asked-for digit, or the first trained one, across
/// [`guidance_demo::SWEEP_SCALES`]) with `guidance.json`.
fn conditional_figures(
    cfg: &GenerateConfig,
    loaded: &mut Loaded,
    w: f32,
) -> Result<Vec<(&'static str, (u32, u32))>> {
    let dir = &cfg.model_dir;
    let info = crate::eval::model_info(dir, &loaded.config)?;
    let run = GuidanceRun {
        sampler: cfg.sampler,
        steps: cfg.steps,
        seed: cfg.seed,
        progress: cfg.progress,
        pure_start: cfg.pure_start,
    };
    let about = format!(
        "conditional {} U-Net trained on digits {}",
        loaded.info.arch,
        digits_list(&info.digits)
    );
    let mut made = Vec::new();
    let digits = info.digits.clone();
    let grid = guidance_demo::conditional_samples(&mut loaded.model, &info, &run, &digits, w)?;
    let path = cfg.out_dir.join("conditional.png");
    made.push((
        "conditional.png",
        guidance_demo::conditional_png(&path, &grid, &digits, w, &about)?,
    ));
    if cfg.guidance_sweep {
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
            cfg.progress,
        )?;
        let (sweep, shown) = guidance_demo::guidance_sweep(
            &mut loaded.model,
            &info,
            &evaluator,
            &run,
            digit,
            count,
        )?;
        let path = cfg.out_dir.join("guidance.png");
        made.push((
            "guidance.png",
            guidance_demo::guidance_png(&path, &sweep, &shown, digit, &about)?,
        ));
        crate::eval::write_json(&cfg.out_dir.join("guidance.json"), &sweep)?;
    }
    Ok(made)
}

/// One cell of `steps.png`.
pub(crate) struct CompareRun {
    pub kind: SchedulerKind,
    pub steps: usize,
    pub eta: f32,
    pub samples: Samples,
}

fn compare_runs(
    cfg: &GenerateConfig,
    loaded: &mut Loaded,
    shape: [usize; 3],
) -> Result<Vec<CompareRun>> {
    let t_total = loaded.info.num_train_timesteps;
    let mut runs = Vec::new();
    for kind in [SchedulerKind::Ddpm, SchedulerKind::Ddim] {
        let eta = if kind == SchedulerKind::Ddim && cfg.sampler == SchedulerKind::Ddim {
            cfg.eta
        } else {
            0.0
        };
        let mut s = checkpoint_scheduler(&cfg.model_dir, &loaded.config, kind, eta)?;
        for steps in compare_steps(t_total) {
            let opts = SampleOptions {
                count: COMPARE_SAMPLES,
                seed: cfg.seed,
                progress: cfg.progress,
                label: format!("steps.png {} {steps}", kind.name().to_uppercase()),
                start: loaded.start,
                ..SampleOptions::new(shape, steps)
            };
            let samples = generate(cfg, &mut loaded.model, &mut s, &opts)?;
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

fn join_steps(v: &[usize]) -> String {
    v.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// "DDPM, all 200 steps", "DDIM (η = 0), 50 of 200 steps".
pub fn sampler_text(kind: SchedulerKind, steps: usize, t_total: usize, eta: f32) -> String {
    let name = match kind {
        SchedulerKind::Ddpm => "DDPM".to_string(),
        SchedulerKind::Ddim => format!("DDIM (η = {eta})"),
    };
    if steps == t_total {
        format!("{name}, all {steps} steps")
    } else {
        format!("{name}, {steps} of {t_total} steps")
    }
}
