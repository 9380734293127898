//! The three parameterised layers of the U-Net — convolution, linear, GroupNorm — holding their
//! weights in the compute core's layouts and calling its kernels.

use super::params::{oihw_to_hwio, transpose, ParamSource};
use super::profile;
use super::scratch::Scratch;
use crate::nn::conv::{
    conv2d_forward, conv2d_winograd_forward, Act, Conv2d, Padding, WinogradWeights, Workspace,
};
use crate::nn::matmul::matmul;
use crate::nn::ops::{
    add_row_bias, group_norm_forward, group_norm_forward_concat, group_norm_forward_shifted,
    linear_forward, GroupNormArgs,
};
use crate::Result;

/// A 2-d convolution with bias; weights HWIO `[k, k, cin, cout]`.
pub struct ConvLayer {
    /// Shape of the layer.
    pub spec: Conv2d,
    /// What the layer is for, in profiles (`conv 3x3`, `conv 1x1 shortcut`, ...).
    pub role: &'static str,
    w: Vec<f32>,
    b: Vec<f32>,
    /// The bias was moved into another layer's ([`Self::move_bias_into`]): not added here.
    bias_moved: bool,
    /// The kernel transformed for Winograd F(2×2, 3×3), once [`Self::enable_winograd`] chose it.
    winograd: Option<WinogradWeights>,
}

/// Fewest input and output channels for which a 3×3 layer takes Winograd F(2×2, 3×3): its
/// transforms cost per channel, its savings per channel pair. Measured on the CIFAR U-Net's
/// layers (n = 16, 2 threads): 3 → 128 at 32×32 runs 2-3× slower than im2col, 128..512 →
/// 128..256 at 4×4..32×32 1.5-2× faster.
const WINOGRAD_MIN_CHANNELS: usize = 32;

impl ConvLayer {
    /// Load `{name}.weight` (`[cout, cin, k, k]`) and `{name}.bias` (`[cout]`).
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: Padding,
    ) -> Result<Self> {
        let w = src.take(&format!("{name}.weight"), &[cout, cin, k, k])?;
        let b = src.take(&format!("{name}.bias"), &[cout])?;
        let role = match (k, stride) {
            (1, _) => "conv 1x1 shortcut",
            (_, 2) => "conv 3x3/2 downsample",
            _ => "conv 3x3",
        };
        Ok(ConvLayer {
            spec: Conv2d::new(cin, cout, k, stride, pad),
            role,
            w: oihw_to_hwio(&w, cout, cin, k),
            b,
            bias_moved: false,
            winograd: None,
        })
    }

    /// Run this layer through Winograd F(2×2, 3×3) from now on when that is faster: a 3×3,
    /// stride-1, padding-1 layer with at least [`WINOGRAD_MIN_CHANNELS`] input and output
    /// channels, on images at least 2×2 (a 1-pixel image would waste 3 of each tile's 4
    /// outputs). Transforms the kernel once (16/9 of its memory, kept beside it). Inference only.
    pub fn enable_winograd(&mut self) {
        let s = &self.spec;
        if s.k == 3
            && s.stride == 1
            && s.pad == Padding::same(3)
            && s.cin.min(s.cout) >= WINOGRAD_MIN_CHANNELS
            && self.winograd.is_none()
        {
            self.winograd = Some(WinogradWeights::new(&self.w, s.cin, s.cout));
        }
    }

    /// A layer from weights already in HWIO layout.
    pub fn from_hwio(spec: Conv2d, role: &'static str, w: Vec<f32>, b: Vec<f32>) -> Self {
        assert_eq!(
            w.len(),
            spec.weight_len(),
            "ConvLayer::from_hwio: weight length"
        );
        assert_eq!(b.len(), spec.cout, "ConvLayer::from_hwio: bias length");
        ConvLayer {
            spec,
            role,
            w,
            b,
            bias_moved: false,
            winograd: None,
        }
    }

    /// Add this layer's bias to `other`'s and stop adding it here: for two layers whose
    /// outputs are always summed (a ResNet's `conv2` and its 1×1 shortcut), this saves a
    /// pass over the output. Both must have the same output channels.
    pub fn move_bias_into(&mut self, other: &mut ConvLayer) {
        assert_eq!(
            self.b.len(),
            other.b.len(),
            "move_bias_into: output channels"
        );
        if !self.bias_moved {
            other.b.iter_mut().zip(&self.b).for_each(|(o, b)| *o += b);
            self.bias_moved = true;
        }
    }

    /// The HWIO weights and the bias.
    pub fn weights(&self) -> (&[f32], &[f32]) {
        (&self.w, &self.b)
    }

    /// A 3×3 'same' convolution.
    pub fn load3(src: &mut dyn ParamSource, name: &str, cin: usize, cout: usize) -> Result<Self> {
        Self::load(src, name, cin, cout, 3, 1, Padding::same(3))
    }

    /// Output height and width for an `h × w` input.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        self.spec.out_hw(h, w)
    }

    /// `y = conv(x) + b`; `x` is `[n, h, w, cin]`, `y` is `[n, oh, ow, cout]`.
    pub fn forward_into(
        &self,
        x: &[f32],
        n: usize,
        h: usize,
        w: usize,
        y: &mut [f32],
        ws: &mut Workspace,
    ) {
        let _t = profile::span(self.role);
        if let (Some(wg), true) = (&self.winograd, h >= 2 && w >= 2) {
            conv2d_winograd_forward(wg, x, n, h, w, Some(&self.b), Act::None, y, ws);
            return;
        }
        conv2d_forward(
            &self.spec,
            x,
            n,
            h,
            w,
            &self.w,
            Some(&self.b),
            Act::None,
            y,
            ws,
        );
    }

    /// Like [`Self::forward_into`], into a buffer from the pool; returns it with `(oh, ow)`.
    pub fn forward(
        &self,
        x: &[f32],
        n: usize,
        h: usize,
        w: usize,
        s: &mut Scratch,
    ) -> (Vec<f32>, usize, usize) {
        let (oh, ow) = self.out_hw(h, w);
        let mut y = s.take(n * oh * ow * self.spec.cout);
        self.forward_into(x, n, h, w, &mut y, &mut s.conv);
        (y, oh, ow)
    }

    /// For a 1×1 convolution only: `y += x·W + b` over `pixels` rows (a shortcut added onto a
    /// residual branch without a temporary; `+ b` is left out once the bias has moved into the
    /// branch's layer, see [`Self::move_bias_into`]).
    pub fn pointwise_accumulate(&self, x: &[f32], pixels: usize, y: &mut [f32]) {
        self.pointwise_accumulate_part(x, 0, self.spec.cin, pixels, y);
        self.add_bias(pixels, y);
    }

    /// For a 1×1 convolution whose input is a channel concatenation `[xa, xb]` that was never
    /// materialised: `y += [xa, xb]·W + b`, as two products over the two row blocks of `W`.
    pub fn pointwise_accumulate_concat(
        &self,
        (xa, ca): (&[f32], usize),
        (xb, cb): (&[f32], usize),
        pixels: usize,
        y: &mut [f32],
    ) {
        assert_eq!(
            ca + cb,
            self.spec.cin,
            "pointwise_accumulate_concat: channels"
        );
        self.pointwise_accumulate_part(xa, 0, ca, pixels, y);
        self.pointwise_accumulate_part(xb, ca, cb, pixels, y);
        self.add_bias(pixels, y);
    }

    /// `y += x·W[first..first + cin, :]` for `x` `[pixels, cin]` (no bias).
    fn pointwise_accumulate_part(
        &self,
        x: &[f32],
        first: usize,
        cin: usize,
        pixels: usize,
        y: &mut [f32],
    ) {
        debug_assert!(self.spec.k == 1 && self.spec.stride == 1);
        let _t = profile::span(self.role);
        let cout = self.spec.cout;
        matmul(
            pixels,
            cin,
            cout,
            &x[..pixels * cin],
            &self.w[first * cout..(first + cin) * cout],
            &mut y[..pixels * cout],
            true,
        );
    }

    /// `y[p, :] += b` unless the bias has moved elsewhere.
    fn add_bias(&self, pixels: usize, y: &mut [f32]) {
        if !self.bias_moved {
            let cout = self.spec.cout;
            for row in y[..pixels * cout].chunks_exact_mut(cout) {
                for (v, b) in row.iter_mut().zip(&self.b) {
                    *v += b;
                }
            }
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.w.len() + self.b.len()
    }
}

/// A fully connected layer; weight `[in, out]`.
pub struct LinearLayer {
    /// Input features.
    pub in_f: usize,
    /// Output features.
    pub out_f: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl LinearLayer {
    /// Load `{name}.weight` (`[out, in]`) and `{name}.bias` (`[out]`).
    pub fn load(src: &mut dyn ParamSource, name: &str, in_f: usize, out_f: usize) -> Result<Self> {
        let w = src.take(&format!("{name}.weight"), &[out_f, in_f])?;
        let b = src.take(&format!("{name}.bias"), &[out_f])?;
        Ok(LinearLayer {
            in_f,
            out_f,
            w: transpose(&w, out_f, in_f),
            b,
        })
    }

    /// `y[m, out] = x[m, in] · W + b`.
    pub fn forward_into(&self, x: &[f32], m: usize, y: &mut [f32]) {
        let _t = profile::span("linear");
        linear_forward(x, m, self.in_f, &self.w, Some(&self.b), self.out_f, y);
    }

    /// `y[m, out] = residual[m, out] + x[m, in] · W + b` (an output projection added onto a
    /// residual): one parallel pass writes `residual + b`, the product accumulates onto it.
    pub fn forward_residual(&self, x: &[f32], m: usize, residual: &[f32], y: &mut [f32]) {
        let _t = profile::span("linear");
        let n = m * self.out_f;
        add_row_bias(&residual[..n], &self.b, self.out_f, &mut y[..n]);
        matmul(
            m,
            self.in_f,
            self.out_f,
            &x[..m * self.in_f],
            &self.w,
            &mut y[..n],
            true,
        );
    }

    /// `y[m, out] += x[m, in] · W + b` (an output projection added onto a residual).
    pub fn forward_accumulate(&self, x: &[f32], m: usize, y: &mut [f32]) {
        let _t = profile::span("linear");
        matmul(
            m,
            self.in_f,
            self.out_f,
            &x[..m * self.in_f],
            &self.w,
            &mut y[..m * self.out_f],
            true,
        );
        for row in y[..m * self.out_f].chunks_exact_mut(self.out_f) {
            for (v, b) in row.iter_mut().zip(&self.b) {
                *v += b;
            }
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.w.len() + self.b.len()
    }
}

/// What a [`GroupNormLayer`] normalises, `[n, hw, c]` in all.
#[derive(Clone, Copy)]
pub enum NormInput<'a> {
    /// One activation `x`.
    One(&'a [f32]),
    /// `x + shift` with `shift` `[n, c]` broadcast over each sample's pixels (a ResNet block's
    /// time embedding, added without a pass of its own).
    Shifted(&'a [f32], &'a [f32]),
    /// The channel concatenation `[xa, xb]` of `xa` (`[n, hw, ca]`, with `ca`) and `xb`
    /// (`[n, hw, c − ca]`), not materialised.
    Concat((&'a [f32], usize), &'a [f32]),
}

/// GroupNorm with affine γ, β.
pub struct GroupNormLayer {
    /// Channels.
    pub c: usize,
    groups: usize,
    eps: f32,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl GroupNormLayer {
    /// Load `{name}.weight` and `{name}.bias` (`[c]` each).
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        c: usize,
        groups: usize,
        eps: f64,
    ) -> Result<Self> {
        let gamma = src.take(&format!("{name}.weight"), &[c])?;
        let beta = src.take(&format!("{name}.bias"), &[c])?;
        Ok(GroupNormLayer {
            c,
            groups,
            eps: eps as f32,
            gamma,
            beta,
        })
    }

    /// The kernel's arguments for `n` samples of `hw` pixels, with SiLU when `silu`.
    fn args(&self, n: usize, hw: usize, silu: bool) -> GroupNormArgs<'_> {
        GroupNormArgs {
            n,
            hw,
            c: self.c,
            groups: self.groups,
            eps: self.eps,
            gamma: &self.gamma,
            beta: &self.beta,
            silu,
        }
    }

    /// `y = GroupNorm(x)`, followed by SiLU when `silu`; `x` (see [`NormInput`]) and `y` are
    /// `[n, hw, c]`.
    pub fn forward_into(
        &self,
        x: NormInput,
        (n, hw): (usize, usize),
        y: &mut [f32],
        silu: bool,
        s: &mut Scratch,
    ) {
        let _t = profile::span(if silu {
            "group_norm+silu"
        } else {
            "group_norm"
        });
        let args = self.args(n, hw, silu);
        let stats = s.stats_for(n * self.groups);
        match x {
            NormInput::One(x) => group_norm_forward(x, &args, y, stats),
            NormInput::Shifted(x, shift) => group_norm_forward_shifted(x, shift, &args, y, stats),
            NormInput::Concat(xa, xb) => group_norm_forward_concat(xa, xb, &args, y, stats),
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.gamma.len() + self.beta.len()
    }
}
