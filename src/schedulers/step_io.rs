//! The slices one reverse step reads and writes, bundled so that every scheduler's step takes
//! them as one argument.

use crate::{Error, Result};

/// The result of one reverse step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutput {
    /// x_{t_prev}: the sample one (respaced) step less noisy.
    pub prev_sample: Vec<f32>,
    /// x̂0: the clean sample the model's output implies at t (after clipping, if enabled).
    pub pred_original_sample: Vec<f32>,
}

/// What one step reads (the model's output, the sample, optional noise) and the buffers it
/// writes (the next sample and x̂0). All slices have the same length and layout.
#[derive(Debug)]
pub struct StepIo<'a> {
    /// The model's prediction for the (scaled) sample.
    pub model_output: &'a [f32],
    /// The sample the step starts from.
    pub sample: &'a [f32],
    /// Standard normal noise, one value per element: required when the step adds noise,
    /// ignored otherwise.
    pub noise: Option<&'a [f32]>,
    /// Receives the sample the step lands on.
    pub prev_sample: &'a mut [f32],
    /// Receives x̂0, the clean-sample estimate.
    pub pred_original_sample: &'a mut [f32],
}

impl<'a> StepIo<'a> {
    /// Bundle the inputs and output buffers of a step.
    pub fn new(
        model_output: &'a [f32],
        sample: &'a [f32],
        noise: Option<&'a [f32]>,
        prev_sample: &'a mut [f32],
        pred_original_sample: &'a mut [f32],
    ) -> Self {
        StepIo {
            model_output,
            sample,
            noise,
            prev_sample,
            pred_original_sample,
        }
    }

    /// Run `step` on fresh output buffers of the sample's length and return them.
    pub fn fresh(
        model_output: &[f32],
        sample: &[f32],
        noise: Option<&[f32]>,
        step: impl FnOnce(StepIo<'_>) -> Result<()>,
    ) -> Result<StepOutput> {
        let mut prev_sample = vec![0.0; sample.len()];
        let mut pred_original_sample = vec![0.0; sample.len()];
        step(StepIo::new(
            model_output,
            sample,
            noise,
            &mut prev_sample,
            &mut pred_original_sample,
        ))?;
        Ok(StepOutput {
            prev_sample,
            pred_original_sample,
        })
    }

    /// Check the slices for `who`'s step: equal lengths, noise present when `needs_noise`.
    /// Returns the noise the step adds: `None` when it adds none.
    pub(crate) fn check(&self, who: &str, needs_noise: bool) -> Result<Option<&'a [f32]>> {
        let n = self.sample.len();
        let (out, prev, x0) = (
            self.model_output.len(),
            self.prev_sample.len(),
            self.pred_original_sample.len(),
        );
        if out != n || prev != n || x0 != n {
            return Err(Error::invalid(format!(
                "{who} step: model_output ({out}), sample ({n}), prev_sample ({prev}) and \
                 pred_original_sample ({x0}) must have the same length",
            )));
        }
        match self.noise {
            Some(z) if z.len() != n => Err(Error::invalid(format!(
                "{who} step: noise has {} values, the sample {n}",
                z.len()
            ))),
            None if needs_noise => Err(Error::invalid(format!(
                "{who} step: this step adds noise, but no noise was given"
            ))),
            z => Ok(z.filter(|_| needs_noise)),
        }
    }
}
