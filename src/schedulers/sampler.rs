//! The interface every scheduler offers a sampling loop, keyed by the loop index k.
//!
//! [`Scheduler`](super::Scheduler) is keyed by the integer training timestep t, which cannot
//! express PNDM (its timesteps repeat), the multistep solvers (their step depends on the steps
//! before it) or the Euler schedulers (float timesteps, samples scaled by σ). [`Sampler`] is
//! keyed by k = 0 … [`num_steps`](Sampler::num_steps)−1 instead, and a loop drives every
//! scheduler the same way:
//!
//! ```text
//! sampler.set_timesteps(n)?                       (also resets any multistep state)
//! sampler.set_item_len(h·w·c)                     (only dynamic thresholding needs it)
//! x ← randn · sampler.init_noise_sigma()          (1 except for the Euler schedulers)
//! for k in 0..sampler.num_steps():
//!     x_in ← x;  sampler.scale_model_input(k, &mut x_in)?     (x/√(σ_k²+1) for Euler)
//!     out  ← model(x_in, sampler.timesteps()[k])               (a float: Euler's are fractional)
//!     z    ← if sampler.noise_needed(k)? { Some(one N(0,1) per element) } else { None }
//!     x, x̂0 ← sampler.step(k, out, x, z)?
//! return x
//! ```
//!
//! Steps must run in order: `step(k)` follows `step(k−1)`. Two exceptions keep RePaint-style
//! loops simple: `step(k)` may be **repeated** (the state goes back to what it was before the
//! first `step(k)`, so a resampling loop can redo a step from a re-noised sample), and
//! `step(0)` always **restarts** (as [`reset`](Sampler::reset)). Anything else is an error.
//!
//! **Noise levels.** Where a sample stands is a [`NoiseLevel`]: x = s·(√ᾱ·x0 + √(1−ᾱ)·ε), with
//! s = 1 for the variance-preserving schedulers (DDPM, DDIM, PNDM, DPM-Solver++, UniPC) and
//! s = √(1+σ²) = 1/√ᾱ for the Euler schedulers, whose samples are x0 + σ·ε.
//! [`level_before`](Sampler::level_before)(k) is the level the model is told at step k,
//! [`level_after`](Sampler::level_after)(k) the level step k lands on (ᾱ = 1 for a clean
//! sample). Inpainting noises the known region to `level_after(k)` with
//! [`NoiseLevel::add_noise`], and RePaint goes back up with [`NoiseLevel::renoise`].
//!
//! Samples are flat `f32` slices in any layout (every operation is elementwise, except dynamic
//! thresholding, which works per item of `set_item_len` values: a batch's items must be
//! contiguous, as in NHWC and NCHW).

use super::config::PredictionType;
use super::{StepIo, StepOutput};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};

/// A sampler by its short name, as the command line offers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum SamplerKind {
    /// DDPM ancestral sampling (`DDPMScheduler`).
    #[value(name = "ddpm")]
    Ddpm,
    /// DDIM (`DDIMScheduler`), deterministic unless `eta` > 0.
    #[value(name = "ddim")]
    Ddim,
    /// DPM-Solver++ multistep, an ODE solver (`DPMSolverMultistepScheduler`, `dpmsolver++`).
    #[value(name = "dpm++")]
    DpmSolver,
    /// SDE-DPM-Solver++ multistep (`DPMSolverMultistepScheduler`, `sde-dpmsolver++`).
    #[value(name = "dpm++-sde")]
    DpmSolverSde,
    /// UniPC multistep predictor-corrector (`UniPCMultistepScheduler`).
    #[value(name = "unipc")]
    UniPc,
    /// Euler's method on the probability-flow ODE in σ (`EulerDiscreteScheduler`).
    #[value(name = "euler")]
    Euler,
    /// Euler ancestral: an Euler step down to σ_down, then fresh noise up to σ_{k+1}
    /// (`EulerAncestralDiscreteScheduler`).
    #[value(name = "euler-a")]
    EulerAncestral,
    /// Pseudo numerical methods (`PNDMScheduler`): PLMS, with Runge-Kutta warm-up steps unless
    /// `skip_prk_steps`.
    #[value(name = "pndm")]
    Pndm,
}

impl SamplerKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [SamplerKind; 8] = [
        SamplerKind::Ddpm,
        SamplerKind::Ddim,
        SamplerKind::DpmSolver,
        SamplerKind::DpmSolverSde,
        SamplerKind::UniPc,
        SamplerKind::Euler,
        SamplerKind::EulerAncestral,
        SamplerKind::Pndm,
    ];

    /// The short name: `ddpm`, `ddim`, `dpm++`, `dpm++-sde`, `unipc`, `euler`, `euler-a`, `pndm`.
    pub fn name(&self) -> &'static str {
        match self {
            SamplerKind::Ddpm => "ddpm",
            SamplerKind::Ddim => "ddim",
            SamplerKind::DpmSolver => "dpm++",
            SamplerKind::DpmSolverSde => "dpm++-sde",
            SamplerKind::UniPc => "unipc",
            SamplerKind::Euler => "euler",
            SamplerKind::EulerAncestral => "euler-a",
            SamplerKind::Pndm => "pndm",
        }
    }

    /// diffusers' class name (both DPM-Solver++ kinds are `DPMSolverMultistepScheduler`).
    pub fn class_name(&self) -> &'static str {
        match self {
            SamplerKind::Ddpm => "DDPMScheduler",
            SamplerKind::Ddim => "DDIMScheduler",
            SamplerKind::DpmSolver | SamplerKind::DpmSolverSde => "DPMSolverMultistepScheduler",
            SamplerKind::UniPc => "UniPCMultistepScheduler",
            SamplerKind::Euler => "EulerDiscreteScheduler",
            SamplerKind::EulerAncestral => "EulerAncestralDiscreteScheduler",
            SamplerKind::Pndm => "PNDMScheduler",
        }
    }

    /// Parse a short name or a diffusers class name (any case).
    pub fn parse(name: &str) -> Result<Self> {
        let lower = name.to_ascii_lowercase();
        SamplerKind::ALL
            .into_iter()
            .find(|k| k.name() == lower || k.class_name().to_ascii_lowercase() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = SamplerKind::ALL.iter().map(|k| k.name()).collect();
                Error::invalid(format!(
                    "unknown sampler '{name}' (expected one of {})",
                    names.join(", ")
                ))
            })
    }

    /// Whether its steps add fresh noise (and so need [`Sampler::noise_needed`] noise).
    pub fn is_stochastic(&self) -> bool {
        matches!(
            self,
            SamplerKind::Ddpm | SamplerKind::DpmSolverSde | SamplerKind::EulerAncestral
        )
    }
}

/// Where a sample stands on the noise schedule: x = `scale`·(√ᾱ·x0 + √(1−ᾱ)·ε).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseLevel {
    /// ᾱ, the share of the clean signal's variance (1 = clean, 0 = pure noise).
    pub alpha_bar: f64,
    /// s: 1 for variance-preserving samples, √(1+σ²) for the Euler schedulers' x0 + σ·ε.
    pub scale: f64,
}

impl NoiseLevel {
    /// A variance-preserving level (scale 1).
    pub fn vp(alpha_bar: f64) -> Self {
        NoiseLevel {
            alpha_bar,
            scale: 1.0,
        }
    }
    /// The level of a sample x0 + σ·ε (the Euler schedulers): ᾱ = 1/(1+σ²), s = √(1+σ²).
    pub fn from_sigma(sigma: f64) -> Self {
        let v = 1.0 + sigma * sigma;
        NoiseLevel {
            alpha_bar: 1.0 / v,
            scale: v.sqrt(),
        }
    }
    /// σ = √((1−ᾱ)/ᾱ), the noise-to-signal ratio (∞ at ᾱ = 0).
    pub fn sigma(&self) -> f64 {
        ((1.0 - self.alpha_bar) / self.alpha_bar).sqrt()
    }
    /// out = s·(√ᾱ·x0 + √(1−ᾱ)·ε): a clean sample noised to this level. All slices have the
    /// same length.
    pub fn add_noise(&self, x0: &[f32], eps: &[f32], out: &mut [f32]) {
        let a = (self.scale * self.alpha_bar.sqrt()) as f32;
        let b = (self.scale * (1.0 - self.alpha_bar).max(0.0).sqrt()) as f32;
        for ((o, &x), &e) in out.iter_mut().zip(x0).zip(eps) {
            *o = a * x + b * e;
        }
    }
    /// out = a sample at the noisier level `self` drawn from q(x_self | x_from) given `x` at
    /// level `from`: in variance-preserving terms x' = √(ᾱ/ᾱ_from)·x + √(1−ᾱ/ᾱ_from)·z
    /// (RePaint's resampling). Errors if `self` is less noisy than `from`.
    pub fn renoise(&self, from: NoiseLevel, x: &[f32], z: &[f32], out: &mut [f32]) -> Result<()> {
        let ratio = self.alpha_bar / from.alpha_bar;
        if ratio > 1.0 + 1e-12 {
            return Err(Error::invalid(format!(
                "renoise: the target level (ᾱ = {}) is less noisy than the sample's (ᾱ = {})",
                self.alpha_bar, from.alpha_bar
            )));
        }
        let a = (self.scale * ratio.sqrt() / from.scale) as f32;
        let b = (self.scale * (1.0 - ratio).max(0.0).sqrt()) as f32;
        for ((o, &v), &e) in out.iter_mut().zip(x).zip(z) {
            *o = a * v + b * e;
        }
        Ok(())
    }
}

/// A scheduler as a sampling loop drives it, step by step with the loop index k (see the
/// module doc for the loop and the ordering rules).
pub trait Sampler {
    /// Which sampler this is.
    fn kind(&self) -> SamplerKind;
    /// The training schedule (betas and ᾱ; for the σ schedulers before the 2⁻²⁴ lift of a
    /// zero-terminal-SNR schedule's last ᾱ).
    fn schedule(&self) -> &NoiseSchedule;
    /// T, the number of training timesteps.
    fn num_train_timesteps(&self) -> usize {
        self.schedule().num_train_timesteps()
    }
    /// ᾱ_t of the training schedule for t = 0 … T−1, as the scheduler uses it (after zero-SNR
    /// rescaling, where diffusers also lifts the last ᾱ from 0 to 2⁻²⁴ for the σ schedulers).
    fn alphas_cumprod(&self) -> &[f64];
    /// What the model is expected to predict.
    fn prediction_type(&self) -> PredictionType;
    /// Prepare an n-step loop (the config's `timestep_spacing`); resets the multistep state.
    /// Errors if n is 0, more than T, or gives repeated timesteps where the solver divides by
    /// their gap.
    fn set_timesteps(&mut self, num_inference_steps: usize) -> Result<()>;
    /// The value handed to the model at each loop index (diffusers' `timesteps`). Its length
    /// is [`num_steps`](Sampler::num_steps): n, except for PNDM (n + 1, or n + 9 with the
    /// Runge-Kutta warm-up). Before [`set_timesteps`](Sampler::set_timesteps): all T training
    /// timesteps for DDPM and DDIM (as their [`Scheduler`](super::Scheduler)s), none for the
    /// others.
    fn timesteps(&self) -> &[f64];
    /// The number of loop steps, `timesteps().len()`.
    fn num_steps(&self) -> usize {
        self.timesteps().len()
    }
    /// σ_k for k = 0 … num_steps (the last one the final σ) for the schedulers that work in σ
    /// (DPM-Solver++, UniPC, Euler, Euler ancestral); `None` for the others.
    fn sigmas(&self) -> Option<&[f64]> {
        None
    }
    /// The standard deviation of the starting noise: x_T = randn · init_noise_sigma.
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }
    /// The factor the model's input is scaled by at step k (1 except for the Euler schedulers).
    fn input_scale(&self, k: usize) -> Result<f64> {
        self.check_index(k)?;
        Ok(1.0)
    }
    /// diffusers' `scale_model_input`: multiply `sample` in place by
    /// [`input_scale`](Sampler::input_scale)(k).
    fn scale_model_input(&self, k: usize, sample: &mut [f32]) -> Result<()> {
        let c = self.input_scale(k)?;
        if c != 1.0 {
            // Divide, as diffusers does (x / √(σ²+1)), to match it to the last bit.
            let d = (1.0 / c) as f32;
            sample.iter_mut().for_each(|v| *v /= d);
        }
        Ok(())
    }
    /// Whether step k adds fresh noise, and so needs a `noise` slice (by default never).
    fn noise_needed(&self, k: usize) -> Result<bool> {
        self.check_index(k)?;
        Ok(false)
    }
    /// The level of the sample the model sees at step k.
    fn level_before(&self, k: usize) -> Result<NoiseLevel>;
    /// The level step k lands on (ᾱ = 1 once the sample is clean).
    fn level_after(&self, k: usize) -> Result<NoiseLevel>;
    /// Elements per batch item; only dynamic thresholding (its quantile is per image) uses it,
    /// and its steps fail until it is set. Any batch size whose items have this length works.
    fn set_item_len(&mut self, _len: usize) {}
    /// Forget the multistep state (the next step must be step 0).
    fn reset(&mut self);
    /// Step k from `io.sample` (x at [`level_before`](Sampler::level_before)(k)) with the
    /// model's output for the scaled input, writing x at `level_after(k)` into
    /// `io.prev_sample` and the clean-sample estimate into `io.pred_original_sample` (see
    /// [`StepIo`]). `io.noise` is required when [`noise_needed`](Sampler::noise_needed) says so
    /// and ignored otherwise.
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()>;
    /// [`step_io`](Sampler::step_io), returning fresh buffers.
    fn step(
        &mut self,
        k: usize,
        model_output: &[f32],
        sample: &[f32],
        noise: Option<&[f32]>,
    ) -> Result<StepOutput> {
        StepIo::fresh(model_output, sample, noise, |io| self.step_io(k, io))
    }
    /// An error unless k is a loop index of the current timesteps.
    fn check_index(&self, k: usize) -> Result<()> {
        let n = self.num_steps();
        if k < n {
            Ok(())
        } else if n == 0 {
            Err(Error::invalid(format!(
                "{}: call set_timesteps before stepping",
                self.kind().name()
            )))
        } else {
            Err(Error::invalid(format!(
                "{}: loop index {k} is outside 0..{n}",
                self.kind().name()
            )))
        }
    }
}

/// Check step k's arguments for `s`: a valid loop index, slices of equal length, noise where
/// the step adds some. Returns the noise the step adds (`None` when it adds none).
pub(crate) fn check_step<'a, S: Sampler + ?Sized>(
    s: &S,
    k: usize,
    io: &StepIo<'a>,
) -> Result<Option<&'a [f32]>> {
    io.check(s.kind().name(), s.noise_needed(k)?)
}

/// The ordering of a multistep sampler's state (see the module doc): which step comes next,
/// and the state as it was before the latest step, so that step can be repeated.
#[derive(Clone, Debug, Default)]
pub(crate) struct StepOrder<S> {
    next: usize,
    state: S,
    before_last: Option<S>,
}

impl<S: Clone + Default> StepOrder<S> {
    /// Take out the state to run step `k` on: the current one for the next step, the saved
    /// one for a repeat of the latest step, a fresh one for step 0. Errors for any other `k`.
    /// Hand the state after the step back with [`end`](Self::end).
    pub fn begin(&mut self, who: &str, k: usize) -> Result<S> {
        if k == 0 {
            self.state = S::default();
            self.before_last = Some(S::default());
        } else if k == self.next {
            self.before_last = Some(self.state.clone());
        } else if k + 1 == self.next && self.before_last.is_some() {
            self.state = self.before_last.clone().unwrap_or_default();
        } else {
            return Err(Error::invalid(format!(
                "{who}: step {k} out of order (the next step is {}; steps run in order, a step \
                 may be repeated, and step 0 restarts)",
                self.next
            )));
        }
        self.next = k + 1;
        Ok(std::mem::take(&mut self.state))
    }
    /// Store the state after the step that [`begin`](Self::begin) started.
    pub fn end(&mut self, state: S) {
        self.state = state;
    }
    /// Back to before step 0.
    pub fn reset(&mut self) {
        *self = StepOrder::default();
    }
}
