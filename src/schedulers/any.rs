//! Every sampler behind one type, built from a diffusers `scheduler_config.json` (dispatching
//! on `_class_name`) or from a short name plus a model's config (diffusers' `from_config`).

use super::config::{self, parse_config, read_json, ConfigFile, DdpmConfig, PredictionType};
use super::dpm::{DpmAlgorithm, DpmSolverConfig, DpmSolverScheduler};
use super::euler::{EulerAncestralConfig, EulerConfig, EulerScheduler, EulerVariant};
use super::indexed::Indexed;
use super::pndm::{PndmConfig, PndmScheduler};
use super::sampler::{NoiseLevel, Sampler, SamplerKind};
use super::unipc::{UniPcConfig, UniPcScheduler};
use super::{DdimScheduler, DdpmScheduler, StepIo};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// Any of difflab's samplers, for code that picks one at run time.
#[derive(Clone, Debug)]
pub enum AnySampler {
    /// DDPM (`DDPMScheduler`).
    Ddpm(Indexed<DdpmScheduler>),
    /// DDIM (`DDIMScheduler`).
    Ddim(Indexed<DdimScheduler>),
    /// DPM-Solver++ or SDE-DPM-Solver++ (`DPMSolverMultistepScheduler`).
    DpmSolver(DpmSolverScheduler),
    /// UniPC (`UniPCMultistepScheduler`).
    UniPc(UniPcScheduler),
    /// Euler or Euler ancestral (`EulerDiscreteScheduler`, `EulerAncestralDiscreteScheduler`).
    Euler(EulerScheduler),
    /// PNDM (`PNDMScheduler`).
    Pndm(PndmScheduler),
}

/// `$body` with `$s` bound to the sampler inside `$any` (an `AnySampler`, borrowed either way),
/// whichever variant it is.
macro_rules! each_variant {
    ($any:expr, $s:ident => $body:expr) => {
        match $any {
            AnySampler::Ddpm($s) => $body,
            AnySampler::Ddim($s) => $body,
            AnySampler::DpmSolver($s) => $body,
            AnySampler::UniPc($s) => $body,
            AnySampler::Euler($s) => $body,
            AnySampler::Pndm($s) => $body,
        }
    };
}

impl AnySampler {
    /// Load a `scheduler_config.json`. With `kind` `None` the file's `_class_name` decides (no
    /// `_class_name`: DDPM); with `Some(kind)` the file is read as that sampler's config,
    /// whatever its class, the way diffusers' `from_config` carries the shared fields across
    /// (see [`from_value`](Self::from_value)). Every error names the file.
    pub fn from_config_file(path: impl AsRef<Path>, kind: Option<SamplerKind>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_value(path, &read_json(path)?, kind)
    }

    /// [`from_config_file`](Self::from_config_file) on the text of a config; `path` only names
    /// the source in errors.
    pub fn from_json_str(
        path: impl AsRef<Path>,
        text: &str,
        kind: Option<SamplerKind>,
    ) -> Result<Self> {
        let path = path.as_ref();
        Self::from_value(path, &config::parse_json(path, text)?, kind)
    }

    /// A sampler of `kind` for a model whose scheduler is described by `base` (e.g. a difflab
    /// checkpoint's DDPM config): its β schedule, prediction type and spacing carry over.
    pub fn from_ddpm_config(kind: SamplerKind, base: &DdpmConfig) -> Result<Self> {
        let mut v = serde_json::to_value(base).map_err(|e| Error::invalid(e.to_string()))?;
        if let Value::Object(m) = &mut v {
            m.insert("_class_name".into(), Value::String("DDPMScheduler".into()));
        }
        Self::from_value(Path::new("<DDPM config>"), &v, Some(kind))
    }

    /// Build from a parsed config object. For `Some(kind)` the fields the sampler shares with
    /// the file's class (by name, `timestep_spacing` included) carry over, unknown ones are
    /// ignored and missing ones take the sampler's defaults, as in diffusers' `from_config`;
    /// `dpm++` / `dpm++-sde` also set `algorithm_type`.
    pub fn from_value(path: &Path, v: &Value, kind: Option<SamplerKind>) -> Result<Self> {
        let class = config::class_name(v);
        let kind = match (kind, class) {
            (Some(k), _) => k,
            (None, None) => SamplerKind::Ddpm,
            (None, Some(c)) => class_kind(v, c).ok_or_else(|| {
                Error::file(
                    path,
                    format!(
                        "field `_class_name`: scheduler class `{c}` is not supported (difflab has \
                         DDPMScheduler, DDIMScheduler, DPMSolverMultistepScheduler, \
                         UniPCMultistepScheduler, EulerDiscreteScheduler, \
                         EulerAncestralDiscreteScheduler and PNDMScheduler)"
                    ),
                )
            })?,
        };
        build(path, v, kind).map_err(|e| match e {
            Error::File { .. } => e,
            other => Error::file(path, other.to_string()),
        })
    }

    /// Set DDIM's `eta` (0 = deterministic, 1 = DDPM-like variance). For the other samplers
    /// only 0 is accepted: their noise is part of the method.
    pub fn set_eta(&mut self, eta: f32) -> Result<()> {
        match self {
            AnySampler::Ddim(s) => s.inner_mut().set_eta(eta),
            _ if eta == 0.0 => Ok(()),
            other => Err(Error::invalid(format!(
                "eta = {eta} applies only to the DDIM sampler, not {}",
                other.kind().name()
            ))),
        }
    }

    /// DDIM: re-derive ε̂ from the clipped x̂0 (see
    /// [`DdimScheduler::set_use_clipped_model_output`]); no effect on the other samplers.
    pub fn set_use_clipped_model_output(&mut self, on: bool) {
        if let AnySampler::Ddim(s) = self {
            s.inner_mut().set_use_clipped_model_output(on);
        }
    }

    /// Write the sampler's config as a `scheduler_config.json` with its `_class_name`,
    /// atomically.
    pub fn save_config(&self, path: impl AsRef<Path>) -> Result<()> {
        match self {
            AnySampler::Ddpm(s) => s.inner().config().save(path),
            AnySampler::Ddim(s) => s.inner().config().save(path),
            AnySampler::DpmSolver(s) => s.config().save(path),
            AnySampler::UniPc(s) => s.config().save(path),
            AnySampler::Euler(s) => match s.variant() {
                EulerVariant::Plain(c) => c.save(path),
                EulerVariant::Ancestral(c) => c.save(path),
            },
            AnySampler::Pndm(s) => s.config().save(path),
        }
    }

    fn inner(&self) -> &dyn Sampler {
        each_variant!(self, s => s)
    }

    fn inner_mut(&mut self) -> &mut dyn Sampler {
        each_variant!(self, s => s)
    }
}

/// The kind a config's `_class_name` names (a DPM config's `algorithm_type` picks the variant).
fn class_kind(v: &Value, class: &str) -> Option<SamplerKind> {
    let kind = SamplerKind::ALL
        .into_iter()
        .find(|k| k.class_name().eq_ignore_ascii_case(class))?;
    let sde = v.get("algorithm_type").and_then(Value::as_str) == Some("sde-dpmsolver++");
    Some(match kind {
        SamplerKind::DpmSolver | SamplerKind::DpmSolverSde if sde => SamplerKind::DpmSolverSde,
        SamplerKind::DpmSolver | SamplerKind::DpmSolverSde => SamplerKind::DpmSolver,
        k => k,
    })
}

/// Parse `v` as the config of `kind` and build the sampler.
fn build(path: &Path, v: &Value, kind: SamplerKind) -> Result<AnySampler> {
    Ok(match kind {
        SamplerKind::Ddpm => {
            AnySampler::Ddpm(Indexed::new(DdpmScheduler::new(parse_config(path, v)?)?))
        }
        SamplerKind::Ddim => {
            AnySampler::Ddim(Indexed::new(DdimScheduler::new(parse_config(path, v)?)?))
        }
        SamplerKind::DpmSolver | SamplerKind::DpmSolverSde => {
            let mut c: DpmSolverConfig = parse_config(path, v)?;
            c.algorithm_type = match kind {
                SamplerKind::DpmSolverSde => DpmAlgorithm::SdeDpmSolverPp,
                _ => DpmAlgorithm::DpmSolverPp,
            };
            AnySampler::DpmSolver(DpmSolverScheduler::new(c)?)
        }
        SamplerKind::UniPc => {
            AnySampler::UniPc(UniPcScheduler::new(parse_config::<UniPcConfig>(path, v)?)?)
        }
        SamplerKind::Euler => {
            AnySampler::Euler(EulerScheduler::new(parse_config::<EulerConfig>(path, v)?)?)
        }
        SamplerKind::EulerAncestral => {
            AnySampler::Euler(EulerScheduler::ancestral(parse_config::<
                EulerAncestralConfig,
            >(path, v)?)?)
        }
        SamplerKind::Pndm => {
            AnySampler::Pndm(PndmScheduler::new(parse_config::<PndmConfig>(path, v)?)?)
        }
    })
}

impl Sampler for AnySampler {
    fn kind(&self) -> SamplerKind {
        self.inner().kind()
    }
    fn schedule(&self) -> &NoiseSchedule {
        self.inner().schedule()
    }
    fn alphas_cumprod(&self) -> &[f64] {
        self.inner().alphas_cumprod()
    }
    fn prediction_type(&self) -> PredictionType {
        self.inner().prediction_type()
    }
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        self.inner_mut().set_timesteps(n)
    }
    fn timesteps(&self) -> &[f64] {
        self.inner().timesteps()
    }
    fn sigmas(&self) -> Option<&[f64]> {
        self.inner().sigmas()
    }
    fn init_noise_sigma(&self) -> f64 {
        self.inner().init_noise_sigma()
    }
    fn input_scale(&self, k: usize) -> Result<f64> {
        self.inner().input_scale(k)
    }
    fn noise_needed(&self, k: usize) -> Result<bool> {
        self.inner().noise_needed(k)
    }
    fn level_before(&self, k: usize) -> Result<NoiseLevel> {
        self.inner().level_before(k)
    }
    fn level_after(&self, k: usize) -> Result<NoiseLevel> {
        self.inner().level_after(k)
    }
    fn set_item_len(&mut self, len: usize) {
        self.inner_mut().set_item_len(len)
    }
    fn reset(&mut self) {
        self.inner_mut().reset()
    }
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()> {
        self.inner_mut().step_io(k, io)
    }
}
