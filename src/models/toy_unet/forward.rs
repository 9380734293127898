//! The toy U-Net's forward pass: the time MLP (plus the class embedding), ten layers of
//! `act(norm(conv(input) + shift))` and the output convolution.

use super::ctx::{
    conv3, hw_at, needs_pre, norm_act, up_conv, LayerBufs, ToyBufs, ToyUNetCtx, GN_EPS,
};
use super::{ToyAct, ToyNorm, ToyUNet, LAYERS};
use crate::nn::conv::{conv2d_forward, Act, UpConvBufs};
use crate::nn::ops::*;
use crate::nn::workspace::Workspace;
use rayon::prelude::*;

/// What a layer's convolution reads.
enum Input<'a> {
    /// One tensor at the layer's resolution.
    Plain(&'a [f32]),
    /// A decoder's `concat[up2(u), skip]`, with its scratch.
    UpConcat(&'a [f32], &'a [f32], &'a mut UpConvBufs),
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

impl ToyUNet {
    /// [`crate::models::Trainable::forward`]: a conditional model uses its null class.
    pub(super) fn forward_null<'c>(
        &self,
        ctx: &'c mut ToyUNetCtx,
        x: &[f32],
        t: &[f32],
    ) -> &'c [f32] {
        ctx.bufs.label_rows.fill(self.cfg.num_classes);
        self.forward_inner(ctx, x, t)
    }

    /// [`crate::models::Trainable::forward`] of a conditional model with the class-embedding row of each image
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
        ctx.bufs.label_rows.copy_from_slice(rows);
        self.forward_inner(ctx, x, t)
    }

    fn forward_inner<'c>(&self, ctx: &'c mut ToyUNetCtx, x: &[f32], t: &[f32]) -> &'c [f32] {
        let [c0, c1, _] = self.cfg.channels;
        let ci = self.cfg.in_channels;
        let (n, h, w) = (ctx.n, ctx.h, ctx.w);
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
        self.time_forward(&mut c.bufs, t, n);
        if c.train {
            c.img.copy_from_slice(x);
        }
        for i in 0..LAYERS {
            let (before, rest) = c.bufs.layers.split_at_mut(i);
            let input = match i {
                0 if c.train => Input::Plain(&c.img),
                0 => Input::Plain(x),
                2 => Input::Plain(&c.bufs.p1),
                4 => Input::Plain(&c.bufs.p2),
                6 => Input::UpConcat(&before[5].post, &before[3].post, &mut c.bufs.up2),
                8 => Input::UpConcat(&before[7].post, &before[1].post, &mut c.bufs.up1),
                _ => Input::Plain(&before[i - 1].post),
            };
            let (hh, ww) = hw_at(h, w, lay.layers[i].level);
            let scratch = (&mut c.ws, &mut c.bufs.norm_ws);
            let b = &mut rest[0];
            self.layer_forward(i, b, input, (n, hh, ww), &c.bufs.temb, scratch);
            let post = &b.post;
            match i {
                1 => max_pool2_forward(post, n, h, w, c0, &mut c.bufs.p1, &mut c.bufs.am1),
                3 => {
                    let (p2, am2) = (&mut c.bufs.p2, &mut c.bufs.am2);
                    max_pool2_forward(post, n, h / 2, w / 2, c1, p2, am2)
                }
                _ => {}
            }
        }
        let out_conv = conv3(c0, ci);
        let last = &c.bufs.layers[LAYERS - 1].post;
        let (wo, bo) = (self.p(lay.out_w), Some(self.p(lay.out_b)));
        conv2d_forward(
            &out_conv,
            last,
            n,
            h,
            w,
            wo,
            bo,
            Act::None,
            &mut c.out,
            &mut c.ws,
        );
        &c.out
    }

    /// The time MLP, `temb = silu(silu(sinusoid(t)·W1 + b1)·W2 + b2)`, plus each image's
    /// class-embedding row in a conditional model.
    fn time_forward(&self, b: &mut ToyBufs, t: &[f32], n: usize) {
        let (te, th) = (self.cfg.time_embed_dim, self.cfg.time_hidden);
        let lay = &self.layout;
        timestep_embedding(t, te, 10000.0, false, 1.0, &mut b.sinus);
        let (w1, b1) = (self.p(lay.t1_w), Some(self.p(lay.t1_b)));
        linear_forward(&b.sinus, n, te, w1, b1, th, &mut b.tpre1);
        silu_forward(&b.tpre1, &mut b.t1);
        let (w2, b2) = (self.p(lay.t2_w), Some(self.p(lay.t2_b)));
        linear_forward(&b.t1, n, th, w2, b2, th, &mut b.tpre2);
        silu_forward(&b.tpre2, &mut b.temb);
        if let Some(e) = lay.class_emb {
            let table = self.p(e);
            for (row, &r) in b.temb.chunks_exact_mut(th).zip(&b.label_rows) {
                for (v, &ev) in row.iter_mut().zip(&table[r * th..(r + 1) * th]) {
                    *v += ev;
                }
            }
        }
    }

    /// One layer: `post = act(norm(conv(input) + shift))`.
    fn layer_forward(
        &self,
        i: usize,
        b: &mut LayerBufs,
        input: Input,
        (n, h, w): (usize, usize, usize),
        temb: &[f32],
        (ws, nws): (&mut Workspace, &mut NormScratch),
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
            Input::Plain(x) => {
                let conv = conv3(l.cin, l.cout);
                conv2d_forward(&conv, x, n, h, w, weight, Some(bias), act, dst, ws)
            }
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
                let (act, stats) = (norm_act(cfg.act), (&mut b.mean, &mut b.rstd));
                let (x, y) = (&mut b.pre, &mut b.post);
                shift_norm_act_forward(
                    x, shift, dims, GN_EPS, gamma, beta, act, y, stats.0, stats.1, nws,
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
}
