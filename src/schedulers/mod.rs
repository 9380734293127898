//! Schedulers with diffusers' semantics, pure math: DDPM, DDIM, DPM-Solver++ (and its SDE
//! variant), UniPC, Euler, Euler ancestral and PNDM.
//!
//! A scheduler knows the noise schedule and how to walk it backwards; it holds no model. Two
//! interfaces drive them:
//!
//! - [`Sampler`] (see [`sampler`] for the loop), keyed by the loop index k, fits every
//!   scheduler: multistep state, PNDM's repeated timesteps, the Euler schedulers' float
//!   timesteps, σ-scaled samples and `scale_model_input`. [`AnySampler`] builds any of them
//!   from a diffusers `scheduler_config.json` (dispatching on `_class_name`) or from a short
//!   name ([`SamplerKind`]: `ddpm`, `ddim`, `dpm++`, `dpm++-sde`, `unipc`, `euler`, `euler-a`,
//!   `pndm`) plus a model's config.
//! - [`Scheduler`], keyed by the integer timestep t, is DDPM's and DDIM's original interface
//!   (the sampling loop in [`crate::pipelines::sample`] asks the model for its prediction at
//!   x_t and hands it to [`Scheduler::step`], which returns x_{t_prev} and x̂0); [`Indexed`]
//!   adapts it to [`Sampler`].
//!
//! Samples are flat `f32` slices: every operation is elementwise (except per-item dynamic
//! thresholding), so any layout (NHWC or NCHW) and any batch size work, as long as
//! `model_output`, `sample` and `noise` share it. Coefficients are computed in f64 and applied
//! in f32. diffusers forms DDPM's in f32, where 1 − ᾱ_t/ᾱ_prev loses about three digits when
//! the interval is one step (β ≈ 1e-4); against its fixtures difflab's DDPM/DDIM trajectories
//! differ by at most 5.4e-5 (T = 200, all 200 steps, no clipping), and by under 1e-5 in the
//! other loops. Every other sampler's whole loops match diffusers' to under 1e-6 of the
//! tensor's scale (`tests/sampler_parity.rs`).

pub mod any;
pub mod config;
pub mod ddim;
pub mod ddpm;
pub mod dpm;
pub mod euler;
pub mod indexed;
pub mod multistep;
pub mod pndm;
mod respaced;
pub mod sampler;
mod sigmas;
pub mod step_io;
pub mod timesteps;
pub mod unipc;

pub use any::AnySampler;
pub use config::BetaConfig;
pub use config::{
    ConfigFile, DdimConfig, DdpmConfig, PredictionType, TimestepSpacing, VarianceType,
};
pub use ddim::DdimScheduler;
pub use ddpm::DdpmScheduler;
pub use dpm::{DpmAlgorithm, DpmSolverConfig, DpmSolverScheduler, DpmSolverType};
pub use euler::{EulerAncestralConfig, EulerConfig, EulerScheduler, EulerVariant, TimestepType};
pub use indexed::Indexed;
pub use multistep::MultistepConfig;
pub use pndm::{PndmConfig, PndmScheduler};
pub use sampler::{NoiseLevel, Sampler, SamplerKind};
pub use sigmas::{FinalSigmas, FlowMatching, SigmaLadder, ThresholdConfig};
pub use step_io::{StepIo, StepOutput};
pub use timesteps::spaced_timesteps;
pub use unipc::{UniPcConfig, UniPcScheduler, UniPcSolverType};

use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use std::path::Path;

/// Which sampler: DDPM (stochastic, Ho et al. 2020) or DDIM (Song et al. 2021, `eta` 0 is
/// deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchedulerKind {
    /// DDPM ancestral sampling.
    Ddpm,
    /// DDIM sampling.
    Ddim,
}

impl SchedulerKind {
    /// Parse `ddpm` / `ddim` (any case) or diffusers' class names `DDPMScheduler` / `DDIMScheduler`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "ddpm" | "ddpmscheduler" => Ok(SchedulerKind::Ddpm),
            "ddim" | "ddimscheduler" => Ok(SchedulerKind::Ddim),
            _ => Err(Error::invalid(format!(
                "unknown sampler '{name}' (expected ddpm or ddim)"
            ))),
        }
    }
    /// `ddpm` or `ddim`.
    pub fn name(&self) -> &'static str {
        match self {
            SchedulerKind::Ddpm => "ddpm",
            SchedulerKind::Ddim => "ddim",
        }
    }
    /// diffusers' class name: `DDPMScheduler` or `DDIMScheduler`.
    pub fn class_name(&self) -> &'static str {
        match self {
            SchedulerKind::Ddpm => "DDPMScheduler",
            SchedulerKind::Ddim => "DDIMScheduler",
        }
    }
}

/// What every scheduler offers to a sampling loop.
pub trait Scheduler {
    /// Which sampler this is.
    fn kind(&self) -> SchedulerKind;
    /// The noise schedule (betas, ᾱ) over the T training timesteps.
    fn schedule(&self) -> &NoiseSchedule;
    /// T, the number of training timesteps.
    fn num_train_timesteps(&self) -> usize {
        self.schedule().num_train_timesteps()
    }
    /// Choose `num_inference_steps` timesteps per the config's `timestep_spacing` (the respaced
    /// schedule, as diffusers). Errors if it is 0 or more than T.
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()>;
    /// The timesteps the loop visits, in order (descending). All T of them until
    /// [`set_timesteps`](Scheduler::set_timesteps) is called.
    fn timesteps(&self) -> &[usize];
    /// The timestep a step from `t` lands on; `None` after the last step (the clean sample, or
    /// for DDIM without `set_alpha_to_one`, the noise level ᾱ_0).
    fn prev_timestep(&self, t: usize) -> Result<Option<usize>>;
    /// ᾱ after the last step: 1 (the clean sample), or for DDIM without `set_alpha_to_one` ᾱ_0.
    fn final_alpha_bar(&self) -> f64 {
        1.0
    }
    /// Whether [`step`](Scheduler::step) at `t` adds noise, and so needs a `noise` slice.
    fn noise_needed(&self, t: usize) -> Result<bool>;
    /// One reverse step from `io.sample` = x_t, writing x_{t_prev} into `io.prev_sample` and
    /// x̂0 into `io.pred_original_sample` (see [`StepIo`]). `io.noise` is required when
    /// [`noise_needed`](Scheduler::noise_needed) says so and ignored otherwise.
    fn step_io(&self, t: usize, io: StepIo<'_>) -> Result<()>;
    /// [`step_io`](Scheduler::step_io) on separate slices, all of the same length.
    fn step_into(
        &self,
        model_output: &[f32],
        t: usize,
        sample: &[f32],
        noise: Option<&[f32]>,
        prev_sample: &mut [f32],
        pred_original_sample: &mut [f32],
    ) -> Result<()> {
        let io = StepIo::new(
            model_output,
            sample,
            noise,
            prev_sample,
            pred_original_sample,
        );
        self.step_io(t, io)
    }
    /// One reverse step, returning x_{t_prev} and x̂0 (see [`step_io`](Scheduler::step_io)).
    fn step(
        &self,
        model_output: &[f32],
        t: usize,
        sample: &[f32],
        noise: Option<&[f32]>,
    ) -> Result<StepOutput> {
        StepIo::fresh(model_output, sample, noise, |io| self.step_io(t, io))
    }
    /// One reverse step whose noise, if needed, is drawn from `rng` (one N(0,1) value per
    /// element, in slice order). Draws nothing when no noise is needed.
    fn step_with_rng(
        &self,
        model_output: &[f32],
        t: usize,
        sample: &[f32],
        rng: &mut crate::util::rng::Rng,
    ) -> Result<StepOutput> {
        let noise = if self.noise_needed(t)? {
            Some(rng.normal_vec(sample.len()))
        } else {
            None
        };
        self.step(model_output, t, sample, noise.as_deref())
    }
}

/// Either scheduler behind one type, for code that picks the sampler at run time.
#[derive(Clone, Debug)]
pub enum AnyScheduler {
    /// A DDPM scheduler.
    Ddpm(DdpmScheduler),
    /// A DDIM scheduler.
    Ddim(DdimScheduler),
}

impl AnyScheduler {
    /// A scheduler of `kind` from a DDPM config (for DDIM, shared fields carry over as with
    /// diffusers' `DDIMScheduler.from_config`, and `set_alpha_to_one` is true).
    pub fn new(kind: SchedulerKind, config: &DdpmConfig) -> Result<Self> {
        Ok(match kind {
            SchedulerKind::Ddpm => AnyScheduler::Ddpm(DdpmScheduler::new(config.clone())?),
            SchedulerKind::Ddim => AnyScheduler::Ddim(DdimScheduler::new(config.into())?),
        })
    }

    /// Load a `scheduler_config.json`. With `kind` `None` the file's `_class_name` decides
    /// (`DDPMScheduler` or `DDIMScheduler`; anything else is an error asking for a sampler);
    /// with `Some(kind)` the file is read as that scheduler's config, whatever its class, the
    /// way diffusers' `from_config` carries the shared fields across.
    pub fn from_config_file(path: impl AsRef<Path>, kind: Option<SchedulerKind>) -> Result<Self> {
        let path = path.as_ref();
        let v = config::read_json(path)?;
        let kind = match kind {
            Some(k) => k,
            None => match config::class_name(&v) {
                Some(c) => SchedulerKind::parse(c).map_err(|_| {
                    Error::file(
                        path,
                        format!("scheduler class `{c}` is not supported; choose the ddpm or ddim sampler"),
                    )
                })?,
                None => SchedulerKind::Ddpm,
            },
        };
        let built = match kind {
            SchedulerKind::Ddpm => {
                DdpmScheduler::new(config::parse_config(path, &v)?).map(AnyScheduler::Ddpm)
            }
            SchedulerKind::Ddim => {
                DdimScheduler::new(config::parse_config(path, &v)?).map(AnyScheduler::Ddim)
            }
        };
        built.map_err(|e| Error::file(path, e.to_string()))
    }

    /// Set DDIM's `eta` (0 = deterministic, 1 = DDPM-like variance). For DDPM only 0 is
    /// accepted: its variance is fixed by `variance_type`.
    pub fn set_eta(&mut self, eta: f32) -> Result<()> {
        match self {
            AnyScheduler::Ddim(s) => s.set_eta(eta),
            AnyScheduler::Ddpm(_) if eta == 0.0 => Ok(()),
            AnyScheduler::Ddpm(_) => Err(Error::invalid(format!(
                "eta = {eta} applies only to the DDIM sampler (DDPM's noise is set by variance_type)"
            ))),
        }
    }

    /// DDIM: re-derive ε̂ from the clipped x̂0 at every step (see
    /// [`DdimScheduler::set_use_clipped_model_output`]). DDPM's step uses only x̂0, so this
    /// changes nothing there.
    pub fn set_use_clipped_model_output(&mut self, on: bool) {
        if let AnyScheduler::Ddim(s) = self {
            s.set_use_clipped_model_output(on);
        }
    }

    /// Write the scheduler's config as a `scheduler_config.json`, atomically.
    pub fn save_config(&self, path: impl AsRef<Path>) -> Result<()> {
        match self {
            AnyScheduler::Ddpm(s) => s.config().save(path),
            AnyScheduler::Ddim(s) => s.config().save(path),
        }
    }

    fn inner(&self) -> &dyn Scheduler {
        match self {
            AnyScheduler::Ddpm(s) => s,
            AnyScheduler::Ddim(s) => s,
        }
    }
}

impl Scheduler for AnyScheduler {
    fn kind(&self) -> SchedulerKind {
        self.inner().kind()
    }
    fn schedule(&self) -> &NoiseSchedule {
        self.inner().schedule()
    }
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()> {
        match self {
            AnyScheduler::Ddpm(s) => s.set_timesteps(num_inference_steps),
            AnyScheduler::Ddim(s) => s.set_timesteps(num_inference_steps),
        }
    }
    fn timesteps(&self) -> &[usize] {
        self.inner().timesteps()
    }
    fn prev_timestep(&self, t: usize) -> Result<Option<usize>> {
        self.inner().prev_timestep(t)
    }
    fn noise_needed(&self, t: usize) -> Result<bool> {
        self.inner().noise_needed(t)
    }
    fn step_io(&self, t: usize, io: StepIo<'_>) -> Result<()> {
        self.inner().step_io(t, io)
    }
}

/// Per-timestep factors that turn a model output into x̂0 (and ε̂), for one prediction type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Predict {
    kind: PredictionType,
    sqrt_a: f32,
    sqrt_b: f32,
    clip: Option<f32>,
}

impl Predict {
    /// Factors at a timestep with cumulative ᾱ_t = `alpha_prod_t`; `clip` bounds x̂0.
    pub fn new(kind: PredictionType, alpha_prod_t: f64, clip: Option<f64>) -> Self {
        Predict {
            kind,
            sqrt_a: alpha_prod_t.sqrt() as f32,
            sqrt_b: (1.0 - alpha_prod_t).sqrt() as f32,
            clip: clip.map(|c| c as f32),
        }
    }
    /// (x̂0 after clipping, ε̂ from the unclipped x̂0) for one element:
    /// ε: x̂0 = (x − √(1−ᾱ)·out)/√ᾱ, ε̂ = out;
    /// v: x̂0 = √ᾱ·x − √(1−ᾱ)·out, ε̂ = √ᾱ·out + √(1−ᾱ)·x;
    /// sample: x̂0 = out, ε̂ = (x − √ᾱ·out)/√(1−ᾱ).
    #[inline]
    pub fn x0_eps(&self, out: f32, x: f32) -> (f32, f32) {
        let (x0, eps) = match self.kind {
            PredictionType::Epsilon => ((x - self.sqrt_b * out) / self.sqrt_a, out),
            PredictionType::VPrediction => (
                self.sqrt_a * x - self.sqrt_b * out,
                self.sqrt_a * out + self.sqrt_b * x,
            ),
            PredictionType::Sample => (out, self.eps_from_x0(out, x)),
        };
        match self.clip {
            Some(c) => (x0.clamp(-c, c), eps),
            None => (x0, eps),
        }
    }
    /// ε̂ = (x − √ᾱ·x̂0)/√(1−ᾱ): the noise that, with `x0`, makes up `x` exactly.
    #[inline]
    pub fn eps_from_x0(&self, x0: f32, x: f32) -> f32 {
        (x - self.sqrt_a * x0) / self.sqrt_b
    }
}
