//! Checkpoints: a folder with `config.json` (architecture, schedule, data, settings, statistics),
//! `model.safetensors` (the weights, and the EMA weights under `ema.`), `optimizer.safetensors`
//! (Adam's moments under `adam.m.` / `adam.v.`, the per-step losses) and, for the samplers,
//! `scheduler_config.json`. Every file is written atomically, the config last, and all three
//! record the epochs done, so a run interrupted between two writes is detected on `--resume`.

use super::settings::{TrainSettings, TrainingStats};
use crate::models::NoisePredictor;
use crate::models::{Denoiser, ModelConfig};
use crate::nn::optim::{Adam, AdamConfig, Ema};
use crate::nn::{Tensor, Weights};
use crate::schedulers::ConfigFile;
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` field of a difflab denoiser's `config.json`.
pub const FORMAT: &str = "difflab-denoiser";
/// The current checkpoint version.
pub const VERSION: u32 = 1;
/// File names inside a checkpoint folder.
pub const CONFIG_FILE: &str = "config.json";
/// The weights (and EMA weights).
pub const MODEL_FILE: &str = "model.safetensors";
/// The optimiser state.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The DDPM scheduler's config (diffusers' format) for the samplers.
pub const SCHEDULER_FILE: &str = "scheduler_config.json";
/// Prefix of the EMA weights in `model.safetensors`.
pub const EMA_PREFIX: &str = "ema.";

/// A checkpoint's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written.
    pub version: u32,
    /// Model, schedule, data and optimisation settings.
    #[serde(flatten)]
    pub settings: TrainSettings,
    /// What the run has done.
    pub stats: TrainingStats,
}

impl CheckpointConfig {
    /// Read and check a `config.json`; every error names the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(path, format!("not valid JSON ({e})")))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(Error::file(path, format!("format is `{other}`, expected `{FORMAT}` (not a difflab denoiser checkpoint)"))),
            None => return Err(Error::file(path, format!("no `format` field: not a difflab denoiser checkpoint (expected \"format\": \"{FORMAT}\")"))),
        }
        let cfg: CheckpointConfig = serde_json::from_value(v)
            .map_err(|e| Error::file(path, format!("bad checkpoint config: {e}")))?;
        if cfg.version > VERSION {
            return Err(Error::file(
                path,
                format!(
                    "checkpoint version {} is newer than this difflab understands ({VERSION})",
                    cfg.version
                ),
            ));
        }
        cfg.settings
            .validate()
            .map_err(|e| Error::file(path, e.to_string()))?;
        Ok(cfg)
    }

    /// The model's architecture and sizes.
    pub fn model(&self) -> &ModelConfig {
        &self.settings.model
    }

    /// Where sampling from this model starts (see [`TrainingStats::start_noise`]).
    pub fn start_noise(&self) -> crate::diffusion::StartNoise {
        self.stats.start_noise()
    }
}

/// A loaded checkpoint: its config, the trained weights and, when saved, the EMA weights.
#[derive(Debug)]
pub struct Checkpoint {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: CheckpointConfig,
    /// The raw trained weights.
    pub model: Denoiser,
    /// The EMA of the weights, if the run kept one.
    pub ema: Option<Denoiser>,
}

/// Replace `e`'s message with `msg(old)` when it is about a file.
fn annotate(e: Error, hint: &str) -> Error {
    match e {
        Error::File { path, msg } => Error::File {
            path,
            msg: format!("{msg} ({hint})"),
        },
        other => other,
    }
}

impl Checkpoint {
    /// Read `dir/config.json` and `dir/model.safetensors`. A missing file, a truncated or
    /// damaged safetensors file, a missing tensor or one of the wrong shape (e.g. weights of
    /// another architecture than `config.json` says) is an error naming the file and the key.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let config = CheckpointConfig::load(&dir.join(CONFIG_FILE))?;
        let path = dir.join(MODEL_FILE);
        let w = Weights::load_safetensors(&path)?;
        let arch = config.model().arch().name();
        if let Some(saved) = w.metadata().get("arch") {
            if saved != arch {
                return Err(Error::file(
                    &path,
                    format!("holds a `{saved}` model but {CONFIG_FILE} describes a `{arch}` model"),
                ));
            }
        }
        let hint = format!("{CONFIG_FILE} describes a `{arch}` model");
        let model =
            Denoiser::from_weights(config.model(), &w, "").map_err(|e| annotate(e, &hint))?;
        let has_ema = w.keys().any(|k| k.starts_with(EMA_PREFIX));
        let ema = if has_ema {
            Some(
                Denoiser::from_weights(config.model(), &w, EMA_PREFIX)
                    .map_err(|e| annotate(e, &hint))?,
            )
        } else {
            None
        };
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            config,
            model,
            ema,
        })
    }

    /// The model to sample from: the EMA weights when present, else the trained weights.
    pub fn into_denoiser(self) -> (Denoiser, CheckpointConfig) {
        (self.ema.unwrap_or(self.model), self.config)
    }
}

/// Load a trained denoiser for sampling or evaluation (`difflab sample`, `eval`, `lab`): the
/// EMA weights when the checkpoint has them, else the trained weights, and the config (image
/// size, schedule, data selection). Errors name the file and, for weights, the key.
pub fn load_denoiser(dir: impl AsRef<Path>) -> Result<(Box<dyn NoisePredictor>, CheckpointConfig)> {
    let (m, cfg) = Checkpoint::load(dir)?.into_denoiser();
    Ok((Box::new(m), cfg))
}

/// The optimiser state read back for `--resume`.
pub struct OptimizerState {
    /// Adam's moments and step count.
    pub adam: Adam,
    /// The loss of every step so far.
    pub step_losses: Vec<f32>,
    /// Epochs done when it was written.
    pub epochs_done: usize,
}

/// Write a checkpoint into `dir` (created if needed): optimiser state, weights, scheduler config,
/// then `config.json`, each atomically.
pub fn save(
    dir: &Path,
    config: &CheckpointConfig,
    model: &Denoiser,
    ema: Option<&Ema>,
    adam: &Adam,
    step_losses: &[f32],
) -> Result<()> {
    let epochs = config.stats.epochs_done.to_string();
    let mut opt = Weights::new();
    model.add_to_weights(&mut opt, "adam.m.", &adam.m);
    model.add_to_weights(&mut opt, "adam.v.", &adam.v);
    opt.insert(
        "history.step_loss",
        Tensor::new(vec![step_losses.len()], step_losses.to_vec())?,
    );
    opt.set_metadata("adam_step", adam.t.to_string());
    opt.set_metadata("epochs_done", epochs.clone());
    opt.save_safetensors(dir.join(OPTIMIZER_FILE))?;

    let mut w = Weights::new();
    model.add_to_weights(&mut w, "", model.params());
    if let Some(e) = ema {
        model.add_to_weights(&mut w, EMA_PREFIX, e.weights());
        w.set_metadata("ema_updates", e.updates.to_string());
    }
    w.set_metadata("arch", config.model().arch().name());
    w.set_metadata("epochs_done", epochs);
    w.save_safetensors(dir.join(MODEL_FILE))?;

    super::preview::ddpm_config(&config.settings.schedule).save(dir.join(SCHEDULER_FILE))?;

    let json = serde_json::to_string_pretty(config)
        .map_err(|e| Error::invalid(format!("could not encode {CONFIG_FILE}: {e}")))?;
    write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())
}

/// Read the optimiser state and the EMA of a checkpoint for `--resume`, checking that all files
/// come from the same epoch.
pub fn load_for_resume(
    dir: &Path,
    model: &Denoiser,
    adam_cfg: AdamConfig,
    ema_decay: Option<f32>,
    epochs_done: usize,
) -> Result<(OptimizerState, Option<Ema>)> {
    let path = dir.join(OPTIMIZER_FILE);
    let opt = Weights::load_safetensors(&path)?;
    let flat = |w: &Weights, prefix: &str| -> Result<Vec<f32>> {
        let mut v = Vec::with_capacity(model.num_params());
        for s in model.param_specs() {
            v.extend_from_slice(w.get(&format!("{prefix}{}", s.name), &s.shape)?.data());
        }
        Ok(v)
    };
    let meta_num = |w: &Weights, p: &Path, key: &str| -> Result<u64> {
        w.metadata()
            .get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::file(p, format!("metadata `{key}` missing or not a number")))
    };
    let opt_epochs = meta_num(&opt, &path, "epochs_done")? as usize;
    if opt_epochs != epochs_done {
        return Err(Error::file(&path, format!("written after epoch {opt_epochs}, but {CONFIG_FILE} after epoch {epochs_done}: the run was interrupted while saving; cannot resume")));
    }
    let adam = Adam::from_state(
        adam_cfg,
        flat(&opt, "adam.m.")?,
        flat(&opt, "adam.v.")?,
        meta_num(&opt, &path, "adam_step")?,
    )?;
    let losses = opt
        .get_any("history.step_loss")
        .ok_or_else(|| Error::file(&path, "missing tensor `history.step_loss`"))?;
    let state = OptimizerState {
        adam,
        step_losses: losses.data().to_vec(),
        epochs_done,
    };

    let mpath = dir.join(MODEL_FILE);
    let w = Weights::load_safetensors(&mpath)?;
    let model_epochs = meta_num(&w, &mpath, "epochs_done")? as usize;
    if model_epochs != epochs_done {
        return Err(Error::file(&mpath, format!("written after epoch {model_epochs}, but {CONFIG_FILE} after epoch {epochs_done}: cannot resume")));
    }
    let ema = match ema_decay {
        Some(decay) => {
            let shadow = flat(&w, EMA_PREFIX)?;
            let updates = meta_num(&w, &mpath, "ema_updates")?;
            Some(Ema {
                decay,
                shadow,
                updates,
            })
        }
        None => None,
    };
    Ok((state, ema))
}
