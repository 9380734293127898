//! The training loop: shuffled epochs of noisy images, the model's forward and backward passes,
//! Adam, the EMA, and a checkpoint after every epoch.
//!
//! Determinism: every random draw comes from a `util::rng` stream of the run's seed: stream
//! [`STREAM_INIT`] initialises the weights, stream `STREAM_ORDER + e` shuffles epoch `e`, and
//! stream `STREAM_STEP + s` draws the timesteps and then the noise of global step `s`. So a run
//! resumed after epoch `k` draws exactly what an uninterrupted run draws, and with the same
//! thread count its weights are bit-identical.

use super::checkpoint::{self, CheckpointConfig, CONFIG_FILE};
use super::settings::{TrainSettings, TrainingConfig, TrainingStats};
use crate::data::digits::LabeledDigits;
use crate::diffusion::NoiseSchedule;
use crate::models::{Denoiser, DenoiserCtx};
use crate::nn::optim::{Adam, AdamConfig, Ema};
use crate::schedulers::PredictionType;
use crate::util::rng::Rng;
use crate::{Error, Result};
use std::path::Path;
use std::time::Instant;

/// Stream of the initial weights.
pub const STREAM_INIT: u64 = 0;
/// Base of the per-epoch data-order streams.
pub const STREAM_ORDER: u64 = 1 << 32;
/// Base of the per-step timestep-and-noise streams.
pub const STREAM_STEP: u64 = 2 << 32;

/// What a run is about to do, reported before the first step.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Training images.
    pub images: usize,
    /// Model parameters.
    pub params: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Steps already done (resumed runs).
    pub steps_done: usize,
    /// Images per step.
    pub batch_size: usize,
}

impl Plan {
    /// All steps of the run.
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.epochs
    }
}

/// Progress after one step.
#[derive(Clone, Debug)]
pub struct StepProgress {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Global step (1-based).
    pub step: usize,
    /// This step's loss.
    pub loss: f32,
    /// Mean loss of the epoch so far.
    pub running_loss: f32,
    /// Images per second in this session.
    pub images_per_second: f64,
}

/// The end of one epoch.
#[derive(Clone, Debug)]
pub struct EpochReport {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Mean loss over the epoch's steps.
    pub mean_loss: f32,
    /// Seconds since this session started.
    pub elapsed: f64,
}

/// Receives a run's progress (the CLI draws a progress bar; tests stay silent).
pub trait Observer {
    /// Before the first step.
    fn start(&mut self, _plan: &Plan) {}
    /// After the first few steps: the whole run's estimated seconds.
    fn estimate(&mut self, _seconds: f64, _measured_steps: usize) {}
    /// After every step.
    fn step(&mut self, _p: &StepProgress) {}
    /// After every epoch (and its checkpoint).
    fn epoch(&mut self, _e: &EpochReport) {}
    /// Whether the run should stop now; checked after every step. A stopped run returns
    /// [`Error::Cancelled`] and keeps the checkpoint of its last finished epoch.
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// A model, its optimiser and EMA, and the run's settings and statistics.
pub struct Trainer {
    /// The run's definition.
    pub settings: TrainSettings,
    /// The model being trained.
    pub model: Denoiser,
    /// Adam's state.
    pub adam: Adam,
    /// The EMA of the weights, when enabled.
    pub ema: Option<Ema>,
    /// Statistics so far.
    pub stats: TrainingStats,
    /// The loss of every step so far.
    pub step_losses: Vec<f32>,
    schedule: NoiseSchedule,
}

/// Checks a run may stop after `k` epochs (tests simulate an interruption with it).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop (as if killed) right after the checkpoint of this epoch.
    pub stop_after_epoch: Option<usize>,
}

/// Adam with the run's learning rate and β₂ (PyTorch's other defaults).
fn adam_config(t: &TrainingConfig) -> AdamConfig {
    AdamConfig {
        beta2: t.adam_beta2,
        ..AdamConfig::adam(t.lr)
    }
}

impl Trainer {
    /// A fresh run: weights initialised from the seed.
    pub fn new(settings: TrainSettings) -> Result<Self> {
        settings.validate()?;
        let model = Denoiser::new(
            &settings.model,
            &mut Rng::stream(settings.training.seed, STREAM_INIT),
        )?;
        let adam = Adam::new(adam_config(&settings.training), model.num_params());
        let ema = settings
            .training
            .ema_decay
            .map(|d| Ema::new(model.params(), d));
        let schedule = settings.schedule.build()?;
        let stats = TrainingStats {
            params: model.num_params(),
            ..TrainingStats::default()
        };
        Ok(Trainer {
            settings,
            model,
            adam,
            ema,
            stats,
            step_losses: Vec::new(),
            schedule,
        })
    }

    /// Continue the run saved in `dir`, optionally with a different number of epochs.
    pub fn resume(dir: &Path, epochs: Option<usize>) -> Result<Self> {
        let ck = checkpoint::Checkpoint::load(dir)?;
        let mut settings = ck.config.settings.clone();
        if let Some(e) = epochs {
            settings.training.epochs = e;
        }
        settings.validate()?;
        let stats = ck.config.stats.clone();
        let adam_cfg = adam_config(&settings.training);
        let (opt, ema) = checkpoint::load_for_resume(
            dir,
            &ck.model,
            adam_cfg,
            settings.training.ema_decay,
            stats.epochs_done,
        )?;
        if opt.step_losses.len() != stats.steps_done {
            return Err(Error::file(
                dir.join(checkpoint::OPTIMIZER_FILE),
                format!(
                    "{} step losses for {} steps done",
                    opt.step_losses.len(),
                    stats.steps_done
                ),
            ));
        }
        let schedule = settings.schedule.build()?;
        Ok(Trainer {
            settings,
            model: ck.model,
            adam: opt.adam,
            ema,
            stats,
            step_losses: opt.step_losses,
            schedule,
        })
    }

    /// The noise schedule.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// The checkpoint config describing the current state.
    pub fn checkpoint_config(&self) -> CheckpointConfig {
        CheckpointConfig {
            format: checkpoint::FORMAT.into(),
            version: checkpoint::VERSION,
            settings: self.settings.clone(),
            stats: self.stats.clone(),
        }
    }

    /// Write the checkpoint into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save(
            dir,
            &self.checkpoint_config(),
            &self.model,
            self.ema.as_ref(),
            &self.adam,
            &self.step_losses,
        )
    }

    /// The model to sample from: a copy with the EMA weights when there is an EMA.
    pub fn sampling_model(&self) -> Denoiser {
        let cfg = self.model.config();
        let mut m = Denoiser::new(&cfg, &mut Rng::seeded(0)).expect("the config was validated");
        m.params_mut().copy_from_slice(
            self.ema
                .as_ref()
                .map_or(self.model.params(), |e| e.weights()),
        );
        m
    }

    /// Train on `data` until the planned epochs are done, checkpointing into `out` after every
    /// epoch. Returns early (with everything saved) after `opts.stop_after_epoch`.
    pub fn run(
        &mut self,
        data: &LabeledDigits,
        out: &Path,
        opts: &RunOptions,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        let spe = self.prepare(data, out)?;
        let t = &self.settings.training;
        let (b, epochs, seed) = (t.batch_size, t.epochs, t.seed);
        let plan = Plan {
            images: data.len(),
            params: self.model.num_params(),
            steps_per_epoch: spe,
            epochs,
            steps_done: self.stats.steps_done,
            batch_size: b,
        };
        obs.start(&plan);
        if self.stats.epochs_done >= epochs {
            return Ok(());
        }
        let mut batch = Batch::new(self, data.size)?;
        let total = spe * epochs;
        let started = Instant::now();
        let (seconds_before, steps_before) = (self.stats.train_seconds, self.stats.steps_done);
        let mut step_times = Vec::new();
        for epoch in self.stats.epochs_done..epochs {
            let mut order: Vec<usize> = (0..data.len()).collect();
            Rng::stream(seed, STREAM_ORDER + epoch as u64).shuffle(&mut order);
            let mut sum = 0.0f64;
            for (k, idx) in order.chunks_exact(b).enumerate() {
                let t0 = Instant::now();
                let loss = self.train_step(&mut batch, data, idx, total)?;
                sum += loss as f64;
                step_times.push(t0.elapsed().as_secs_f64());
                // The first step allocates and warms caches; estimate from the next three.
                if step_times.len() == 4 {
                    let mut s = step_times[1..].to_vec();
                    s.sort_by(f64::total_cmp);
                    obs.estimate(s[1] * (total - steps_before) as f64, 3);
                }
                let el = started.elapsed().as_secs_f64();
                obs.step(&StepProgress {
                    epoch: epoch + 1,
                    step: self.stats.steps_done,
                    loss,
                    running_loss: (sum / (k + 1) as f64) as f32,
                    images_per_second: ((self.stats.steps_done - steps_before) * b) as f64
                        / el.max(1e-9),
                });
                if obs.cancelled() {
                    return Err(Error::Cancelled("training".into()));
                }
            }
            let mean = (sum / spe as f64) as f32;
            self.stats.epoch_losses.push(mean);
            self.stats.epochs_done = epoch + 1;
            let el = started.elapsed().as_secs_f64();
            self.stats.train_seconds = seconds_before + el;
            self.stats.images_per_second =
                (self.stats.steps_done * b) as f64 / self.stats.train_seconds.max(1e-9);
            self.save(out)?;
            obs.epoch(&EpochReport {
                epoch: epoch + 1,
                epochs,
                mean_loss: mean,
                elapsed: el,
            });
            if opts.stop_after_epoch == Some(epoch + 1) {
                break;
            }
        }
        Ok(())
    }

    /// Check `data` against the run (image size, at least one batch, the same images as the
    /// checkpoint when resuming) and record what the run trains on; returns the steps per epoch.
    fn prepare(&mut self, data: &LabeledDigits, out: &Path) -> Result<usize> {
        let b = self.settings.training.batch_size;
        if data.size != self.settings.data.image_size {
            return Err(Error::invalid(format!(
                "the data are {0}×{0}, the run expects {1}×{1}",
                data.size, self.settings.data.image_size
            )));
        }
        if data.len() < b {
            return Err(Error::invalid(format!(
                "{} training images are fewer than one batch of {b}: lower --batch-size",
                data.len()
            )));
        }
        let spe = data.len() / b;
        if self.stats.epochs_done > 0
            && (self.stats.images != data.len() || self.stats.steps_per_epoch != spe)
        {
            return Err(Error::file(
                out.join(CONFIG_FILE),
                format!(
                    "the checkpoint was trained on {} images, the data now hold {}: cannot resume",
                    self.stats.images,
                    data.len()
                ),
            ));
        }
        self.stats.images = data.len();
        self.stats.steps_per_epoch = spe;
        self.stats.pixel_moments = crate::diffusion::pixel_moments(&data.images)
            .map(|(mean, std)| super::settings::PixelMoments { mean, std });
        self.stats.threads = rayon::current_num_threads();
        Ok(spe)
    }

    /// One optimisation step on the images `idx` of `data` (step `steps_done` of `total`):
    /// noise them at random timesteps, predict the noise, step Adam and the EMA; returns the
    /// loss.
    fn train_step(
        &mut self,
        batch: &mut Batch,
        data: &LabeledDigits,
        idx: &[usize],
        total: usize,
    ) -> Result<f32> {
        let t = &self.settings.training;
        let (seed, lr, lr_schedule) = (t.seed, t.lr, t.lr_schedule);
        let step = self.stats.steps_done;
        let big_t = self.schedule.num_train_timesteps();
        let px = batch.px;
        for (dst, &i) in batch.x0.chunks_exact_mut(px).zip(idx) {
            dst.copy_from_slice(data.image(i));
        }
        let mut rng = Rng::stream(seed, STREAM_STEP + step as u64);
        for (ti, tfi) in batch.ts.iter_mut().zip(batch.tf.iter_mut()) {
            *ti = rng.below(big_t);
            *tfi = *ti as f32;
        }
        rng.fill_normal(&mut batch.noise);
        self.schedule
            .add_noise(&batch.x0, &batch.noise, &batch.ts, &mut batch.xt)?;
        if let Some(p) = t.label_dropout {
            // After the noise, so an unconditional run draws exactly what it always did.
            for (r, &i) in batch.rows.iter_mut().zip(idx) {
                let dropped = rng.uniform(0.0, 1.0) < p;
                *r = if dropped {
                    batch.null_row
                } else {
                    data.labels[i] as usize
                };
            }
            self.model
                .forward_rows(&mut batch.ctx, &batch.xt, &batch.tf, &batch.rows)?;
        } else {
            self.model.forward(&mut batch.ctx, &batch.xt, &batch.tf)?;
        }
        let v = self.settings.schedule.prediction_type == PredictionType::VPrediction;
        if v {
            batch.v_target(&self.schedule);
        }
        let target = if v { &batch.target } else { &batch.noise };
        let loss = self.model.loss_backward(&mut batch.ctx, target)?;
        if !loss.is_finite() {
            return Err(Error::invalid(format!(
                "the loss became {loss} at step {}: lower --lr",
                step + 1
            )));
        }
        self.adam.cfg.lr = lr_schedule.at(lr, step, total);
        self.adam.step(self.model.params_mut(), batch.ctx.grads());
        if let Some(ema) = &mut self.ema {
            let k = ema.updates as f32;
            let decay = self.settings.training.ema_decay.unwrap_or(0.0);
            ema.decay = decay.min((1.0 + k) / (10.0 + k));
            ema.update(self.model.params());
        }
        self.step_losses.push(loss);
        self.stats.steps_done += 1;
        Ok(loss)
    }
}

/// The buffers of one training batch: the model's context, the clean and noised images, the
/// noise, the timesteps and the label rows.
struct Batch {
    ctx: DenoiserCtx,
    px: usize,
    null_row: usize,
    x0: Vec<f32>,
    noise: Vec<f32>,
    xt: Vec<f32>,
    ts: Vec<usize>,
    tf: Vec<f32>,
    rows: Vec<usize>,
    target: Vec<f32>,
}

impl Batch {
    /// The v-prediction target of each image, v = √ᾱ_t·ε − √(1−ᾱ_t)·x0, into `target`.
    fn v_target(&mut self, schedule: &NoiseSchedule) {
        let px = self.px;
        self.target.resize(self.noise.len(), 0.0);
        for (i, &t) in self.ts.iter().enumerate() {
            let a = schedule.alpha_bar(t);
            let (sa, sb) = (a.sqrt() as f32, (1.0 - a).sqrt() as f32);
            let r = i * px..(i + 1) * px;
            for ((o, &e), &x) in self.target[r.clone()]
                .iter_mut()
                .zip(&self.noise[r.clone()])
                .zip(&self.x0[r])
            {
                *o = sa * e - sb * x;
            }
        }
    }
    fn new(tr: &Trainer, size: usize) -> Result<Self> {
        let b = tr.settings.training.batch_size;
        let px = size * size * tr.settings.model.in_channels();
        let null_row = tr.settings.model.num_classes();
        Ok(Batch {
            ctx: tr.model.train_ctx(b, size, size)?,
            px,
            null_row,
            x0: vec![0.0f32; b * px],
            noise: vec![0.0f32; b * px],
            xt: vec![0.0f32; b * px],
            ts: vec![0usize; b],
            tf: vec![0.0f32; b],
            rows: vec![null_row; b],
            target: Vec::new(),
        })
    }
}
