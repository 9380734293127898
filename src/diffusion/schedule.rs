//! Noise schedules: how much noise the forward process adds at each of the T steps.
//!
//! β_t is the variance added at step t, α_t = 1 − β_t, and ᾱ_t = ∏_{s≤t} α_s is the share of the
//! original signal's variance left at t. x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, and SNR(t) = ᾱ_t / (1 − ᾱ_t).
//!
//! Semantics follow diffusers' `DDPMScheduler.__init__`: the betas are computed in f64 and rounded
//! to f32 (diffusers keeps them as float32 tensors, and the cosine schedule's clipped last beta
//! of 0.999 only matches when rounded the same way), α_t = 1 − β_t is formed in f32, and the
//! cumulative product is then taken in f64. Values are handed out as f32 or f64.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The shape of the β curve, named as in diffusers' `beta_schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// β linear from `beta_start` to `beta_end` (DDPM, Ho et al. 2020).
    #[default]
    Linear,
    /// √β linear from √`beta_start` to √`beta_end` (Stable Diffusion).
    ScaledLinear,
    /// The cosine schedule of Nichol & Dhariwal (2021), β capped at 0.999.
    #[serde(rename = "squaredcos_cap_v2")]
    SquaredcosCapV2,
    /// β = sigmoid(linspace(−6, 6)) rescaled to [`beta_start`, `beta_end`] (GeoDiff).
    Sigmoid,
}

impl BetaSchedule {
    /// Parse a name: diffusers' names, plus `cosine` for `squaredcos_cap_v2`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "linear" => Ok(BetaSchedule::Linear),
            "scaled_linear" => Ok(BetaSchedule::ScaledLinear),
            "squaredcos_cap_v2" | "cosine" => Ok(BetaSchedule::SquaredcosCapV2),
            "sigmoid" => Ok(BetaSchedule::Sigmoid),
            other => Err(Error::invalid(format!(
                "unknown beta schedule '{other}' (expected linear, scaled_linear, squaredcos_cap_v2 (cosine) or sigmoid)"
            ))),
        }
    }
    /// diffusers' name for this schedule.
    pub fn name(&self) -> &'static str {
        match self {
            BetaSchedule::Linear => "linear",
            BetaSchedule::ScaledLinear => "scaled_linear",
            BetaSchedule::SquaredcosCapV2 => "squaredcos_cap_v2",
            BetaSchedule::Sigmoid => "sigmoid",
        }
    }
}

/// A noise schedule over `T` training timesteps, t = 0 … T−1.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

fn linspace(a: f64, b: f64, n: usize) -> impl Iterator<Item = f64> {
    let step = if n > 1 { (b - a) / (n - 1) as f64 } else { 0.0 };
    (0..n).map(move |i| {
        if i + 1 == n && n > 1 {
            b
        } else {
            a + step * i as f64
        }
    })
}

impl NoiseSchedule {
    /// Build a schedule of `num_train_timesteps` steps of the given kind.
    /// `beta_start`/`beta_end` are ignored by the cosine schedule, as in diffusers.
    pub fn new(
        num_train_timesteps: usize,
        kind: BetaSchedule,
        beta_start: f64,
        beta_end: f64,
    ) -> Result<Self> {
        let t = num_train_timesteps;
        if t == 0 {
            return Err(Error::invalid("a noise schedule needs at least 1 timestep"));
        }
        if kind != BetaSchedule::SquaredcosCapV2
            && !(beta_start > 0.0 && beta_end > 0.0 && beta_start < 1.0 && beta_end < 1.0)
        {
            return Err(Error::invalid(format!(
                "beta_start and beta_end must lie in (0, 1), got {beta_start} and {beta_end}"
            )));
        }
        let betas: Vec<f64> = match kind {
            BetaSchedule::Linear => linspace(beta_start, beta_end, t).collect(),
            BetaSchedule::ScaledLinear => linspace(beta_start.sqrt(), beta_end.sqrt(), t)
                .map(|b| b * b)
                .collect(),
            BetaSchedule::SquaredcosCapV2 => {
                let alpha_bar = |s: f64| {
                    ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..t)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / t as f64, (i + 1) as f64 / t as f64);
                        (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999)
                    })
                    .collect()
            }
            BetaSchedule::Sigmoid => linspace(-6.0, 6.0, t)
                .map(|x| 1.0 / (1.0 + (-x).exp()) * (beta_end - beta_start) + beta_start)
                .collect(),
        };
        Self::from_betas(betas)
    }

    /// The DDPM schedule of the lab: linear β from `beta_start` to `beta_end`.
    pub fn linear(num_train_timesteps: usize, beta_start: f64, beta_end: f64) -> Result<Self> {
        Self::new(
            num_train_timesteps,
            BetaSchedule::Linear,
            beta_start,
            beta_end,
        )
    }

    /// A schedule from explicit betas (diffusers' `trained_betas`). Each must lie in (0, 1).
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.is_empty() {
            return Err(Error::invalid("a noise schedule needs at least 1 beta"));
        }
        if let Some((i, b)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(**b > 0.0 && **b < 1.0))
        {
            return Err(Error::invalid(format!("beta[{i}] = {b} is outside (0, 1)")));
        }
        Ok(Self::rounded(betas))
    }

    /// The same schedule rescaled to zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise
    /// Schedules and Sample Steps are Flawed", Algorithm 1; diffusers' `rescale_betas_zero_snr`):
    /// √ᾱ is shifted so that its last value is 0 and scaled so that its first is unchanged, then
    /// the betas are recovered from the ratios of consecutive ᾱ. The last β is exactly 1, so
    /// ᾱ_{T−1} = 0: x_{T−1} is pure noise, as the sampler assumes when it starts there.
    /// Rounded like [`from_betas`](Self::from_betas). Errors when T < 2 or ᾱ is constant.
    pub fn rescaled_to_zero_terminal_snr(&self) -> Result<Self> {
        let s: Vec<f64> = self.alphas_cumprod.iter().map(|a| a.sqrt()).collect();
        let (first, last) = (s[0], s[s.len() - 1]);
        if s.len() < 2 || first <= last {
            return Err(Error::invalid(
                "rescale_betas_zero_snr needs at least 2 timesteps with a falling ᾱ",
            ));
        }
        let scale = first / (first - last);
        let bar: Vec<f64> = s.iter().map(|v| ((v - last) * scale).powi(2)).collect();
        let betas: Vec<f64> = (0..bar.len())
            .map(|i| match i {
                0 => 1.0 - bar[0],
                _ => 1.0 - bar[i] / bar[i - 1],
            })
            .collect();
        if let Some((i, b)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(**b > 0.0 && **b <= 1.0))
        {
            return Err(Error::invalid(format!(
                "rescale_betas_zero_snr: beta[{i}] = {b} is outside (0, 1]"
            )));
        }
        Ok(Self::rounded(betas))
    }

    /// Round as diffusers does (float32 betas, α = 1 − β in float32), then accumulate in f64.
    fn rounded(betas: Vec<f64>) -> Self {
        let betas: Vec<f64> = betas.iter().map(|&b| b as f32 as f64).collect();
        let alphas: Vec<f64> = betas.iter().map(|&b| (1.0f32 - b as f32) as f64).collect();
        let mut acc = 1.0f64;
        let alphas_cumprod = alphas
            .iter()
            .map(|a| {
                acc *= a;
                acc
            })
            .collect();
        NoiseSchedule {
            betas,
            alphas,
            alphas_cumprod,
        }
    }

    /// T, the number of training timesteps.
    pub fn num_train_timesteps(&self) -> usize {
        self.betas.len()
    }
    /// β_t for every t (f64).
    pub fn betas_f64(&self) -> &[f64] {
        &self.betas
    }
    /// α_t = 1 − β_t for every t (f64).
    pub fn alphas_f64(&self) -> &[f64] {
        &self.alphas
    }
    /// ᾱ_t for every t (f64).
    pub fn alphas_cumprod_f64(&self) -> &[f64] {
        &self.alphas_cumprod
    }
    /// β_t as f32.
    pub fn betas(&self) -> Vec<f32> {
        self.betas.iter().map(|&v| v as f32).collect()
    }
    /// α_t as f32.
    pub fn alphas(&self) -> Vec<f32> {
        self.alphas.iter().map(|&v| v as f32).collect()
    }
    /// ᾱ_t as f32: the "signal weight".
    pub fn alphas_cumprod(&self) -> Vec<f32> {
        self.alphas_cumprod.iter().map(|&v| v as f32).collect()
    }
    /// √ᾱ_t as f32: the factor on x_0 in `add_noise`.
    pub fn sqrt_alphas_cumprod(&self) -> Vec<f32> {
        self.alphas_cumprod
            .iter()
            .map(|&v| v.sqrt() as f32)
            .collect()
    }
    /// √(1 − ᾱ_t) as f32: the factor on ε in `add_noise`.
    pub fn sqrt_one_minus_alphas_cumprod(&self) -> Vec<f32> {
        self.alphas_cumprod
            .iter()
            .map(|&v| (1.0 - v).sqrt() as f32)
            .collect()
    }
    /// SNR(t) = ᾱ_t / (1 − ᾱ_t) as f32.
    pub fn snr(&self) -> Vec<f32> {
        (0..self.betas.len())
            .map(|t| self.snr_at(t) as f32)
            .collect()
    }
    /// ᾱ_t at one timestep (f64). Panics if `t >= T`.
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alphas_cumprod[t]
    }
    /// SNR(t) at one timestep (f64). Panics if `t >= T`.
    pub fn snr_at(&self, t: usize) -> f64 {
        let a = self.alphas_cumprod[t];
        a / (1.0 - a)
    }
    /// The first t whose SNR is below `threshold`, if any.
    pub fn first_t_with_snr_below(&self, threshold: f64) -> Option<usize> {
        (0..self.betas.len()).find(|&t| self.snr_at(t) < threshold)
    }

    /// The forward process for a batch: `out[i] = √ᾱ_{t_i}·x0[i] + √(1−ᾱ_{t_i})·noise[i]`.
    ///
    /// `x0`, `noise` and `out` hold `timesteps.len()` items of equal size, one after another
    /// (any layout inside an item). Errors on mismatched lengths or a timestep ≥ T.
    pub fn add_noise(
        &self,
        x0: &[f32],
        noise: &[f32],
        timesteps: &[usize],
        out: &mut [f32],
    ) -> Result<()> {
        let n = timesteps.len();
        if n == 0 || x0.len() != noise.len() || x0.len() != out.len() || !x0.len().is_multiple_of(n)
        {
            return Err(Error::invalid(format!(
                "add_noise: x0 ({}), noise ({}) and out ({}) must have equal lengths divisible by the {n} timesteps",
                x0.len(),
                noise.len(),
                out.len()
            )));
        }
        let per = x0.len() / n;
        for (i, &t) in timesteps.iter().enumerate() {
            if t >= self.betas.len() {
                return Err(Error::invalid(format!(
                    "add_noise: timestep {t} is outside 0..{}",
                    self.betas.len()
                )));
            }
            let a = self.alphas_cumprod[t].sqrt() as f32;
            let s = (1.0 - self.alphas_cumprod[t]).sqrt() as f32;
            let r = i * per..(i + 1) * per;
            for ((o, &x), &e) in out[r.clone()].iter_mut().zip(&x0[r.clone()]).zip(&noise[r]) {
                *o = a * x + s * e;
            }
        }
        Ok(())
    }
}
