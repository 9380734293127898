//! The toy U-Net's context (every activation and gradient buffer for one batch shape, allocated
//! once) and its explicit forward and backward passes.

use super::norm::{shift_norm_act_backward, shift_norm_act_forward, NormAct, NormScratch};
use super::upconv::{UpConcatConv, UpConvBufs};
use super::{check_size, LayerIdx, Layout, ToyAct, ToyNorm, ToyUNet, ToyUNetConfig, LAYERS};
use crate::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, Padding,
};
use crate::nn::ops::*;
use crate::nn::workspace::Workspace;
use crate::{Error, Result};
use rayon::prelude::*;

/// GroupNorm's ε (PyTorch's default).
const GN_EPS: f32 = 1e-5;

/// The buffers of one normalised layer.
#[derive(Default)]
struct LayerBufs {
    /// The convolution's output plus the time shift: the normalisation's (or activation's) input.
    /// Empty when neither needs it (no norm and ReLU: the ReLU is applied in place).
    pre: Vec<f32>,
    /// The layer's output after normalisation and activation.
    post: Vec<f32>,
    /// GroupNorm statistics, `[n, groups]`.
    mean: Vec<f32>,
    rstd: Vec<f32>,
    /// The time shift `[n, cout]` (first layer of a block only).
    shift: Vec<f32>,
    /// Gradient w.r.t. `post`.
    dpost: Vec<f32>,
    /// Gradient w.r.t. `pre`.
    dpre: Vec<f32>,
}

/// Activations (kept for the backward pass) and gradients of the toy U-Net for batches of `n`
/// images of `h × w`. Create it with [`ToyUNet::train_ctx`] (or [`ToyUNet::infer_ctx`], without
/// gradient buffers) and reuse it for every batch of that shape: nothing is allocated after the
/// first step.
pub struct ToyUNetCtx {
    n: usize,
    h: usize,
    w: usize,
    train: bool,
    /// Parameter gradients, aligned with [`ToyUNet::params`]; filled by the backward pass.
    pub grads: Vec<f32>,
    /// Gradient of the loss w.r.t. the output (`[n, h, w, in_channels]`).
    pub dout: Vec<f32>,
    img: Vec<f32>,
    sinus: Vec<f32>,
    tpre1: Vec<f32>,
    t1: Vec<f32>,
    tpre2: Vec<f32>,
    temb: Vec<f32>,
    /// The class-embedding row of each image (conditional models; the null row by default).
    label_rows: Vec<usize>,
    layers: Vec<LayerBufs>,
    p1: Vec<f32>,
    am1: Vec<u8>,
    p2: Vec<f32>,
    am2: Vec<u8>,
    /// Scratch of the decoders' first convolutions (dec2, dec1).
    up2: UpConvBufs,
    up1: UpConvBufs,
    out: Vec<f32>,
    dp1: Vec<f32>,
    dp2: Vec<f32>,
    /// Gradients of the skip connections from the decoders (skip2, skip1).
    dskip2: Vec<f32>,
    dskip1: Vec<f32>,
    dshift: Vec<f32>,
    dtemb: Vec<f32>,
    dtemb_part: Vec<f32>,
    dtpre2: Vec<f32>,
    dt1: Vec<f32>,
    dtpre1: Vec<f32>,
    ws: Workspace,
    norm_ws: NormScratch,
}

/// True when a layer keeps its pre-activation (GroupNorm or SiLU need it in the backward pass).
fn needs_pre(cfg: &ToyUNetConfig) -> bool {
    cfg.norm == ToyNorm::Group || cfg.act == ToyAct::Silu
}

impl ToyUNetCtx {
    pub(super) fn new(
        cfg: &ToyUNetConfig,
        layout: &Layout,
        nparams: usize,
        n: usize,
        h: usize,
        w: usize,
        train: bool,
    ) -> Result<Self> {
        check_size(h, w)?;
        if n == 0 {
            return Err(Error::invalid("toy U-Net: batch size must be at least 1"));
        }
        let [c0, c1, c2] = cfg.channels;
        let (ci, th, te) = (cfg.in_channels, cfg.time_hidden, cfg.time_embed_dim);
        let px = [n * h * w, n * (h / 2) * (w / 2), n * (h / 4) * (w / 4)];
        let g = |len: usize| if train { vec![0.0f32; len] } else { Vec::new() };
        let pre = needs_pre(cfg);
        let groups = if cfg.norm == ToyNorm::Group {
            cfg.groups
        } else {
            0
        };
        let layers = layout
            .layers
            .iter()
            .map(|l| {
                let len = px[l.level] * l.cout;
                LayerBufs {
                    pre: if pre { vec![0.0; len] } else { Vec::new() },
                    post: vec![0.0; len],
                    mean: vec![0.0; n * groups],
                    rstd: vec![0.0; n * groups],
                    shift: if l.proj.is_some() {
                        vec![0.0; n * l.cout]
                    } else {
                        Vec::new()
                    },
                    dpost: g(len),
                    dpre: if pre { g(len) } else { Vec::new() },
                }
            })
            .collect();
        Ok(ToyUNetCtx {
            n,
            h,
            w,
            train,
            grads: g(nparams),
            dout: g(px[0] * ci),
            img: g(px[0] * ci),
            sinus: vec![0.0; n * te],
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
            out: vec![0.0; px[0] * ci],
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
            ws: Workspace::new(),
            norm_ws: NormScratch::default(),
        })
    }

    /// The batch shape `(n, h, w)` these buffers serve.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.n, self.h, self.w)
    }

    /// The output of the last forward pass, `[n, h, w, in_channels]`.
    pub fn output(&self) -> &[f32] {
        &self.out
    }
}

/// What a layer's convolution reads.
enum Input<'a> {
    /// One tensor at the layer's resolution.
    Plain(&'a [f32]),
    /// A decoder's `concat[up2(u), skip]`, with its scratch.
    UpConcat(&'a [f32], &'a [f32], &'a mut UpConvBufs),
}

/// The decoder convolution of layer `i` (6: dec2.conv1, 8: dec1.conv1).
fn up_conv(cfg: &ToyUNetConfig, i: usize) -> UpConcatConv {
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

/// `dst += src`, elementwise.
fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(1 << 14)
        .zip(src.par_chunks(1 << 14))
        .for_each(|(d, s)| {
            for (a, &v) in d.iter_mut().zip(s) {
                *a += v;
            }
        });
}

fn conv3(cin: usize, cout: usize) -> Conv2d {
    Conv2d::new(cin, cout, 3, 1, Padding::same(3))
}

/// `y[b, p, c] += shift[b, c]` over the `hw` pixels of each sample, then `max(·, 0)` if `relu`.
fn add_shift(y: &mut [f32], shift: &[f32], hw: usize, c: usize, relu: bool) {
    y.par_chunks_mut(hw * c)
        .zip(shift.par_chunks(c))
        .for_each(|(y, s)| {
            for row in y.chunks_exact_mut(c) {
                for (v, &sv) in row.iter_mut().zip(s) {
                    *v += sv;
                    if relu && *v < 0.0 {
                        *v = 0.0;
                    }
                }
            }
        });
}

/// `out[b, c] = Σ_p d[b, p, c]`: the gradient of a shift broadcast over `hw` pixels.
fn sum_pixels(d: &[f32], hw: usize, c: usize, out: &mut [f32]) {
    out.par_chunks_mut(c)
        .zip(d.par_chunks(hw * c))
        .for_each(|(o, d)| {
            o.fill(0.0);
            for row in d.chunks_exact(c) {
                for (a, &v) in o.iter_mut().zip(row) {
                    *a += v;
                }
            }
        });
}

impl ToyUNet {
    /// Side lengths at resolution level `level` (0 full, 1 half, 2 quarter).
    fn hw_at(h: usize, w: usize, level: usize) -> (usize, usize) {
        (h >> level, w >> level)
    }

    /// The noise prediction for images `x` (`[n, h, w, in_channels]`) at timesteps `t` (`[n]`),
    /// keeping in `ctx` what the backward pass needs. A conditional model uses its null class.
    /// Panics if the sizes do not match `ctx`.
    pub fn forward<'c>(&self, ctx: &'c mut ToyUNetCtx, x: &[f32], t: &[f32]) -> &'c [f32] {
        ctx.label_rows.fill(self.cfg.num_classes);
        self.forward_inner(ctx, x, t)
    }

    /// [`ToyUNet::forward`] of a conditional model with the class-embedding row of each image
    /// (`0..num_classes`, or `num_classes` for no class; see [`ToyUNet::label_rows`]). Panics if
    /// the sizes do not match `ctx` or a row is out of range.
    pub fn forward_rows<'c>(
        &self,
        ctx: &'c mut ToyUNetCtx,
        x: &[f32],
        t: &[f32],
        rows: &[usize],
    ) -> &'c [f32] {
        assert_eq!(
            rows.len(),
            ctx.n,
            "toy U-Net forward: one label row per image"
        );
        assert!(
            rows.iter().all(|&r| r <= self.cfg.num_classes),
            "toy U-Net forward: label row out of range"
        );
        ctx.label_rows.copy_from_slice(rows);
        self.forward_inner(ctx, x, t)
    }

    fn forward_inner<'c>(&self, ctx: &'c mut ToyUNetCtx, x: &[f32], t: &[f32]) -> &'c [f32] {
        let ToyUNetConfig {
            in_channels: ci,
            time_embed_dim: te,
            time_hidden: th,
            channels: [c0, c1, _],
            ..
        } = self.cfg;
        let (n, h, w) = (ctx.n, ctx.h, ctx.w);
        let (h2, w2) = (h / 2, w / 2);
        assert_eq!(
            x.len(),
            n * h * w * ci,
            "toy U-Net forward: x is not [{n}, {h}, {w}, {ci}]"
        );
        assert_eq!(
            t.len(),
            n,
            "toy U-Net forward: {} timesteps for {n} images",
            t.len()
        );
        let lay = &self.layout;
        let c = ctx;

        timestep_embedding(t, te, 10000.0, false, 1.0, &mut c.sinus);
        linear_forward(
            &c.sinus,
            n,
            te,
            self.p(lay.t1_w),
            Some(self.p(lay.t1_b)),
            th,
            &mut c.tpre1,
        );
        silu_forward(&c.tpre1, &mut c.t1);
        linear_forward(
            &c.t1,
            n,
            th,
            self.p(lay.t2_w),
            Some(self.p(lay.t2_b)),
            th,
            &mut c.tpre2,
        );
        silu_forward(&c.tpre2, &mut c.temb);
        if let Some(e) = lay.class_emb {
            let table = self.p(e);
            for (row, &r) in c.temb.chunks_exact_mut(th).zip(&c.label_rows) {
                for (v, &ev) in row.iter_mut().zip(&table[r * th..(r + 1) * th]) {
                    *v += ev;
                }
            }
        }

        if c.train {
            c.img.copy_from_slice(x);
        }
        for i in 0..LAYERS {
            let (before, rest) = c.layers.split_at_mut(i);
            let input = match i {
                0 if c.train => Input::Plain(&c.img),
                0 => Input::Plain(x),
                2 => Input::Plain(&c.p1),
                4 => Input::Plain(&c.p2),
                6 => Input::UpConcat(&before[5].post, &before[3].post, &mut c.up2),
                8 => Input::UpConcat(&before[7].post, &before[1].post, &mut c.up1),
                _ => Input::Plain(&before[i - 1].post),
            };
            let (hh, ww) = Self::hw_at(h, w, lay.layers[i].level);
            self.layer_forward(
                i,
                &mut rest[0],
                input,
                n,
                hh,
                ww,
                &c.temb,
                &mut c.ws,
                &mut c.norm_ws,
            );
            let post = &rest[0].post;
            match i {
                1 => max_pool2_forward(post, n, h, w, c0, &mut c.p1, &mut c.am1),
                3 => max_pool2_forward(post, n, h2, w2, c1, &mut c.p2, &mut c.am2),
                _ => {}
            }
        }
        let out_conv = conv3(c0, ci);
        let last = &c.layers[LAYERS - 1].post;
        conv2d_forward(
            &out_conv,
            last,
            n,
            h,
            w,
            self.p(lay.out_w),
            Some(self.p(lay.out_b)),
            Act::None,
            &mut c.out,
            &mut c.ws,
        );
        &c.out
    }

    /// One layer: `post = act(norm(conv(input) + shift))`.
    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        i: usize,
        b: &mut LayerBufs,
        input: Input,
        n: usize,
        h: usize,
        w: usize,
        temb: &[f32],
        ws: &mut Workspace,
        nws: &mut NormScratch,
    ) {
        let cfg = &self.cfg;
        let l = &self.layout.layers[i];
        let pre = needs_pre(cfg);
        let relu_in_place = !pre && cfg.act == ToyAct::Relu;
        let fused = relu_in_place && l.proj.is_none();
        let dst = if pre { &mut b.pre } else { &mut b.post };
        let act = if fused { Act::Relu } else { Act::None };
        let (weight, bias) = (self.p(l.weight), self.p(l.bias));
        match input {
            Input::Plain(x) => conv2d_forward(
                &conv3(l.cin, l.cout),
                x,
                n,
                h,
                w,
                weight,
                Some(bias),
                act,
                dst,
                ws,
            ),
            Input::UpConcat(u, skip, bufs) => {
                up_conv(cfg, i).forward(u, skip, n, h / 2, w / 2, weight, bias, dst, bufs, ws);
                if fused {
                    relu_forward_inplace(dst);
                }
            }
        }
        if let Some(p) = l.proj {
            linear_forward(
                temb,
                n,
                cfg.time_hidden,
                self.p(p),
                None,
                l.cout,
                &mut b.shift,
            );
        }
        let hw = h * w;
        match (cfg.norm, l.norm) {
            (ToyNorm::Group, Some((g, be))) => {
                let shift = l.proj.map(|_| &b.shift[..]);
                let dims = (n, hw, l.cout, cfg.groups);
                let (gamma, beta) = (self.p(g), self.p(be));
                shift_norm_act_forward(
                    &mut b.pre,
                    shift,
                    dims,
                    GN_EPS,
                    gamma,
                    beta,
                    norm_act(cfg.act),
                    &mut b.post,
                    &mut b.mean,
                    &mut b.rstd,
                    nws,
                );
            }
            (ToyNorm::None, _) => {
                if l.proj.is_some() {
                    let dst = if pre { &mut b.pre } else { &mut b.post };
                    add_shift(dst, &b.shift, hw, l.cout, relu_in_place);
                }
                if cfg.act == ToyAct::Silu {
                    silu_forward(&b.pre, &mut b.post);
                }
            }
            (ToyNorm::Group, None) => unreachable!("GroupNorm layers have norm parameters"),
        }
    }

    /// The MSE loss of the last forward output against `target` (the noise), and the backward
    /// pass of that loss: fills `ctx.grads`. Returns the loss.
    pub fn loss_backward(&self, ctx: &mut ToyUNetCtx, target: &[f32]) -> f32 {
        assert!(
            ctx.train,
            "toy U-Net: loss_backward needs a training context"
        );
        let loss = mse_loss_and_grad(&ctx.out, target, &mut ctx.dout);
        self.backward_ctx(ctx);
        loss
    }

    /// Backward pass from `dout` (the loss gradient w.r.t. the last forward output): fills
    /// `ctx.grads` (overwritten) with the gradient of every parameter.
    pub fn backward(&self, ctx: &mut ToyUNetCtx, dout: &[f32]) {
        assert!(ctx.train, "toy U-Net: backward needs a training context");
        ctx.dout.copy_from_slice(dout);
        self.backward_ctx(ctx);
    }

    fn backward_ctx(&self, c: &mut ToyUNetCtx) {
        let ToyUNetConfig {
            time_embed_dim: te,
            time_hidden: th,
            channels: [c0, c1, _],
            ..
        } = self.cfg;
        let (n, h, w) = (c.n, c.h, c.w);
        let (h2, w2) = (h / 2, w / 2);
        let lay = &self.layout;
        let range = |i: usize| self.specs[i].range.clone();

        let out_conv = conv3(c0, self.cfg.in_channels);
        {
            let (gw, gb) = split2(&mut c.grads, &range(lay.out_w), &range(lay.out_b));
            conv2d_backward_weight(
                &out_conv,
                &c.layers[LAYERS - 1].post,
                &c.dout,
                n,
                h,
                w,
                gw,
                Some(gb),
                &mut c.ws,
            );
        }
        conv2d_backward_input(
            &out_conv,
            &c.dout,
            n,
            h,
            w,
            self.p(lay.out_w),
            &mut c.layers[LAYERS - 1].dpost,
            &mut c.ws,
        );
        c.dtemb.fill(0.0);

        for i in (0..LAYERS).rev() {
            let l = &lay.layers[i];
            let (hh, ww) = Self::hw_at(h, w, l.level);
            let (before, rest) = c.layers.split_at_mut(i);
            let b = &mut rest[0];
            let ds = &mut c.dshift[..n * l.cout];
            self.act_norm_backward(l, b, n, hh * ww, &mut c.grads, ds, &mut c.norm_ws);
            let d: &[f32] = if needs_pre(&self.cfg) {
                &b.dpre
            } else {
                &b.dpost
            };
            if let Some(p) = l.proj {
                if self.cfg.norm == ToyNorm::None {
                    sum_pixels(d, hh * ww, l.cout, ds);
                }
                linear_backward(
                    &c.temb,
                    ds,
                    n,
                    th,
                    l.cout,
                    self.p(p),
                    Some(&mut c.dtemb_part),
                    &mut c.grads[range(p)],
                    None,
                );
                for (a, &v) in c.dtemb.iter_mut().zip(&c.dtemb_part) {
                    *a += v;
                }
            }
            let conv = conv3(l.cin, l.cout);
            if i == 6 || i == 8 {
                // The decoder's first convolution reads the layer below (up-sampled) and a skip.
                let (bufs, dskip, skip) = if i == 6 {
                    (&mut c.up2, &mut c.dskip2, 3)
                } else {
                    (&mut c.up1, &mut c.dskip1, 1)
                };
                let (lo, hi) = before.split_at_mut(i - 1);
                let below = &mut hi[0];
                let (gw, gb) = split2(&mut c.grads, &range(l.weight), &range(l.bias));
                let dims = (n, hh / 2, ww / 2);
                up_conv(&self.cfg, i).backward(
                    &below.post,
                    &lo[skip].post,
                    d,
                    dims,
                    gw,
                    gb,
                    &mut below.dpost,
                    dskip,
                    bufs,
                    &mut c.ws,
                );
                continue;
            }
            let input: &[f32] = match i {
                0 => &c.img,
                2 => &c.p1,
                4 => &c.p2,
                _ => &before[i - 1].post,
            };
            {
                let (gw, gb) = split2(&mut c.grads, &range(l.weight), &range(l.bias));
                conv2d_backward_weight(&conv, input, d, n, hh, ww, gw, Some(gb), &mut c.ws);
            }
            if i == 0 {
                break;
            }
            let dinput: &mut [f32] = match i {
                2 => &mut c.dp1,
                4 => &mut c.dp2,
                _ => &mut before[i - 1].dpost,
            };
            conv2d_backward_input(&conv, d, n, hh, ww, self.p(l.weight), dinput, &mut c.ws);
            // A pooled layer's gradient: through the pooling, plus the decoder's via the skip.
            match i {
                4 => {
                    max_pool2_backward(&c.dp2, &c.am2, n, h2, w2, c1, &mut before[3].dpost);
                    add_into(&mut before[3].dpost, &c.dskip2);
                }
                2 => {
                    max_pool2_backward(&c.dp1, &c.am1, n, h, w, c0, &mut before[1].dpost);
                    add_into(&mut before[1].dpost, &c.dskip1);
                }
                _ => {}
            }
        }

        // The class embedding: each image's row receives that image's gradient.
        if let Some(e) = lay.class_emb {
            let g = &mut c.grads[range(e)];
            g.fill(0.0);
            for (d, &r) in c.dtemb.chunks_exact(th).zip(&c.label_rows) {
                for (a, &v) in g[r * th..(r + 1) * th].iter_mut().zip(d) {
                    *a += v;
                }
            }
        }
        // The time MLP.
        silu_backward(&c.tpre2, &c.dtemb, &mut c.dtpre2);
        {
            let (gw, gb) = split2(&mut c.grads, &range(lay.t2_w), &range(lay.t2_b));
            linear_backward(
                &c.t1,
                &c.dtpre2,
                n,
                th,
                th,
                self.p(lay.t2_w),
                Some(&mut c.dt1),
                gw,
                Some(gb),
            );
        }
        silu_backward(&c.tpre1, &c.dt1, &mut c.dtpre1);
        let (gw, gb) = split2(&mut c.grads, &range(lay.t1_w), &range(lay.t1_b));
        linear_backward(
            &c.sinus,
            &c.dtpre1,
            n,
            te,
            th,
            self.p(lay.t1_w),
            None,
            gw,
            Some(gb),
        );
    }

    /// From `b.dpost` to the gradient w.r.t. the pre-activation (`b.dpre`, or `b.dpost` in
    /// place for ReLU without norm), filling the GroupNorm parameters' gradients and, with
    /// GroupNorm on a shifted layer, the shift's gradient `dshift` (`Σ_pixels dpre`).
    #[allow(clippy::too_many_arguments)]
    fn act_norm_backward(
        &self,
        l: &LayerIdx,
        b: &mut LayerBufs,
        n: usize,
        hw: usize,
        grads: &mut [f32],
        dshift: &mut [f32],
        nws: &mut NormScratch,
    ) {
        let cfg = &self.cfg;
        match (cfg.norm, cfg.act, l.norm) {
            (ToyNorm::Group, act, Some((g, be))) => {
                let (dg, db) = split2(grads, &self.specs[g].range, &self.specs[be].range);
                let dims = (n, hw, l.cout, cfg.groups);
                let ds = l.proj.map(|_| dshift);
                shift_norm_act_backward(
                    &b.pre,
                    &b.dpost,
                    dims,
                    self.p(g),
                    self.p(be),
                    norm_act(act),
                    &b.mean,
                    &b.rstd,
                    &mut b.dpre,
                    dg,
                    db,
                    ds,
                    nws,
                );
            }
            (ToyNorm::None, ToyAct::Silu, _) => silu_backward(&b.pre, &b.dpost, &mut b.dpre),
            (ToyNorm::None, ToyAct::Relu, _) => relu_backward_inplace(&b.post, &mut b.dpost),
            (ToyNorm::Group, _, None) => unreachable!("GroupNorm layers have norm parameters"),
        }
    }
}

/// The normalisation kernel's activation for a config's.
fn norm_act(a: ToyAct) -> NormAct {
    match a {
        ToyAct::Silu => NormAct::Silu,
        ToyAct::Relu => NormAct::Relu,
    }
}

/// Two disjoint mutable ranges of `buf`, the first before the second.
fn split2<'a>(
    buf: &'a mut [f32],
    a: &std::ops::Range<usize>,
    b: &std::ops::Range<usize>,
) -> (&'a mut [f32], &'a mut [f32]) {
    assert!(a.end <= b.start, "split2: ranges out of order");
    let (lo, hi) = buf.split_at_mut(b.start);
    (&mut lo[a.clone()], &mut hi[..b.end - b.start])
}
