//! The toy U-Net's backward pass, from the loss gradient of the output to every parameter.

use super::ctx::{conv3, hw_at, needs_pre, norm_act, up_conv, LayerBufs, ToyUNetCtx};
use super::{LayerIdx, ToyAct, ToyNorm, ToyUNet, ToyUNetConfig, LAYERS};
use crate::nn::conv::{conv2d_backward_input, conv2d_backward_weight};
use crate::nn::ops::*;
use rayon::prelude::*;

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
    /// [`crate::models::Trainable::backward_from_loss_grad`]: from `c.dout` back to every
    /// parameter.
    pub(super) fn backward_pass(&self, c: &mut ToyUNetCtx) {
        let ToyUNetConfig {
            time_embed_dim: te,
            time_hidden: th,
            channels: [c0, c1, _],
            ..
        } = self.cfg;
        let (n, h, w) = (c.n, c.h, c.w);
        let (h2, w2) = (h / 2, w / 2);
        let lay = &self.layout;
        let store = self.params.layout();
        let range = |i: usize| store.range(i);

        let out_conv = conv3(c0, self.cfg.in_channels);
        {
            let (gw, gb) = store.pair_mut(&mut c.grads, lay.out_w, lay.out_b);
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
            let (hh, ww) = hw_at(h, w, l.level);
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
                let (gw, gb) = store.pair_mut(&mut c.grads, l.weight, l.bias);
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
                let (gw, gb) = store.pair_mut(&mut c.grads, l.weight, l.bias);
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
                    add_inplace(&mut before[3].dpost, &c.dskip2);
                }
                2 => {
                    max_pool2_backward(&c.dp1, &c.am1, n, h, w, c0, &mut before[1].dpost);
                    add_inplace(&mut before[1].dpost, &c.dskip1);
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
            let (gw, gb) = store.pair_mut(&mut c.grads, lay.t2_w, lay.t2_b);
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
        let (gw, gb) = store.pair_mut(&mut c.grads, lay.t1_w, lay.t1_b);
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
                let (dg, db) = self.params.layout().pair_mut(grads, g, be);
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
