//! UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
//! Diffusion Models") with diffusers' `UniPCMultistepScheduler` semantics.
//!
//! Like DPM-Solver++, UniPC integrates the ODE in λ = −log σ using the last few x̂0 predictions
//! (the predictor, UniP). Its twist is the corrector (UniC): once the model has been called at
//! the new point, that fresh prediction is used to refine the point *before* the next predictor
//! step, raising the order by one at no extra model call. With h = λ_t − λ_s, h·φ₁ = e^{−h} − 1
//! and B(h) = −h (`bh1`) or e^{−h} − 1 (`bh2`):
//!
//! ```text
//! predictor:  x_t = (σ̃_t/σ̃_s)·x_s − α_t·hφ₁·m0 − α_t·B(h)·Σ ρ_i·D_i      (D_i = (m_i − m0)/r_i)
//! corrector:  x_s ← (σ̃_s/σ̃_p)·x_p − α_s·hφ₁·m_p − α_s·B(h)·(Σ ρ_i·D_i + ρ_c·(m_s − m_p))
//! ρ solve R·ρ = b, R_ij = r_j^i, b_i = (hφ_{i+1}·i!)/B(h)                  (order 2: ρ = ½)
//! ```
//!
//! **The final step to σ = 0.** There λ = ∞, so h = ∞ and `bh1`'s B(h) = −h is infinite;
//! diffusers multiplies it by the empty correction sum of the first-order predictor and returns
//! NaN. difflab leaves the empty sum out, so that step gives x_0 = x̂0 (the h → ∞ limit, and
//! what `bh2` gives). A higher-order `bh1` step to σ = 0 (`lower_order_final = false`) diverges
//! and is an error.

use super::config::{
    d_linspace, d_order, d_true, null_false, BetaConfig, PredictionType, TimestepSpacing,
};
use super::sampler::{check_step, NoiseLevel, Sampler, SamplerKind, StepOrder};
use super::sigmas::{self, FinalSigmas, SigmaTables, ThresholdConfig};
use super::timesteps::multistep_timesteps;
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// UniPC's B(h) (diffusers' `solver_type`; its DPM-Solver names map to `bh2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniPcSolverType {
    /// B(h) = h (the paper's choice for unconditional sampling).
    Bh1,
    /// B(h) = e^h − 1 (recommended for guided sampling).
    #[default]
    #[serde(alias = "midpoint", alias = "heun", alias = "logrho")]
    Bh2,
}

/// The configuration of a [`UniPcScheduler`]: diffusers' `UniPCMultistepScheduler` fields,
/// each with diffusers' default when absent. `solver_p`, `shift_terminal` and the σ
/// alternatives other than Karras are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UniPcConfig {
    /// The training schedule's β fields.
    #[serde(flatten)]
    pub betas: BetaConfig,
    /// Rescale betas to zero terminal SNR (default false).
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
    /// The order, 1-3 (default 2).
    #[serde(default = "d_order")]
    pub solver_order: usize,
    /// What the model predicts (default `epsilon`).
    #[serde(default)]
    pub prediction_type: PredictionType,
    /// Dynamic thresholding of x̂0 (default off).
    #[serde(flatten)]
    pub threshold: ThresholdConfig,
    /// Integrate the x̂0 prediction (true, default) or the noise prediction.
    #[serde(default = "d_true")]
    pub predict_x0: bool,
    /// `bh1` or `bh2` (default).
    #[serde(default)]
    pub solver_type: UniPcSolverType,
    /// Lower orders on the last steps (default true).
    #[serde(default = "d_true")]
    pub lower_order_final: bool,
    /// Loop indices whose following step skips the corrector (default none).
    #[serde(default)]
    pub disable_corrector: Vec<usize>,
    /// Another scheduler as predictor: not supported, must be null.
    #[serde(default)]
    pub solver_p: Option<serde_json::Value>,
    /// Karras σ spacing (default false).
    #[serde(default, deserialize_with = "null_false")]
    pub use_karras_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_exponential_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_beta_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_flow_sigmas: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_dynamic_shifting: bool,
    /// How inference timesteps are spaced (default `linspace`).
    #[serde(default = "d_linspace")]
    pub timestep_spacing: TimestepSpacing,
    /// Added to `leading` timesteps (default 0).
    #[serde(default)]
    pub steps_offset: usize,
    /// The σ after the last step (default `zero`).
    #[serde(default)]
    pub final_sigmas_type: FinalSigmas,
    /// The smallest Karras σ (default the training schedule's).
    #[serde(default)]
    pub sigma_min: Option<f64>,
    /// The largest Karras σ (default the training schedule's).
    #[serde(default)]
    pub sigma_max: Option<f64>,
    /// Flow-matching only: must be null.
    #[serde(default)]
    pub shift_terminal: Option<f64>,
}

impl Default for UniPcConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("all fields default")
    }
}

impl UniPcConfig {
    fn validate(&self) -> Result<()> {
        sigmas::check_order(self.solver_order)?;
        for (field, on) in [
            ("use_exponential_sigmas", self.use_exponential_sigmas),
            ("use_beta_sigmas", self.use_beta_sigmas),
            ("use_flow_sigmas", self.use_flow_sigmas),
            ("use_dynamic_shifting", self.use_dynamic_shifting),
        ] {
            sigmas::refuse(field, on)?;
        }
        for (field, set) in [
            (
                "solver_p",
                self.solver_p.as_ref().is_some_and(|v| !v.is_null()),
            ),
            ("shift_terminal", self.shift_terminal.is_some()),
        ] {
            if set {
                return Err(Error::invalid(format!(
                    "{field} is not supported by difflab; leave it null"
                )));
            }
        }
        Ok(())
    }
}

/// The multistep state: the latest converted outputs (newest last), the sample the last
/// predictor started from, and that predictor's order.
#[derive(Clone, Debug, Default)]
struct History {
    outputs: Vec<Arc<Vec<f32>>>,
    last_sample: Option<Arc<Vec<f32>>>,
    last_order: usize,
    lower_order_nums: usize,
}

/// diffusers' `UniPCMultistepScheduler` (see the module doc).
#[derive(Clone, Debug)]
pub struct UniPcScheduler {
    config: UniPcConfig,
    tab: SigmaTables,
    item_len: Option<usize>,
    order: StepOrder<History>,
}

/// The coefficients of one UniP or UniC update from σ_s to σ_t: x_t = c_x·x − c_m·m0 −
/// c_b·(Σ ρ_i·D_i), with the ρ solved for the given order.
struct Update {
    c_x: f32,
    c_m: f32,
    c_b: f32,
    rhos: Vec<f32>,
    rks: Vec<f32>,
}

impl UniPcScheduler {
    /// A scheduler from its config; errors name the offending field.
    pub fn new(config: UniPcConfig) -> Result<Self> {
        config.validate()?;
        let tab = SigmaTables::new(&config.betas, config.rescale_betas_zero_snr)?;
        Ok(UniPcScheduler {
            config,
            tab,
            item_len: None,
            order: StepOrder::default(),
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &UniPcConfig {
        &self.config
    }

    /// The training schedule (betas and ᾱ before the 2⁻²⁴ lift).
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.tab.schedule
    }

    /// x̂0 (or ε̂ without `predict_x0`) from the model output at step k.
    fn convert(&self, k: usize, model_output: &[f32], sample: &[f32]) -> Result<Vec<f32>> {
        let (alpha, sigma, _) = sigmas::vp(self.tab.sigmas[k]);
        let (a, s) = (alpha as f32, sigma as f32);
        let kind = self.config.prediction_type;
        let pairs = model_output.iter().zip(sample);
        if !self.config.predict_x0 {
            return Ok(pairs
                .map(|(&o, &x)| match kind {
                    PredictionType::Epsilon => o,
                    PredictionType::Sample => (x - a * o) / s,
                    PredictionType::VPrediction => a * o + s * x,
                })
                .collect());
        }
        let mut x0: Vec<f32> = pairs
            .map(|(&o, &x)| sigmas::vp_x0(kind, a, s, o, x))
            .collect();
        self.config.threshold.apply(&mut x0, self.item_len)?;
        Ok(x0)
    }

    /// The update from σ_`s` to σ_`t` of `order`, with history points at σ of `earlier`
    /// (newest first); `corrector` solves the full system (ρ_c last), the predictor one row less.
    fn update(
        &self,
        t: usize,
        s: usize,
        earlier: &[usize],
        order: usize,
        corrector: bool,
    ) -> Result<Update> {
        let (alpha_t, sigma_t, lambda_t) = sigmas::vp(self.tab.sigmas[t]);
        let (alpha_s, sigma_s, lambda_s) = sigmas::vp(self.tab.sigmas[s]);
        if !self.config.predict_x0 && self.tab.sigmas[t] == 0.0 {
            return Err(Error::invalid(
                "UniPC with predict_x0 = false cannot step to σ = 0 (σ̃·(e^h − 1) is 0·∞); \
                 set final_sigmas_type = sigma_min",
            ));
        }
        let h = lambda_t - lambda_s;
        let rks: Vec<f64> = earlier
            .iter()
            .map(|&i| (sigmas::vp(self.tab.sigmas[i]).2 - lambda_s) / h)
            .collect();
        let x0 = self.config.predict_x0;
        let hh = if x0 { -h } else { h };
        let h_phi_1 = hh.exp_m1();
        let b_h = match self.config.solver_type {
            UniPcSolverType::Bh1 => hh,
            UniPcSolverType::Bh2 => hh.exp_m1(),
        };
        let mut b = Vec::with_capacity(order);
        let (mut h_phi_k, mut factorial) = (h_phi_1 / hh - 1.0, 1.0);
        for i in 1..=order {
            b.push(h_phi_k * factorial / b_h);
            factorial *= (i + 1) as f64;
            h_phi_k = h_phi_k / hh - 1.0 / factorial;
        }
        let mut all_r = rks.clone();
        all_r.push(1.0);
        let rhos = match (corrector, order) {
            (true, 1) | (false, 2) => vec![0.5],
            (false, 1) => Vec::new(),
            (true, _) => solve(&all_r, &b, order),
            (false, _) => solve(&all_r[..order - 1], &b[..order - 1], order - 1),
        };
        if !b_h.is_finite() && !rhos.is_empty() {
            return Err(Error::invalid(format!(
                "UniPC bh1: a step of order {order} to σ = 0 diverges (B(h) = h is infinite); \
                 set lower_order_final = true or final_sigmas_type = sigma_min"
            )));
        }
        let (c_x, c_m, c_b) = if x0 {
            (sigma_t / sigma_s, alpha_t * h_phi_1, alpha_t * b_h)
        } else {
            (alpha_t / alpha_s, sigma_t * h_phi_1, sigma_t * b_h)
        };
        Ok(Update {
            c_x: c_x as f32,
            c_m: c_m as f32,
            c_b: c_b as f32,
            rhos: rhos.iter().map(|&r| r as f32).collect(),
            rks: rks.iter().map(|&r| r as f32).collect(),
        })
    }
}

/// ρ from R·ρ = b with R_ij = r_j^i (i, j < m), by Gaussian elimination with partial pivoting.
fn solve(r: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut a: Vec<Vec<f64>> = (0..m)
        .map(|i| {
            let mut row: Vec<f64> = r[..m].iter().map(|&x| x.powi(i as i32)).collect();
            row.push(b[i]);
            row
        })
        .collect();
    for col in 0..m {
        let pivot = (col..m)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for row in a.iter_mut().skip(col + 1) {
            let f = row[col] / pivot_row[col];
            for (v, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                *v -= f * p;
            }
        }
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        let s: f64 = (i + 1..m).map(|j| a[i][j] * x[j]).sum();
        x[i] = (a[i][m] - s) / a[i][i];
    }
    x
}

/// out = c_x·x − c_m·m0 − c_b·(Σ ρ_i·(m_i − m0)/r_i + ρ_c·(m_new − m0)).
fn apply(
    u: &Update,
    x: &[f32],
    m0: &[f32],
    others: &[&[f32]],
    fresh: Option<&[f32]>,
    out: &mut [f32],
) {
    for i in 0..x.len() {
        let mut res = 0.0f32;
        for (j, m) in others.iter().enumerate() {
            res += u.rhos[j] * ((m[i] - m0[i]) / u.rks[j]);
        }
        if let Some(f) = fresh {
            res += u.rhos[others.len()] * (f[i] - m0[i]);
        }
        let base = u.c_x * x[i] - u.c_m * m0[i];
        out[i] = if u.rhos.is_empty() {
            base
        } else {
            base - u.c_b * res
        };
    }
}

impl Sampler for UniPcScheduler {
    sigmas::sigma_sampler_methods!(sigmas::vp_level);
    fn kind(&self) -> SamplerKind {
        SamplerKind::UniPc
    }
    fn prediction_type(&self) -> PredictionType {
        self.config.prediction_type
    }
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let c = &self.config;
        let t_train = self.tab.alphas_cumprod.len();
        let ts = multistep_timesteps(t_train, t_train, n, c.timestep_spacing, c.steps_offset)?;
        let karras = c.use_karras_sigmas.then_some((c.sigma_min, c.sigma_max));
        let (ts, sig) = sigmas::multistep_ladder(ts, &self.tab.train_sigmas, karras);
        let last = match (c.final_sigmas_type, karras) {
            (FinalSigmas::Zero, _) => 0.0,
            (FinalSigmas::SigmaMin, Some(_)) => sig[sig.len() - 1],
            (FinalSigmas::SigmaMin, None) => self.tab.train_sigmas[0],
        };
        self.tab.sigmas = sigmas::finish_ladder(sig, last);
        self.tab.timesteps = ts;
        self.order.reset();
        Ok(())
    }
    fn noise_needed(&self, k: usize) -> Result<bool> {
        self.check_index(k)?;
        Ok(false)
    }
    fn set_item_len(&mut self, len: usize) {
        self.item_len = Some(len);
    }
    fn reset(&mut self) {
        self.order.reset();
    }
    fn step_into(
        &mut self,
        k: usize,
        model_output: &[f32],
        sample: &[f32],
        noise: Option<&[f32]>,
        prev_sample: &mut [f32],
        pred_original_sample: &mut [f32],
    ) -> Result<()> {
        check_step(
            self,
            k,
            model_output,
            sample,
            noise,
            (prev_sample, pred_original_sample),
        )?;
        let m_new = Arc::new(self.convert(k, model_output, sample)?);
        let mut h = std::mem::take(self.order.begin("UniPC", k)?);
        let result =
            self.corrected_step(k, &mut h, m_new, sample, prev_sample, pred_original_sample);
        *self.order.state_mut() = h;
        result
    }
}

impl UniPcScheduler {
    /// UniC on `sample` with the fresh output (unless disabled or at step 0), then UniP.
    fn corrected_step(
        &self,
        k: usize,
        h: &mut History,
        m_new: Arc<Vec<f32>>,
        sample: &[f32],
        prev_sample: &mut [f32],
        pred_original_sample: &mut [f32],
    ) -> Result<()> {
        let solver_order = self.config.solver_order;
        let corrected = match &h.last_sample {
            Some(last) if k > 0 && !self.config.disable_corrector.contains(&(k - 1)) => {
                let order = h.last_order;
                let earlier: Vec<usize> = (1..order).map(|i| k - (i + 1)).collect();
                let u = self.update(k, k - 1, &earlier, order, true)?;
                let n = h.outputs.len();
                let others: Vec<&[f32]> = (1..order).map(|i| &h.outputs[n - 1 - i][..]).collect();
                let mut out = vec![0.0f32; sample.len()];
                apply(&u, last, &h.outputs[n - 1], &others, Some(&m_new), &mut out);
                Arc::new(out)
            }
            _ => Arc::new(sample.to_vec()),
        };
        h.outputs.push(m_new.clone());
        if h.outputs.len() > solver_order {
            h.outputs.remove(0);
        }
        let n_steps = self.tab.timesteps.len();
        let mut order = solver_order;
        if self.config.lower_order_final {
            order = order.min(n_steps - k);
        }
        let order = order.min(h.lower_order_nums + 1);
        let earlier: Vec<usize> = (1..order).map(|i| k - i).collect();
        let u = self.update(k + 1, k, &earlier, order, false)?;
        let n = h.outputs.len();
        let others: Vec<&[f32]> = (1..order).map(|i| &h.outputs[n - 1 - i][..]).collect();
        apply(&u, &corrected, &m_new, &others, None, prev_sample);
        if self.config.predict_x0 {
            pred_original_sample.copy_from_slice(&m_new);
        } else {
            let (a, s, _) = sigmas::vp(self.tab.sigmas[k]);
            let (a, s) = (a as f32, s as f32);
            for ((p, &x), &e) in pred_original_sample
                .iter_mut()
                .zip(sample)
                .zip(m_new.iter())
            {
                *p = (x - s * e) / a;
            }
        }
        h.last_sample = Some(corrected);
        h.last_order = order;
        h.lower_order_nums = (h.lower_order_nums + 1).min(solver_order);
        Ok(())
    }
}
