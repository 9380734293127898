//! The two trainable denoisers behind one type: the lab's U-Net and the toy U-Net, chosen by
//! `--arch`, with their configurations as one serde enum (`{"arch": "toy", "config": {…}}`).

use crate::models::lab_unet::{LabUNet, LabUNetConfig, LabUNetCtx};
use crate::models::toy_unet::{ToyUNet, ToyUNetConfig, ToyUNetCtx};
use crate::models::trainable::{TrainCtx, Trainable};
use crate::models::{ClassLabel, NoisePredictor};
use crate::nn::params::{ParamSpec, Params};
use crate::nn::{Tensor, Weights};
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which U-Net to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// difflab's default: the lab's stages and widths, time as a per-block shift, GroupNorm + SiLU.
    Toy,
    /// The lab's U-Net exactly (495,937 parameters, 64 constant time channels, ReLU).
    Lab,
}

impl Arch {
    /// `toy` or `lab`.
    pub fn name(&self) -> &'static str {
        match self {
            Arch::Toy => "toy",
            Arch::Lab => "lab",
        }
    }
}

/// An architecture and its sizes, as stored in a checkpoint's `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", content = "config", rename_all = "snake_case")]
pub enum ModelConfig {
    /// The toy U-Net.
    Toy(ToyUNetConfig),
    /// The lab's U-Net.
    Lab(LabUNetConfig),
}

impl ModelConfig {
    /// The default configuration of `arch` for `image_size × image_size` images.
    pub fn new(arch: Arch, image_size: usize) -> Self {
        match arch {
            Arch::Toy => ModelConfig::Toy(ToyUNetConfig {
                image_size,
                ..ToyUNetConfig::default()
            }),
            Arch::Lab => ModelConfig::Lab(LabUNetConfig {
                image_size,
                ..LabUNetConfig::default()
            }),
        }
    }
    /// Which architecture.
    pub fn arch(&self) -> Arch {
        match self {
            ModelConfig::Toy(_) => Arch::Toy,
            ModelConfig::Lab(_) => Arch::Lab,
        }
    }
    /// Side of the square images the model was built for.
    pub fn image_size(&self) -> usize {
        match self {
            ModelConfig::Toy(c) => c.image_size,
            ModelConfig::Lab(c) => c.image_size,
        }
    }
    /// Classes the model is conditioned on (0: unconditional).
    pub fn num_classes(&self) -> usize {
        match self {
            ModelConfig::Toy(c) => c.num_classes,
            ModelConfig::Lab(_) => 0,
        }
    }
    /// Image channels.
    pub fn in_channels(&self) -> usize {
        match self {
            ModelConfig::Toy(c) => c.in_channels,
            ModelConfig::Lab(c) => c.in_channels,
        }
    }
}

/// A trainable denoiser of either architecture.
// A few per process, never moved in a loop: the variants' size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Denoiser {
    /// The toy U-Net.
    Toy(ToyUNet),
    /// The lab's U-Net.
    Lab(LabUNet),
}

/// The training buffers of a [`Denoiser`] for one batch shape.
// One per training run, never moved in a loop: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum DenoiserCtx {
    /// Buffers of a toy U-Net.
    Toy(ToyUNetCtx),
    /// Buffers of a lab U-Net.
    Lab(LabUNetCtx),
}

impl DenoiserCtx {
    /// The parameter gradients of the last backward pass (aligned with [`Denoiser::params`]).
    pub fn grads(&self) -> &[f32] {
        match self {
            DenoiserCtx::Toy(c) => c.grads(),
            DenoiserCtx::Lab(c) => c.grads(),
        }
    }

    fn arch(&self) -> Arch {
        match self {
            DenoiserCtx::Toy(_) => Arch::Toy,
            DenoiserCtx::Lab(_) => Arch::Lab,
        }
    }
}

impl Denoiser {
    /// A freshly initialised model (each architecture's own initialisation) from `rng`.
    pub fn new(cfg: &ModelConfig, rng: &mut Rng) -> Result<Self> {
        Ok(match cfg {
            ModelConfig::Toy(c) => Denoiser::Toy(ToyUNet::new(c.clone(), rng)?),
            ModelConfig::Lab(c) => Denoiser::Lab(LabUNet::new(c.clone(), rng)?),
        })
    }

    /// A model whose tensors are read from `w` under `prefix` (`""` or `"ema."`); errors name
    /// the file, the key and the shapes.
    pub fn from_weights(cfg: &ModelConfig, w: &Weights, prefix: &str) -> Result<Self> {
        Ok(match cfg {
            ModelConfig::Toy(c) => {
                Denoiser::Toy(ToyUNet::from_weights_prefixed(c.clone(), w, prefix)?)
            }
            ModelConfig::Lab(c) => {
                Denoiser::Lab(LabUNet::from_weights_prefixed(c.clone(), w, prefix)?)
            }
        })
    }

    /// The configuration.
    pub fn config(&self) -> ModelConfig {
        match self {
            Denoiser::Toy(m) => ModelConfig::Toy(m.config().clone()),
            Denoiser::Lab(m) => ModelConfig::Lab(m.config().clone()),
        }
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        match self {
            Denoiser::Toy(_) => Arch::Toy,
            Denoiser::Lab(_) => Arch::Lab,
        }
    }

    fn store(&self) -> &Params {
        match self {
            Denoiser::Toy(m) => m.store(),
            Denoiser::Lab(m) => m.store(),
        }
    }

    fn predictor(&self) -> &dyn NoisePredictor {
        match self {
            Denoiser::Toy(m) => m,
            Denoiser::Lab(m) => m,
        }
    }

    fn predictor_mut(&mut self) -> &mut dyn NoisePredictor {
        match self {
            Denoiser::Toy(m) => m,
            Denoiser::Lab(m) => m,
        }
    }

    /// The named tensors and their places in the flat parameter buffer.
    pub fn param_specs(&self) -> &[ParamSpec] {
        self.store().specs()
    }

    /// All parameters, flat.
    pub fn params(&self) -> &[f32] {
        self.store().values()
    }

    /// All parameters, flat and mutable.
    pub fn params_mut(&mut self) -> &mut [f32] {
        match self {
            Denoiser::Toy(m) => m.params_mut(),
            Denoiser::Lab(m) => m.params_mut(),
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.store().len()
    }

    /// Add `values` (laid out like the parameters) to `w` under `prefix + name`.
    pub fn add_to_weights(&self, w: &mut Weights, prefix: &str, values: &[f32]) {
        self.store().layout().add_to_weights(w, prefix, values)
    }

    /// Training buffers for batches of `n` images of `h × w`.
    pub fn train_ctx(&self, n: usize, h: usize, w: usize) -> Result<DenoiserCtx> {
        Ok(match self {
            Denoiser::Toy(m) => DenoiserCtx::Toy(m.train_ctx(n, h, w)?),
            Denoiser::Lab(m) => DenoiserCtx::Lab(m.train_ctx(n, h, w)?),
        })
    }

    /// The error for a context made by a model of the other architecture.
    fn foreign(&self, ctx: &DenoiserCtx, what: &str) -> Error {
        Error::invalid(format!(
            "Denoiser::{what}: a {} U-Net was given the training buffers of a {} U-Net",
            self.arch().name(),
            ctx.arch().name()
        ))
    }

    /// The noise prediction for `x` at timesteps `t`, keeping what the backward pass needs.
    /// An error if `ctx` belongs to the other architecture; panics if it was made for another
    /// batch shape.
    pub fn forward<'c>(&self, ctx: &'c mut DenoiserCtx, x: &[f32], t: &[f32]) -> Result<&'c [f32]> {
        match (self, ctx) {
            (Denoiser::Toy(m), DenoiserCtx::Toy(c)) => Ok(m.forward(c, x, t)),
            (Denoiser::Lab(m), DenoiserCtx::Lab(c)) => Ok(m.forward(c, x, t)),
            (_, c) => Err(self.foreign(c, "forward")),
        }
    }

    /// [`Denoiser::forward`] with the class-embedding row of each image (conditional toy models
    /// only: `0..num_classes`, `num_classes` = no class). An error for an unconditional model.
    pub fn forward_rows<'c>(
        &self,
        ctx: &'c mut DenoiserCtx,
        x: &[f32],
        t: &[f32],
        rows: &[usize],
    ) -> Result<&'c [f32]> {
        if self.num_classes() == 0 {
            return Err(Error::invalid(format!(
                "Denoiser::forward_rows: class rows given to an unconditional {} U-Net",
                self.arch().name()
            )));
        }
        match (self, ctx) {
            (Denoiser::Toy(m), DenoiserCtx::Toy(c)) => Ok(m.forward_rows(c, x, t, rows)),
            (_, c) => Err(self.foreign(c, "forward_rows")),
        }
    }

    /// MSE against `target` of the last forward output and its backward pass (fills the
    /// gradients in `ctx`); returns the loss. An error if `ctx` belongs to the other
    /// architecture.
    pub fn loss_backward(&self, ctx: &mut DenoiserCtx, target: &[f32]) -> Result<f32> {
        match (self, ctx) {
            (Denoiser::Toy(m), DenoiserCtx::Toy(c)) => Ok(m.loss_backward(c, target)),
            (Denoiser::Lab(m), DenoiserCtx::Lab(c)) => Ok(m.loss_backward(c, target)),
            (_, c) => Err(self.foreign(c, "loss_backward")),
        }
    }

    /// The first convolution's 3×3 filters on the image channel `0`, as `[3, 3, cout]`
    /// (row-major), and `cout`.
    pub fn first_filters(&self) -> (Vec<f32>, usize) {
        let spec = self
            .param_specs()
            .iter()
            .find(|s| s.name == "enc1.conv1.weight")
            .expect("both U-Nets have enc1.conv1");
        let (cin, cout) = (spec.shape[2], spec.shape[3]);
        let w = &self.params()[spec.range.clone()];
        let mut out = Vec::with_capacity(9 * cout);
        for tap in 0..9 {
            out.extend_from_slice(&w[tap * cin * cout..][..cout]);
        }
        (out, cout)
    }
}

impl NoisePredictor for Denoiser {
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.predictor_mut().predict(x, timesteps)
    }
    fn num_classes(&self) -> usize {
        self.predictor().num_classes()
    }
    fn predict_labeled(&mut self, x: &Tensor, t: &[f32], labels: &[ClassLabel]) -> Result<Tensor> {
        self.predictor_mut().predict_labeled(x, t, labels)
    }
}
