//! Networks built on the compute core: the lab's U-Net, the toy U-Net, diffusers' UNet2DModel.

use crate::nn::Tensor;
use crate::Result;

/// A network that, given noisy samples `x_t` (NHWC, scaled like the training data) and their
/// timesteps, predicts what the scheduler expects (usually the noise ε). Sampling pipelines
/// drive any such model with any scheduler.
pub trait NoisePredictor {
    /// Predict for the whole batch at once: `x` is `[n, h, w, c]`, `timesteps` has `n` entries,
    /// and the result has the shape of `x`.
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor>;
}

pub mod classifier;
pub mod lab_unet;
pub mod toy_unet;
pub mod unet_2d;
