//! The toy U-Net's backward pass, from the loss gradient of the output to every parameter.

use super::ctx::{conv3, hw_at, needs_pre, norm_act, up_conv, LayerBufs, ToyUNetCtx};
use super::{LayerIdx, ToyAct, ToyNorm, ToyUNet, LAYERS};
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
        let (n, h, w) = (c.n, c.h, c.w);
        let lay = &self.layout;
        let out_conv = conv3(self.cfg.channels[0], self.cfg.in_channels);
        let (gw, gb) = self
            .params
            .layout()
            .pair_mut(&mut c.grads, lay.out_w, lay.out_b);
        let last = &mut c.bufs.layers[LAYERS - 1];
        conv2d_backward_weight(
            &out_conv,
            &last.post,
            &c.dout,
            n,
            h,
            w,
            gw,
            Some(gb),
            &mut c.ws,
        );
        let wo = self.p(lay.out_w);
        conv2d_backward_input(&out_conv, &c.dout, n, h, w, wo, &mut last.dpost, &mut c.ws);
        c.bufs.dtemb.fill(0.0);
        for i in (0..LAYERS).rev() {
            self.layer_backward(i, c);
        }
        self.embed_backward(c);
    }

    /// Layer `i` backward from its output gradient: the normalisation, the time projection
    /// (whose input gradient adds to `dtemb`), the convolution's weights and bias, and the
    /// gradient of the layer's input (through a pooling or an up-sampled concatenation).
    fn layer_backward(&self, i: usize, c: &mut ToyUNetCtx) {
        let [c0, c1, _] = self.cfg.channels;
        let (n, h, w) = (c.n, c.h, c.w);
        let l = &self.layout.layers[i];
        let (hh, ww) = hw_at(h, w, l.level);
        let store = self.params.layout();
        let (before, rest) = c.bufs.layers.split_at_mut(i);
        let b = &mut rest[0];
        let ds = &mut c.bufs.dshift[..n * l.cout];
        self.act_norm_backward(l, b, n, hh * ww, &mut c.grads, ds, &mut c.bufs.norm_ws);
        let d: &[f32] = if needs_pre(&self.cfg) {
            &b.dpre
        } else {
            &b.dpost
        };
        if let Some(p) = l.proj {
            if self.cfg.norm == ToyNorm::None {
                sum_pixels(d, hh * ww, l.cout, ds);
            }
            let (th, g) = (self.cfg.time_hidden, &mut c.grads[store.range(p)]);
            let part = &mut c.bufs.dtemb_part;
            linear_backward(
                &c.bufs.temb,
                ds,
                n,
                th,
                l.cout,
                self.p(p),
                Some(part),
                g,
                None,
            );
            add_inplace(&mut c.bufs.dtemb, &c.bufs.dtemb_part);
        }
        let (gw, gb) = store.pair_mut(&mut c.grads, l.weight, l.bias);
        if i == 6 || i == 8 {
            // The decoder's first convolution reads the layer below (up-sampled) and a skip.
            let (bufs, dskip, skip) = if i == 6 {
                (&mut c.bufs.up2, &mut c.bufs.dskip2, 3)
            } else {
                (&mut c.bufs.up1, &mut c.bufs.dskip1, 1)
            };
            let (lo, hi) = before.split_at_mut(i - 1);
            let below = &mut hi[0];
            let (u, dims) = (&below.post, (n, hh / 2, ww / 2));
            let (du, ws) = (&mut below.dpost, &mut c.ws);
            let conv = up_conv(&self.cfg, i);
            conv.backward(u, &lo[skip].post, d, dims, gw, gb, du, dskip, bufs, ws);
            return;
        }
        let input: &[f32] = match i {
            0 => &c.img,
            2 => &c.bufs.p1,
            4 => &c.bufs.p2,
            _ => &before[i - 1].post,
        };
        let conv = conv3(l.cin, l.cout);
        conv2d_backward_weight(&conv, input, d, n, hh, ww, gw, Some(gb), &mut c.ws);
        if i == 0 {
            return;
        }
        let dinput: &mut [f32] = match i {
            2 => &mut c.bufs.dp1,
            4 => &mut c.bufs.dp2,
            _ => &mut before[i - 1].dpost,
        };
        conv2d_backward_input(&conv, d, n, hh, ww, self.p(l.weight), dinput, &mut c.ws);
        // A pooled layer's gradient: through the pooling, plus the decoder's via the skip.
        match i {
            4 => {
                let dpost = &mut before[3].dpost;
                max_pool2_backward(&c.bufs.dp2, &c.bufs.am2, n, h / 2, w / 2, c1, dpost);
                add_inplace(dpost, &c.bufs.dskip2);
            }
            2 => {
                let dpost = &mut before[1].dpost;
                max_pool2_backward(&c.bufs.dp1, &c.bufs.am1, n, h, w, c0, dpost);
                add_inplace(dpost, &c.bufs.dskip1);
            }
            _ => {}
        }
    }

    /// The class embedding (each image's row receives that image's `dtemb`) and the time MLP.
    fn embed_backward(&self, c: &mut ToyUNetCtx) {
        let (n, te, th) = (c.n, self.cfg.time_embed_dim, self.cfg.time_hidden);
        let (lay, store, b) = (&self.layout, self.params.layout(), &mut c.bufs);
        if let Some(e) = lay.class_emb {
            let g = &mut c.grads[store.range(e)];
            g.fill(0.0);
            for (d, &r) in b.dtemb.chunks_exact(th).zip(&b.label_rows) {
                for (a, &v) in g[r * th..(r + 1) * th].iter_mut().zip(d) {
                    *a += v;
                }
            }
        }
        silu_backward(&b.tpre2, &b.dtemb, &mut b.dtpre2);
        let (gw, gb) = store.pair_mut(&mut c.grads, lay.t2_w, lay.t2_b);
        let w2 = self.p(lay.t2_w);
        linear_backward(
            &b.t1,
            &b.dtpre2,
            n,
            th,
            th,
            w2,
            Some(&mut b.dt1),
            gw,
            Some(gb),
        );
        silu_backward(&b.tpre1, &b.dt1, &mut b.dtpre1);
        let (gw, gb) = store.pair_mut(&mut c.grads, lay.t1_w, lay.t1_b);
        let w1 = self.p(lay.t1_w);
        linear_backward(&b.sinus, &b.dtpre1, n, te, th, w1, None, gw, Some(gb));
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
