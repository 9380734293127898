//! A trained checkpoint opened for sampling or evaluation: the one place that turns a folder
//! written by `difflab train` into a model (EMA weights when saved), its config and statistics,
//! its schedulers and the [`ModelInfo`] that `sample`, `inpaint`, `eval` and the lab describe
//! it with.

use super::checkpoint::{Checkpoint, CheckpointConfig, CONFIG_FILE, SCHEDULER_FILE};
use super::preview::ddpm_config;
use super::settings::TrainingStats;
use crate::diffusion::StartNoise;
use crate::models::Denoiser;
use crate::schedulers::{
    AnySampler, ConfigFile, DdpmConfig, Sampler, SamplerKind, TimestepSpacing,
};
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A trained model as the commands describe it (serialised as the `model` object of
/// `summary.json`; the scheduler config is left out there).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// How to name it: its checkpoint folder.
    #[serde(rename = "dir")]
    pub name: String,
    /// `toy` or `lab`.
    pub arch: String,
    /// Number of parameters.
    pub params: usize,
    /// `ema` or `trained`: which weights sample.
    pub weights: String,
    /// The digits it was trained on.
    pub digits: Vec<u8>,
    /// Side of its square images.
    pub image_size: usize,
    /// Image channels.
    pub channels: usize,
    /// T, its training timesteps.
    pub num_train_timesteps: usize,
    /// Epochs it was trained for.
    pub epochs: usize,
    /// Where its sampling starts: noise matched to its training data, or pure noise (see
    /// [`StartNoise`]); written as its name.
    #[serde(serialize_with = "start_name")]
    pub start: StartNoise,
    /// Its noise schedule as a DDPM scheduler config (`scheduler_config.json` when present,
    /// else the training schedule; DDIM takes the shared fields).
    #[serde(skip)]
    pub scheduler: DdpmConfig,
}

fn start_name<S: Serializer>(start: &StartNoise, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(start.name())
}

impl ModelInfo {
    /// The description of the checkpoint in `dir` with config `cfg`, of `params` parameters,
    /// sampling with its EMA weights when `ema`.
    pub fn new(dir: &Path, cfg: &CheckpointConfig, params: usize, ema: bool) -> Result<Self> {
        let m = cfg.model();
        Ok(ModelInfo {
            name: dir.display().to_string(),
            arch: m.arch().name().into(),
            params,
            weights: if ema { "ema" } else { "trained" }.into(),
            digits: cfg.settings.data.digits.clone(),
            image_size: m.image_size(),
            channels: m.in_channels(),
            num_train_timesteps: cfg.settings.schedule.num_train_timesteps,
            epochs: cfg.stats.epochs_done,
            start: cfg.start_noise(),
            scheduler: schedule_config(dir, cfg)?,
        })
    }
}

/// The [`ModelInfo`] of the checkpoint in `dir` from its config alone (the parameters are
/// counted on a freshly built model of its architecture; EMA as its settings say).
pub fn model_info(dir: &Path, cfg: &CheckpointConfig) -> Result<ModelInfo> {
    let params = Denoiser::new(cfg.model(), &mut Rng::seeded(0))?.num_params();
    ModelInfo::new(dir, cfg, params, cfg.settings.training.ema_decay.is_some())
}

/// The DDPM config of a checkpoint: its `scheduler_config.json` when present, else the
/// linear schedule of `config.json`.
fn schedule_config(dir: &Path, cfg: &CheckpointConfig) -> Result<DdpmConfig> {
    let path = dir.join(SCHEDULER_FILE);
    if path.is_file() {
        DdpmConfig::load(&path)
    } else {
        Ok(ddpm_config(&cfg.settings.schedule))
    }
}

/// A checkpoint folder opened for sampling: the model to sample from, its config, its
/// description.
#[derive(Debug)]
pub struct TrainedModel {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// The EMA weights when the checkpoint has them, else the trained weights.
    pub model: Denoiser,
    /// Its `config.json`.
    pub config: CheckpointConfig,
    /// Its description.
    pub info: ModelInfo,
}

impl TrainedModel {
    /// Open the checkpoint in `dir` with errors a student can act on: a missing folder or
    /// `config.json` says to run `difflab train` first; a damaged checkpoint or one whose
    /// weights do not fit its `config.json` names the file and the tensor.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
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
        Self::load(dir)
    }

    /// Open the checkpoint in `dir` without [`TrainedModel::open`]'s advice: errors name the
    /// file (`config.json` for a missing folder) and, for weights, the tensor.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let ck = Checkpoint::load(dir)?;
        let ema = ck.ema.is_some();
        let (model, config) = ck.into_denoiser();
        let info = ModelInfo::new(dir, &config, model.num_params(), ema)?;
        Ok(TrainedModel {
            dir: dir.to_path_buf(),
            model,
            config,
            info,
        })
    }

    /// What its training did (epochs, losses, the data's pixel moments).
    pub fn stats(&self) -> &TrainingStats {
        &self.config.stats
    }

    /// Sampling steps for `steps` (`None`: all T), checked against its T (see
    /// [`crate::pipelines::sample::check_steps`]).
    pub fn steps(&self, steps: Option<usize>) -> Result<usize> {
        crate::pipelines::sample::check_steps(steps, self.info.num_train_timesteps, &self.info.name)
    }

    /// The sampler of `kind` for it: its `scheduler_config.json` when present (else the
    /// training schedule), checked against the T of its `config.json`, with the spacing of
    /// [`sampler_config`]; DDIM re-derives ε̂ from the clipped x̂0
    /// ([`crate::schedulers::DdimScheduler::set_use_clipped_model_output`]); `eta` must be 0
    /// except for DDIM. A sampler that cannot run the model's `prediction_type` is an error
    /// naming the file.
    pub fn sampler(&self, kind: SamplerKind, eta: f32) -> Result<AnySampler> {
        let path = self.dir.join(SCHEDULER_FILE);
        let t_model = self.info.num_train_timesteps;
        let mut s = if path.is_file() {
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::file(&path, e.to_string()))?;
            let v: Value =
                serde_json::from_str(&text).map_err(|e| Error::file(&path, e.to_string()))?;
            let s = AnySampler::from_value(&path, &with_spacing(kind, v), Some(kind))?;
            check_schedule(&s, &self.info.scheduler)
                .map_err(|e| Error::file(&path, e.to_string()))?;
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
            sampler_for(kind, &ddpm_config(&self.config.settings.schedule))?
        };
        // Consistent DDIM steps: with diffusers' default the toy's digits degrade as steps grow.
        s.set_use_clipped_model_output(true);
        s.set_eta(eta).map_err(|e| match kind {
            SamplerKind::Ddim => Error::invalid(format!("--eta {eta}: {e}")),
            SamplerKind::Ddpm => Error::invalid(format!(
                "--eta {eta} applies only to --sampler ddim (DDPM's noise is fixed by its variance type)"
            )),
            other => Error::invalid(format!(
                "--eta {eta} applies only to --sampler ddim (the {} sampler's noise, if any, is part of the method)",
                other.name()
            )),
        })?;
        Ok(s)
    }
}

/// The config a sampler of `kind` runs a difflab model with: `base` itself for DDPM and DDIM;
/// for the other samplers `base` with `leading` spacing (diffusers' DDPM default, which
/// difflab's checkpoints record) replaced by `trailing`. Trailing starts the loop at t = T − 1
/// (Lin et al. 2023: a zero-terminal-SNR schedule only helps if sampling starts at its pure
/// noise) and allows any step count up to T, while the multistep solvers' `leading`
/// (diffusers: `T div (n + 1)` apart) starts below T − 1 and repeats timesteps for n near T.
/// `linspace` and `trailing` are kept.
pub fn sampler_config(kind: SamplerKind, base: &DdpmConfig) -> DdpmConfig {
    let mut c = base.clone();
    if few_step(kind) && c.timestep_spacing == TimestepSpacing::Leading {
        c.timestep_spacing = TimestepSpacing::Trailing;
    }
    c
}

/// A sampler of `kind` on the schedule `base` with the spacing of [`sampler_config`]; an error
/// when the sampler cannot follow that schedule ([`check_schedule`]).
pub fn sampler_for(kind: SamplerKind, base: &DdpmConfig) -> Result<AnySampler> {
    let s = AnySampler::from_ddpm_config(kind, &sampler_config(kind, base))?;
    check_schedule(&s, base)?;
    Ok(s)
}

/// An error unless `s` walks the noise schedule `base` describes (ᾱ_t within 1e-6 at every t;
/// diffusers' σ samplers lift a zero-SNR schedule's last ᾱ from 0 to 2⁻²⁴). PNDM, like
/// diffusers' `PNDMScheduler`, has no zero-terminal-SNR rescaling, and would otherwise sample
/// a zero-SNR model on the wrong schedule.
pub fn check_schedule(s: &AnySampler, base: &DdpmConfig) -> Result<()> {
    let want = AnySampler::from_ddpm_config(SamplerKind::Ddpm, base)?;
    let off = s
        .alphas_cumprod()
        .iter()
        .zip(want.alphas_cumprod())
        .position(|(a, b)| (a - b).abs() > 1e-6);
    match off {
        None => Ok(()),
        Some(t) => Err(Error::invalid(format!(
            "the {} sampler cannot follow this model's noise schedule (ᾱ at t = {t} is {:.3e}, the model's {:.3e}){}",
            s.kind().name(),
            s.alphas_cumprod()[t],
            want.alphas_cumprod()[t],
            if base.rescale_betas_zero_snr {
                "; it has no zero-terminal-SNR rescaling (rescale_betas_zero_snr): choose another sampler"
            } else {
                ""
            }
        ))),
    }
}

/// Whether `kind` is one of the samplers other than DDPM and DDIM.
fn few_step(kind: SamplerKind) -> bool {
    !matches!(kind, SamplerKind::Ddpm | SamplerKind::Ddim)
}

/// A parsed `scheduler_config.json` with the spacing of [`sampler_config`] for `kind` (absent
/// means diffusers' default for the file's class, `leading` for a DDPM config).
fn with_spacing(kind: SamplerKind, mut v: Value) -> Value {
    if few_step(kind) {
        if let Value::Object(m) = &mut v {
            let leading = m
                .get("timestep_spacing")
                .is_none_or(|s| s.as_str() == Some("leading"));
            if leading {
                m.insert("timestep_spacing".into(), Value::String("trailing".into()));
            }
        }
    }
    v
}
