//! The σ view of a noise schedule that the DPM-Solver++, UniPC and Euler schedulers share.
//!
//! σ_t = √((1−ᾱ_t)/ᾱ_t) is the noise-to-signal ratio: a variance-preserving sample
//! x_t = α_t·x0 + σ̃_t·ε has α_t = 1/√(1+σ²) and σ̃_t = σ·α_t, and λ_t = log(α_t/σ̃_t) = −log σ
//! is the log signal-to-noise ratio the multistep solvers integrate over. diffusers keeps these
//! tables in float32, so σ values are rounded to f32 here too; the solvers' coefficients are
//! then computed from them in f64.

use super::config::{null_false, BetaConfig, PredictionType};
use super::sampler::NoiseLevel;
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The σ after the last step (diffusers' `final_sigmas_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalSigmas {
    /// σ = 0: the loop ends on the clean sample.
    #[default]
    Zero,
    /// σ = σ_min, the training schedule's smallest (at t = 0; for UniPC with Karras sigmas the
    /// last Karras σ).
    SigmaMin,
}

/// The tables a σ scheduler keeps: its training schedule, the ᾱ and σ it uses, and the current
/// loop's timesteps and σ ladder (`sigmas[k]` for k = 0 … n, the last one the final σ).
#[derive(Clone, Debug)]
pub(crate) struct SigmaTables {
    pub schedule: NoiseSchedule,
    pub alphas_cumprod: Vec<f64>,
    pub train_sigmas: Vec<f64>,
    pub timesteps: Vec<f64>,
    pub sigmas: Vec<f64>,
}

impl SigmaTables {
    /// The training tables from diffusers' β fields (no loop yet).
    pub fn new(betas: &BetaConfig, rescale: bool) -> Result<Self> {
        let schedule = betas.schedule(rescale)?;
        let alphas_cumprod = lift_terminal(schedule.alphas_cumprod_f64().to_vec(), rescale);
        let train_sigmas = train_sigmas(&alphas_cumprod);
        Ok(SigmaTables {
            schedule,
            alphas_cumprod,
            train_sigmas,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
        })
    }
}

impl SigmaTables {
    /// The σ after the last step: 0, or the training schedule's smallest σ.
    pub fn final_sigma(&self, kind: FinalSigmas) -> f64 {
        match kind {
            FinalSigmas::Zero => 0.0,
            FinalSigmas::SigmaMin => self.train_sigmas[0],
        }
    }

    /// Start a loop on timesteps `ts` with the σ ladder `sig` (σ_0 … σ_{n−1}) and the final σ
    /// `last` (see [`finish_ladder`]).
    pub fn set_loop(&mut self, ts: Vec<f64>, sig: Vec<f64>, last: f64) {
        self.sigmas = finish_ladder(sig, last);
        self.timesteps = ts;
    }

    /// (α, σ̃) at step k's σ, in f32 (see [`vp`]).
    pub fn vp_f32(&self, k: usize) -> (f32, f32) {
        let (alpha, sigma, _) = vp(self.sigmas[k]);
        (alpha as f32, sigma as f32)
    }
}

/// The [`Sampler`](super::Sampler) methods every σ scheduler answers from its
/// [`SigmaTables`], at the field path given after `$level` (`tab`, `core.tab`); `$level` turns
/// a σ into the [`NoiseLevel`] of its samples.
macro_rules! sigma_sampler_methods {
    ($level:path, $($tab:ident).+) => {
        fn schedule(&self) -> &NoiseSchedule {
            &self.$($tab).+.schedule
        }
        fn alphas_cumprod(&self) -> &[f64] {
            &self.$($tab).+.alphas_cumprod
        }
        fn timesteps(&self) -> &[f64] {
            &self.$($tab).+.timesteps
        }
        fn sigmas(&self) -> Option<&[f64]> {
            Some(&self.$($tab).+.sigmas)
        }
        fn level_before(&self, k: usize) -> Result<NoiseLevel> {
            self.check_index(k)?;
            Ok($level(self.$($tab).+.sigmas[k]))
        }
        fn level_after(&self, k: usize) -> Result<NoiseLevel> {
            self.check_index(k)?;
            Ok($level(self.$($tab).+.sigmas[k + 1]))
        }
    };
}
pub(crate) use sigma_sampler_methods;

/// σ_t = √((1−ᾱ_t)/ᾱ_t) for every training timestep, rounded to f32.
pub(crate) fn train_sigmas(alphas_cumprod: &[f64]) -> Vec<f64> {
    alphas_cumprod
        .iter()
        .map(|&a| ((1.0 - a) / a).sqrt() as f32 as f64)
        .collect()
}

/// `alphas_cumprod` with the last ᾱ lifted from 0 to 2⁻²⁴ when the schedule was rescaled to
/// zero terminal SNR, as diffusers' σ schedulers do (σ would be infinite there).
pub(crate) fn lift_terminal(mut alphas_cumprod: Vec<f64>, rescaled: bool) -> Vec<f64> {
    if rescaled {
        if let Some(last) = alphas_cumprod.last_mut() {
            *last = 2f64.powi(-24);
        }
    }
    alphas_cumprod
}

/// NumPy's `interp(t, arange(len), values)`: linear between neighbours, clamped at the ends.
pub(crate) fn interp(t: f64, values: &[f64]) -> f64 {
    let last = values.len() - 1;
    if t <= 0.0 {
        return values[0];
    }
    if t >= last as f64 {
        return values[last];
    }
    let i = t.floor() as usize;
    let w = t - i as f64;
    values[i] + w * (values[i + 1] - values[i])
}

/// The Karras et al. (2022) σ ladder: (σ_max^(1/ρ) + r·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ for r
/// evenly spaced over [0, 1], ρ = 7.
pub(crate) fn karras(sigma_min: f64, sigma_max: f64, n: usize) -> Vec<f64> {
    let rho = 7.0;
    let (lo, hi) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    super::timesteps::linspace(0.0, 1.0, n)
        .map(|r| (hi + r * (lo - hi)).powf(rho))
        .collect()
}

/// diffusers' `_sigma_to_t`: the fractional training timestep whose σ is `sigma`, by linear
/// interpolation in log σ between the two neighbouring training σ (`log_sigmas` ascending).
pub(crate) fn sigma_to_t(sigma: f64, log_sigmas: &[f64]) -> f64 {
    let log_sigma = sigma.max(1e-10).ln();
    let n = log_sigmas.len();
    let low = log_sigmas
        .iter()
        .rposition(|&l| log_sigma - l >= 0.0)
        .unwrap_or(0)
        .min(n.saturating_sub(2));
    let high = (low + 1).min(n - 1);
    let (lo, hi) = (log_sigmas[low], log_sigmas[high]);
    let w = if lo == hi {
        0.0
    } else {
        ((lo - log_sigma) / (lo - hi)).clamp(0.0, 1.0)
    };
    (1.0 - w) * low as f64 + w * high as f64
}

/// log σ of the training σ as diffusers' `np.log` of its float32 table.
pub(crate) fn log_sigmas(train_sigmas: &[f64]) -> Vec<f64> {
    train_sigmas.iter().map(|s| s.ln() as f32 as f64).collect()
}

/// (α, σ̃, λ) of a variance-preserving sample at noise-to-signal ratio σ: α = 1/√(1+σ²),
/// σ̃ = σ·α, λ = log α − log σ̃ (+∞ at σ = 0).
pub(crate) fn vp(sigma: f64) -> (f64, f64, f64) {
    let alpha = 1.0 / (sigma * sigma + 1.0).sqrt();
    let s = sigma * alpha;
    (alpha, s, alpha.ln() - s.ln())
}

/// The variance-preserving level of noise-to-signal ratio σ: ᾱ = 1/(1+σ²).
pub(crate) fn vp_level(sigma: f64) -> NoiseLevel {
    NoiseLevel::vp(1.0 / (1.0 + sigma * sigma))
}

/// x̂0 from a model output at σ̃/α for variance-preserving samples, per prediction type.
#[inline]
pub(crate) fn vp_x0(kind: PredictionType, alpha: f32, sigma: f32, out: f32, x: f32) -> f32 {
    match kind {
        PredictionType::Epsilon => (x - sigma * out) / alpha,
        PredictionType::VPrediction => alpha * x - sigma * out,
        PredictionType::Sample => out,
    }
}

/// diffusers' σ-ladder flags (DPM-Solver++, UniPC, Euler): Karras spacing, or the exponential
/// and beta ladders, which difflab refuses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SigmaLadder {
    /// Karras σ spacing instead of the timestep spacing's (default false).
    #[serde(default, deserialize_with = "null_false")]
    pub use_karras_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_exponential_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_beta_sigmas: bool,
}

impl SigmaLadder {
    /// An error naming the first unsupported flag that is on.
    pub(crate) fn check(&self) -> Result<()> {
        refuse("use_exponential_sigmas", self.use_exponential_sigmas)?;
        refuse("use_beta_sigmas", self.use_beta_sigmas)
    }
}

/// diffusers' flow-matching flags (DPM-Solver++, UniPC), which difflab refuses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowMatching {
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_flow_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_dynamic_shifting: bool,
}

impl FlowMatching {
    /// An error naming the first flag that is on.
    pub(crate) fn check(&self) -> Result<()> {
        refuse("use_flow_sigmas", self.use_flow_sigmas)?;
        refuse("use_dynamic_shifting", self.use_dynamic_shifting)
    }
}

fn d_ratio() -> f64 {
    0.995
}
fn d_one() -> f64 {
    1.0
}

/// diffusers' dynamic-thresholding fields (DPM-Solver++ and UniPC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdConfig {
    /// Dynamic thresholding of x̂0 (Imagen; default false).
    #[serde(default)]
    pub thresholding: bool,
    /// The quantile of |x̂0| that thresholding clips at (default 0.995).
    #[serde(default = "d_ratio")]
    pub dynamic_thresholding_ratio: f64,
    /// The largest threshold (default 1.0).
    #[serde(default = "d_one")]
    pub sample_max_value: f64,
}

impl ThresholdConfig {
    /// Threshold `x0` in place if enabled (see [`dynamic_threshold`]).
    pub(crate) fn apply(&self, x0: &mut [f32], item_len: Option<usize>) -> Result<()> {
        if !self.thresholding {
            return Ok(());
        }
        dynamic_threshold(
            x0,
            item_len,
            self.dynamic_thresholding_ratio,
            self.sample_max_value,
        )
    }
}

/// Dynamic thresholding (Saharia et al. 2022, Imagen), per item of `item_len` values: s = the
/// `ratio` quantile of |x̂0| (linear interpolation, as `torch.quantile`), clamped to
/// [1, `max_value`]; x̂0 ← clamp(x̂0, −s, s)/s.
pub(crate) fn dynamic_threshold(
    x0: &mut [f32],
    item_len: Option<usize>,
    ratio: f64,
    max_value: f64,
) -> Result<()> {
    let per = match item_len {
        Some(p) if p > 0 && x0.len().is_multiple_of(p) => p,
        Some(p) => {
            return Err(Error::invalid(format!(
                "thresholding: the batch has {} values, not a whole number of items of {p}",
                x0.len()
            )))
        }
        None => {
            return Err(Error::invalid(
                "thresholding works per image: call set_item_len(h·w·c) before stepping",
            ))
        }
    };
    let mut sorted = vec![0.0f32; per];
    for item in x0.chunks_mut(per) {
        for (s, v) in sorted.iter_mut().zip(item.iter()) {
            *s = v.abs();
        }
        sorted.sort_unstable_by(f32::total_cmp);
        let pos = ratio * (per - 1) as f64;
        let (i, w) = (pos.floor() as usize, pos - pos.floor());
        let j = (i + 1).min(per - 1);
        let q = sorted[i] as f64 + w * (sorted[j] as f64 - sorted[i] as f64);
        let s = q.max(1.0).min(max_value) as f32;
        for v in item.iter_mut() {
            *v = v.clamp(-s, s) / s;
        }
    }
    Ok(())
}

/// The σ ladder of a multistep solver for timesteps `ts` (descending, in 0..T): either the
/// training σ interpolated at them, or with `karras` a Karras ladder between `bounds` (default
/// the training σ_min, σ_max) whose timesteps are then recomputed from σ and rounded. Returns
/// (timesteps, σ_0 … σ_{n−1}) without the final σ.
pub(crate) fn multistep_ladder(
    ts: Vec<f64>,
    train: &[f64],
    karras_bounds: Option<(Option<f64>, Option<f64>)>,
) -> (Vec<f64>, Vec<f64>) {
    match karras_bounds {
        None => {
            let sig = ts.iter().map(|&t| interp(t, train)).collect();
            (ts, sig)
        }
        Some((lo, hi)) => {
            let lo = lo.unwrap_or(train[0]);
            let hi = hi.unwrap_or(train[train.len() - 1]);
            let sig = karras(lo, hi, ts.len());
            let logs = log_sigmas(train);
            let t = sig
                .iter()
                .map(|&s| sigma_to_t(s, &logs).round_ties_even())
                .collect();
            (t, sig)
        }
    }
}

/// Round a σ ladder to f32 (diffusers stores it as float32) and append the final σ.
pub(crate) fn finish_ladder(sigmas: Vec<f64>, last: f64) -> Vec<f64> {
    sigmas
        .into_iter()
        .chain(std::iter::once(last))
        .map(|s| s as f32 as f64)
        .collect()
}

/// An error naming `field` when an unsupported diffusers flag is on.
pub(crate) fn refuse(field: &str, on: bool) -> Result<()> {
    if on {
        Err(Error::invalid(format!(
            "{field} = true is not supported by difflab; set it to false"
        )))
    } else {
        Ok(())
    }
}

/// An error naming `solver_order` unless it lies in 1..=3.
pub(crate) fn check_order(order: usize) -> Result<()> {
    if (1..=3).contains(&order) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "solver_order = {order} is out of range (difflab's multistep solvers have orders 1 to 3)"
        )))
    }
}
