//! Euler and Euler ancestral sampling (Karras et al. 2022, "Elucidating the Design Space of
//! Diffusion-Based Generative Models") with diffusers' `EulerDiscreteScheduler` and
//! `EulerAncestralDiscreteScheduler` semantics.
//!
//! These schedulers work on x = x0 + σ·ε (a variance-preserving x_t times 1/√ᾱ_t), so the loop
//! starts from randn·σ_max ([`init_noise_sigma`](Sampler::init_noise_sigma)) and hands the
//! model x/√(σ²+1) ([`scale_model_input`](Sampler::scale_model_input)), the x_t it was trained
//! on. Their timesteps are floats: with `linspace` spacing they fall between training steps,
//! and σ is interpolated there.
//!
//! ```text
//! x̂0 = x − σ_k·out (ε), out·(−σ_k/√(σ_k²+1)) + x/(σ_k²+1) (v), out (sample)
//! d  = (x − x̂0)/σ_k                                   (dx/dσ of the probability-flow ODE)
//! Euler:     x ← x + d·(σ_{k+1} − σ_k)
//! ancestral: σ_up = √(σ_{k+1}²·(σ_k² − σ_{k+1}²)/σ_k²), σ_down = √(σ_{k+1}² − σ_up²),
//!            x ← x + d·(σ_down − σ_k) + σ_up·z
//! ```
//!
//! diffusers' `s_churn` noise injection for the plain Euler step is not offered (its default,
//! 0, is what difflab does).

use super::config::{d_linspace, BetaConfig, PredictionType, TimestepSpacing};
use super::sampler::{check_step, NoiseLevel, Sampler, SamplerKind};
use super::sigmas::{self, FinalSigmas, SigmaLadder, SigmaTables};
use super::timesteps::euler_timesteps;
use super::StepIo;
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// What the model is given as its timestep (diffusers' `timestep_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestepType {
    /// The (fractional) training timestep.
    #[default]
    Discrete,
    /// ¼·log σ for v-prediction models trained that way (e.g. Stable Diffusion 2 upscaler);
    /// the training timestep otherwise.
    Continuous,
}

fn d_linear() -> String {
    "linear".into()
}

/// The configuration of an [`EulerScheduler`]: diffusers' `EulerDiscreteScheduler` fields, each
/// with diffusers' default when absent. `interpolation_type = log_linear` and the σ
/// alternatives other than Karras are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EulerConfig {
    /// The fields it shares with Euler ancestral (β schedule, prediction type, spacing).
    #[serde(flatten)]
    pub shared: EulerAncestralConfig,
    /// How σ is interpolated between training steps: only `linear` (default).
    #[serde(default = "d_linear")]
    pub interpolation_type: String,
    /// Karras σ spacing (default off); the other σ ladders are refused.
    #[serde(flatten)]
    pub sigma_ladder: SigmaLadder,
    /// The smallest Karras σ (default the ladder's).
    #[serde(default)]
    pub sigma_min: Option<f64>,
    /// The largest Karras σ (default the ladder's).
    #[serde(default)]
    pub sigma_max: Option<f64>,
    /// `discrete` (default) or `continuous`.
    #[serde(default)]
    pub timestep_type: TimestepType,
    /// The σ after the last step (default `zero`).
    #[serde(default)]
    pub final_sigmas_type: FinalSigmas,
}

/// The configuration of an ancestral [`EulerScheduler`]: diffusers'
/// `EulerAncestralDiscreteScheduler` fields, each with diffusers' default when absent (also
/// the fields [`EulerConfig`] shares). `prediction_type = sample` is refused, as diffusers does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EulerAncestralConfig {
    /// The training schedule's β fields.
    #[serde(flatten)]
    pub betas: BetaConfig,
    /// Rescale betas to zero terminal SNR (default false).
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
    /// What the model predicts (default `epsilon`).
    #[serde(default)]
    pub prediction_type: PredictionType,
    /// How inference timesteps are spaced (default `linspace`).
    #[serde(default = "d_linspace")]
    pub timestep_spacing: TimestepSpacing,
    /// Added to `leading` timesteps (default 0).
    #[serde(default)]
    pub steps_offset: usize,
}

impl super::ConfigFile for EulerConfig {
    const CLASS_NAME: &'static str = "EulerDiscreteScheduler";
}

impl super::ConfigFile for EulerAncestralConfig {
    const CLASS_NAME: &'static str = "EulerAncestralDiscreteScheduler";
}

impl Default for EulerConfig {
    fn default() -> Self {
        super::config::serde_defaults()
    }
}

impl Default for EulerAncestralConfig {
    fn default() -> Self {
        super::config::serde_defaults()
    }
}

/// Either Euler config: the class a scheduler was built from.
#[derive(Clone, Debug, PartialEq)]
pub enum EulerVariant {
    /// `EulerDiscreteScheduler`.
    Plain(EulerConfig),
    /// `EulerAncestralDiscreteScheduler`.
    Ancestral(EulerAncestralConfig),
}

/// diffusers' Euler and Euler ancestral schedulers (see the module doc).
#[derive(Clone, Debug)]
pub struct EulerScheduler {
    variant: EulerVariant,
    /// The plain config's fields (an ancestral config is their `shared` part, the rest default).
    config: EulerConfig,
    tab: SigmaTables,
}

impl EulerScheduler {
    /// Plain Euler from its config; errors name the offending field.
    pub fn new(config: EulerConfig) -> Result<Self> {
        if config.interpolation_type != "linear" {
            return Err(Error::invalid(format!(
                "interpolation_type = {} is not supported (difflab interpolates σ linearly)",
                config.interpolation_type
            )));
        }
        config.sigma_ladder.check()?;
        Self::build(EulerVariant::Plain(config.clone()), config)
    }

    /// Euler ancestral from its config; errors name the offending field.
    pub fn ancestral(config: EulerAncestralConfig) -> Result<Self> {
        if config.prediction_type == PredictionType::Sample {
            return Err(Error::invalid(
                "prediction_type = sample is not supported by Euler ancestral (as in diffusers); \
                 use euler or another sampler",
            ));
        }
        let plain = EulerConfig {
            shared: config.clone(),
            ..EulerConfig::default()
        };
        Self::build(EulerVariant::Ancestral(config), plain)
    }

    fn build(variant: EulerVariant, config: EulerConfig) -> Result<Self> {
        let shared = &config.shared;
        let tab = SigmaTables::new(&shared.betas, shared.rescale_betas_zero_snr)?;
        Ok(EulerScheduler {
            variant,
            config,
            tab,
        })
    }

    /// The config it was built from.
    pub fn variant(&self) -> &EulerVariant {
        &self.variant
    }

    fn is_ancestral(&self) -> bool {
        matches!(self.variant, EulerVariant::Ancestral(_))
    }

    /// (σ_up, σ_down) of the ancestral step k (σ_up = 0, σ_down = σ_{k+1} for plain Euler).
    fn ancestral_split(&self, k: usize) -> (f64, f64) {
        let (from, to) = (self.tab.sigmas[k], self.tab.sigmas[k + 1]);
        if !self.is_ancestral() {
            return (0.0, to);
        }
        let up = (to * to * (from * from - to * to) / (from * from))
            .max(0.0)
            .sqrt();
        (up, (to * to - up * up).max(0.0).sqrt())
    }
}

impl Sampler for EulerScheduler {
    sigmas::sigma_sampler_methods!(NoiseLevel::from_sigma, tab);
    fn kind(&self) -> SamplerKind {
        match self.variant {
            EulerVariant::Plain(_) => SamplerKind::Euler,
            EulerVariant::Ancestral(_) => SamplerKind::EulerAncestral,
        }
    }
    fn prediction_type(&self) -> PredictionType {
        self.config.shared.prediction_type
    }
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let c = &self.config;
        let t_train = self.tab.alphas_cumprod.len();
        let mut ts = euler_timesteps(t_train, n, c.shared.timestep_spacing, c.shared.steps_offset)?;
        let mut sig: Vec<f64> = ts
            .iter()
            .map(|&t| sigmas::interp(t, &self.tab.train_sigmas))
            .collect();
        if c.sigma_ladder.use_karras_sigmas {
            let lo = c.sigma_min.unwrap_or(sig[sig.len() - 1]);
            let hi = c.sigma_max.unwrap_or(sig[0]);
            sig = sigmas::karras(lo, hi, n);
            let logs = sigmas::log_sigmas(&self.tab.train_sigmas);
            ts = sig
                .iter()
                .map(|&s| sigmas::sigma_to_t(s, &logs) as f32 as f64)
                .collect();
        }
        let last = self.tab.final_sigma(c.final_sigmas_type);
        self.tab.set_loop(ts, sig, last);
        if c.timestep_type == TimestepType::Continuous
            && c.shared.prediction_type == PredictionType::VPrediction
        {
            self.tab.timesteps = self.tab.sigmas[..n]
                .iter()
                .map(|s| (0.25 * s.ln()) as f32 as f64)
                .collect();
        }
        Ok(())
    }
    /// σ_max for `linspace` and `trailing` spacing, √(σ_max² + 1) for `leading` (as diffusers).
    fn init_noise_sigma(&self) -> f64 {
        let max = self.tab.sigmas.iter().copied().fold(0.0, f64::max);
        match self.config.shared.timestep_spacing {
            TimestepSpacing::Linspace | TimestepSpacing::Trailing => max,
            TimestepSpacing::Leading => (max * max + 1.0).sqrt() as f32 as f64,
        }
    }
    fn input_scale(&self, k: usize) -> Result<f64> {
        self.check_index(k)?;
        let s = self.tab.sigmas[k];
        Ok(1.0 / (s * s + 1.0).sqrt())
    }
    fn noise_needed(&self, k: usize) -> Result<bool> {
        self.check_index(k)?;
        Ok(self.ancestral_split(k).0 > 0.0)
    }
    fn reset(&mut self) {}
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()> {
        let noise = check_step(self, k, &io)?;
        let sigma = self.tab.sigmas[k];
        let (up, down) = self.ancestral_split(k);
        let s = sigma as f32;
        let c_v = (-sigma / (sigma * sigma + 1.0).sqrt()) as f32;
        let c_vx = (1.0 / (sigma * sigma + 1.0)) as f32;
        let dt = (down - sigma) as f32;
        let up = up as f32;
        let kind = self.config.shared.prediction_type;
        for i in 0..io.sample.len() {
            let (o, x) = (io.model_output[i], io.sample[i]);
            let x0 = match kind {
                PredictionType::Epsilon => x - s * o,
                PredictionType::VPrediction => o * c_v + x * c_vx,
                PredictionType::Sample => o,
            };
            io.pred_original_sample[i] = x0;
            let d = (x - x0) / s;
            let z = noise.map_or(0.0, |z| z[i]);
            io.prev_sample[i] = x + d * dt + z * up;
        }
        Ok(())
    }
}
