//! The toy U-Net (Module 2's default `toy` architecture): the lab U-Net's stages and channel
//! widths, but the timestep enters every block as a learned per-channel shift instead of 64
//! constant input channels, and every convolution is followed by a normalisation and an
//! activation (GroupNorm + SiLU by default).
//!
//! ```text
//! t ─ sinusoid(32) ─ Linear 64 + SiLU ─ Linear 64 + SiLU = e ─┬─ (per block) Linear e → cout = shift
//! x (h×w×1)
//!   enc1: Conv3×3 32, + shift, norm+act, Conv3×3 32, norm+act (= skip1) ─ MaxPool2
//!   enc2: Conv3×3 64, + shift, norm+act, Conv3×3 64, norm+act (= skip2) ─ MaxPool2
//!   mid:  Conv3×3 128, + shift, norm+act, Conv3×3 128, norm+act
//!   dec2: Upsample2, concat [up, skip2], Conv3×3 64, + shift, norm+act, Conv3×3 64, norm+act
//!   dec1: Upsample2, concat [up, skip1], Conv3×3 32, + shift, norm+act, Conv3×3 32, norm+act
//!   out:  Conv3×3 1
//! ```
//!
//! The shift of a block is `e · W_proj` (`W_proj` is `[64, cout]`, no bias: the convolution's
//! bias already is a per-channel constant), broadcast over the block's pixels and added to the
//! first convolution's output before its normalisation, as in diffusers' ResNet blocks. The
//! first convolution sees only the image (1 channel instead of 65), so the time embedding costs
//! five tiny matrix products per step. Any input side divisible by 4 works (16 and 28 directly).
//!
//! Parameters live in one flat buffer with readable names (`enc1.conv1.weight`,
//! `enc1.norm1.weight`, `enc1.time_proj.weight`, …) in difflab's layout (HWIO convolutions,
//! `[in, out]` linear layers); training goes through a [`ToyUNetCtx`].

mod backward;
mod ctx;
mod forward;

pub use ctx::{ToyBufs, ToyUNetCtx};

use crate::models::lab_unet::CONV_NAMES;
use crate::models::trainable::{
    check_size, check_widths, conv_shapes, Trainable, UNetArch, UNetModel,
};
use crate::models::{ClassLabel, NoisePredictor};
use crate::nn::params::ParamLayout;
use crate::nn::{init, Tensor};
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The normalisation after each convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToyNorm {
    /// GroupNorm with [`ToyUNetConfig::groups`] groups (learned per-channel scale and offset).
    Group,
    /// No normalisation.
    None,
}

/// The activation after each normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToyAct {
    /// `x·σ(x)`.
    Silu,
    /// `max(x, 0)`.
    Relu,
}

/// The toy U-Net's sizes and choices. `Default` is difflab's `toy` model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToyUNetConfig {
    /// Side of the square training images (16 by default; 28 also works).
    pub image_size: usize,
    /// Image channels (1 for MNIST); the output has as many.
    pub in_channels: usize,
    /// Width of the sinusoidal timestep embedding (even, at least 4).
    pub time_embed_dim: usize,
    /// Width of the time MLP.
    pub time_hidden: usize,
    /// Channels of the three resolutions (`[32, 64, 128]`, as the lab model).
    pub channels: [usize; 3],
    /// Normalisation after each convolution.
    pub norm: ToyNorm,
    /// GroupNorm's groups (must divide every channel count).
    pub groups: usize,
    /// Activation after each normalisation.
    pub act: ToyAct,
    /// Start the output convolution at zero (the first prediction is 0, the loss starts at 1).
    pub zero_init_out: bool,
    /// Classes the model can be conditioned on (10 for MNIST digits); 0 = unconditional. A
    /// conditional model has a learned embedding per class plus one "no class" embedding
    /// (`class_embed.weight`, `[num_classes + 1, time_hidden]`, the null class last), added to
    /// the time embedding. Absent in checkpoints from before conditioning (= 0).
    #[serde(default)]
    pub num_classes: usize,
}

impl Default for ToyUNetConfig {
    fn default() -> Self {
        ToyUNetConfig {
            image_size: 16,
            in_channels: 1,
            time_embed_dim: 32,
            time_hidden: 64,
            channels: [32, 64, 128],
            norm: ToyNorm::Group,
            groups: 8,
            act: ToyAct::Silu,
            zero_init_out: true,
            num_classes: 0,
        }
    }
}

/// Number of convolutions followed by a normalisation and an activation (all but `out`).
pub(crate) const LAYERS: usize = 10;

/// The block names, one per pair of layers.
const BLOCKS: [&str; 5] = ["enc1", "enc2", "mid", "dec2", "dec1"];

impl ToyUNetConfig {
    /// An error unless every size is usable.
    pub fn validate(&self) -> Result<()> {
        let widths = (self.in_channels, self.time_hidden, self.channels);
        check_widths(Self::NAME, self, widths, self.time_embed_dim)?;
        if self.norm == ToyNorm::Group
            && (self.groups == 0 || self.channels.iter().any(|c| c % self.groups != 0))
        {
            return Err(Error::invalid(format!(
                "toy U-Net config: {} groups do not divide the channels {:?}",
                self.groups, self.channels
            )));
        }
        check_size(Self::NAME, self.image_size, self.image_size)
    }

    /// `(cin, cout)` of the eleven 3×3 convolutions, in [`CONV_NAMES`] order.
    pub fn conv_shapes(&self) -> [(usize, usize); 11] {
        let ci = self.in_channels;
        conv_shapes(ci, ci, self.channels)
    }
}

/// Where one normalised layer's tensors sit in [`Trainable::param_specs`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct LayerIdx {
    pub cin: usize,
    pub cout: usize,
    /// Resolution level: 0 = full, 1 = half, 2 = quarter.
    pub level: usize,
    pub weight: usize,
    pub bias: usize,
    /// GroupNorm's γ and β.
    pub norm: Option<(usize, usize)>,
    /// The time projection `[time_hidden, cout]` (first layer of each block).
    pub proj: Option<usize>,
}

/// Where the toy U-Net's tensors sit among its parameters: the time MLP's, the class
/// embedding, the ten layers' and the output convolution's.
#[derive(Clone, Debug)]
pub struct Layout {
    pub(crate) t1_w: usize,
    pub(crate) t1_b: usize,
    pub(crate) t2_w: usize,
    pub(crate) t2_b: usize,
    /// The class embedding table (conditional models only).
    pub(crate) class_emb: Option<usize>,
    pub(crate) layers: [LayerIdx; LAYERS],
    pub(crate) out_w: usize,
    pub(crate) out_b: usize,
}

/// The parameter tensors (time MLP, class embedding, the ten layers, the output convolution)
/// and where each layer's sit.
fn param_layout(cfg: &ToyUNetConfig) -> (ParamLayout, Layout) {
    let mut l = ParamLayout::new();
    let (te, th) = (cfg.time_embed_dim, cfg.time_hidden);
    let t1_w = l.push("time.lin1.weight", vec![te, th]);
    let t1_b = l.push("time.lin1.bias", vec![th]);
    let t2_w = l.push("time.lin2.weight", vec![th, th]);
    let t2_b = l.push("time.lin2.bias", vec![th]);
    let class_emb =
        (cfg.num_classes > 0).then(|| l.push("class_embed.weight", vec![cfg.num_classes + 1, th]));
    let conv = cfg.conv_shapes();
    let levels = [0, 0, 1, 1, 2, 2, 1, 1, 0, 0];
    let layers = std::array::from_fn(|i| {
        let (cin, cout) = conv[i];
        let (block, k) = (BLOCKS[i / 2], i % 2 + 1);
        let weight = l.push(format!("{}.weight", CONV_NAMES[i]), vec![3, 3, cin, cout]);
        let bias = l.push(format!("{}.bias", CONV_NAMES[i]), vec![cout]);
        let norm = (cfg.norm == ToyNorm::Group).then(|| {
            (
                l.push(format!("{block}.norm{k}.weight"), vec![cout]),
                l.push(format!("{block}.norm{k}.bias"), vec![cout]),
            )
        });
        let proj = (k == 1).then(|| l.push(format!("{block}.time_proj.weight"), vec![th, cout]));
        LayerIdx {
            cin,
            cout,
            level: levels[i],
            weight,
            bias,
            norm,
            proj,
        }
    });
    let (ci, co) = conv[10];
    let out_w = l.push("out.weight", vec![3, 3, ci, co]);
    let out_b = l.push("out.bias", vec![co]);
    let layout = Layout {
        t1_w,
        t1_b,
        t2_w,
        t2_b,
        class_emb,
        layers,
        out_w,
        out_b,
    };
    (l, layout)
}

/// The toy U-Net: its configuration and its parameters in one flat buffer.
pub type ToyUNet = UNetModel<ToyUNetConfig>;

impl ToyUNet {
    /// A freshly initialised model with PyTorch's defaults (weights and biases
    /// U(±1/√fan_in)), GroupNorm γ = 1, β = 0, and the output convolution at zero when
    /// [`ToyUNetConfig::zero_init_out`] is set.
    pub fn new(cfg: ToyUNetConfig, rng: &mut Rng) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let (cfg, layout, params) = (&m.cfg, &m.layout, &mut m.params);
        let norm_idx: Vec<usize> = layout
            .layers
            .iter()
            .filter_map(|l| l.norm)
            .flat_map(|(g, b)| [g, b])
            .collect();
        let mut fan_in = 1;
        for i in 0..params.specs().len() {
            let s = params.specs()[i].clone();
            let p = params.get_mut(i);
            if norm_idx.contains(&i) {
                p.fill(if s.name.ends_with(".weight") {
                    1.0
                } else {
                    0.0
                });
                continue;
            }
            if cfg.zero_init_out && (i == layout.out_w || i == layout.out_b) {
                continue;
            }
            // Class embeddings start as PyTorch's nn.Embedding does, N(0, 1): distinct rows
            // from the first step (zero rows were measured to learn the classes too slowly).
            if Some(i) == layout.class_emb {
                rng.fill_normal(p);
                continue;
            }
            match s.shape[..] {
                [i, _] => fan_in = i,
                [kh, kw, i, _] => fan_in = kh * kw * i,
                // A bias follows its weight, whose fan-in it shares.
                _ => {}
            }
            init::kaiming_uniform(p, fan_in, 5f32.sqrt(), rng);
        }
        Ok(m)
    }
}

impl UNetArch for ToyUNetConfig {
    type Bufs = ToyBufs;
    type Layout = Layout;
    const NAME: &'static str = "toy U-Net";

    fn layout(&self) -> Result<(ParamLayout, Layout)> {
        self.validate()?;
        Ok(param_layout(self))
    }
    fn in_channels(&self) -> usize {
        self.in_channels
    }
    fn new_bufs(m: &ToyUNet, dims: (usize, usize, usize), train: bool) -> ToyBufs {
        ToyBufs::new(&m.cfg, &m.layout, dims, train)
    }
    /// A conditional model uses its null class (see [`ToyUNet::forward_rows`]).
    fn forward<'c>(m: &ToyUNet, ctx: &'c mut ToyUNetCtx, x: &[f32], t: &[f32]) -> &'c [f32] {
        m.forward_null(ctx, x, t)
    }
    fn backward(m: &ToyUNet, ctx: &mut ToyUNetCtx) {
        m.backward_pass(ctx)
    }
}

impl ToyUNet {
    /// The class-embedding row of each label (`None` → the null row), or an error naming the
    /// classes the model knows.
    pub fn label_rows(&self, labels: &[ClassLabel]) -> Result<Vec<usize>> {
        let k = self.cfg.num_classes;
        labels
            .iter()
            .map(|l| match *l {
                None => Ok(k),
                Some(c) if c < k => Ok(c),
                Some(c) if k == 0 => Err(Error::invalid(format!(
                    "asked for class {c}, but the toy U-Net is unconditional (trained without labels)"
                ))),
                Some(c) => Err(Error::invalid(format!(
                    "asked for class {c}, but the toy U-Net knows classes 0..{k}"
                ))),
            })
            .collect()
    }
}

impl NoisePredictor for ToyUNet {
    /// Predict the noise for `x` (`[n, h, w, in_channels]`, `h` and `w` divisible by 4) at the
    /// given timesteps (a conditional model uses its null class); buffers are reused while the
    /// batch shape stays the same.
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.predict_with(x, timesteps, |m, ctx, x, t| {
            m.forward_null(ctx, x, t);
        })
    }

    fn num_classes(&self) -> usize {
        self.cfg.num_classes
    }

    fn predict_labeled(&mut self, x: &Tensor, t: &[f32], labels: &[ClassLabel]) -> Result<Tensor> {
        if labels.len() != t.len() {
            return Err(Error::invalid(format!(
                "toy U-Net: {} labels for {} timesteps",
                labels.len(),
                t.len()
            )));
        }
        // Checked for every model: an unconditional one accepts only `None` labels.
        let rows = self.label_rows(labels)?;
        if self.cfg.num_classes == 0 {
            return self.predict(x, t);
        }
        self.predict_with(x, t, |m, ctx, x, t| {
            m.forward_rows(ctx, x, t, &rows);
        })
    }
}
