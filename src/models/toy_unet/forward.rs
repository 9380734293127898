//! The toy U-Net's forward pass: the time MLP (plus the class embedding), ten layers of
//! `act(norm(conv(input) + shift))` and the output convolution.

use super::ctx::{conv3, hw_at, needs_pre, norm_act, up_conv, LayerBufs, ToyUNetCtx, GN_EPS};
use super::{ToyAct, ToyNorm, ToyUNet, ToyUNetConfig, LAYERS};
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
        ctx.label_rows.fill(self.cfg.num_classes);
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
            let (hh, ww) = hw_at(h, w, lay.layers[i].level);
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
}
