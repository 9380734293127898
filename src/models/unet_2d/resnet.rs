//! diffusers' `ResnetBlock2D`, `Downsample2D` and `Upsample2D` (see `diffusers/models/resnet.py`,
//! `downsampling.py`, `upsampling.py`), forward only, over NHWC buffers.

use super::layers::{ConvLayer, GroupNormLayer, LinearLayer, NormInput};
use super::params::ParamSource;
use super::profile;
use super::scratch::Scratch;
use crate::nn::conv::up_concat::{fold_up2_kernel, up2_parity_conv};
use crate::nn::conv::Padding;
use crate::nn::ops::{
    add_inplace, avg_pool2_forward, silu_forward_inplace, upsample_nearest2_forward,
};
use crate::Result;
use rayon::prelude::*;

/// How the time embedding enters a ResNet block (`resnet_time_scale_shift`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeScaleShift {
    /// `h = norm2(conv1(·) + proj(temb))`.
    Default,
    /// `h = norm2(conv1(·)) · (1 + scale) + shift`, `(scale, shift) = proj(temb)` (FiLM).
    ScaleShift,
}

/// Resampling inside a ResNet block (`downsample_type`/`upsample_type` = `resnet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    /// Same resolution.
    None,
    /// 2×2 average pooling of both branches after the first norm.
    Down,
    /// Nearest ×2 upsampling of both branches after the first norm.
    Up,
}

/// Shared settings of the ResNet blocks of one model.
#[derive(Clone, Copy, Debug)]
pub struct ResnetSettings {
    /// Width of the time embedding.
    pub temb_dim: usize,
    /// GroupNorm groups.
    pub groups: usize,
    /// GroupNorm epsilon.
    pub eps: f64,
    /// How the time embedding is applied.
    pub time: TimeScaleShift,
    /// The output is divided by this (`output_scale_factor`).
    pub output_scale: f32,
}

/// `out = (shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) ⊕ temb)))) / output_scale`.
pub struct ResnetBlock2D {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    norm1: GroupNormLayer,
    conv1: ConvLayer,
    time_emb_proj: LinearLayer,
    norm2: GroupNormLayer,
    conv2: ConvLayer,
    conv_shortcut: Option<ConvLayer>,
    time: TimeScaleShift,
    output_scale: f32,
    resample: Resample,
}

impl ResnetBlock2D {
    /// Load the block called `name` (e.g. `down_blocks.0.resnets.1`).
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        cin: usize,
        cout: usize,
        set: &ResnetSettings,
        resample: Resample,
    ) -> Result<Self> {
        let proj_out = match set.time {
            TimeScaleShift::Default => cout,
            TimeScaleShift::ScaleShift => 2 * cout,
        };
        let mut block = ResnetBlock2D {
            cin,
            cout,
            norm1: GroupNormLayer::load(src, &format!("{name}.norm1"), cin, set.groups, set.eps)?,
            conv1: ConvLayer::load3(src, &format!("{name}.conv1"), cin, cout)?,
            time_emb_proj: LinearLayer::load(
                src,
                &format!("{name}.time_emb_proj"),
                set.temb_dim,
                proj_out,
            )?,
            norm2: GroupNormLayer::load(src, &format!("{name}.norm2"), cout, set.groups, set.eps)?,
            conv2: ConvLayer::load3(src, &format!("{name}.conv2"), cout, cout)?,
            conv_shortcut: if cin != cout {
                Some(ConvLayer::load(
                    src,
                    &format!("{name}.conv_shortcut"),
                    cin,
                    cout,
                    1,
                    1,
                    Padding::none(),
                )?)
            } else {
                None
            },
            time: set.time,
            output_scale: set.output_scale,
            resample,
        };
        // conv2(·) + shortcut(·) is all the block uses: one bias add covers both.
        if let Some(sc) = &mut block.conv_shortcut {
            sc.move_bias_into(&mut block.conv2);
        }
        block.conv1.enable_winograd();
        block.conv2.enable_winograd();
        Ok(block)
    }

    /// Output size for an `h × w` input.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        match self.resample {
            Resample::None => (h, w),
            Resample::Down => (h / 2, w / 2),
            Resample::Up => (2 * h, 2 * w),
        }
    }

    /// Forward `x` (`[n, h, w, cin]`, `dims = (n, h, w)`) with `temb_act = silu(temb)` (`[n, temb_dim]`); returns
    /// `[n, oh, ow, cout]` in a pool buffer.
    pub fn forward(
        &self,
        x: &[f32],
        dims: (usize, usize, usize),
        temb_act: &[f32],
        s: &mut Scratch,
    ) -> Vec<f32> {
        self.forward_input(Input::One(x), dims, temb_act, s)
    }

    /// True when [`Self::forward_concat`] applies: the block has a 1×1 shortcut and keeps the
    /// resolution.
    pub fn takes_concat(&self) -> bool {
        self.conv_shortcut.is_some() && self.resample == Resample::None
    }

    /// [`Self::forward`] on the channel concatenation `[xa, xb]` (`xa` `[n, h, w, ca]`, `xb`
    /// `[n, h, w, cin − ca]`) without materialising it: the first GroupNorm and the shortcut read
    /// both parts in place. Only for blocks where [`Self::takes_concat`].
    pub fn forward_concat(
        &self,
        (xa, ca): (&[f32], usize),
        xb: &[f32],
        dims: (usize, usize, usize),
        temb_act: &[f32],
        s: &mut Scratch,
    ) -> Vec<f32> {
        assert!(
            self.takes_concat() && ca < self.cin,
            "forward_concat: block"
        );
        self.forward_input(Input::Concat(xa, ca, xb), dims, temb_act, s)
    }

    /// [`Self::forward`] of either kind of input, `dims = (n, h, w)`.
    fn forward_input(
        &self,
        x: Input,
        (n, h, w): (usize, usize, usize),
        temb_act: &[f32],
        s: &mut Scratch,
    ) -> Vec<f32> {
        let (oh, ow) = self.out_hw(h, w);
        let (cin, cout) = (self.cin, self.cout);
        let mut t = s.take(n * h * w * cin);
        let input = match x {
            Input::One(x) => NormInput::One(x),
            Input::Concat(xa, ca, xb) => NormInput::Concat((xa, ca), xb),
        };
        self.norm1.forward_into(input, (n, h * w), &mut t, true, s);
        // With resampling, both the residual branch and the input are resampled.
        let mut resampled_x = None;
        if let (Input::One(x), true) = (x, self.resample != Resample::None) {
            let mut rt = s.take(n * oh * ow * cin);
            let mut rx = s.take(n * oh * ow * cin);
            let f = if self.resample == Resample::Down {
                avg_pool2_forward
            } else {
                upsample_nearest2_forward
            };
            f(&t, n, h, w, cin, &mut rt);
            f(x, n, h, w, cin, &mut rx);
            s.give(std::mem::replace(&mut t, rt));
            resampled_x = Some(rx);
        }
        let hw = oh * ow;

        let mut hbuf = s.take(n * hw * cout);
        self.conv1
            .forward_into(&t, n, oh, ow, &mut hbuf, &mut s.conv);
        s.give(t);
        let mut proj = s.take(n * self.time_emb_proj.out_f);
        self.time_emb_proj.forward_into(temb_act, n, &mut proj);
        let mut t = s.take(n * hw * cout);
        match self.time {
            TimeScaleShift::Default => {
                let input = NormInput::Shifted(&hbuf, &proj);
                self.norm2.forward_into(input, (n, hw), &mut t, true, s);
            }
            TimeScaleShift::ScaleShift => {
                let input = NormInput::One(&hbuf);
                self.norm2.forward_into(input, (n, hw), &mut t, false, s);
                film(&mut t, &proj, n, hw, cout);
                silu_forward_inplace(&mut t);
            }
        }
        s.give(proj);
        // dropout: identity at inference
        self.conv2
            .forward_into(&t, n, oh, ow, &mut hbuf, &mut s.conv);
        s.give(t);
        match (x, &self.conv_shortcut) {
            (Input::Concat(xa, ca, xb), Some(sc)) => {
                sc.pointwise_accumulate_concat((xa, ca), (xb, cin - ca), n * hw, &mut hbuf)
            }
            (Input::One(x), shortcut) => {
                let x_res: &[f32] = resampled_x.as_deref().unwrap_or(x);
                match shortcut {
                    Some(sc) => sc.pointwise_accumulate(x_res, n * hw, &mut hbuf),
                    None => {
                        let _t = profile::span("elementwise");
                        let len = hbuf.len();
                        add_inplace(&mut hbuf, &x_res[..len]);
                    }
                }
            }
            (Input::Concat(..), None) => unreachable!("forward_concat checks for a shortcut"),
        }
        if let Some(rx) = resampled_x {
            s.give(rx);
        }
        if self.output_scale != 1.0 {
            let inv = 1.0 / self.output_scale;
            hbuf.iter_mut().for_each(|v| *v *= inv);
        }
        hbuf
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.norm1.num_params()
            + self.conv1.num_params()
            + self.time_emb_proj.num_params()
            + self.norm2.num_params()
            + self.conv2.num_params()
            + self.conv_shortcut.as_ref().map_or(0, ConvLayer::num_params)
    }
}

/// A block's input: one activation, or a channel concatenation `[xa (ca channels), xb]`.
#[derive(Clone, Copy)]
enum Input<'a> {
    One(&'a [f32]),
    Concat(&'a [f32], usize, &'a [f32]),
}

/// `h[b, p, c] = h[b, p, c] · (1 + ss[b, c]) + ss[b, C + c]` with `ss` `[n, 2C]` (scale, shift).
fn film(h: &mut [f32], ss: &[f32], n: usize, hw: usize, c: usize) {
    for b in 0..n {
        let (scale, shift) = ss[b * 2 * c..(b + 1) * 2 * c].split_at(c);
        for row in h[b * hw * c..(b + 1) * hw * c].chunks_exact_mut(c) {
            for ((x, &sc), &sh) in row.iter_mut().zip(scale).zip(shift) {
                *x = *x * (1.0 + sc) + sh;
            }
        }
    }
}

/// diffusers' `Downsample2D` with a convolution, loaded from `{name}.conv`: 3×3 stride 2, padded
/// symmetrically by `padding` (`downsample_padding = 1`) or on the right and bottom only
/// (`downsample_padding = 0`).
pub fn load_downsample2d(
    src: &mut dyn ParamSource,
    name: &str,
    c: usize,
    padding: usize,
) -> Result<ConvLayer> {
    let pad = if padding == 0 {
        Padding::right_bottom(1)
    } else {
        Padding::uniform(padding)
    };
    ConvLayer::load(src, &format!("{name}.conv"), c, c, 3, 2, pad)
}

/// `Upsample2D` with a convolution: nearest ×2, then a 3×3 'same' convolution — computed
/// without materialising the upsampled image.
///
/// Output pixel `(2i + py, 2j + px)` of a 3×3 convolution over the nearest-upsampled image
/// only ever reads input rows `i − 1 + py .. i + py` and columns `j − 1 + px .. j + px`: the
/// three kernel rows collapse onto two input rows (`{0}, {1, 2}` for `py = 0`, `{0, 1}, {2}`
/// for `py = 1`), and likewise for columns. So each of the four output phases is a 2×2
/// convolution of the small input with summed taps, padded on the side the phase needs:
/// 16 instead of 36 multiply-adds per output value and input pixel, the same result up to
/// rounding (the folding is [`crate::nn::conv::up_concat::fold_up2_kernel`]).
pub struct Upsample2D {
    c: usize,
    /// Phase `2·py + px`: a 2×2 convolution producing output pixels `(2i + py, 2j + px)`.
    phases: Vec<ConvLayer>,
}

impl Upsample2D {
    /// Load `{name}.conv` (a 3×3 convolution `c → c`) and fold it into the four phases.
    pub fn load(src: &mut dyn ParamSource, name: &str, c: usize) -> Result<Self> {
        let conv = ConvLayer::load3(src, &format!("{name}.conv"), c, c)?;
        let (w, b) = conv.weights();
        let mut phases = Vec::with_capacity(4);
        for py in 0..2 {
            for px in 0..2 {
                let mut k2 = vec![0.0f32; 4 * c * c];
                fold_up2_kernel(w, (c, c, c), (py, px), &mut k2);
                phases.push(ConvLayer::from_hwio(
                    up2_parity_conv(c, c, (py, px)),
                    "conv 3x3 upsample",
                    k2,
                    b.to_vec(),
                ));
            }
        }
        Ok(Upsample2D { c, phases })
    }

    /// `[n, h, w, c]` → `[n, 2h, 2w, c]` for `dims = (n, h, w)`.
    pub fn forward(
        &self,
        x: &[f32],
        dims: (usize, usize, usize),
        s: &mut Scratch,
    ) -> (Vec<f32>, usize, usize) {
        let (n, h, w) = dims;
        let c = self.c;
        let mut y = s.take(n * 4 * h * w * c);
        let mut phase_out = s.take(n * h * w * c);
        for (p, conv) in self.phases.iter().enumerate() {
            let (py, px) = (p / 2, p % 2);
            conv.forward_into(x, n, h, w, &mut phase_out, &mut s.conv);
            let _t = profile::span("upsample interleave");
            let per = h * w * c;
            y.par_chunks_mut(4 * per)
                .zip(phase_out.par_chunks(per))
                .for_each(|(out, img)| {
                    for i in 0..h {
                        let row = &mut out[(2 * i + py) * 2 * w * c..(2 * i + py + 1) * 2 * w * c];
                        for (j, v) in img[i * w * c..(i + 1) * w * c].chunks_exact(c).enumerate() {
                            row[(2 * j + px) * c..(2 * j + px + 1) * c].copy_from_slice(v);
                        }
                    }
                });
        }
        s.give(phase_out);
        (y, 2 * h, 2 * w)
    }

    /// Number of parameters (of the original 3×3 convolution).
    pub fn num_params(&self) -> usize {
        9 * self.c * self.c + self.c
    }
}
