//! Pseudo numerical methods for diffusion models (Liu et al. 2022, "Pseudo Numerical Methods
//! for Diffusion Models on Manifolds") with diffusers' `PNDMScheduler` semantics.
//!
//! PNDM treats DDIM's step as the "transfer" part of an ODE solver and feeds it a combination
//! of noise predictions, like a linear multistep method: PLMS (pseudo linear multistep) uses
//! the Adams-Bashforth weights of the last four predictions, (55·ε₀ − 59·ε₁ + 37·ε₂ − 9·ε₃)/24.
//! Until four predictions exist it needs a warm-up: three pseudo Runge-Kutta (PRK) steps of four
//! model calls each (12 loop steps on 3 intervals, with half-interval points), or with
//! `skip_prk_steps` (diffusers' and Stable Diffusion's usual choice) lower-order Adams-Bashforth
//! steps, where the second step goes back and redoes the first interval with the average of
//! two predictions. Either way the timesteps the model sees repeat, which is why a loop must
//! follow the loop index k rather than t:
//!
//! ```text
//! skip_prk_steps, n = 50:   980, 960, 960, 940, 920, … 20, 0           (n + 1 steps)
//! with PRK,       n = 50:   980, 970, 970, 960, 960, … 920, 900, … 0  (n + 9 steps)
//! every step:  x_prev = √(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε̄ / (ᾱ_t·√(1−ᾱ_prev) + √(ᾱ_t(1−ᾱ_t)ᾱ_prev))
//! ```

use super::config::{BetaConfig, PredictionType, TimestepSpacing};
use super::sampler::{check_step, NoiseLevel, Sampler, SamplerKind, StepOrder};
use super::{spaced_timesteps, Predict, StepIo};
use crate::diffusion::NoiseSchedule;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The configuration of a [`PndmScheduler`]: diffusers' `PNDMScheduler` fields, each with
/// diffusers' default when absent. `prediction_type = sample` is refused, as diffusers does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PndmConfig {
    /// The training schedule's β fields.
    #[serde(flatten)]
    pub betas: BetaConfig,
    /// Skip the Runge-Kutta warm-up (default false).
    #[serde(default)]
    pub skip_prk_steps: bool,
    /// The ᾱ after the last step: 1 (true) or ᾱ_0 (false, default).
    #[serde(default)]
    pub set_alpha_to_one: bool,
    /// What the model predicts (default `epsilon`).
    #[serde(default)]
    pub prediction_type: PredictionType,
    /// How inference timesteps are spaced (default `leading`).
    #[serde(default)]
    pub timestep_spacing: TimestepSpacing,
    /// Added to `leading` timesteps (default 0).
    #[serde(default)]
    pub steps_offset: usize,
}

impl super::ConfigFile for PndmConfig {
    const CLASS_NAME: &'static str = "PNDMScheduler";
}

impl Default for PndmConfig {
    fn default() -> Self {
        super::config::serde_defaults()
    }
}

/// One loop step's plan: the model's timestep, the timestep whose ᾱ the transfer starts from,
/// and the one it lands on (negative: the final ᾱ).
#[derive(Clone, Copy, Debug)]
struct Plan {
    t: i64,
    from: i64,
    to: i64,
}

/// The warm-up and multistep state.
#[derive(Clone, Debug, Default)]
struct History {
    ets: Vec<Arc<Vec<f32>>>,
    cur_model_output: Option<Vec<f32>>,
    cur_sample: Option<Arc<Vec<f32>>>,
}

/// diffusers' `PNDMScheduler` (see the module doc).
#[derive(Clone, Debug)]
pub struct PndmScheduler {
    config: PndmConfig,
    schedule: NoiseSchedule,
    final_alpha_cumprod: f64,
    plan: Vec<Plan>,
    prk_steps: usize,
    timesteps: Vec<f64>,
    order: StepOrder<History>,
}

impl PndmScheduler {
    /// A scheduler from its config; errors name the offending field.
    pub fn new(config: PndmConfig) -> Result<Self> {
        if config.prediction_type == PredictionType::Sample {
            return Err(Error::invalid(
                "prediction_type = sample is not supported by PNDM (as in diffusers); use \
                 epsilon or v_prediction, or another sampler",
            ));
        }
        let schedule = config.betas.schedule(false)?;
        let final_alpha_cumprod = if config.set_alpha_to_one {
            1.0
        } else {
            schedule.alphas_cumprod_f64()[0]
        };
        Ok(PndmScheduler {
            config,
            schedule,
            final_alpha_cumprod,
            plan: Vec::new(),
            prk_steps: 0,
            timesteps: Vec::new(),
            order: StepOrder::default(),
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &PndmConfig {
        &self.config
    }

    /// The number of Runge-Kutta warm-up steps at the start of the loop (0 or 12).
    pub fn prk_steps(&self) -> usize {
        self.prk_steps
    }

    fn alpha(&self, t: i64) -> f64 {
        if t >= 0 {
            self.schedule.alphas_cumprod_f64()[t as usize]
        } else {
            self.final_alpha_cumprod
        }
    }

    /// The transfer x_from → x_to with the combined prediction `eps` (v converted with `x`).
    fn transfer(&self, p: Plan, x: &[f32], eps: &[f32], out: &mut [f32]) {
        let (a_t, a_prev) = (self.alpha(p.from), self.alpha(p.to));
        let c_x = (a_prev / a_t).sqrt() as f32;
        let denom = a_t * (1.0 - a_prev).sqrt() + (a_t * (1.0 - a_t) * a_prev).sqrt();
        let c_e = ((a_prev - a_t) / denom) as f32;
        let v = self.config.prediction_type == PredictionType::VPrediction;
        let (sa, sb) = (a_t.sqrt() as f32, (1.0 - a_t).sqrt() as f32);
        for i in 0..x.len() {
            let e = if v { sa * eps[i] + sb * x[i] } else { eps[i] };
            out[i] = c_x * x[i] - c_e * e;
        }
    }

    /// A PRK warm-up step: accumulate the Runge-Kutta weights ⅙, ⅓, ⅓, ⅙ of the block's four
    /// outputs; every transfer starts from the block's first sample.
    fn prk(&self, k: usize, h: &mut History, out: &[f32], sample: &[f32], prev: &mut [f32]) {
        let weight = [1.0f32 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0][k % 4];
        let mut eps = out.to_vec();
        if k.is_multiple_of(4) {
            h.ets.push(Arc::new(out.to_vec()));
            h.cur_sample = Some(Arc::new(sample.to_vec()));
        }
        let acc = h
            .cur_model_output
            .get_or_insert_with(|| vec![0.0; out.len()]);
        if k % 4 == 3 {
            for (e, &a) in eps.iter_mut().zip(acc.iter()) {
                *e = a + weight * *e;
            }
            h.cur_model_output = None;
        } else {
            acc.iter_mut().zip(out).for_each(|(a, &o)| *a += weight * o);
        }
        let x = h
            .cur_sample
            .clone()
            .unwrap_or_else(|| Arc::new(sample.to_vec()));
        self.transfer(self.plan[k], &x, &eps, prev);
    }

    /// A PLMS step: Adams-Bashforth on the stored predictions (see the module doc).
    fn plms(&self, k: usize, h: &mut History, out: &[f32], sample: &[f32], prev: &mut [f32]) {
        if k != 1 {
            let keep = h.ets.len().saturating_sub(3);
            h.ets.drain(..keep);
            h.ets.push(Arc::new(out.to_vec()));
        }
        let e = &h.ets;
        let n = e.len();
        let mut x = Arc::new(sample.to_vec());
        let eps: Vec<f32> = match (n, k) {
            (1, 0) => {
                h.cur_sample = Some(x.clone());
                out.to_vec()
            }
            (1, 1) => {
                x = h.cur_sample.take().unwrap_or(x);
                out.iter()
                    .zip(e[0].iter())
                    .map(|(&a, &b)| (a + b) / 2.0)
                    .collect()
            }
            (2, _) => (0..out.len())
                .map(|i| (3.0 * e[1][i] - e[0][i]) / 2.0)
                .collect(),
            (3, _) => (0..out.len())
                .map(|i| (23.0 * e[2][i] - 16.0 * e[1][i] + 5.0 * e[0][i]) / 12.0)
                .collect(),
            _ => (0..out.len())
                .map(|i| {
                    (1.0 / 24.0)
                        * (55.0 * e[n - 1][i] - 59.0 * e[n - 2][i] + 37.0 * e[n - 3][i]
                            - 9.0 * e[n - 4][i])
                })
                .collect(),
        };
        self.transfer(self.plan[k], &x, &eps, prev);
    }
}

impl Sampler for PndmScheduler {
    fn kind(&self) -> SamplerKind {
        SamplerKind::Pndm
    }
    fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }
    fn alphas_cumprod(&self) -> &[f64] {
        self.schedule.alphas_cumprod_f64()
    }
    fn prediction_type(&self) -> PredictionType {
        self.config.prediction_type
    }
    /// diffusers' PNDM timesteps (see the module doc). Errors as [`spaced_timesteps`], and
    /// with the PRK warm-up for fewer than 4 steps (it needs the last four).
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let c = &self.config;
        let t_train = self.schedule.num_train_timesteps();
        let mut base: Vec<i64> = spaced_timesteps(t_train, n, c.timestep_spacing, c.steps_offset)?
            .into_iter()
            .map(|t| t as i64)
            .collect();
        base.reverse(); // ascending, as diffusers' `_timesteps`
        let ratio = (t_train / n) as i64;
        let m = base.len();
        self.plan = if c.skip_prk_steps {
            let mut ts: Vec<i64> = base[..m - 1].to_vec();
            ts.extend_from_slice(&base[m.saturating_sub(2)..m - 1]);
            ts.push(base[m - 1]);
            ts.reverse();
            self.prk_steps = 0;
            let plms = |(k, &t): (usize, &i64)| match k {
                1 => Plan {
                    t,
                    from: t + ratio,
                    to: t,
                },
                _ => Plan {
                    t,
                    from: t,
                    to: t - ratio,
                },
            };
            ts.iter().enumerate().map(plms).collect()
        } else {
            if m < 4 {
                return Err(Error::invalid(format!(
                    "PNDM's Runge-Kutta warm-up needs at least 4 steps, got {n} (or set \
                     skip_prk_steps = true)"
                )));
            }
            let half = ratio / 2;
            let points: Vec<i64> = base[m - 4..].iter().flat_map(|&t| [t, t + half]).collect();
            let mut prk: Vec<i64> = points[..7].iter().flat_map(|&t| [t, t]).collect();
            prk = prk[1..prk.len() - 1].to_vec();
            prk.reverse();
            self.prk_steps = prk.len();
            let mut plan: Vec<Plan> = (0..prk.len())
                .map(|k| {
                    let diff = if k % 2 == 1 { 0 } else { half };
                    Plan {
                        t: prk[k],
                        from: prk[k / 4 * 4],
                        to: prk[k] - diff,
                    }
                })
                .collect();
            plan.extend(base[..m - 3].iter().rev().map(|&t| Plan {
                t,
                from: t,
                to: t - ratio,
            }));
            plan
        };
        self.timesteps = self.plan.iter().map(|p| p.t as f64).collect();
        self.order.reset();
        Ok(())
    }
    fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }
    fn level_before(&self, k: usize) -> Result<NoiseLevel> {
        self.check_index(k)?;
        Ok(NoiseLevel::vp(self.alpha(self.plan[k].t)))
    }
    fn level_after(&self, k: usize) -> Result<NoiseLevel> {
        self.check_index(k)?;
        Ok(NoiseLevel::vp(self.alpha(self.plan[k].to)))
    }
    fn reset(&mut self) {
        self.order.reset();
    }
    fn step_io(&mut self, k: usize, io: StepIo<'_>) -> Result<()> {
        check_step(self, k, &io)?;
        let (out, sample) = (io.model_output, io.sample);
        let mut h = self.order.begin("PNDM", k)?;
        if k < self.prk_steps {
            self.prk(k, &mut h, out, sample, io.prev_sample);
        } else {
            self.plms(k, &mut h, out, sample, io.prev_sample);
        }
        self.order.end(h);
        let kind = self.config.prediction_type;
        let predict = Predict::new(kind, self.alpha(self.plan[k].t), None);
        for ((p, &o), &x) in io.pred_original_sample.iter_mut().zip(out).zip(sample) {
            *p = predict.x0_eps(o, x).0;
        }
        Ok(())
    }
}
