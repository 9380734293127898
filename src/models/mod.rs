//! Networks built on the compute core: the lab's U-Net, the toy U-Net, diffusers' UNet2DModel,
//! the MNIST classifier; [`Denoiser`] holds either trainable U-Net behind one type.

use crate::nn::Tensor;
use crate::Result;

/// A network that, given noisy samples `x_t` (NHWC, scaled like the training data) and their
/// timesteps, predicts what the scheduler expects (usually the noise ε). Sampling pipelines
/// drive any such model with any scheduler.
pub trait NoisePredictor {
    /// Predict for the whole batch at once: `x` is `[n, h, w, c]`, `timesteps` has `n` entries,
    /// and the result has the shape of `x`.
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor>;

    /// How many classes the model can be conditioned on (labels `0 .. num_classes`); 0 for an
    /// unconditional model.
    fn num_classes(&self) -> usize {
        0
    }

    /// Predict with one class label per image (`t` holds the timesteps, as in
    /// [`NoisePredictor::predict`]): `Some(k)` asks for class `k`, `None` for the learned
    /// "no class" embedding (the unconditional branch of classifier-free guidance). An
    /// unconditional model accepts only `None` labels, which mean [`NoisePredictor::predict`].
    fn predict_labeled(&mut self, x: &Tensor, t: &[f32], labels: &[ClassLabel]) -> Result<Tensor> {
        if let Some(k) = labels.iter().flatten().next() {
            return Err(crate::Error::invalid(format!(
                "asked for class {k}, but the model is unconditional (trained without labels)"
            )));
        }
        self.predict(x, t)
    }
}

/// The class a class-conditional model is asked for: `Some(k)` for class `k` (a digit), `None`
/// for no class (the null embedding that classifier-free guidance trains by label dropout).
pub type ClassLabel = Option<usize>;

pub mod classifier;
pub mod denoiser;
pub mod lab_unet;
pub mod toy_unet;
pub mod trainable;
pub mod unet_2d;

pub use denoiser::{Arch, Denoiser, DenoiserCtx, ModelConfig};
pub use trainable::{TrainCtx, Trainable, UNetArch, UNetModel};
