//! The lab's simplified U-Net (Module 2's `lab` architecture), exactly as the original Keras
//! notebook builds it, on difflab's compute core.
//!
//! ```text
//! t ─ sinusoid(32) ─ Linear 64 + ReLU ─ Linear 64 + ReLU ─ broadcast to h×w×64 ─┐
//! x (h×w×1) ────────────────────────────────────────────────────────────────── concat (65)
//!   enc1: Conv3×3 32 + ReLU, Conv3×3 32 + ReLU (= skip1) ─ MaxPool2
//!   enc2: Conv3×3 64 + ReLU, Conv3×3 64 + ReLU (= skip2) ─ MaxPool2
//!   mid:  Conv3×3 128 + ReLU, Conv3×3 128 + ReLU
//!   dec2: Upsample2, concat [up, skip2], Conv3×3 64 + ReLU ×2
//!   dec1: Upsample2, concat [up, skip1], Conv3×3 32 + ReLU ×2
//!   out:  Conv3×3 1
//! ```
//! 'Same' padding throughout; 495,937 parameters at the lab's sizes. The sinusoid uses
//! frequencies `exp(−ln(10000)·i/(half − 1))`, sin half first. Any input size divisible by 4 works
//! (16×16 and 28×28 — 28 → 14 → 7 — directly, no padding); other sizes are an error.
//!
//! Parameters live in one flat buffer in a fixed order ([`Trainable::param_specs`]), with readable
//! names (`enc1.conv1.weight`, …) in difflab's layout: conv weights HWIO `[3, 3, cin, cout]`,
//! linear weights `[in, out]`. Training goes through a [`LabUNetCtx`], which owns every activation
//! and gradient buffer for one batch size; its gradient buffer is aligned with the parameters so
//! an optimiser updates everything in one pass.

mod ctx;

pub use ctx::{LabBufs, LabUNetCtx};

use crate::models::trainable::{check_size, Trainable, UNetCtx};
use crate::models::NoisePredictor;
use crate::nn::params::{ParamLayout, Params};
use crate::nn::{init, Tensor, Weights};
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The lab U-Net's sizes. `Default` is the lab's model; smaller ones serve tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabUNetConfig {
    /// Side of the square training images (16 in the lab; 28 also works).
    pub image_size: usize,
    /// Image channels (1 for MNIST); the output has as many.
    pub in_channels: usize,
    /// Width of the sinusoidal timestep embedding (32; even, at least 4).
    pub time_embed_dim: usize,
    /// Width of the time MLP, which is also the number of broadcast time channels (64).
    pub time_hidden: usize,
    /// Channels of the three resolutions: encoder 1 / decoder 1, encoder 2 / decoder 2, bottleneck
    /// (`[32, 64, 128]`).
    pub channels: [usize; 3],
}

impl Default for LabUNetConfig {
    fn default() -> Self {
        LabUNetConfig {
            image_size: 16,
            in_channels: 1,
            time_embed_dim: 32,
            time_hidden: 64,
            channels: [32, 64, 128],
        }
    }
}

impl LabUNetConfig {
    /// An error unless every size is usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("lab U-Net config: {m}")));
        if self.in_channels == 0 || self.time_hidden == 0 || self.channels.contains(&0) {
            return bad(format!("channel counts must be positive, got {self:?}"));
        }
        if self.time_embed_dim < 4 || !self.time_embed_dim.is_multiple_of(2) {
            return bad(format!(
                "time_embed_dim must be even and at least 4, got {}",
                self.time_embed_dim
            ));
        }
        check_size(LabUNet::NAME, self.image_size, self.image_size)
    }

    /// `(cin, cout)` of the eleven 3×3 convolutions, in [`CONV_NAMES`] order.
    pub fn conv_shapes(&self) -> [(usize, usize); 11] {
        let [c0, c1, c2] = self.channels;
        let ci = self.in_channels;
        [
            (ci + self.time_hidden, c0),
            (c0, c0),
            (c0, c1),
            (c1, c1),
            (c1, c2),
            (c2, c2),
            (c2 + c1, c1),
            (c1, c1),
            (c1 + c0, c0),
            (c0, c0),
            (c0, ci),
        ]
    }
}

/// Names of the eleven convolutions, in forward order.
pub const CONV_NAMES: [&str; 11] = [
    "enc1.conv1",
    "enc1.conv2",
    "enc2.conv1",
    "enc2.conv2",
    "mid.conv1",
    "mid.conv2",
    "dec2.conv1",
    "dec2.conv2",
    "dec1.conv1",
    "dec1.conv2",
    "out",
];

/// Index in [`Trainable::param_specs`] of the time MLP's tensors and of conv `i`'s weight / bias.
pub(crate) mod idx {
    pub const T1_W: usize = 0;
    pub const T1_B: usize = 1;
    pub const T2_W: usize = 2;
    pub const T2_B: usize = 3;
    pub const fn conv_w(i: usize) -> usize {
        4 + 2 * i
    }
    pub const fn conv_b(i: usize) -> usize {
        5 + 2 * i
    }
}

/// The parameter tensors in [`idx`] order: the time MLP, then each convolution's weight and bias.
fn param_layout(cfg: &LabUNetConfig) -> ParamLayout {
    let mut l = ParamLayout::new();
    l.push(
        "time.lin1.weight",
        vec![cfg.time_embed_dim, cfg.time_hidden],
    );
    l.push("time.lin1.bias", vec![cfg.time_hidden]);
    l.push("time.lin2.weight", vec![cfg.time_hidden, cfg.time_hidden]);
    l.push("time.lin2.bias", vec![cfg.time_hidden]);
    for (name, (cin, cout)) in CONV_NAMES.iter().zip(cfg.conv_shapes()) {
        l.push(format!("{name}.weight"), vec![3, 3, cin, cout]);
        l.push(format!("{name}.bias"), vec![cout]);
    }
    l
}

/// The lab U-Net: its configuration and its parameters in one flat buffer.
pub struct LabUNet {
    cfg: LabUNetConfig,
    params: Params,
    /// Forward-only buffers kept between [`NoisePredictor::predict`] calls.
    infer: Option<LabUNetCtx>,
}

impl LabUNet {
    /// A freshly initialised model, Keras' defaults: Glorot-uniform kernels, zero biases.
    pub fn new(cfg: LabUNetConfig, rng: &mut Rng) -> Result<Self> {
        cfg.validate()?;
        let mut params = Params::zeros(param_layout(&cfg));
        for k in 0..params.specs().len() {
            let (fan_in, fan_out) = match params.specs()[k].shape[..] {
                [i, o] => (i, o),
                [kh, kw, i, o] => (kh * kw * i, kh * kw * o),
                _ => continue,
            };
            init::glorot_uniform(params.get_mut(k), fan_in, fan_out, rng);
        }
        Ok(LabUNet {
            cfg,
            params,
            infer: None,
        })
    }

    /// A model with the named tensors of `w` (as written by [`Trainable::to_weights`]); a
    /// missing tensor or a wrong shape is an error naming the file, the key and the shapes.
    pub fn from_weights(cfg: LabUNetConfig, w: &Weights) -> Result<Self> {
        Self::from_weights_prefixed(cfg, w, "")
    }

    /// Like [`LabUNet::from_weights`], reading `prefix + name` (e.g. `ema.` for EMA weights).
    pub fn from_weights_prefixed(cfg: LabUNetConfig, w: &Weights, prefix: &str) -> Result<Self> {
        cfg.validate()?;
        Ok(LabUNet {
            params: Params::from_weights(param_layout(&cfg), w, prefix)?,
            cfg,
            infer: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LabUNetConfig {
        &self.cfg
    }

    /// The parameter tensor `i` of [`Trainable::param_specs`].
    pub(crate) fn p(&self, i: usize) -> &[f32] {
        self.params.get(i)
    }
}

impl Trainable for LabUNet {
    type Ctx = LabUNetCtx;
    const NAME: &'static str = "lab U-Net";

    fn store(&self) -> &Params {
        &self.params
    }
    fn store_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    fn in_channels(&self) -> usize {
        self.cfg.in_channels
    }
    fn new_ctx(&self, dims: (usize, usize, usize), train: bool) -> Result<LabUNetCtx> {
        let sizes = (self.params.len(), self.cfg.in_channels);
        UNetCtx::new(Self::NAME, sizes, dims, train, || {
            LabBufs::new(&self.cfg, dims, train)
        })
    }
    fn infer_slot(&mut self) -> &mut Option<LabUNetCtx> {
        &mut self.infer
    }
    fn forward<'c>(&self, ctx: &'c mut LabUNetCtx, x: &[f32], t: &[f32]) -> &'c [f32] {
        self.forward_pass(ctx, x, t)
    }
    fn backward_from_loss_grad(&self, ctx: &mut LabUNetCtx) {
        self.backward_pass(ctx)
    }
}

impl NoisePredictor for LabUNet {
    /// Predict the noise for `x` (`[n, h, w, in_channels]`, `h` and `w` divisible by 4) at the
    /// given timesteps; buffers are reused while the batch shape stays the same.
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.predict_with(x, timesteps, |m, ctx, x, t| {
            m.forward_pass(ctx, x, t);
        })
    }
}

impl std::fmt::Debug for LabUNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabUNet")
            .field("cfg", &self.cfg)
            .field("num_params", &self.params.len())
            .finish_non_exhaustive()
    }
}
