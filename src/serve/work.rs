//! The two kinds of job: Module 2's training run (loss points, ETA, a preview grid at each
//! epoch's end; the result is a checkpoint folder under `--data/models/`) and Module 3's
//! sampling run (each step's x_t and x̂₀, then the samples). Requests are checked here before
//! anything is queued; the compute is the library's, called through `lab_api`.

use super::error::{ApiError, ApiResult};
use super::forward::{data_url, MAX_SEED};
use super::jobs::{JobCtx, Work};
use super::lab_api::{self, SampleRequest, TrainEvents, TrainRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Most epochs one training request may ask for.
pub const MAX_EPOCHS: usize = 100;
/// Most samples one sampling request may ask for.
pub const MAX_COUNT: usize = 64;
/// Loss points are sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(150);

/// The body of `POST /api/jobs/train`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    /// Digits to learn (default 0-3).
    #[serde(default = "default_digits")]
    pub digits: Vec<u8>,
    /// Epochs (1 ..= 100; default 4).
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// `toy` (default) or `lab`.
    #[serde(default = "default_arch")]
    pub arch: String,
    /// Class-conditional (toy only).
    #[serde(default)]
    pub conditional: bool,
    /// At most this many training images (default: all of the chosen digits).
    pub limit: Option<usize>,
    /// Images per step (default 128).
    pub batch_size: Option<usize>,
    /// Seed (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_digits() -> Vec<u8> {
    vec![0, 1, 2, 3]
}
fn default_epochs() -> usize {
    4
}
fn default_arch() -> String {
    "toy".into()
}
fn default_seed() -> u64 {
    42
}

/// The body of `POST /api/jobs/sample`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleBody {
    /// The model's name (default: the newest).
    pub model: Option<String>,
    /// `ddpm` (default) or `ddim`.
    #[serde(default = "default_sampler")]
    pub sampler: String,
    /// Steps (1 ..= T; default T).
    pub steps: Option<usize>,
    /// Samples (1 ..= 64; default 16).
    #[serde(default = "default_count")]
    pub count: usize,
    /// Seed (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Conditional models: the digit to ask for.
    pub digit: Option<u8>,
    /// Conditional models: the guidance scale w (default 2).
    #[serde(default = "default_guidance")]
    pub guidance: f32,
}

fn default_sampler() -> String {
    "ddpm".into()
}
fn default_count() -> usize {
    16
}
fn default_guidance() -> f32 {
    2.0
}

/// Check a training request and build its job: the run folder is created now, so its name
/// is in the job's request from the start.
pub fn train_job(
    body: TrainBody,
    models: &super::models::Models,
    mnist_dir: Option<PathBuf>,
) -> ApiResult<(Value, Work)> {
    if body.epochs == 0 || body.epochs > MAX_EPOCHS {
        return Err(ApiError::invalid(format!(
            "epochs: {} is outside 1..={MAX_EPOCHS}",
            body.epochs
        )));
    }
    if body.seed > MAX_SEED {
        return Err(ApiError::invalid(format!("seed: at most {MAX_SEED}")));
    }
    let req = TrainRequest {
        digits: body.digits.clone(),
        epochs: body.epochs,
        arch: body.arch.clone(),
        conditional: body.conditional,
        limit: body.limit,
        batch_size: body.batch_size,
        seed: body.seed,
    };
    let settings = lab_api::train_settings(&req).map_err(|e| ApiError::invalid(e.to_string()))?;
    let batch = body.batch_size.unwrap_or(128);
    if let Some(l) = body.limit.filter(|&l| l < batch) {
        return Err(ApiError::invalid(format!(
            "limit: {l} images are fewer than one batch of {batch}"
        )));
    }
    let (name, dir) = models.new_run()?;
    let request = json!({
        "model": name, "digits": req.digits, "epochs": req.epochs, "arch": req.arch,
        "conditional": req.conditional, "limit": req.limit, "batch_size": batch, "seed": req.seed,
    });
    let work: Work = Box::new(move |ctx: JobCtx| {
        let mut events = TrainStream::new(ctx, dir.clone(), body.seed);
        let out = lab_api::train(&settings, mnist_dir.as_deref(), &dir, &mut events)?;
        Ok(json!({
            "model": name, "epochs": out.epochs, "final_loss": out.final_loss,
            "train_seconds": out.seconds,
        }))
    });
    Ok((request, work))
}

/// Turns the trainer's progress into `plan`, `progress` and `epoch` events.
struct TrainStream {
    ctx: JobCtx,
    dir: PathBuf,
    seed: u64,
    started: Instant,
    last_sent: Instant,
    total: usize,
    first_step: usize,
    points: Vec<[f64; 2]>,
    epoch: usize,
    step: usize,
}

impl TrainStream {
    fn new(ctx: JobCtx, dir: PathBuf, seed: u64) -> Self {
        TrainStream {
            ctx,
            dir,
            seed,
            started: Instant::now(),
            last_sent: Instant::now(),
            total: 0,
            first_step: 0,
            points: Vec::new(),
            epoch: 0,
            step: 0,
        }
    }
    fn flush(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = self.step.saturating_sub(self.first_step).max(1);
        let eta = elapsed / done as f64 * self.total.saturating_sub(self.step) as f64;
        let points = std::mem::take(&mut self.points);
        self.ctx.emit(
            "progress",
            json!({
                "step": self.step, "epoch": self.epoch, "total_steps": self.total,
                "points": points, "elapsed_s": elapsed, "eta_s": eta,
            }),
        );
        self.last_sent = Instant::now();
    }
}

impl TrainEvents for TrainStream {
    fn plan(&mut self, total: usize, per_epoch: usize, images: usize, params: usize) {
        self.total = total;
        self.started = Instant::now();
        self.ctx.emit(
            "plan",
            json!({ "total_steps": total, "steps_per_epoch": per_epoch, "images": images,
                    "params": params, "epochs": total / per_epoch.max(1) }),
        );
    }
    fn step(&mut self, epoch: usize, step: usize, loss: f32) {
        if self.points.is_empty() && self.step == 0 {
            self.first_step = step.saturating_sub(1);
        }
        self.epoch = epoch;
        self.step = step;
        self.points.push([step as f64, loss as f64]);
        if self.last_sent.elapsed() >= PROGRESS_EVERY {
            self.flush();
        }
    }
    fn epoch(&mut self, epoch: usize, epochs: usize, mean_loss: f32) {
        self.flush();
        let preview = if self.ctx.cancelled() {
            None
        } else {
            lab_api::preview_png(&self.dir, self.seed)
                .ok()
                .map(|p| data_url(&p))
        };
        self.ctx.emit(
            "epoch",
            json!({ "epoch": epoch, "epochs": epochs, "mean_loss": mean_loss, "preview": preview }),
        );
    }
    fn cancelled(&self) -> bool {
        self.ctx.cancelled()
    }
}

/// Check a sampling request against its model and build its job.
pub fn sample_job(body: SampleBody, models: &super::models::Models) -> ApiResult<(Value, Work)> {
    let (name, dir) = models.resolve(body.model.as_deref())?;
    let view = lab_api::model_view(&dir)?;
    let steps = body.steps.unwrap_or(view.timesteps);
    if steps == 0 || steps > view.timesteps {
        return Err(ApiError::invalid(format!(
            "steps: {steps} is outside 1..={} (the model's T)",
            view.timesteps
        )));
    }
    if body.count == 0 || body.count > MAX_COUNT {
        return Err(ApiError::invalid(format!(
            "count: {} is outside 1..={MAX_COUNT}",
            body.count
        )));
    }
    if body.seed > MAX_SEED {
        return Err(ApiError::invalid(format!("seed: at most {MAX_SEED}")));
    }
    lab_api::check_sampler(&body.sampler)?;
    match body.digit {
        Some(d) if !view.conditional => {
            return Err(ApiError::invalid(format!(
                "digit: model '{name}' is not class-conditional, so digit {d} cannot be asked for"
            )))
        }
        Some(d) if d > 9 => return Err(ApiError::invalid(format!("digit: {d} is not 0-9"))),
        _ => {}
    }
    if !(0.0..=20.0).contains(&body.guidance) {
        return Err(ApiError::invalid(format!(
            "guidance: {} is outside 0..=20",
            body.guidance
        )));
    }
    let req = SampleRequest {
        sampler: body.sampler,
        steps,
        count: body.count,
        seed: body.seed,
        digit: body.digit,
        guidance: body.guidance,
    };
    let request = json!({
        "model": name, "sampler": req.sampler, "steps": steps, "count": req.count,
        "seed": req.seed, "digit": req.digit, "guidance": req.guidance,
    });
    let cols = if req.count <= 16 { 4 } else { 8 };
    let work: Work = Box::new(move |ctx: JobCtx| {
        let started = Instant::now();
        let images = lab_api::sample(&dir, &req, |f| {
            ctx.check("sampling")?;
            ctx.emit(
                "frame",
                json!({
                    "index": f.index, "steps": f.steps, "t": crate::pipelines::sample::timestep_value(f.t),
                    "x_t": data_url(&lab_api::grid_png(f.x_t, cols, 1)?),
                    "x0": data_url(&lab_api::grid_png(f.pred_x0, cols, 1)?),
                }),
            );
            Ok(())
        })?;
        Ok(json!({
            "model": name, "samples": data_url(&lab_api::grid_png(&images, cols, 1)?),
            "count": req.count, "seconds": started.elapsed().as_secs_f64(),
        }))
    });
    Ok((request, work))
}
