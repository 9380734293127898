//! What a training run is: model, noise schedule, data selection and optimisation settings, as
//! stored in a checkpoint's `config.json`, plus the statistics the run accumulates.

use crate::diffusion::NoiseSchedule;
use crate::models::{Arch, ModelConfig};
use crate::schedulers::PredictionType;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The forward process: a linear β schedule over `num_train_timesteps` steps, optionally
/// rescaled to zero terminal SNR, and what the model learns to predict. The last two fields are
/// left out of `config.json` at their defaults, so checkpoints from before them load unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// T (200 in the lab).
    pub num_train_timesteps: usize,
    /// Always `linear` for now (diffusers' name).
    pub beta_schedule: String,
    /// β at t = 0.
    pub beta_start: f64,
    /// β at t = T − 1.
    pub beta_end: f64,
    /// What the model predicts: ε (`epsilon`, the lab's) or v = √ᾱ·ε − √(1−ᾱ)·x0
    /// (`v_prediction`, Salimans & Ho 2022).
    #[serde(default, skip_serializing_if = "is_epsilon")]
    pub prediction_type: PredictionType,
    /// Rescale the betas so that ᾱ_{T−1} = 0 (Lin et al. 2023): the noisiest training input is
    /// pure noise, as sampling's start. Needs `v_prediction` (an ε-model cannot recover x0 at
    /// ᾱ = 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rescale_betas_zero_snr: bool,
}

fn is_epsilon(p: &PredictionType) -> bool {
    *p == PredictionType::Epsilon
}

impl ScheduleConfig {
    /// The lab's schedule with `t` steps: linear 1e-4 … 0.02.
    pub fn linear(t: usize) -> Self {
        ScheduleConfig {
            num_train_timesteps: t,
            beta_schedule: "linear".into(),
            beta_start: 1e-4,
            beta_end: 0.02,
            prediction_type: PredictionType::Epsilon,
            rescale_betas_zero_snr: false,
        }
    }
    /// The schedule itself.
    pub fn build(&self) -> Result<NoiseSchedule> {
        if self.num_train_timesteps < 2 {
            return Err(Error::invalid(format!(
                "--timesteps must be at least 2, got {}",
                self.num_train_timesteps
            )));
        }
        if self.rescale_betas_zero_snr && self.prediction_type == PredictionType::Epsilon {
            return Err(Error::invalid(
                "--zero-snr needs --prediction v: at zero terminal SNR the noisiest input is pure \
                 noise, from which an epsilon prediction cannot recover the image",
            ));
        }
        let kind = crate::diffusion::BetaSchedule::parse(&self.beta_schedule)?;
        let s = NoiseSchedule::new(
            self.num_train_timesteps,
            kind,
            self.beta_start,
            self.beta_end,
        )?;
        if self.rescale_betas_zero_snr {
            s.rescaled_to_zero_terminal_snr()
        } else {
            Ok(s)
        }
    }
}

/// Which images the model learns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// MNIST training split, these digits (ascending).
    pub digits: Vec<u8>,
    /// Images are resized to `image_size × image_size` and scaled to [−1, 1].
    pub image_size: usize,
    /// Only the first `limit` matching images (tests and quick runs); `None` = all.
    pub limit: Option<usize>,
}

/// How the learning rate moves over the run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The same rate throughout (the lab).
    Constant,
    /// Linear warm-up over `warmup_steps`, then a half cosine from the rate down to
    /// `final_fraction` of it at the last step.
    Cosine {
        /// Steps of linear warm-up from 0.
        warmup_steps: usize,
        /// The rate at the last step, as a fraction of the peak.
        final_fraction: f32,
    },
}

impl LrSchedule {
    /// The rate at step `step` (0-based) of `total`, for a peak rate `lr`.
    pub fn at(&self, lr: f32, step: usize, total: usize) -> f32 {
        match *self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine {
                warmup_steps,
                final_fraction,
            } => {
                if step < warmup_steps {
                    return lr * (step + 1) as f32 / warmup_steps as f32;
                }
                let span = total.saturating_sub(warmup_steps).max(1);
                let p = ((step - warmup_steps) as f64 / (span.max(2) - 1) as f64).min(1.0);
                let c = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                lr * (final_fraction as f64 + (1.0 - final_fraction as f64) * c) as f32
            }
        }
    }
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Images per step (the last incomplete batch of an epoch is dropped).
    pub batch_size: usize,
    /// Adam's (peak) learning rate.
    pub lr: f32,
    /// Adam's second-moment decay β₂ (0.999 in PyTorch and Keras; absent in checkpoints from
    /// before it was a setting, which used 0.999).
    #[serde(default = "pytorch_beta2")]
    pub adam_beta2: f32,
    /// How the rate moves.
    pub lr_schedule: LrSchedule,
    /// Decay of the EMA of the weights (`None`: no EMA). The effective decay warms up as
    /// `min(decay, (1 + k)/(10 + k))` after `k` updates.
    pub ema_decay: Option<f32>,
    /// Fixes the initial weights, the data order, the timesteps and the noise.
    pub seed: u64,
    /// `lab` when the lab's recipe was asked for.
    pub recipe: Option<String>,
    /// Class-conditional training (classifier-free guidance): the probability that an image's
    /// label is replaced by the null class, so one model learns both the conditional and the
    /// unconditional prediction. `None` for an unconditional model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_dropout: Option<f32>,
}

/// Epochs of the default `toy` run.
pub const TOY_EPOCHS: usize = 4;

/// PyTorch's and Keras' default Adam β₂.
fn pytorch_beta2() -> f32 {
    0.999
}

/// Classes of a conditional MNIST model: the ten digits (whichever of them are trained).
pub const DIGIT_CLASSES: usize = 10;

/// Epochs of the default conditional `toy` run (`train --conditional` and the lab's conditioning
/// section), chosen by experiment (see the README): only the dropped labels teach the "no class"
/// branch, and after [`TOY_EPOCHS`] it drew slightly worse digits than the unconditional default
/// (FID 13.1 and 13.8 against 12.3, two training seeds); after 6 it draws as well (11.5 and 12.2).
pub const CONDITIONAL_EPOCHS: usize = 6;

/// The label dropout of `difflab train --conditional`, chosen by experiment (see the README):
/// with 0.15 (the usual 0.1-0.2) this small, briefly trained model's "no class" branch drew
/// clearly worse digits (FID 21.1 after 4 epochs) than an unconditional model (12.3); at 0.5 it
/// comes within about one FID point after 4 epochs and matches it after [`CONDITIONAL_EPOCHS`],
/// while w = 2 still gives ≥ 95% of the asked-for digit.
pub const DEFAULT_LABEL_DROPOUT: f32 = 0.5;

/// Everything that defines a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Architecture and sizes.
    pub model: ModelConfig,
    /// The noise schedule.
    pub schedule: ScheduleConfig,
    /// The data.
    pub data: DataConfig,
    /// Optimisation.
    pub training: TrainingConfig,
}

impl TrainSettings {
    /// difflab's defaults for `arch`: 4 classes, 16×16, batches of 128, T = 200, seed 42.
    ///
    /// `toy`: 4 epochs of Adam at a peak rate of 5e-3 with β₂ = 0.99, 100 warm-up steps then a
    /// cosine down to 5%, EMA 0.995 — chosen by experiment (README, "Choosing the toy recipe"):
    /// it beats the lab's 8-epoch recipe on the quality evaluator in half its steps. `lab`: the
    /// lab's 8 epochs at a constant 1e-3 (PyTorch's Adam), plus the EMA.
    pub fn defaults(arch: Arch) -> Self {
        let (epochs, lr, adam_beta2, lr_schedule) = match arch {
            Arch::Toy => (
                TOY_EPOCHS,
                5e-3,
                0.99,
                LrSchedule::Cosine {
                    warmup_steps: 100,
                    final_fraction: 0.05,
                },
            ),
            Arch::Lab => (8, 1e-3, pytorch_beta2(), LrSchedule::Constant),
        };
        TrainSettings {
            model: ModelConfig::new(arch, 16),
            schedule: ScheduleConfig::linear(200),
            data: DataConfig {
                digits: vec![0, 1, 2, 3],
                image_size: 16,
                limit: None,
            },
            training: TrainingConfig {
                epochs,
                batch_size: 128,
                lr,
                adam_beta2,
                lr_schedule,
                ema_decay: Some(0.995),
                seed: 42,
                recipe: None,
                label_dropout: None,
            },
        }
    }

    /// The lab's recipe exactly: lab U-Net, digits 0-3, 16×16, 8 epochs of 128, Adam 1e-3
    /// constant, no EMA, T = 200 linear.
    pub fn lab_recipe() -> Self {
        let mut s = Self::defaults(Arch::Lab);
        s.training.lr_schedule = LrSchedule::Constant;
        s.training.ema_decay = None;
        s.training.recipe = Some("lab".into());
        s
    }

    /// Make the run class-conditional: the model learns one embedding per digit (0-9) plus a
    /// null class, and labels are dropped to the null class with probability `label_dropout`.
    pub fn make_conditional(&mut self, label_dropout: f32) -> Result<()> {
        match &mut self.model {
            ModelConfig::Toy(c) => c.num_classes = DIGIT_CLASSES,
            ModelConfig::Lab(_) => {
                return Err(Error::invalid(
                    "--conditional needs --arch toy: the lab's U-Net has no class input",
                ))
            }
        }
        self.training.label_dropout = Some(label_dropout);
        self.validate()
    }

    /// True for a class-conditional run.
    pub fn is_conditional(&self) -> bool {
        self.training.label_dropout.is_some()
    }

    /// An error naming the option when a setting is out of range.
    pub fn validate(&self) -> Result<()> {
        let t = &self.training;
        match (t.label_dropout, self.model.num_classes()) {
            (Some(p), k) if k > 0 => {
                if !(0.0..1.0).contains(&p) {
                    return Err(Error::invalid(format!(
                        "--label-dropout must lie in [0, 1), got {p}"
                    )));
                }
            }
            (None, 0) => {}
            (p, k) => {
                return Err(Error::invalid(format!(
                    "a conditional run needs both a label dropout and model classes, got \
                     label_dropout {p:?} and num_classes {k}"
                )))
            }
        }
        if t.epochs == 0 {
            return Err(Error::invalid("--epochs must be at least 1"));
        }
        if t.batch_size == 0 {
            return Err(Error::invalid("--batch-size must be at least 1"));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(Error::invalid(format!(
                "--lr must be a positive number, got {}",
                t.lr
            )));
        }
        if !(0.0..1.0).contains(&t.adam_beta2) {
            return Err(Error::invalid(format!(
                "--adam-beta2 must lie in [0, 1), got {}",
                t.adam_beta2
            )));
        }
        if let Some(d) = t.ema_decay {
            if !(0.0..1.0).contains(&d) {
                return Err(Error::invalid(format!(
                    "--ema-decay must lie in [0, 1), got {d}"
                )));
            }
        }
        if let LrSchedule::Cosine { final_fraction, .. } = t.lr_schedule {
            if !(0.0..=1.0).contains(&final_fraction) {
                return Err(Error::invalid(format!(
                    "the cosine schedule's final fraction must lie in [0, 1], got {final_fraction}"
                )));
            }
        }
        if self.data.image_size != self.model.image_size() {
            return Err(Error::invalid(format!(
                "the data are {0}×{0} but the model is built for {1}×{1}",
                self.data.image_size,
                self.model.image_size()
            )));
        }
        if ![16, 28].contains(&self.data.image_size) {
            return Err(Error::invalid(format!(
                "--size must be 16 or 28, got {}",
                self.data.image_size
            )));
        }
        super::data::digit_list(&self.data.digits)?;
        self.schedule.build()?;
        Ok(())
    }
}

/// What a run has done so far (stored in `config.json` under `stats`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingStats {
    /// Images in the training set.
    pub images: usize,
    /// Parameters of the model.
    pub params: usize,
    /// Steps per epoch (`images / batch_size`, rounded down).
    pub steps_per_epoch: usize,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Steps completed.
    pub steps_done: usize,
    /// Mean loss of each completed epoch.
    pub epoch_losses: Vec<f32>,
    /// Seconds spent training (over all sessions of a resumed run).
    pub train_seconds: f64,
    /// Training throughput over those seconds.
    pub images_per_second: f64,
    /// Threads the last session ran on.
    pub threads: usize,
    /// Mean and standard deviation of the training pixels (in [-1, 1]): where sampling starts
    /// (see [`crate::diffusion::StartNoise`]). Absent in checkpoints from before it was kept,
    /// which then start from pure noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_moments: Option<PixelMoments>,
}

/// Mean and standard deviation of a training set's pixel values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelMoments {
    /// Mean pixel value.
    pub mean: f32,
    /// Standard deviation of the pixel values.
    pub std: f32,
}

impl TrainingStats {
    /// Where sampling from this model starts: noise matched to its training data when the
    /// moments are known, else pure noise.
    pub fn start_noise(&self) -> crate::diffusion::StartNoise {
        match self.pixel_moments {
            Some(m) => crate::diffusion::StartNoise::matched(m.mean, m.std),
            None => crate::diffusion::StartNoise::Pure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_beta2_defaults_per_architecture_and_for_old_checkpoints() {
        let toy = TrainSettings::defaults(Arch::Toy).training;
        assert_eq!(
            (toy.epochs, toy.lr, toy.adam_beta2),
            (TOY_EPOCHS, 5e-3, 0.99)
        );
        let lab = TrainSettings::lab_recipe().training;
        assert_eq!((lab.epochs, lab.lr, lab.adam_beta2), (8, 1e-3, 0.999));
        // A `training` section written before β₂ was a setting: those runs used PyTorch's 0.999.
        let mut old = serde_json::to_value(&toy).unwrap();
        old.as_object_mut().unwrap().remove("adam_beta2");
        let back: TrainingConfig = serde_json::from_value(old).unwrap();
        assert_eq!(back.adam_beta2, 0.999);
        assert_eq!(back.lr, toy.lr);
    }
}
