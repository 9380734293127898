//! `difflab train`: Module 2, train a denoiser on MNIST digits (logic in `crate::train`).

use crate::cli::Global;
use crate::demos::train::{self as job, TrainJob};
use crate::models::{Arch, ModelConfig};
use crate::schedulers::PredictionType;
use crate::train::data::{classes, digit_list};
use crate::train::settings::{CONDITIONAL_EPOCHS, DEFAULT_LABEL_DROPOUT};
use crate::train::{LrSchedule, RunOptions, TrainSettings};
use crate::{Error, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// The prediction targets on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PredictionChoice {
    /// The noise ε (diffusers' `epsilon`).
    Epsilon,
    /// v = √ᾱ·ε − √(1−ᾱ)·x0 (diffusers' `v_prediction`).
    V,
}

/// The learning-rate schedules on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LrChoice {
    /// The same rate throughout.
    Constant,
    /// Warm-up, then a half cosine down to 5% of the rate.
    Cosine,
}

/// Options of `difflab train`. Unset options take the architecture's defaults; with `--resume`
/// the checkpoint's settings are used and only `--epochs` may change them.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainArgs {
    /// Architecture: `toy` (difflab's default) or `lab` (the lab's U-Net exactly).
    #[arg(long, value_enum, value_name = "ARCH")]
    pub arch: Option<Arch>,
    /// Train on digits 0..N-1 (1-10) [default: 4].
    #[arg(long, value_name = "N", conflicts_with = "digits")]
    pub classes: Option<usize>,
    /// Train on these digits instead, e.g. 0,3,7.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub digits: Option<Vec<u8>>,
    /// Image side: 16 (as the lab) or 28 (MNIST's own size) [default: 16].
    #[arg(long, value_name = "PX")]
    pub size: Option<usize>,
    /// Passes over the data [default: 4 for toy (6 with --conditional), 8 for lab].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Images per step [default: 128].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Adam's learning rate (the peak of the cosine schedule) [default: 5e-3 for toy, 1e-3
    /// for lab].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f32>,
    /// Adam's second-moment decay β₂ [default: 0.99 for toy, 0.999 (PyTorch's) for lab].
    #[arg(long, value_name = "B2")]
    pub adam_beta2: Option<f32>,
    /// Learning-rate schedule [default: cosine for toy, constant for lab].
    #[arg(long, value_enum, value_name = "KIND")]
    pub lr_schedule: Option<LrChoice>,
    /// Diffusion timesteps T (linear β from 1e-4 to 0.02) [default: 200].
    #[arg(long, value_name = "T")]
    pub timesteps: Option<usize>,
    /// What the model learns to predict: epsilon (the noise, the lab's) or v
    /// (√ᾱ·ε − √(1−ᾱ)·x0) [default: epsilon].
    #[arg(long, value_enum, value_name = "KIND")]
    pub prediction: Option<PredictionChoice>,
    /// Rescale the schedule to zero terminal SNR, so that ᾱ_T = 0 and the noisiest training
    /// input is pure noise, as sampling starts (needs --prediction v).
    #[arg(long)]
    pub zero_snr: bool,
    /// Seed of the weights, data order, timesteps and noise [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep an EMA of the weights (on by default; figures and samples use it).
    #[arg(long, overrides_with = "no_ema")]
    pub ema: bool,
    /// Do not keep an EMA of the weights.
    #[arg(long)]
    pub no_ema: bool,
    /// Decay of the EMA [default: 0.995].
    #[arg(long, value_name = "D")]
    pub ema_decay: Option<f32>,
    /// Use at most this many training images (quick runs).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Output folder (checkpoint, figures, summary).
    #[arg(long, value_name = "DIR", default_value = "lab8-out/module2")]
    pub out: PathBuf,
    /// Continue the run saved in --out (after its last complete epoch).
    #[arg(long)]
    pub resume: bool,
    /// `lab`: exactly the lab's settings (lab U-Net, digits 0-3, 16×16, 8 epochs of 128, Adam
    /// 1e-3, no EMA).
    #[arg(long, value_name = "NAME")]
    pub recipe: Option<String>,
    /// Class-conditional training for classifier-free guidance (toy only): the model also
    /// learns which digit it draws; `difflab sample --digit` then asks for one.
    #[arg(long)]
    pub conditional: bool,
    /// With --conditional: the probability that a label is dropped to "no class", so the
    /// same model also learns unconditional generation [default: 0.5].
    #[arg(long, value_name = "P", requires = "conditional")]
    pub label_dropout: Option<f32>,
    /// Skip the figures (loss, denoising, filters, preview).
    #[arg(long)]
    pub no_figures: bool,
    /// Stop after this epoch's checkpoint, as if interrupted (for trying --resume).
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after_epoch: Option<usize>,
}

impl TrainArgs {
    /// The options that set the run (all but --out, --epochs, --no-figures), by flag name.
    fn explicit(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut note = |set: bool, name: &'static str| {
            if set {
                v.push(name)
            }
        };
        note(self.arch.is_some(), "--arch");
        note(self.classes.is_some(), "--classes");
        note(self.digits.is_some(), "--digits");
        note(self.size.is_some(), "--size");
        note(self.batch_size.is_some(), "--batch-size");
        note(self.lr.is_some(), "--lr");
        note(self.adam_beta2.is_some(), "--adam-beta2");
        note(self.lr_schedule.is_some(), "--lr-schedule");
        note(self.timesteps.is_some(), "--timesteps");
        note(self.prediction.is_some(), "--prediction");
        note(self.zero_snr, "--zero-snr");
        note(self.ema || self.no_ema, "--ema/--no-ema");
        note(self.ema_decay.is_some(), "--ema-decay");
        note(self.limit.is_some(), "--limit");
        note(self.conditional, "--conditional");
        note(self.label_dropout.is_some(), "--label-dropout");
        v
    }

    /// The run's settings from the options.
    pub fn settings(&self) -> Result<TrainSettings> {
        if let Some(r) = &self.recipe {
            if r != "lab" {
                return Err(Error::invalid(format!(
                    "--recipe {r}: the only recipe is `lab`"
                )));
            }
            let mut given = self.explicit();
            if self.epochs.is_some() {
                given.push("--epochs");
            }
            if !given.is_empty() {
                return Err(Error::invalid(format!(
                    "--recipe lab fixes every training setting; drop {} (only --seed and --out may be given)",
                    given.join(", ")
                )));
            }
            let mut s = TrainSettings::lab_recipe();
            if let Some(seed) = self.seed {
                s.training.seed = seed;
            }
            return Ok(s);
        }
        let arch = self.arch.unwrap_or(Arch::Toy);
        let mut s = TrainSettings::defaults(arch);
        s.data.digits = match (&self.digits, self.classes) {
            (Some(d), _) => digit_list(d)?,
            (None, Some(n)) => classes(n)?,
            (None, None) => s.data.digits,
        };
        if let Some(size) = self.size {
            if size != 16 && size != 28 {
                return Err(Error::invalid(format!(
                    "--size must be 16 or 28, got {size}"
                )));
            }
            s.data.image_size = size;
            s.model = ModelConfig::new(arch, size);
        }
        let t = &mut s.training;
        t.epochs = self.epochs.unwrap_or(t.epochs);
        t.batch_size = self.batch_size.unwrap_or(t.batch_size);
        t.lr = self.lr.unwrap_or(t.lr);
        t.adam_beta2 = self.adam_beta2.unwrap_or(t.adam_beta2);
        t.seed = self.seed.unwrap_or(t.seed);
        match self.lr_schedule {
            Some(LrChoice::Constant) => t.lr_schedule = LrSchedule::Constant,
            Some(LrChoice::Cosine) => {
                t.lr_schedule = TrainSettings::defaults(Arch::Toy).training.lr_schedule
            }
            None => {}
        }
        if self.no_ema {
            t.ema_decay = None;
        } else if let Some(d) = self.ema_decay {
            t.ema_decay = Some(d);
        }
        if let Some(n) = self.timesteps {
            s.schedule.num_train_timesteps = n;
        }
        if let Some(p) = self.prediction {
            s.schedule.prediction_type = match p {
                PredictionChoice::Epsilon => PredictionType::Epsilon,
                PredictionChoice::V => PredictionType::VPrediction,
            };
        }
        s.schedule.rescale_betas_zero_snr = self.zero_snr;
        s.schedule.build()?;
        if let Some(n) = self.limit {
            if n == 0 {
                return Err(Error::invalid("--limit must be at least 1"));
            }
            s.data.limit = Some(n);
        }
        if self.conditional {
            s.make_conditional(self.label_dropout.unwrap_or(DEFAULT_LABEL_DROPOUT))?;
            s.training.epochs = self.epochs.unwrap_or(CONDITIONAL_EPOCHS);
        }
        s.validate()?;
        Ok(s)
    }
}

/// Run `difflab train`.
pub fn run(args: TrainArgs, global: &Global) -> Result<()> {
    if args.resume {
        let mut given = args.explicit();
        if args.seed.is_some() {
            given.push("--seed");
        }
        if args.recipe.is_some() {
            given.push("--recipe");
        }
        if !given.is_empty() {
            return Err(Error::invalid(format!(
                "--resume continues the run in {} with its own settings; drop {} (only --epochs may change)",
                args.out.display(),
                given.join(", ")
            )));
        }
        if args.epochs == Some(0) {
            return Err(Error::invalid("--epochs must be at least 1"));
        }
    }
    let settings = if args.resume {
        TrainSettings::defaults(Arch::Toy)
    } else {
        args.settings()?
    };
    let job = TrainJob {
        settings,
        out: args.out.clone(),
        resume: args.resume,
        resume_epochs: if args.resume { args.epochs } else { None },
        mnist_dir: global.mnist_dir.clone(),
        progress: true,
        figures: !args.no_figures,
        run: RunOptions {
            stop_after_epoch: args.stop_after_epoch,
        },
    };
    job::run(&job)?;
    Ok(())
}
