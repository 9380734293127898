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

use crate::models::trainable::{
    check_size, check_widths, conv_shapes, Trainable, UNetArch, UNetModel,
};
use crate::models::NoisePredictor;
use crate::nn::params::ParamLayout;
use crate::nn::{init, Tensor};
use crate::util::rng::Rng;
use crate::Result;
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
        let widths = (self.in_channels, self.time_hidden, self.channels);
        check_widths(Self::NAME, self, widths, self.time_embed_dim)?;
        check_size(Self::NAME, self.image_size, self.image_size)
    }

    /// `(cin, cout)` of the eleven 3×3 convolutions, in [`CONV_NAMES`] order.
    pub fn conv_shapes(&self) -> [(usize, usize); 11] {
        let ci = self.in_channels;
        conv_shapes(ci + self.time_hidden, ci, self.channels)
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
pub type LabUNet = UNetModel<LabUNetConfig>;

impl LabUNet {
    /// A freshly initialised model, Keras' defaults: Glorot-uniform kernels, zero biases.
    pub fn new(cfg: LabUNetConfig, rng: &mut Rng) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let params = &mut m.params;
        for k in 0..params.specs().len() {
            let (fan_in, fan_out) = match params.specs()[k].shape[..] {
                [i, o] => (i, o),
                [kh, kw, i, o] => (kh * kw * i, kh * kw * o),
                _ => continue,
            };
            init::glorot_uniform(params.get_mut(k), fan_in, fan_out, rng);
        }
        Ok(m)
    }
}

impl UNetArch for LabUNetConfig {
    type Bufs = LabBufs;
    type Layout = ();
    const NAME: &'static str = "lab U-Net";

    fn layout(&self) -> Result<(ParamLayout, ())> {
        self.validate()?;
        Ok((param_layout(self), ()))
    }
    fn in_channels(&self) -> usize {
        self.in_channels
    }
    fn new_bufs(m: &LabUNet, dims: (usize, usize, usize), train: bool) -> LabBufs {
        LabBufs::new(&m.cfg, dims, train)
    }
    fn forward<'c>(m: &LabUNet, ctx: &'c mut LabUNetCtx, x: &[f32], t: &[f32]) -> &'c [f32] {
        m.forward_pass(ctx, x, t)
    }
    fn backward(m: &LabUNet, ctx: &mut LabUNetCtx) {
        m.backward_pass(ctx)
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
