//! The student's own model for the comparison figure: find the toy checkpoint of Module 2 (or
//! 3), load it, and generate samples with the same seed.

use crate::console::thousands;
use crate::models::Denoiser;
use crate::models::NoisePredictor;
use crate::nn::Tensor;
use crate::pipelines::sample::{sample_with_progress, NoHooks, SampleOptions, SeededNoise};
use crate::schedulers::{DdpmScheduler, Indexed};
use crate::train::checkpoint::{self, CheckpointConfig};
use crate::train::preview::ddpm_config;
use crate::train::TrainedModel;
use crate::util::progress::Progress;
use crate::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The toy model as recorded in `summary.json` and captioned in `toy_vs_pretrained.png`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToyInfo {
    /// The checkpoint folder.
    pub dir: String,
    /// `toy` or `lab` (the U-Net architecture).
    pub arch: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Side of its square grayscale images.
    pub image_size: usize,
    /// The MNIST digits it learned.
    pub digits: Vec<u8>,
    /// Training images.
    pub training_images: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// T of its noise schedule (its samples use all T DDPM steps).
    pub num_train_timesteps: usize,
    /// Seconds to generate its samples here.
    pub sample_seconds: f64,
}

impl ToyInfo {
    /// What it learned from, e.g. "MNIST digits 0–3, 24,754 images".
    pub fn data_text(&self) -> String {
        let d = &self.digits;
        let contiguous = d.windows(2).all(|w| w[1] == w[0] + 1);
        let digits = match (d.first(), d.last()) {
            (Some(a), Some(b)) if d.len() > 2 && contiguous => format!("digits {a}–{b}"),
            _ => format!(
                "digits {}",
                d.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        format!("MNIST {digits}, {} images", thousands(self.training_images))
    }
}

/// Toy samples in model range, NHWC `[n, s, s, c]`.
pub struct ToySamples {
    /// The samples' values, sample after sample.
    pub images: Vec<f32>,
    /// Channels per pixel (1: grayscale).
    pub channels: usize,
    /// What was sampled from.
    pub info: ToyInfo,
}

/// The first of `dirs` that holds a checkpoint (`config.json` and `model.safetensors`).
pub fn find_checkpoint(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .find(|d| {
            d.join(checkpoint::CONFIG_FILE).is_file() && d.join(checkpoint::MODEL_FILE).is_file()
        })
        .cloned()
}

/// A loaded toy checkpoint, ready to sample.
pub struct ToyModel {
    dir: PathBuf,
    model: Denoiser,
    config: CheckpointConfig,
}

impl ToyModel {
    /// Load the checkpoint in `dir` (its EMA weights when it has them).
    pub fn load(dir: &Path) -> Result<Self> {
        let m = TrainedModel::load(dir)?;
        Ok(ToyModel {
            dir: m.dir,
            model: m.model,
            config: m.config,
        })
    }

    /// T: its samples take this many steps.
    pub fn num_train_timesteps(&self) -> usize {
        self.config.settings.schedule.num_train_timesteps
    }

    /// Seconds of one model call on a batch of `count` (for the time estimate), timed after a
    /// first call that sizes the model's buffers.
    pub fn time_step(&mut self, count: usize) -> Result<f64> {
        let s = self.config.settings.data.image_size;
        let c = self.config.model().in_channels();
        let x = Tensor::zeros(vec![count, s, s, c]);
        self.model.predict(&x, &vec![0.0; count])?;
        let started = Instant::now();
        self.model.predict(&x, &vec![0.0; count])?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Generate `count` samples with every DDPM step of its own schedule (as `difflab train`'s
    /// preview does), seeded by `seed`, the toy's own image shape.
    pub fn sample(
        &mut self,
        count: usize,
        seed: u64,
        progress: &mut dyn Progress,
    ) -> Result<ToySamples> {
        let s = &self.config.settings;
        let size = s.data.image_size;
        let channels = self.config.model().in_channels();
        let mut scheduler = Indexed::new(DdpmScheduler::new(ddpm_config(&s.schedule))?);
        let opts = SampleOptions {
            count,
            seed,
            label: format!("toy ({})", self.config.model().arch().name()),
            start: self.config.start_noise(),
            ..SampleOptions::new([size, size, channels], s.schedule.num_train_timesteps)
        };
        let mut noise = SeededNoise::new(seed);
        let out = sample_with_progress(
            &mut self.model,
            &mut scheduler,
            &opts,
            &mut noise,
            &mut NoHooks,
            progress,
        )?;
        let stats = &self.config.stats;
        let info = ToyInfo {
            dir: self.dir.display().to_string(),
            arch: self.config.model().arch().name().into(),
            parameters: stats.params,
            image_size: size,
            digits: s.data.digits.clone(),
            training_images: stats.images,
            epochs: stats.epochs_done,
            train_seconds: stats.train_seconds,
            num_train_timesteps: s.schedule.num_train_timesteps,
            sample_seconds: out.elapsed.as_secs_f64(),
        };
        Ok(ToySamples {
            images: out.images.into_data(),
            channels,
            info,
        })
    }
}
