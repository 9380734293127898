//! What the multistep σ solvers, DPM-Solver++ and UniPC, share: most of their config fields
//! and the state they keep besides the config.

use super::config::{d_linspace, d_order, d_true, BetaConfig, PredictionType, TimestepSpacing};
use super::sampler::StepOrder;
use super::sigmas::{
    check_order, vp_x0, FinalSigmas, FlowMatching, SigmaLadder, SigmaTables, ThresholdConfig,
};
use crate::Result;
use serde::{Deserialize, Serialize};

/// The fields diffusers' `DPMSolverMultistepScheduler` and `UniPCMultistepScheduler` share
/// (flattened into [`DpmSolverConfig`](super::DpmSolverConfig) and
/// [`UniPcConfig`](super::UniPcConfig)), each with diffusers' default when absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultistepConfig {
    /// The training schedule's β fields.
    #[serde(flatten)]
    pub betas: BetaConfig,
    /// Rescale betas to zero terminal SNR (default false).
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
    /// The solver's order, 1-3 (default 2).
    #[serde(default = "d_order")]
    pub solver_order: usize,
    /// What the model predicts (default `epsilon`).
    #[serde(default)]
    pub prediction_type: PredictionType,
    /// Dynamic thresholding of x̂0 (default off).
    #[serde(flatten)]
    pub threshold: ThresholdConfig,
    /// Lower orders on the last steps (default true; DPM-Solver++ only in loops of fewer than
    /// 15 steps).
    #[serde(default = "d_true")]
    pub lower_order_final: bool,
    /// Karras σ spacing (default off); the other σ ladders are refused.
    #[serde(flatten)]
    pub sigma_ladder: SigmaLadder,
    /// Flow matching: not supported, both flags must be false.
    #[serde(flatten)]
    pub flow_matching: FlowMatching,
    /// How inference timesteps are spaced (default `linspace`).
    #[serde(default = "d_linspace")]
    pub timestep_spacing: TimestepSpacing,
    /// Added to `leading` timesteps (default 0).
    #[serde(default)]
    pub steps_offset: usize,
    /// The σ after the last step (default `zero`).
    #[serde(default)]
    pub final_sigmas_type: FinalSigmas,
}

impl MultistepConfig {
    /// An error naming the offending field: `solver_order` outside 1..=3, or an unsupported σ
    /// ladder or flow-matching flag.
    pub(crate) fn check(&self) -> Result<()> {
        check_order(self.solver_order)?;
        self.sigma_ladder.check()?;
        self.flow_matching.check()
    }
}

/// What a multistep σ solver keeps besides its config: the σ tables, the batch item length
/// dynamic thresholding needs, and the ordered multistep state `H`.
#[derive(Clone, Debug)]
pub(crate) struct Multistep<H> {
    pub tab: SigmaTables,
    pub item_len: Option<usize>,
    pub order: StepOrder<H>,
}

impl<H: Clone + Default> Multistep<H> {
    /// The training tables of `config`, no loop and no state yet.
    pub fn new(config: &MultistepConfig) -> Result<Self> {
        Ok(Multistep {
            tab: SigmaTables::new(&config.betas, config.rescale_betas_zero_snr)?,
            item_len: None,
            order: StepOrder::default(),
        })
    }

    /// [`SigmaTables::set_loop`], forgetting the multistep state.
    pub fn set_loop(&mut self, ts: Vec<f64>, sig: Vec<f64>, last: f64) {
        self.tab.set_loop(ts, sig, last);
        self.order.reset();
    }

    /// x̂0 from the model output at step k, thresholded if `config` says so.
    pub fn x0(
        &self,
        k: usize,
        config: &MultistepConfig,
        model_output: &[f32],
        sample: &[f32],
    ) -> Result<Vec<f32>> {
        let (a, s) = self.tab.vp_f32(k);
        let kind = config.prediction_type;
        let mut x0: Vec<f32> = model_output
            .iter()
            .zip(sample)
            .map(|(&o, &x)| vp_x0(kind, a, s, o, x))
            .collect();
        config.threshold.apply(&mut x0, self.item_len)?;
        Ok(x0)
    }
}
