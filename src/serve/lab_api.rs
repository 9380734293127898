//! The one place where `serve` calls into the difflab library. Every other file of `serve`
//! orchestrates (HTTP, queues, streams) and reaches the library only through these functions,
//! so that a refactor of the library's modules re-points calls here and nowhere else.
//!
//! What is used: `diffusion` (schedule, forward noising), `data` (MNIST, the student's image
//! file), `util` (seeded noise, atomic writes), `viz` (the figures' colours, PNG tiles),
//! `train` (settings, the trainer, checkpoints), `pipelines` (the sampling loop, guidance) and
//! `report` (the 25 questions).

use crate::data::{load_gray_image, PixelRange, Split};
use crate::demos::forward::ForwardConfig;
use crate::diffusion::BetaSchedule;
use crate::models::Arch;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::guidance::ClassifierFreeGuidance;
use crate::pipelines::sample::{sample_with, NoHooks, SampleHooks, SampleOptions, SeededNoise};
use crate::pipelines::sample::{Samples, StepInfo};
use crate::report::questions::{Part, QUESTIONS};
use crate::schedulers::{Sampler, SamplerKind};
use crate::train::data::load_training_set;
use crate::train::TrainedModel;
use crate::train::{CheckpointConfig, TrainSettings};
use crate::train::{EpochReport, Observer, Plan, RunOptions, StepProgress, Trainer};
use crate::util::rng::Rng;
use crate::viz::canvas::Canvas;
use crate::viz::picture::Picture;
use crate::viz::style;
use std::ops::Range;
use std::path::Path;

pub use crate::data::Mnist;
pub use crate::diffusion::NoiseSchedule;
pub use crate::Error as LabError;

/// `Result` with the library's error.
pub type LabResult<T> = crate::Result<T>;

/// A bad value from a request, as a library error.
pub fn invalid(msg: impl Into<String>) -> LabError {
    LabError::invalid(msg)
}

/// The library's cancellation error for the job `what`.
pub fn cancelled(what: &str) -> LabError {
    LabError::Cancelled(what.to_string())
}

/// True when `e` says a job was cancelled.
pub fn is_cancelled(e: &LabError) -> bool {
    matches!(e, LabError::Cancelled(_))
}

/// True when `e` is the caller's fault (a bad value), not the server's.
pub fn is_invalid(e: &LabError) -> bool {
    matches!(e, LabError::Invalid(_))
}

// ---------------------------------------------------------------- Module 1: forward process

/// MNIST's side, 28 pixels; an uploaded picture is converted to it.
pub const MNIST_SIDE: usize = 28;

/// Module 1's schedule defaults (T, β₁, β_T), the same as `difflab forward`'s.
pub fn forward_defaults() -> (usize, f64, f64) {
    let d = ForwardConfig::default();
    (d.timesteps, d.beta_start, d.beta_end)
}

/// The schedule named `name` (`linear` or `cosine`, or any diffusers name) over `t` steps with
/// `difflab forward`'s β range.
pub fn schedule(name: &str, t: usize) -> LabResult<NoiseSchedule> {
    let (_, b0, b1) = forward_defaults();
    NoiseSchedule::new(t, BetaSchedule::parse(name)?, b0, b1)
}

/// ᾱ_t for every t.
pub fn alpha_bars(s: &NoiseSchedule) -> Vec<f64> {
    s.alphas_cumprod_f64().to_vec()
}

/// ᾱ_t and SNR(t) at one t (an error naming `t` when it is outside 0..T).
pub fn alpha_bar_snr(s: &NoiseSchedule, t: usize) -> LabResult<(f64, f64)> {
    if t >= s.num_train_timesteps() {
        return Err(invalid(format!(
            "t = {t} is outside 0..{}",
            s.num_train_timesteps()
        )));
    }
    Ok((s.alpha_bar(t), s.snr_at(t)))
}

/// The first t whose SNR falls below `threshold`.
pub fn first_t_snr_below(s: &NoiseSchedule, threshold: f64) -> Option<usize> {
    s.first_t_with_snr_below(threshold)
}

/// The MNIST training split, found as everywhere in difflab (`dir`, `DIFFLAB_MNIST_DIR`, cache).
pub fn load_mnist_train(dir: Option<&Path>) -> LabResult<Mnist> {
    Mnist::load(Split::Train, dir)
}

/// Training image `index` in model range [-1, 1] and its label.
pub fn mnist_image(m: &Mnist, index: usize) -> LabResult<(Vec<f32>, u8)> {
    if index >= m.len() {
        return Err(invalid(format!(
            "index {index} is outside the {} training images",
            m.len()
        )));
    }
    Ok((m.image(index, PixelRange::Symmetric)?, m.label(index)))
}

/// The first training image of `digit`.
pub fn first_index_of(m: &Mnist, digit: u8) -> Option<usize> {
    m.first_index_of(digit)
}

/// A decoded student picture: 28×28 values in model range, its original size, whether it was
/// inverted (dark ink on light paper).
pub struct Upload {
    /// 28×28 values in [-1, 1].
    pub x0: Vec<f32>,
    /// Original width and height.
    pub size: (u32, u32),
    /// Inverted to white ink on black.
    pub inverted: bool,
}

/// The pixel size of the picture in `path`, read from its header only (so an absurdly large
/// picture is refused before it is decoded).
pub fn image_dimensions(path: &Path) -> LabResult<(u32, u32)> {
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| LabError::io(path, e))?
        .into_dimensions()
        .map_err(|e| invalid(format!("the file is not a PNG or JPEG image ({e})")))
}

/// Decode a student's PNG or JPEG with `difflab forward --image`'s own path (luma, inversion
/// of light backgrounds, padding to a square, area resize to 28×28).
pub fn decode_upload(path: &Path) -> LabResult<Upload> {
    let g = load_gray_image(path, MNIST_SIDE)?;
    Ok(Upload {
        x0: g
            .pixels
            .iter()
            .map(|&v| PixelRange::Symmetric.from_unit(v))
            .collect(),
        size: g.original_size,
        inverted: g.inverted,
    })
}

/// `n` standard normals of `seed`: the ε `difflab forward --seed` draws.
pub fn noise(seed: u64, n: usize) -> Vec<f32> {
    Rng::seeded(seed).normal_vec(n)
}

/// x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε for one image.
pub fn noised(s: &NoiseSchedule, x0: &[f32], eps: &[f32], t: usize) -> LabResult<Vec<f32>> {
    let mut out = vec![0.0; x0.len()];
    s.add_noise(x0, eps, &[t], &mut out)?;
    Ok(out)
}

/// A square grayscale image in model range as a PNG, each pixel drawn `scale`×`scale`.
pub fn gray_png(values: &[f32], side: usize, scale: u32) -> LabResult<Vec<u8>> {
    let pic = Picture::gray_model(side as u32, side as u32, values)?;
    let mut c = Canvas::new(pic.width() * scale, pic.height() * scale);
    c.blit(&pic, 0, 0, scale);
    c.to_png()
}

/// A batch `[n, h, w, c]` in model range as one PNG grid of `cols` columns, each pixel drawn
/// `scale`×`scale`, tiles 1 px apart at scale 1 (the page upscales it), else 2 px, on the
/// figures' background colour.
pub fn grid_png(batch: &Tensor, cols: usize, scale: u32) -> LabResult<Vec<u8>> {
    let [n, h, w, c] = batch.dims4()?;
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let gap = if scale <= 1 { 1 } else { 2 };
    let (tw, th) = (w as u32 * scale, h as u32 * scale);
    let width = cols as u32 * (tw + gap) - gap;
    let height = rows as u32 * (th + gap) - gap;
    let mut canvas = Canvas::filled(width, height, style::BACKGROUND);
    let per = h * w * c;
    for (i, img) in batch.data().chunks_exact(per).enumerate() {
        let pic = if c == 3 {
            Picture::rgb_model(w as u32, h as u32, img)?
        } else {
            Picture::gray_model(w as u32, h as u32, img)?
        };
        let (x, y) = (
            (i % cols) as u32 * (tw + gap),
            (i / cols) as u32 * (th + gap),
        );
        canvas.blit(&pic, x as i32, y as i32, scale);
    }
    canvas.to_png()
}

/// The report's colours as CSS custom properties (`--signal`, `--noise`, …), from `viz::style`.
pub fn theme_css() -> String {
    let hex = |c: plotters::style::RGBColor| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
    let named = [
        ("background", style::BACKGROUND),
        ("plot-background", style::PLOT_BACKGROUND),
        ("text", style::TEXT),
        ("muted", style::MUTED),
        ("axis", style::AXIS),
        ("grid", style::GRID),
        ("grid-light", style::GRID_LIGHT),
        ("reference", style::REFERENCE),
        ("signal", style::SIGNAL),
        ("noise", style::NOISE),
        ("good", style::GOOD),
        ("warn", style::WARN),
        ("bad", style::BAD),
    ];
    let mut css = String::from(":root {\n");
    for (name, c) in named {
        css.push_str(&format!("  --{name}: {};\n", hex(c)));
    }
    for (i, c) in style::PALETTE.iter().enumerate() {
        css.push_str(&format!("  --series-{i}: {};\n", hex(*c)));
    }
    css.push_str(&format!(
        "  --font: \"{}\", sans-serif;\n}}\n",
        style::FONT_FAMILY
    ));
    css
}

// ---------------------------------------------------------------- the answer sheet

/// One question: number, module key (`concepts`, `forward`, `train`, `sample`, `pretrained`,
/// `scale`), the module's title, topic heading and text.
pub struct QuestionView {
    /// 1 … 25.
    pub number: usize,
    /// The module it belongs to, as a short key.
    pub part: &'static str,
    /// The module's title, as on the answer sheet.
    pub part_title: &'static str,
    /// "Q7 · Signal-to-noise ratio."
    pub heading: String,
    /// The question.
    pub text: &'static str,
    /// The figure the report shows it under.
    pub evidence: Option<&'static str>,
}

fn part_names(p: Part) -> (&'static str, &'static str) {
    match p {
        Part::Concepts => ("concepts", "Module 0 · The ideas"),
        Part::Forward => ("forward", "Module 1 · Forward diffusion"),
        Part::Train => ("train", "Module 2 · Training the denoiser"),
        Part::Sample => ("sample", "Module 3 · Generating digits"),
        Part::Pretrained => ("pretrained", "Module 4 · The pretrained model"),
        Part::Scale => ("scale", "From toy to DALL-E"),
    }
}

/// The lab's 25 questions, from `report::questions`.
pub fn questions() -> Vec<QuestionView> {
    QUESTIONS
        .iter()
        .map(|q| {
            let (part, part_title) = part_names(q.part);
            QuestionView {
                number: q.number,
                part,
                part_title,
                heading: q.heading(),
                text: q.text,
                evidence: q.evidence,
            }
        })
        .collect()
}

/// Write `bytes` to `path` atomically (a temporary file renamed into place).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> LabResult<()> {
    crate::util::fsio::write_atomic(path, bytes)
}

// ---------------------------------------------------------------- Module 2: training

/// The name of a checkpoint's config file: a folder holding it is a trained model.
pub const CHECKPOINT_CONFIG: &str = crate::train::checkpoint::CONFIG_FILE;

/// What a checkpoint folder holds, for the page.
pub struct ModelView {
    /// `toy` or `lab`.
    pub arch: &'static str,
    /// The digits it was trained on.
    pub digits: Vec<u8>,
    /// Epochs done.
    pub epochs: usize,
    /// Image side.
    pub image_size: usize,
    /// T.
    pub timesteps: usize,
    /// Class-conditional (a digit can be asked for).
    pub conditional: bool,
    /// Mean loss of the last epoch.
    pub final_loss: Option<f32>,
}

/// Read a checkpoint's `config.json` only (cheap: no weights).
pub fn model_view(dir: &Path) -> LabResult<ModelView> {
    let cfg = CheckpointConfig::load(&dir.join(CHECKPOINT_CONFIG))?;
    Ok(ModelView {
        arch: cfg.model().arch().name(),
        digits: cfg.settings.data.digits.clone(),
        epochs: cfg.stats.epochs_done,
        image_size: cfg.model().image_size(),
        timesteps: cfg.settings.schedule.num_train_timesteps,
        conditional: cfg.settings.is_conditional(),
        final_loss: cfg.stats.epoch_losses.last().copied(),
    })
}

/// The training settings for a request: `difflab train`'s defaults for the architecture with
/// the request's digits, epochs, image limit, batch size and seed; validated by the library.
pub fn train_settings(req: &TrainRequest) -> LabResult<TrainSettings> {
    let arch = match req.arch.as_str() {
        "toy" => Arch::Toy,
        "lab" => Arch::Lab,
        other => {
            return Err(invalid(format!(
                "arch: unknown architecture '{other}' (expected toy or lab)"
            )))
        }
    };
    let mut s = TrainSettings::defaults(arch);
    s.data.digits = crate::data::Digits::list(&req.digits)?.to_vec();
    s.data.limit = req.limit;
    s.training.epochs = req.epochs;
    s.training.seed = req.seed;
    if let Some(b) = req.batch_size {
        s.training.batch_size = b;
    }
    if req.conditional {
        s.make_conditional(crate::train::settings::DEFAULT_LABEL_DROPOUT)?;
    }
    s.validate()?;
    Ok(s)
}

/// A training request after parsing (the library validates the values).
pub struct TrainRequest {
    /// The digits to learn.
    pub digits: Vec<u8>,
    /// Epochs.
    pub epochs: usize,
    /// `toy` or `lab`.
    pub arch: String,
    /// Class-conditional (toy only).
    pub conditional: bool,
    /// At most this many training images.
    pub limit: Option<usize>,
    /// Images per step (default 128).
    pub batch_size: Option<usize>,
    /// Seed.
    pub seed: u64,
}

/// Receives a training run's progress and may ask it to stop.
pub trait TrainEvents {
    /// Before the first step: all steps, steps per epoch, images, parameters.
    fn plan(&mut self, total_steps: usize, steps_per_epoch: usize, images: usize, params: usize);
    /// After every step (1-based epoch and global step).
    fn step(&mut self, epoch: usize, step: usize, loss: f32);
    /// After every epoch and its checkpoint.
    fn epoch(&mut self, epoch: usize, epochs: usize, mean_loss: f32);
    /// Whether to stop now.
    fn cancelled(&self) -> bool;
}

/// What a finished run did.
pub struct TrainOutcome {
    /// Epochs done.
    pub epochs: usize,
    /// Mean loss of the last epoch.
    pub final_loss: f32,
    /// Seconds of training.
    pub seconds: f64,
}

struct Bridge<'a> {
    events: &'a mut dyn TrainEvents,
}

impl Observer for Bridge<'_> {
    fn start(&mut self, p: &Plan) {
        self.events
            .plan(p.total_steps(), p.steps_per_epoch, p.images, p.params);
    }
    fn step(&mut self, p: &StepProgress) {
        self.events.step(p.epoch, p.step, p.loss);
    }
    fn epoch(&mut self, e: &EpochReport) {
        self.events.epoch(e.epoch, e.epochs, e.mean_loss);
    }
    fn cancelled(&self) -> bool {
        self.events.cancelled()
    }
}

/// Train a fresh model with `settings` on MNIST (found as everywhere in difflab), writing a
/// checkpoint into `out` after every epoch, as `difflab train` does. Returns
/// [`cancelled`]`("training")` when `events` asks to stop.
pub fn train(
    settings: &TrainSettings,
    mnist_dir: Option<&Path>,
    out: &Path,
    events: &mut dyn TrainEvents,
) -> LabResult<TrainOutcome> {
    let s = &settings.data;
    let data = load_training_set(mnist_dir, &s.digits, s.image_size, s.limit)?;
    if events.cancelled() {
        return Err(cancelled("training"));
    }
    let mut trainer = Trainer::new(settings.clone())?;
    let mut bridge = Bridge { events };
    match trainer.run(&data, out, &RunOptions::default(), &mut bridge) {
        Err(crate::Error::Cancelled(_)) => return Err(cancelled("training")),
        other => other?,
    };
    Ok(TrainOutcome {
        epochs: trainer.stats.epochs_done,
        final_loss: trainer
            .stats
            .epoch_losses
            .last()
            .copied()
            .unwrap_or(f32::NAN),
        seconds: trainer.stats.train_seconds,
    })
}

// ---------------------------------------------------------------- Module 3: sampling

/// A sampling request after validation.
pub struct SampleRequest {
    /// `ddpm` or `ddim`.
    pub sampler: String,
    /// Steps (1 ..= T).
    pub steps: usize,
    /// Samples.
    pub count: usize,
    /// Seed.
    pub seed: u64,
    /// Conditional models: the digit to ask for.
    pub digit: Option<u8>,
    /// Conditional models: the guidance scale w.
    pub guidance: f32,
}

/// One streamed step: loop index, its t, and the batch's x_t and x̂₀.
pub struct Frame<'a> {
    /// Loop index k.
    pub index: usize,
    /// Steps in the run.
    pub steps: usize,
    /// The timestep handed to the model (a float for the Euler samplers).
    pub t: f64,
    /// x_t entering the step.
    pub x_t: &'a Tensor,
    /// The model's x̂₀ at this step.
    pub pred_x0: &'a Tensor,
}

/// Hooks that stream every step and stop the loop when `on_frame` returns an error.
struct Streaming<'h, F> {
    inner: &'h mut dyn SampleHooks,
    x_t: Option<Tensor>,
    on_frame: F,
}

impl<F: FnMut(Frame<'_>) -> LabResult<()>> SampleHooks for Streaming<'_, F> {
    fn start(&mut self, s: Range<u64>, sch: &dyn Sampler, x: &mut Tensor) -> LabResult<()> {
        self.inner.start(s, sch, x)
    }
    fn predict(
        &mut self,
        model: &mut dyn NoisePredictor,
        x: &Tensor,
        timesteps: &[f32],
        step: &StepInfo,
    ) -> LabResult<Tensor> {
        self.x_t = Some(x.clone());
        self.inner.predict(model, x, timesteps, step)
    }
    fn after_step(
        &mut self,
        step: &StepInfo,
        sch: &dyn Sampler,
        x: &mut Tensor,
        pred_x0: &Tensor,
    ) -> LabResult<()> {
        self.inner.after_step(step, sch, x, pred_x0)?;
        let x_t = self.x_t.take().unwrap_or_else(|| x.clone());
        (self.on_frame)(Frame {
            index: step.index,
            steps: step.num_steps,
            t: step.t,
            x_t: &x_t,
            pred_x0,
        })
    }
}

/// An error naming the field unless `name` is one of difflab's samplers (`ddpm`, `ddim`,
/// `dpm++`, `dpm++-sde`, `unipc`, `euler`, `euler-a`, `pndm`).
pub fn check_sampler(name: &str) -> LabResult<()> {
    SamplerKind::parse(name)
        .map(|_| ())
        .map_err(|e| invalid(format!("sampler: {e}")))
}

/// Sample from the checkpoint in `dir` as `difflab sample` does (its scheduler config, its
/// matched start), calling `on_frame` after every step; an error from `on_frame` (e.g.
/// [`cancelled`]) stops the loop and is returned. Returns the samples `[n, h, w, c]`.
pub fn sample(
    dir: &Path,
    req: &SampleRequest,
    on_frame: impl FnMut(Frame<'_>) -> LabResult<()>,
) -> LabResult<Tensor> {
    let kind = SamplerKind::parse(&req.sampler).map_err(|e| invalid(format!("sampler: {e}")))?;
    let trained = TrainedModel::load(dir)?;
    let mut scheduler = trained.sampler(kind, 0.0)?;
    let t_model = trained.info.num_train_timesteps;
    if req.steps == 0 || req.steps > t_model {
        return Err(invalid(format!(
            "steps: {} is outside 1..={t_model} (the model's T)",
            req.steps
        )));
    }
    let conditional = trained.config.settings.is_conditional();
    let TrainedModel {
        mut model, config, ..
    } = trained;
    let size = config.model().image_size();
    let opts = SampleOptions {
        count: req.count,
        seed: req.seed,
        start: config.start_noise(),
        label: "serve".into(),
        ..SampleOptions::new([size, size, config.model().in_channels()], req.steps)
    };
    let mut guided;
    let mut plain = NoHooks;
    let inner: &mut dyn SampleHooks = match (req.digit, conditional) {
        (Some(d), true) => {
            guided = ClassifierFreeGuidance::new(vec![Some(d as usize); req.count], req.guidance)
                .map_err(|e| invalid(format!("guidance: {e}")))?;
            &mut guided
        }
        (Some(_), false) => {
            return Err(invalid(
                "digit: this model is not class-conditional (train one with conditional: true)",
            ))
        }
        (None, _) => &mut plain,
    };
    let mut hooks = Streaming {
        inner,
        x_t: None,
        on_frame,
    };
    let mut noise = SeededNoise::new(req.seed);
    let out: Samples = sample_with(&mut model, &mut scheduler, &opts, &mut noise, &mut hooks)?;
    Ok(out.images)
}

/// A small preview of the checkpoint in `dir`: 16 samples with 20 DDIM steps, as a 4×4 PNG grid
/// at native resolution.
pub fn preview_png(dir: &Path, seed: u64) -> LabResult<Vec<u8>> {
    let req = SampleRequest {
        sampler: "ddim".into(),
        steps: 20,
        count: 16,
        seed,
        digit: None,
        guidance: 0.0,
    };
    let images = sample(dir, &req, |_| Ok(()))?;
    grid_png(&images, 4, 1)
}
