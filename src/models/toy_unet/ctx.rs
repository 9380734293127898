//! The toy U-Net's context: every activation and gradient buffer for one batch shape,
//! allocated once; the passes are in `forward.rs` and `backward.rs`.

use super::{LayerIdx, Layout, ToyAct, ToyNorm, ToyUNetConfig};
use crate::models::trainable::{grad_buf, UNetCtx};
use crate::nn::conv::{Conv2d, Padding, UpConcatConv, UpConvBufs};
use crate::nn::ops::{NormAct, NormScratch};

/// GroupNorm's ε (PyTorch's default).
pub(super) const GN_EPS: f32 = 1e-5;

/// The buffers of one normalised layer.
#[derive(Default)]
pub(super) struct LayerBufs {
    /// The convolution's output plus the time shift: the normalisation's (or activation's) input.
    /// Empty when neither needs it (no norm and ReLU: the ReLU is applied in place).
    pub(super) pre: Vec<f32>,
    /// The layer's output after normalisation and activation.
    pub(super) post: Vec<f32>,
    /// GroupNorm statistics, `[n, groups]`.
    pub(super) mean: Vec<f32>,
    pub(super) rstd: Vec<f32>,
    /// The time shift `[n, cout]` (first layer of a block only).
    pub(super) shift: Vec<f32>,
    /// Gradient w.r.t. `post`.
    pub(super) dpost: Vec<f32>,
    /// Gradient w.r.t. `pre`.
    pub(super) dpre: Vec<f32>,
}

/// The toy U-Net's context: [`UNetCtx`] with the buffers of [`ToyBufs`].
pub type ToyUNetCtx = UNetCtx<ToyBufs>;

/// The toy U-Net's own activations (kept for the backward pass) and activation gradients.
pub struct ToyBufs {
    pub(super) sinus: Vec<f32>,
    pub(super) tpre1: Vec<f32>,
    pub(super) t1: Vec<f32>,
    pub(super) tpre2: Vec<f32>,
    pub(super) temb: Vec<f32>,
    /// The class-embedding row of each image (conditional models; the null row by default).
    pub(super) label_rows: Vec<usize>,
    pub(super) layers: Vec<LayerBufs>,
    pub(super) p1: Vec<f32>,
    pub(super) am1: Vec<u8>,
    pub(super) p2: Vec<f32>,
    pub(super) am2: Vec<u8>,
    /// Scratch of the decoders' first convolutions (dec2, dec1).
    pub(super) up2: UpConvBufs,
    pub(super) up1: UpConvBufs,
    pub(super) dp1: Vec<f32>,
    pub(super) dp2: Vec<f32>,
    /// Gradients of the skip connections from the decoders (skip2, skip1).
    pub(super) dskip2: Vec<f32>,
    pub(super) dskip1: Vec<f32>,
    pub(super) dshift: Vec<f32>,
    pub(super) dtemb: Vec<f32>,
    pub(super) dtemb_part: Vec<f32>,
    pub(super) dtpre2: Vec<f32>,
    pub(super) dt1: Vec<f32>,
    pub(super) dtpre1: Vec<f32>,
    pub(super) norm_ws: NormScratch,
}

/// True when a layer keeps its pre-activation (GroupNorm or SiLU need it in the backward pass).
pub(super) fn needs_pre(cfg: &ToyUNetConfig) -> bool {
    cfg.norm == ToyNorm::Group || cfg.act == ToyAct::Silu
}

impl ToyBufs {
    /// The buffers for batches of `n` images of `h × w`; gradients only when `train`.
    pub(super) fn new(
        cfg: &ToyUNetConfig,
        layout: &Layout,
        (n, h, w): (usize, usize, usize),
        train: bool,
    ) -> Self {
        let px = [n * h * w, n * (h / 2) * (w / 2), n * (h / 4) * (w / 4)];
        let layers = layout
            .layers
            .iter()
            .map(|l| LayerBufs::new(cfg, l, n, px[l.level], train))
            .collect();
        let g = |len: usize| grad_buf(train, len);
        let ([c0, c1, c2], th) = (cfg.channels, cfg.time_hidden);
        ToyBufs {
            sinus: vec![0.0; n * cfg.time_embed_dim],
            tpre1: vec![0.0; n * th],
            t1: vec![0.0; n * th],
            tpre2: vec![0.0; n * th],
            temb: vec![0.0; n * th],
            label_rows: vec![cfg.num_classes; n],
            layers,
            p1: vec![0.0; px[1] * c0],
            am1: vec![0; px[1] * c0],
            p2: vec![0.0; px[2] * c1],
            am2: vec![0; px[2] * c1],
            up2: up_conv(cfg, 6).bufs(n, h / 4, w / 4, train),
            up1: up_conv(cfg, 8).bufs(n, h / 2, w / 2, train),
            dp1: g(px[1] * c0),
            dp2: g(px[2] * c1),
            dskip2: g(px[1] * c1),
            dskip1: g(px[0] * c0),
            dshift: g(n * c0.max(c1).max(c2)),
            dtemb: g(n * th),
            dtemb_part: g(n * th),
            dtpre2: g(n * th),
            dt1: g(n * th),
            dtpre1: g(n * th),
            norm_ws: NormScratch::default(),
        }
    }
}

impl LayerBufs {
    /// The buffers of layer `l` over `px` pixels (all `n` images).
    fn new(cfg: &ToyUNetConfig, l: &LayerIdx, n: usize, px: usize, train: bool) -> Self {
        let pre = needs_pre(cfg);
        let groups = if cfg.norm == ToyNorm::Group {
            cfg.groups
        } else {
            0
        };
        let len = px * l.cout;
        let keep = |on: bool, len: usize| if on { vec![0.0; len] } else { Vec::new() };
        LayerBufs {
            pre: keep(pre, len),
            post: vec![0.0; len],
            mean: vec![0.0; n * groups],
            rstd: vec![0.0; n * groups],
            shift: keep(l.proj.is_some(), n * l.cout),
            dpost: grad_buf(train, len),
            dpre: grad_buf(train && pre, len),
        }
    }
}

/// The decoder convolution of layer `i` (6: dec2.conv1, 8: dec1.conv1).
pub(super) fn up_conv(cfg: &ToyUNetConfig, i: usize) -> UpConcatConv {
    let [c0, c1, c2] = cfg.channels;
    match i {
        6 => UpConcatConv {
            cu: c2,
            cs: c1,
            cout: c1,
        },
        8 => UpConcatConv {
            cu: c1,
            cs: c0,
            cout: c0,
        },
        _ => unreachable!("only dec2.conv1 and dec1.conv1 read a concatenation"),
    }
}

/// A 3×3 'same' convolution.
pub(super) fn conv3(cin: usize, cout: usize) -> Conv2d {
    Conv2d::new(cin, cout, 3, 1, Padding::same(3))
}

/// The normalisation kernel's activation for a config's.
pub(super) fn norm_act(a: ToyAct) -> NormAct {
    match a {
        ToyAct::Silu => NormAct::Silu,
        ToyAct::Relu => NormAct::Relu,
    }
}

/// Side lengths at resolution level `level` (0 full, 1 half, 2 quarter).
pub(super) fn hw_at(h: usize, w: usize, level: usize) -> (usize, usize) {
    (h >> level, w >> level)
}
