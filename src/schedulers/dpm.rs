//! DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
//! Diffusion Probabilistic Models") with diffusers' `DPMSolverMultistepScheduler` semantics.
//!
//! The probability-flow ODE, written in λ = −log σ for the clean-sample prediction x̂0, has the
//! exact solution x_t = (σ̃_t/σ̃_s)·x_s + σ̃_t·∫ e^λ x̂0 dλ; the solver approximates x̂0 over the
//! step by a polynomial through the last one, two or three predictions it has seen (orders
//! 1-3), so each step costs one model call yet is accurate to high order. With h = λ_t − λ_s:
//!
//! ```text
//! order 1:  x_t = (σ̃_t/σ̃_s)·x − α_t·(e^{−h} − 1)·D0                         (= DDIM)
//! order 2:  … − ½·α_t·(e^{−h} − 1)·D1   (midpoint; heun: + α_t·((e^{−h}−1)/h + 1)·D1)
//! order 3:  … + α_t·((e^{−h}−1)/h + 1)·D1 − α_t·((e^{−h}−1+h)/h² − ½)·D2
//! D0 = x̂0_k, D1, D2 = scaled differences of the previous x̂0s (r = h_prev/h)
//! ```
//!
//! `sde-dpmsolver++` solves the reverse SDE instead: the sample term is damped by e^{−h} more,
//! x̂0 gets 1 − e^{−2h}, and σ̃_t·√(1 − e^{−2h})·z of fresh noise is added. The first steps use
//! lower orders (not enough history yet), and so do the last ones with `lower_order_final`
//! (fewer than 15 steps), `euler_at_final`, or a final σ of 0 (λ = ∞ there).

use super::config::{f64_or_inf, f64_or_inf_out, null_false, PredictionType};
use super::multistep::{Multistep, MultistepConfig};
use super::sampler::{check_step, NoiseLevel, Sampler, SamplerKind};
use super::sigmas::{self, FinalSigmas};
use super::timesteps::multistep_timesteps;
use super::StepIo;
use crate::diffusion::{BetaSchedule, NoiseSchedule};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Which DPM-Solver (diffusers' `algorithm_type`); the deprecated noise-prediction variants
/// `dpmsolver` / `sde-dpmsolver` are not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DpmAlgorithm {
    /// The ODE solver on the clean-sample prediction (deterministic).
    #[default]
    #[serde(rename = "dpmsolver++")]
    DpmSolverPp,
    /// The SDE solver on the clean-sample prediction (adds noise every step).
    #[serde(rename = "sde-dpmsolver++")]
    SdeDpmSolverPp,
}

/// The second-order update's form (diffusers' `solver_type`; its UniPC names map to midpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpmSolverType {
    /// D1 weighted ½ (the paper's choice).
    #[default]
    #[serde(alias = "logrho", alias = "bh1", alias = "bh2")]
    Midpoint,
    /// D1 weighted by the exact integral of a linear x̂0.
    Heun,
}

fn d_neg_inf() -> f64 {
    f64::NEG_INFINITY
}

/// The configuration of a [`DpmSolverScheduler`]: diffusers' `DPMSolverMultistepScheduler`
/// fields, each with diffusers' default when absent. Its σ alternatives (`use_exponential_sigmas`,
/// `use_beta_sigmas`, `use_lu_lambdas`, `use_flow_sigmas`, `use_dynamic_shifting`) and learned
/// variances are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpmSolverConfig {
    /// The fields it shares with UniPC (β schedule, order, prediction type, spacing, …).
    #[serde(flatten)]
    pub solver: MultistepConfig,
    /// `dpmsolver++` (default) or `sde-dpmsolver++`.
    #[serde(default)]
    pub algorithm_type: DpmAlgorithm,
    /// `midpoint` (default) or `heun`.
    #[serde(default)]
    pub solver_type: DpmSolverType,
    /// A first-order last step whatever the loop length (default false).
    #[serde(default)]
    pub euler_at_final: bool,
    /// Not supported; must be false.
    #[serde(default, deserialize_with = "null_false")]
    pub use_lu_lambdas: bool,
    /// Timesteps whose λ lies below this are cut from the schedule (default −∞: none).
    #[serde(
        default = "d_neg_inf",
        deserialize_with = "f64_or_inf",
        serialize_with = "f64_or_inf_out"
    )]
    pub lambda_min_clipped: f64,
    /// `learned` / `learned_range` (the model also predicts its variance) are refused; other
    /// values (e.g. DDPM's `fixed_small`, carried over by `from_config`) are ignored.
    #[serde(default)]
    pub variance_type: Option<String>,
}

impl Default for DpmSolverConfig {
    fn default() -> Self {
        super::config::serde_defaults()
    }
}

impl super::ConfigFile for DpmSolverConfig {
    const CLASS_NAME: &'static str = "DPMSolverMultistepScheduler";
}

impl DpmSolverConfig {
    fn validate(&self) -> Result<()> {
        self.solver.check()?;
        sigmas::refuse("use_lu_lambdas", self.use_lu_lambdas)?;
        if let Some(v @ ("learned" | "learned_range")) = self.variance_type.as_deref() {
            return Err(Error::invalid(format!(
                "variance_type = {v} (a model that also predicts its variance) is not supported"
            )));
        }
        if self.lambda_min_clipped.is_nan() {
            return Err(Error::invalid("lambda_min_clipped must be a number"));
        }
        Ok(())
    }
}

/// The multistep history: the latest x̂0 predictions (newest last) and how many steps ran.
#[derive(Clone, Debug, Default)]
struct History {
    outputs: Vec<Arc<Vec<f32>>>,
    lower_order_nums: usize,
}

/// diffusers' `DPMSolverMultistepScheduler` (see the module doc).
#[derive(Clone, Debug)]
pub struct DpmSolverScheduler {
    config: DpmSolverConfig,
    core: Multistep<History>,
}

impl DpmSolverScheduler {
    /// A scheduler from its config; errors name the offending field.
    pub fn new(config: DpmSolverConfig) -> Result<Self> {
        config.validate()?;
        let core = Multistep::new(&config.solver)?;
        Ok(DpmSolverScheduler { config, core })
    }

    /// The config it was built from.
    pub fn config(&self) -> &DpmSolverConfig {
        &self.config
    }

    /// The timesteps 0..last that survive `lambda_min_clipped`: those whose λ = log(α/σ̃) is
    /// at least the bound (diffusers' `searchsorted` over λ ascending).
    fn last_timestep(&self) -> usize {
        let cut = self.config.lambda_min_clipped;
        let clipped = self
            .core
            .tab
            .alphas_cumprod
            .iter()
            .filter(|&&a| {
                let lambda = (a.sqrt().ln() - (1.0 - a).sqrt().ln()) as f32 as f64;
                lambda < cut
            })
            .count();
        self.core.tab.alphas_cumprod.len() - clipped
    }

    /// The solver order step k runs at, given how many steps came before.
    fn order_at(&self, k: usize, lower_order_nums: usize) -> usize {
        let n = self.core.tab.timesteps.len();
        let c = &self.config;
        let short = c.solver.lower_order_final && n < 15;
        let final_first = k + 1 == n
            && (c.euler_at_final || short || c.solver.final_sigmas_type == FinalSigmas::Zero);
        let final_second = k + 2 == n && short;
        if c.solver.solver_order == 1 || lower_order_nums < 1 || final_first {
            1
        } else if c.solver.solver_order == 2 || lower_order_nums < 2 || final_second {
            2
        } else {
            3
        }
    }

    /// The coefficients (on x, D0, D1, D2, z) of the update from σ_k to σ_{k+1} at `order`.
    fn coefficients(&self, k: usize, order: usize) -> [f64; 5] {
        let (alpha_t, sigma_t, lambda_t) = sigmas::vp(self.core.tab.sigmas[k + 1]);
        let (_, sigma_s0, lambda_s0) = sigmas::vp(self.core.tab.sigmas[k]);
        let h = lambda_t - lambda_s0;
        let sde = self.config.algorithm_type == DpmAlgorithm::SdeDpmSolverPp;
        let heun = self.config.solver_type == DpmSolverType::Heun;
        let em = (-h).exp_m1(); // e^{−h} − 1
        let e2 = -(-2.0 * h).exp_m1(); // 1 − e^{−2h}
        let (c_x, c_d0, c_z) = if sde {
            (
                sigma_t / sigma_s0 * (-h).exp(),
                alpha_t * e2,
                sigma_t * e2.sqrt(),
            )
        } else {
            (sigma_t / sigma_s0, -alpha_t * em, 0.0)
        };
        let linear = if sde {
            alpha_t * (e2 / (-2.0 * h) + 1.0)
        } else {
            alpha_t * (em / h + 1.0)
        };
        let c_d1 = match (order, heun) {
            (1, _) => 0.0,
            (2, false) => 0.5 * c_d0,
            _ => linear,
        };
        let c_d2 = match (order, sde) {
            (3, false) => -alpha_t * ((em + h) / (h * h) - 0.5),
            (3, true) => alpha_t * ((e2 - 2.0 * h) / (4.0 * h * h) - 0.5),
            _ => 0.0,
        };
        [c_x, c_d0, c_d1, c_d2, c_z]
    }

    /// The λ-gap ratios r0 = h_{k−1}/h_k and r1 = h_{k−2}/h_k.
    fn ratios(&self, k: usize) -> (f64, f64) {
        let lambda = |i: usize| sigmas::vp(self.core.tab.sigmas[i]).2;
        let h = lambda(k + 1) - lambda(k);
        let r0 = if k >= 1 {
            (lambda(k) - lambda(k - 1)) / h
        } else {
            1.0
        };
        let r1 = if k >= 2 {
            (lambda(k - 1) - lambda(k - 2)) / h
        } else {
            1.0
        };
        (r0, r1)
    }
}

impl Sampler for DpmSolverScheduler {
    sigmas::sigma_sampler_methods!(sigmas::vp_level, core.tab);
    fn kind(&self) -> SamplerKind {
        match self.config.algorithm_type {
            DpmAlgorithm::DpmSolverPp => SamplerKind::DpmSolver,
            DpmAlgorithm::SdeDpmSolverPp => SamplerKind::DpmSolverSde,
        }
    }
    fn prediction_type(&self) -> PredictionType {
        self.config.solver.prediction_type
    }
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let c = &self.config;
        let t_train = self.core.tab.alphas_cumprod.len();
        let ts = multistep_timesteps(
            t_train,
            self.last_timestep(),
            n,
            c.solver.timestep_spacing,
            c.solver.steps_offset,
        )?;
        let karras = c
            .solver
            .sigma_ladder
            .use_karras_sigmas
            .then_some((None, None));
        let (mut ts, sig) = sigmas::multistep_ladder(ts, &self.core.tab.train_sigmas, karras);
        if karras.is_some() && c.solver.betas.beta_schedule == BetaSchedule::SquaredcosCapV2 {
            // diffusers leaves the cosine schedule's Karras timesteps unrounded, and its int64
            // cast truncates them.
            let logs = sigmas::log_sigmas(&self.core.tab.train_sigmas);
            ts = sig
                .iter()
                .map(|&s| sigmas::sigma_to_t(s, &logs).trunc())
                .collect();
        }
        let last = self.core.tab.final_sigma(c.solver.final_sigmas_type);
        self.core.set_loop(ts, sig, last);
        Ok(())
    }
    fn noise_needed(&self, k: usize) -> Result<bool> {
        self.check_index(k)?;
        Ok(self.config.algorithm_type == DpmAlgorithm::SdeDpmSolverPp
            && self.core.tab.sigmas[k + 1] > 0.0)
    }
    fn set_item_len(&mut self, len: usize) {
        self.core.item_len = Some(len);
    }
    fn reset(&mut self) {
        self.core.order.reset();
    }
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()> {
        let noise = check_step(self, k, &io)?;
        let c = &self.config;
        let x0 = self.core.x0(k, &c.solver, io.model_output, io.sample)?;
        let x0 = Arc::new(x0);
        let solver_order = self.config.solver.solver_order;
        let mut history = self.core.order.begin("DPM-Solver++", k)?;
        let order = self.order_at(k, history.lower_order_nums);
        history.outputs.push(x0.clone());
        if history.outputs.len() > solver_order {
            history.outputs.remove(0);
        }
        let [c_x, c_d0, c_d1, c_d2, c_z] = self.coefficients(k, order).map(|c| c as f32);
        let (r0, r1) = self.ratios(k);
        let (r0, r1) = (r0 as f32, r1 as f32);
        let m = &history.outputs;
        let len = m.len();
        let m1 = (order >= 2).then(|| &m[len - 2]);
        let m2 = (order >= 3).then(|| &m[len - 3]);
        let sample = io.sample;
        for i in 0..sample.len() {
            let d0 = x0[i];
            let (d1, d2) = match (m1, m2) {
                (Some(m1), None) => ((d0 - m1[i]) / r0, 0.0),
                (Some(m1), Some(m2)) => {
                    let d1_0 = (d0 - m1[i]) / r0;
                    let d1_1 = (m1[i] - m2[i]) / r1;
                    (
                        d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1),
                        (d1_0 - d1_1) / (r0 + r1),
                    )
                }
                _ => (0.0, 0.0),
            };
            let z = noise.map_or(0.0, |z| z[i]);
            io.prev_sample[i] = c_x * sample[i] + c_d0 * d0 + c_d1 * d1 + c_d2 * d2 + c_z * z;
        }
        io.pred_original_sample.copy_from_slice(&x0);
        history.lower_order_nums = (history.lower_order_nums + 1).min(solver_order);
        self.core.order.end(history);
        Ok(())
    }
}
