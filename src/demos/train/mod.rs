//! One `difflab train` run from start to finish: settings (new or resumed), data, training with
//! progress, checkpoints, then the figures and `summary.json`.

mod figures;

use crate::console::{thousands, Console};
use crate::data::digits::LabeledDigits;
use crate::train::data::load_training_set;
use crate::train::trainer::{Observer, RunOptions, Silent, Trainer};
use crate::train::{checkpoint, LrSchedule, TrainSettings};
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File name of the run summary.
pub const SUMMARY_FILE: &str = "summary.json";

/// What to run.
#[derive(Clone, Debug)]
pub struct TrainJob {
    /// The run's settings (ignored when resuming: the checkpoint's are used).
    pub settings: TrainSettings,
    /// The output folder (checkpoint, figures, summary).
    pub out: PathBuf,
    /// Continue the run saved in `out`.
    pub resume: bool,
    /// When resuming: a new total number of epochs.
    pub resume_epochs: Option<usize>,
    /// MNIST folder (else `DIFFLAB_MNIST_DIR`).
    pub mnist_dir: Option<PathBuf>,
    /// Print the plan, a progress bar and epoch lines on stderr.
    pub progress: bool,
    /// Write loss.png, denoising.png, filters.png and preview.png.
    pub figures: bool,
    /// Simulated interruption (tests).
    pub run: RunOptions,
}

/// `summary.json`: what was trained, how long it took, how well it fits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `toy` or `lab`.
    pub arch: String,
    /// `lab` for the lab's recipe.
    pub recipe: Option<String>,
    /// Model parameters.
    pub params: usize,
    /// The digits trained on.
    pub digits: Vec<u8>,
    /// Side of the images.
    pub image_size: usize,
    /// Training images.
    pub images: usize,
    /// Epochs done.
    pub epochs: usize,
    /// Steps done.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's peak learning rate and its schedule.
    pub lr: f32,
    /// The learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// EMA decay, if any.
    pub ema_decay: Option<f32>,
    /// The seed.
    pub seed: u64,
    /// Mean loss of the last epoch.
    pub final_loss: f32,
    /// Mean loss of every epoch.
    pub epoch_losses: Vec<f32>,
    /// Seconds of training (all sessions).
    pub train_seconds: f64,
    /// Seconds of this invocation end to end (data, training, checkpoints, figures).
    pub wall_seconds: f64,
    /// Training throughput.
    pub images_per_second: f64,
    /// Threads used.
    pub threads: usize,
}

/// Run `job`: train (or resume), checkpoint after every epoch, then write the figures and the
/// summary. Returns the summary (also written as `summary.json`), or `None` when the run was
/// stopped early by `job.run.stop_after_epoch`.
pub fn run(job: &TrainJob) -> Result<Option<Summary>> {
    let started = Instant::now();
    let mut trainer = if job.resume {
        if !job.out.join(checkpoint::CONFIG_FILE).is_file() {
            return Err(Error::invalid(format!(
                "--resume: no checkpoint in {} (no {})",
                job.out.display(),
                checkpoint::CONFIG_FILE
            )));
        }
        Trainer::resume(&job.out, job.resume_epochs)?
    } else {
        Trainer::new(job.settings.clone())?
    };
    let s = &trainer.settings;
    let data = load_training_set(
        job.mnist_dir.as_deref(),
        &s.data.digits,
        s.data.image_size,
        s.data.limit,
    )?;
    let header = format!(
        "difflab train: {} U-Net{} on digits {} at {}×{} → {}",
        s.model.arch().name(),
        if s.training.recipe.is_some() {
            " (the lab's recipe)"
        } else {
            ""
        },
        digits_text(&s.data.digits),
        s.data.image_size,
        s.data.image_size,
        job.out.display()
    );
    let mut console = Console::new(header);
    let obs: &mut dyn Observer = if job.progress {
        &mut console
    } else {
        &mut Silent
    };
    trainer.run(&data, &job.out, &job.run, obs)?;
    console.finish();
    let done = trainer.stats.epochs_done >= trainer.settings.training.epochs;
    if !done {
        return Ok(None);
    }
    if job.figures {
        write_figures(&trainer, &data, &job.out, job.progress)?;
    }
    let summary = summary(&trainer, started.elapsed().as_secs_f64());
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::invalid(format!("could not encode {SUMMARY_FILE}: {e}")))?;
    write_atomic(&job.out.join(SUMMARY_FILE), json.as_bytes())?;
    if job.progress {
        console.line(&format!(
            "done: final loss {:.4}, {} steps in {:.1} s ({:.0} images/s), {:.1} s end to end; wrote {}",
            summary.final_loss,
            thousands(summary.steps),
            summary.train_seconds,
            summary.images_per_second,
            summary.wall_seconds,
            job.out.display()
        ));
    }
    Ok(Some(summary))
}

fn digits_text(d: &[u8]) -> String {
    let contiguous = d.windows(2).all(|w| w[1] == w[0] + 1);
    match d {
        [one] => one.to_string(),
        [first, .., last] if contiguous => format!("{first}-{last}"),
        _ => d
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn write_figures(tr: &Trainer, data: &LabeledDigits, out: &Path, progress: bool) -> Result<()> {
    let mut model = tr.sampling_model();
    figures::loss_png(
        &out.join("loss.png"),
        &tr.step_losses,
        &tr.stats.epoch_losses,
        tr.stats.steps_per_epoch,
        &tr.settings,
    )?;
    figures::denoising_png(
        &out.join("denoising.png"),
        &mut model,
        data,
        tr.schedule(),
        tr.settings.schedule.prediction_type == crate::schedulers::PredictionType::VPrediction,
        tr.settings.training.seed,
    )?;
    figures::filters_png(&out.join("filters.png"), &model)?;
    figures::preview_png(
        &out.join("preview.png"),
        &mut model,
        &tr.settings,
        tr.stats.start_noise(),
        progress,
    )?;
    Ok(())
}

fn summary(tr: &Trainer, wall: f64) -> Summary {
    let s = &tr.settings;
    let st = &tr.stats;
    Summary {
        arch: s.model.arch().name().into(),
        recipe: s.training.recipe.clone(),
        params: st.params,
        digits: s.data.digits.clone(),
        image_size: s.data.image_size,
        images: st.images,
        epochs: st.epochs_done,
        steps: st.steps_done,
        batch_size: s.training.batch_size,
        lr: s.training.lr,
        lr_schedule: s.training.lr_schedule,
        ema_decay: s.training.ema_decay,
        seed: s.training.seed,
        final_loss: st.epoch_losses.last().copied().unwrap_or(f32::NAN),
        epoch_losses: st.epoch_losses.clone(),
        train_seconds: st.train_seconds,
        wall_seconds: wall,
        images_per_second: st.images_per_second,
        threads: st.threads,
    }
}
