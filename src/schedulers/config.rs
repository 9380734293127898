//! Scheduler configurations with diffusers' field names and defaults, loaded from and saved to
//! a `scheduler_config.json`.
//!
//! Loading follows diffusers' `from_config`: keys the scheduler does not know (`_class_name`,
//! `_diffusers_version`, the other scheduler's fields, ...) are ignored, missing keys take
//! diffusers' defaults, and a value of the wrong type is an error naming the file and the field.
//! Features difflab does not implement (DDPM/DDIM `thresholding`, learned variances) are refused
//! with a clear error rather than silently ignored. diffusers writes ±∞ as the bare JSON tokens
//! `-Infinity` / `Infinity`; they are read as the strings `"-Infinity"` / `"Infinity"`.

use crate::diffusion::{BetaSchedule, NoiseSchedule};
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// What the model predicts (diffusers' `prediction_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionType {
    /// The noise ε that was added (DDPM, Ho et al. 2020).
    #[default]
    Epsilon,
    /// The velocity v = √ᾱ·ε − √(1−ᾱ)·x0 (Salimans & Ho 2022).
    VPrediction,
    /// The clean sample x0 itself.
    Sample,
}

/// The variance of the noise DDPM adds at each reverse step (diffusers' `variance_type`).
///
/// With β̃ = (1−ᾱ_prev)/(1−ᾱ_t)·β_eff the posterior variance and β_eff = 1 − ᾱ_t/ᾱ_prev:
/// `fixed_small` uses β̃ (clamped at 1e-20, as diffusers), `fixed_large` uses β_eff. The `_log`
/// variants compute the same standard deviation through a logarithm. diffusers' own
/// `fixed_large_log` takes the square root of log(β_eff), a negative number, and yields NaN;
/// difflab uses exp(½·log β_eff) = √β_eff, what the name promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarianceType {
    /// The posterior variance β̃_t (the DDPM paper's σ² = β̃ choice).
    #[default]
    FixedSmall,
    /// β̃_t through exp(½·log β̃_t).
    FixedSmallLog,
    /// The effective forward variance β_t (the DDPM paper's σ² = β choice).
    FixedLarge,
    /// β_t through exp(½·log β_t).
    FixedLargeLog,
}

/// How `set_timesteps(n)` picks n of the T training timesteps (diffusers' `timestep_spacing`,
/// Table 2 of Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestepSpacing {
    /// t = k·(T div n) + steps_offset for k = n−1 … 0: starts below T−1, always ends at 0.
    #[default]
    Leading,
    /// t = round(T − k·T/n) − 1 for k = 0 … n−1: always starts at T−1.
    Trailing,
    /// t = round(linspace(0, T−1, n)), reversed: both ends included.
    Linspace,
}

impl TimestepSpacing {
    /// diffusers' name: `leading`, `trailing` or `linspace`.
    pub fn name(&self) -> &'static str {
        match self {
            TimestepSpacing::Leading => "leading",
            TimestepSpacing::Trailing => "trailing",
            TimestepSpacing::Linspace => "linspace",
        }
    }
}

pub(crate) fn d_num_train_timesteps() -> usize {
    1000
}
pub(crate) fn d_beta_start() -> f64 {
    0.0001
}
pub(crate) fn d_beta_end() -> f64 {
    0.02
}
pub(crate) fn d_true() -> bool {
    true
}
pub(crate) fn d_order() -> usize {
    2
}
pub(crate) fn d_linspace() -> TimestepSpacing {
    TimestepSpacing::Linspace
}
pub(crate) fn d_clip_sample_range() -> f64 {
    1.0
}

/// The configuration of a [`DdpmScheduler`](super::DdpmScheduler): diffusers' `DDPMScheduler`
/// fields, each with diffusers' default when absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdpmConfig {
    /// T, the number of training timesteps (default 1000).
    #[serde(default = "d_num_train_timesteps")]
    pub num_train_timesteps: usize,
    /// First β of the schedule (default 0.0001).
    #[serde(default = "d_beta_start")]
    pub beta_start: f64,
    /// Last β of the schedule (default 0.02).
    #[serde(default = "d_beta_end")]
    pub beta_end: f64,
    /// Shape of the β curve (default `linear`).
    #[serde(default)]
    pub beta_schedule: BetaSchedule,
    /// Explicit betas, overriding the three fields above (default none).
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
    /// Variance of the noise added at each reverse step (default `fixed_small`).
    #[serde(default)]
    pub variance_type: VarianceType,
    /// Clamp the predicted x0 to ±`clip_sample_range` (default true).
    #[serde(default = "d_true")]
    pub clip_sample: bool,
    /// Bound for `clip_sample` (default 1.0).
    #[serde(default = "d_clip_sample_range")]
    pub clip_sample_range: f64,
    /// What the model predicts (default `epsilon`).
    #[serde(default)]
    pub prediction_type: PredictionType,
    /// How inference timesteps are spaced (default `leading`).
    #[serde(default)]
    pub timestep_spacing: TimestepSpacing,
    /// Added to `leading` timesteps (default 0).
    #[serde(default)]
    pub steps_offset: usize,
    /// Dynamic thresholding (Imagen); not implemented, must be false.
    #[serde(default)]
    pub thresholding: bool,
    /// Rescale betas to zero terminal SNR (Lin et al. 2023), so ᾱ_{T−1} = 0 (default false).
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
}

/// The configuration of a [`DdimScheduler`](super::DdimScheduler): diffusers' `DDIMScheduler`
/// fields, each with diffusers' default when absent. `eta` is not part of it: as in diffusers it
/// is given at sampling time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdimConfig {
    /// T, the number of training timesteps (default 1000).
    #[serde(default = "d_num_train_timesteps")]
    pub num_train_timesteps: usize,
    /// First β of the schedule (default 0.0001).
    #[serde(default = "d_beta_start")]
    pub beta_start: f64,
    /// Last β of the schedule (default 0.02).
    #[serde(default = "d_beta_end")]
    pub beta_end: f64,
    /// Shape of the β curve (default `linear`).
    #[serde(default)]
    pub beta_schedule: BetaSchedule,
    /// Explicit betas, overriding the three fields above (default none).
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
    /// Clamp the predicted x0 to ±`clip_sample_range` (default true).
    #[serde(default = "d_true")]
    pub clip_sample: bool,
    /// Bound for `clip_sample` (default 1.0).
    #[serde(default = "d_clip_sample_range")]
    pub clip_sample_range: f64,
    /// The ᾱ used after the last step: 1 (true, default) or ᾱ_0 (false).
    #[serde(default = "d_true")]
    pub set_alpha_to_one: bool,
    /// Added to `leading` timesteps (default 0).
    #[serde(default)]
    pub steps_offset: usize,
    /// What the model predicts (default `epsilon`).
    #[serde(default)]
    pub prediction_type: PredictionType,
    /// How inference timesteps are spaced (default `leading`).
    #[serde(default)]
    pub timestep_spacing: TimestepSpacing,
    /// Dynamic thresholding (Imagen); not implemented, must be false.
    #[serde(default)]
    pub thresholding: bool,
    /// Rescale betas to zero terminal SNR (Lin et al. 2023), so ᾱ_{T−1} = 0 (default false).
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
}

impl Default for DdpmConfig {
    fn default() -> Self {
        serde_defaults()
    }
}

impl Default for DdimConfig {
    fn default() -> Self {
        serde_defaults()
    }
}

/// Like diffusers' `DDIMScheduler.from_config(ddpm.config)`: shared fields carry over,
/// `set_alpha_to_one` takes its default.
impl From<&DdpmConfig> for DdimConfig {
    fn from(c: &DdpmConfig) -> Self {
        DdimConfig {
            num_train_timesteps: c.num_train_timesteps,
            beta_start: c.beta_start,
            beta_end: c.beta_end,
            beta_schedule: c.beta_schedule,
            trained_betas: c.trained_betas.clone(),
            clip_sample: c.clip_sample,
            clip_sample_range: c.clip_sample_range,
            set_alpha_to_one: true,
            steps_offset: c.steps_offset,
            prediction_type: c.prediction_type,
            timestep_spacing: c.timestep_spacing,
            thresholding: c.thresholding,
            rescale_betas_zero_snr: c.rescale_betas_zero_snr,
        }
    }
}

/// Like diffusers' `DDPMScheduler.from_config(ddim.config)`: shared fields carry over,
/// `variance_type` takes its default (`fixed_small`).
impl From<&DdimConfig> for DdpmConfig {
    fn from(c: &DdimConfig) -> Self {
        DdpmConfig {
            num_train_timesteps: c.num_train_timesteps,
            beta_start: c.beta_start,
            beta_end: c.beta_end,
            beta_schedule: c.beta_schedule,
            trained_betas: c.trained_betas.clone(),
            variance_type: VarianceType::default(),
            clip_sample: c.clip_sample,
            clip_sample_range: c.clip_sample_range,
            prediction_type: c.prediction_type,
            timestep_spacing: c.timestep_spacing,
            steps_offset: c.steps_offset,
            thresholding: c.thresholding,
            rescale_betas_zero_snr: c.rescale_betas_zero_snr,
        }
    }
}

impl DdpmConfig {
    /// Validate the fields DDPM and DDIM share and build the noise schedule (betas and ᾱ).
    pub(crate) fn schedule(&self) -> Result<NoiseSchedule> {
        if self.thresholding {
            return Err(Error::invalid(
                "thresholding = true (dynamic thresholding) is not supported; set it to false",
            ));
        }
        if self.num_train_timesteps == 0 {
            return Err(Error::invalid("num_train_timesteps must be at least 1"));
        }
        if self.clip_sample && !(self.clip_sample_range > 0.0 && self.clip_sample_range.is_finite())
        {
            return Err(Error::invalid(format!(
                "clip_sample_range must be a positive number, got {}",
                self.clip_sample_range
            )));
        }
        build_schedule(
            self.num_train_timesteps,
            self.beta_start,
            self.beta_end,
            self.beta_schedule,
            self.trained_betas.as_deref(),
            self.rescale_betas_zero_snr,
        )
    }
}

/// The training schedule from diffusers' beta fields, rescaled to zero terminal SNR if asked.
pub(crate) fn build_schedule(
    num_train_timesteps: usize,
    beta_start: f64,
    beta_end: f64,
    beta_schedule: BetaSchedule,
    trained_betas: Option<&[f64]>,
    rescale_betas_zero_snr: bool,
) -> Result<NoiseSchedule> {
    if num_train_timesteps == 0 {
        return Err(Error::invalid("num_train_timesteps must be at least 1"));
    }
    let schedule = match trained_betas {
        Some(b) => {
            if b.len() != num_train_timesteps {
                return Err(Error::invalid(format!(
                    "trained_betas has {} values but num_train_timesteps is {num_train_timesteps}",
                    b.len(),
                )));
            }
            NoiseSchedule::from_betas(b.to_vec())
                .map_err(|e| Error::invalid(format!("trained_betas: {e}")))?
        }
        None => NoiseSchedule::new(num_train_timesteps, beta_schedule, beta_start, beta_end)?,
    };
    if rescale_betas_zero_snr {
        schedule.rescaled_to_zero_terminal_snr()
    } else {
        Ok(schedule)
    }
}

/// diffusers' beta fields shared by every scheduler config (flattened into each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BetaConfig {
    /// T, the number of training timesteps (default 1000).
    #[serde(default = "d_num_train_timesteps")]
    pub num_train_timesteps: usize,
    /// First β of the schedule (default 0.0001).
    #[serde(default = "d_beta_start")]
    pub beta_start: f64,
    /// Last β of the schedule (default 0.02).
    #[serde(default = "d_beta_end")]
    pub beta_end: f64,
    /// Shape of the β curve (default `linear`).
    #[serde(default)]
    pub beta_schedule: BetaSchedule,
    /// Explicit betas, overriding the three fields above (default none).
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
}

impl Default for BetaConfig {
    fn default() -> Self {
        serde_defaults()
    }
}

impl BetaConfig {
    /// The training schedule, rescaled to zero terminal SNR when `rescale` is set.
    pub fn schedule(&self, rescale: bool) -> Result<NoiseSchedule> {
        build_schedule(
            self.num_train_timesteps,
            self.beta_start,
            self.beta_end,
            self.beta_schedule,
            self.trained_betas.as_deref(),
            rescale,
        )
    }
}

/// Read a boolean that diffusers may write as `null` (`use_karras_sigmas: bool | None`): null is
/// false.
pub(crate) fn null_false<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// Write a float, ±∞ as the strings `"-inf"` / `"inf"` (JSON has no infinities).
pub(crate) fn f64_or_inf_out<S: serde::Serializer>(
    v: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match *v {
        f64::NEG_INFINITY => s.serialize_str("-inf"),
        f64::INFINITY => s.serialize_str("inf"),
        v => s.serialize_f64(v),
    }
}

/// Read a float that may be written as a string (`null` is −∞, as diffusers' default): diffusers' JSON writes ±∞ as the bare tokens
/// `-Infinity` / `Infinity` (which difflab's reader turns into strings), and some tools write
/// `"-inf"` / `"inf"`.
pub(crate) fn f64_or_inf<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(f64),
        S(String),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(f64::NEG_INFINITY),
        Some(Num::N(v)) => Ok(v),
        Some(Num::S(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            "inf" | "infinity" | "+inf" => Ok(f64::INFINITY),
            other => other
                .parse::<f64>()
                .ok()
                .filter(|v| !v.is_nan())
                .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a number"))),
        },
    }
}

/// A scheduler config that is read from and written to a diffusers `scheduler_config.json`
/// (see the module doc for what is accepted).
pub trait ConfigFile: Serialize + DeserializeOwned {
    /// diffusers' class name, written as `_class_name`.
    const CLASS_NAME: &'static str;

    /// Read a `scheduler_config.json`; every error names the file.
    fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        parse_config(path, &read_json(path)?)
    }
    /// Parse the text of a `scheduler_config.json`; `path` only names the source in errors.
    fn from_json_str(path: impl AsRef<Path>, text: &str) -> Result<Self> {
        let path = path.as_ref();
        parse_config(path, &parse_json(path, text)?)
    }
    /// Write as a `scheduler_config.json` with `_class_name` = [`CLASS_NAME`](Self::CLASS_NAME),
    /// atomically.
    fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_config(path.as_ref(), Self::CLASS_NAME, self)
    }
}

impl ConfigFile for DdpmConfig {
    const CLASS_NAME: &'static str = "DDPMScheduler";
}

impl ConfigFile for DdimConfig {
    const CLASS_NAME: &'static str = "DDIMScheduler";
}

/// Load the config at `path` and build from it with `new`; every error names the file.
pub(crate) fn build_from_file<C: ConfigFile, S>(
    path: &Path,
    new: impl FnOnce(C) -> Result<S>,
) -> Result<S> {
    new(C::load(path)?).map_err(|e| Error::file(path, e.to_string()))
}

/// A config with every field at its serde default (diffusers' defaults): what an empty
/// `scheduler_config.json` gives.
pub(crate) fn serde_defaults<T: DeserializeOwned>() -> T {
    serde_json::from_value(Value::Object(Default::default())).expect("every field has a default")
}

/// Read and parse a JSON file into a value, with errors naming the file.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_json(path, &text)
}

pub(crate) fn parse_json(path: &Path, text: &str) -> Result<Value> {
    // Python's json writes ±∞ and NaN as bare tokens that strict JSON lacks; read them as strings.
    let v: Value = serde_json::from_str(text)
        .or_else(|e| serde_json::from_str(&quote_non_finite(text)).map_err(|_| e))
        .map_err(|e| Error::file(path, format!("not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::file(
            path,
            "a scheduler config must be a JSON object",
        ));
    }
    Ok(v)
}

/// `text` with the bare tokens `-Infinity`, `Infinity` and `NaN` outside strings quoted.
fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_str, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            in_str = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_str = true;
        } else if let Some(tok) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            out.push('"');
            out.push_str(tok);
            out.push('"');
            rest = &rest[tok.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The `_class_name` of a parsed config, if any.
pub(crate) fn class_name(v: &Value) -> Option<&str> {
    v.get("_class_name").and_then(Value::as_str)
}

/// Deserialize a config struct from a JSON object. On failure, each key is tried alone so that
/// the error names the offending field (serde_json alone reports only a line and column).
pub(crate) fn parse_config<T: DeserializeOwned>(path: &Path, v: &Value) -> Result<T> {
    match serde_json::from_value::<T>(v.clone()) {
        Ok(c) => Ok(c),
        Err(whole) => {
            if let Some(map) = v.as_object() {
                for (k, val) in map {
                    let single = Value::Object([(k.clone(), val.clone())].into_iter().collect());
                    if let Err(e) = serde_json::from_value::<T>(single) {
                        return Err(Error::file(path, format!("field `{k}`: {e}")));
                    }
                }
            }
            Err(Error::file(path, whole.to_string()))
        }
    }
}

pub(crate) fn save_config<T: Serialize>(path: &Path, class: &str, cfg: &T) -> Result<()> {
    let mut v = serde_json::to_value(cfg).map_err(|e| Error::invalid(e.to_string()))?;
    if let Value::Object(map) = &mut v {
        map.insert("_class_name".into(), Value::String(class.into()));
    }
    let mut text = serde_json::to_string_pretty(&v).map_err(|e| Error::invalid(e.to_string()))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
