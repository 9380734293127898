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

use super::config::{d_true, PredictionType};
use super::multistep::{Multistep, MultistepConfig};
use super::sampler::{check_step, NoiseLevel, Sampler, SamplerKind};
use super::sigmas::{self, FinalSigmas};
use super::timesteps::multistep_timesteps;
use super::StepIo;
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
    /// The fields it shares with DPM-Solver++ (β schedule, order, prediction type, spacing, …).
    #[serde(flatten)]
    pub solver: MultistepConfig,
    /// Integrate the x̂0 prediction (true, default) or the noise prediction.
    #[serde(default = "d_true")]
    pub predict_x0: bool,
    /// `bh1` or `bh2` (default).
    #[serde(default)]
    pub solver_type: UniPcSolverType,
    /// Loop indices whose following step skips the corrector (default none).
    #[serde(default)]
    pub disable_corrector: Vec<usize>,
    /// Another scheduler as predictor: not supported, must be null.
    #[serde(default)]
    pub solver_p: Option<serde_json::Value>,
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
        super::config::serde_defaults()
    }
}

impl super::ConfigFile for UniPcConfig {
    const CLASS_NAME: &'static str = "UniPCMultistepScheduler";
}

impl UniPcConfig {
    fn validate(&self) -> Result<()> {
        self.solver.check()?;
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
    core: Multistep<History>,
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
        let core = Multistep::new(&config.solver)?;
        Ok(UniPcScheduler { config, core })
    }

    /// The config it was built from.
    pub fn config(&self) -> &UniPcConfig {
        &self.config
    }

    /// x̂0 (or ε̂ without `predict_x0`) from the model output at step k.
    fn convert(&self, k: usize, model_output: &[f32], sample: &[f32]) -> Result<Vec<f32>> {
        let c = &self.config;
        if c.predict_x0 {
            return self.core.x0(k, &c.solver, model_output, sample);
        }
        let (a, s) = self.core.tab.vp_f32(k);
        let eps = |(&o, &x): (&f32, &f32)| match c.solver.prediction_type {
            PredictionType::Epsilon => o,
            PredictionType::Sample => (x - a * o) / s,
            PredictionType::VPrediction => a * o + s * x,
        };
        Ok(model_output.iter().zip(sample).map(eps).collect())
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
        let (alpha_t, sigma_t, lambda_t) = sigmas::vp(self.core.tab.sigmas[t]);
        let (alpha_s, sigma_s, lambda_s) = sigmas::vp(self.core.tab.sigmas[s]);
        if !self.config.predict_x0 && self.core.tab.sigmas[t] == 0.0 {
            return Err(Error::invalid(
                "UniPC with predict_x0 = false cannot step to σ = 0 (σ̃·(e^h − 1) is 0·∞); \
                 set final_sigmas_type = sigma_min",
            ));
        }
        let h = lambda_t - lambda_s;
        let rks: Vec<f64> = earlier
            .iter()
            .map(|&i| (sigmas::vp(self.core.tab.sigmas[i]).2 - lambda_s) / h)
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
    sigmas::sigma_sampler_methods!(sigmas::vp_level, core.tab);
    fn kind(&self) -> SamplerKind {
        SamplerKind::UniPc
    }
    fn prediction_type(&self) -> PredictionType {
        self.config.solver.prediction_type
    }
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let c = &self.config;
        let t_train = self.core.tab.alphas_cumprod.len();
        let ts = multistep_timesteps(
            t_train,
            t_train,
            n,
            c.solver.timestep_spacing,
            c.solver.steps_offset,
        )?;
        let karras = c
            .solver
            .sigma_ladder
            .use_karras_sigmas
            .then_some((c.sigma_min, c.sigma_max));
        let (ts, sig) = sigmas::multistep_ladder(ts, &self.core.tab.train_sigmas, karras);
        let last = match (c.solver.final_sigmas_type, karras) {
            (FinalSigmas::SigmaMin, Some(_)) => sig[sig.len() - 1],
            (kind, _) => self.core.tab.final_sigma(kind),
        };
        self.core.set_loop(ts, sig, last);
        Ok(())
    }
    fn set_item_len(&mut self, len: usize) {
        self.core.item_len = Some(len);
    }
    fn reset(&mut self) {
        self.core.order.reset();
    }
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()> {
        check_step(self, k, &io)?;
        let m_new = Arc::new(self.convert(k, io.model_output, io.sample)?);
        let mut h = self.core.order.begin("UniPC", k)?;
        let result = self.corrected_step(k, &mut h, m_new, io);
        self.core.order.end(h);
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
        io: StepIo<'_>,
    ) -> Result<()> {
        let sample = io.sample;
        let solver_order = self.config.solver.solver_order;
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
        let n_steps = self.core.tab.timesteps.len();
        let mut order = solver_order;
        if self.config.solver.lower_order_final {
            order = order.min(n_steps - k);
        }
        let order = order.min(h.lower_order_nums + 1);
        let earlier: Vec<usize> = (1..order).map(|i| k - i).collect();
        let u = self.update(k + 1, k, &earlier, order, false)?;
        let n = h.outputs.len();
        let others: Vec<&[f32]> = (1..order).map(|i| &h.outputs[n - 1 - i][..]).collect();
        apply(&u, &corrected, &m_new, &others, None, io.prev_sample);
        if self.config.predict_x0 {
            io.pred_original_sample.copy_from_slice(&m_new);
        } else {
            let (a, s) = self.core.tab.vp_f32(k);
            for ((p, &x), &e) in io
                .pred_original_sample
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
