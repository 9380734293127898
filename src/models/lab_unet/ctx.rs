//! The lab U-Net's training context (every activation and gradient buffer for one batch shape,
//! allocated once) and the model's explicit forward and backward passes.

use super::{check_size, idx, LabUNet, LabUNetConfig};
use crate::models::trainable::TrainCtx;
use crate::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, FirstConv, Padding,
};
use crate::nn::ops::*;
use crate::nn::workspace::Workspace;
use crate::{Error, Result};

/// Activations (kept for the backward pass) and gradients of the lab U-Net for batches of `n`
/// images of `h × w`. Create it with [`crate::models::Trainable::train_ctx`] (or [`crate::models::Trainable::infer_ctx`],
/// which has no gradient buffers) and reuse it for every batch of that shape: nothing is allocated after
/// the first step.
pub struct LabUNetCtx {
    n: usize,
    h: usize,
    w: usize,
    train: bool,
    /// Parameter gradients, aligned with the model's parameters; filled by the backward pass.
    pub grads: Vec<f32>,
    /// Gradient of the loss w.r.t. the output (`[n, h, w, in_channels]`).
    pub dout: Vec<f32>,
    img: Vec<f32>,
    sinus: Vec<f32>,
    th1: Vec<f32>,
    temb: Vec<f32>,
    a1: Vec<f32>,
    skip1: Vec<f32>,
    p1: Vec<f32>,
    am1: Vec<u8>,
    a2: Vec<f32>,
    skip2: Vec<f32>,
    p2: Vec<f32>,
    am2: Vec<u8>,
    m1: Vec<f32>,
    m2: Vec<f32>,
    cat2: Vec<f32>,
    d2a: Vec<f32>,
    d2b: Vec<f32>,
    cat1: Vec<f32>,
    d1a: Vec<f32>,
    d1b: Vec<f32>,
    out: Vec<f32>,
    // Gradients of activations; `full_*` at h×w with c0 channels, `half_*` at h/2×w/2 with c1,
    // `quarter_*` at h/4×w/4 with c2 (each pair is reused by the encoder after the decoder).
    g_full_a: Vec<f32>,
    g_full_b: Vec<f32>,
    g_cat1: Vec<f32>,
    g_half_a: Vec<f32>,
    g_half_b: Vec<f32>,
    g_cat2: Vec<f32>,
    g_quarter_a: Vec<f32>,
    g_quarter_b: Vec<f32>,
    g_p1: Vec<f32>,
    g_p2: Vec<f32>,
    g_temb: Vec<f32>,
    g_th1: Vec<f32>,
    ws: Workspace,
}

impl LabUNetCtx {
    pub(super) fn new(
        cfg: &LabUNetConfig,
        nparams: usize,
        (n, h, w): (usize, usize, usize),
        train: bool,
    ) -> Result<Self> {
        check_size(h, w)?;
        if n == 0 {
            return Err(Error::invalid("lab U-Net: batch size must be at least 1"));
        }
        let [c0, c1, c2] = cfg.channels;
        let (ci, th, te) = (cfg.in_channels, cfg.time_hidden, cfg.time_embed_dim);
        let (full, half, quarter) = (n * h * w, n * (h / 2) * (w / 2), n * (h / 4) * (w / 4));
        let g = |len: usize| if train { vec![0.0f32; len] } else { Vec::new() };
        Ok(LabUNetCtx {
            n,
            h,
            w,
            train,
            grads: g(nparams),
            dout: g(full * ci),
            img: g(full * ci),
            sinus: vec![0.0; n * te],
            th1: vec![0.0; n * th],
            temb: vec![0.0; n * th],
            a1: vec![0.0; full * c0],
            skip1: vec![0.0; full * c0],
            p1: vec![0.0; half * c0],
            am1: vec![0; half * c0],
            a2: vec![0.0; half * c1],
            skip2: vec![0.0; half * c1],
            p2: vec![0.0; quarter * c1],
            am2: vec![0; quarter * c1],
            m1: vec![0.0; quarter * c2],
            m2: vec![0.0; quarter * c2],
            cat2: vec![0.0; half * (c2 + c1)],
            d2a: vec![0.0; half * c1],
            d2b: vec![0.0; half * c1],
            cat1: vec![0.0; full * (c1 + c0)],
            d1a: vec![0.0; full * c0],
            d1b: vec![0.0; full * c0],
            out: vec![0.0; full * ci],
            g_full_a: g(full * c0),
            g_full_b: g(full * c0),
            g_cat1: g(full * (c1 + c0)),
            g_half_a: g(half * c1),
            g_half_b: g(half * c1),
            g_cat2: g(half * (c2 + c1)),
            g_quarter_a: g(quarter * c2),
            g_quarter_b: g(quarter * c2),
            g_p1: g(half * c0),
            g_p2: g(quarter * c1),
            g_temb: g(n * th),
            g_th1: g(n * th),
            ws: Workspace::new(),
        })
    }
}

impl TrainCtx for LabUNetCtx {
    fn dims(&self) -> (usize, usize, usize) {
        (self.n, self.h, self.w)
    }
    fn output(&self) -> &[f32] {
        &self.out
    }
    fn grads(&self) -> &[f32] {
        &self.grads
    }
    fn loss_bufs(&mut self) -> (bool, &[f32], &mut [f32]) {
        (self.train, &self.out, &mut self.dout)
    }
}

fn conv(cin: usize, cout: usize) -> Conv2d {
    Conv2d::new(cin, cout, 3, 1, Padding::same(3))
}

impl LabUNet {
    fn first_conv(&self) -> FirstConv {
        FirstConv {
            ci: self.cfg.in_channels,
            ct: self.cfg.time_hidden,
            cout: self.cfg.channels[0],
        }
    }

    /// [`crate::models::Trainable::forward`].
    pub(super) fn forward_pass<'c>(
        &self,
        ctx: &'c mut LabUNetCtx,
        x: &[f32],
        t: &[f32],
    ) -> &'c [f32] {
        let LabUNetConfig {
            in_channels: ci,
            time_embed_dim: te,
            time_hidden: th,
            channels: [c0, c1, c2],
            ..
        } = self.cfg;
        let (n, h, w) = (ctx.n, ctx.h, ctx.w);
        let (h2, w2, h4, w4) = (h / 2, w / 2, h / 4, w / 4);
        assert_eq!(
            x.len(),
            n * h * w * ci,
            "lab U-Net forward: x is not [{n}, {h}, {w}, {ci}]"
        );
        assert_eq!(
            t.len(),
            n,
            "lab U-Net forward: {} timesteps for {n} images",
            t.len()
        );
        let shapes = self.cfg.conv_shapes();
        let cv = |i: usize| conv(shapes[i].0, shapes[i].1);
        let (wt, bs) = (
            |i: usize| self.p(idx::conv_w(i)),
            |i: usize| Some(self.p(idx::conv_b(i))),
        );
        let c = ctx;

        timestep_embedding(t, te, 10000.0, false, 1.0, &mut c.sinus);
        linear_forward(
            &c.sinus,
            n,
            te,
            self.p(idx::T1_W),
            Some(self.p(idx::T1_B)),
            th,
            &mut c.th1,
        );
        relu_forward_inplace(&mut c.th1);
        linear_forward(
            &c.th1,
            n,
            th,
            self.p(idx::T2_W),
            Some(self.p(idx::T2_B)),
            th,
            &mut c.temb,
        );
        relu_forward_inplace(&mut c.temb);

        let img: &[f32] = if c.train {
            c.img.copy_from_slice(x);
            &c.img
        } else {
            x
        };
        self.first_conv().forward(
            img,
            &c.temb,
            n,
            h,
            w,
            wt(0),
            self.p(idx::conv_b(0)),
            &mut c.a1,
            &mut c.ws,
        );
        conv2d_forward(
            &cv(1),
            &c.a1,
            n,
            h,
            w,
            wt(1),
            bs(1),
            Act::Relu,
            &mut c.skip1,
            &mut c.ws,
        );
        max_pool2_forward(&c.skip1, n, h, w, c0, &mut c.p1, &mut c.am1);
        conv2d_forward(
            &cv(2),
            &c.p1,
            n,
            h2,
            w2,
            wt(2),
            bs(2),
            Act::Relu,
            &mut c.a2,
            &mut c.ws,
        );
        conv2d_forward(
            &cv(3),
            &c.a2,
            n,
            h2,
            w2,
            wt(3),
            bs(3),
            Act::Relu,
            &mut c.skip2,
            &mut c.ws,
        );
        max_pool2_forward(&c.skip2, n, h2, w2, c1, &mut c.p2, &mut c.am2);
        conv2d_forward(
            &cv(4),
            &c.p2,
            n,
            h4,
            w4,
            wt(4),
            bs(4),
            Act::Relu,
            &mut c.m1,
            &mut c.ws,
        );
        conv2d_forward(
            &cv(5),
            &c.m1,
            n,
            h4,
            w4,
            wt(5),
            bs(5),
            Act::Relu,
            &mut c.m2,
            &mut c.ws,
        );
        upsample_nearest2_forward_into(&c.m2, n, h4, w4, c2, &mut c.cat2, c2 + c1, 0);
        copy_into_channels(&c.skip2, n * h2 * w2, c1, &mut c.cat2, c2 + c1, c2);
        conv2d_forward(
            &cv(6),
            &c.cat2,
            n,
            h2,
            w2,
            wt(6),
            bs(6),
            Act::Relu,
            &mut c.d2a,
            &mut c.ws,
        );
        conv2d_forward(
            &cv(7),
            &c.d2a,
            n,
            h2,
            w2,
            wt(7),
            bs(7),
            Act::Relu,
            &mut c.d2b,
            &mut c.ws,
        );
        upsample_nearest2_forward_into(&c.d2b, n, h2, w2, c1, &mut c.cat1, c1 + c0, 0);
        copy_into_channels(&c.skip1, n * h * w, c0, &mut c.cat1, c1 + c0, c1);
        conv2d_forward(
            &cv(8),
            &c.cat1,
            n,
            h,
            w,
            wt(8),
            bs(8),
            Act::Relu,
            &mut c.d1a,
            &mut c.ws,
        );
        conv2d_forward(
            &cv(9),
            &c.d1a,
            n,
            h,
            w,
            wt(9),
            bs(9),
            Act::Relu,
            &mut c.d1b,
            &mut c.ws,
        );
        conv2d_forward(
            &cv(10),
            &c.d1b,
            n,
            h,
            w,
            wt(10),
            bs(10),
            Act::None,
            &mut c.out,
            &mut c.ws,
        );
        &c.out
    }

    /// [`crate::models::Trainable::backward_from_loss_grad`]: from `c.dout` back to every parameter.
    pub(super) fn backward_pass(&self, c: &mut LabUNetCtx) {
        let LabUNetConfig {
            time_embed_dim: te,
            time_hidden: th,
            channels: [c0, c1, c2],
            ..
        } = self.cfg;
        let (n, h, w) = (c.n, c.h, c.w);
        let (h2, w2, h4, w4) = (h / 2, w / 2, h / 4, w / 4);
        let shapes = self.cfg.conv_shapes();
        let cv = |i: usize| conv(shapes[i].0, shapes[i].1);
        let wt = |i: usize| self.p(idx::conv_w(i));
        let lay = self.params.layout();
        // Weight and bias gradients of conv `i` from its input `x` and output gradient `dy`.
        macro_rules! dweights {
            ($i:expr, $x:expr, $dy:expr, $hh:expr, $ww:expr) => {{
                let (gw, gb) = lay.pair_mut(&mut c.grads, idx::conv_w($i), idx::conv_b($i));
                conv2d_backward_weight(&cv($i), $x, $dy, n, $hh, $ww, gw, Some(gb), &mut c.ws);
            }};
        }

        // out, dec1
        dweights!(10, &c.d1b, &c.dout, h, w);
        conv2d_backward_input(
            &cv(10),
            &c.dout,
            n,
            h,
            w,
            wt(10),
            &mut c.g_full_a,
            &mut c.ws,
        );
        relu_backward_inplace(&c.d1b, &mut c.g_full_a);
        dweights!(9, &c.d1a, &c.g_full_a, h, w);
        conv2d_backward_input(
            &cv(9),
            &c.g_full_a,
            n,
            h,
            w,
            wt(9),
            &mut c.g_full_b,
            &mut c.ws,
        );
        relu_backward_inplace(&c.d1a, &mut c.g_full_b);
        dweights!(8, &c.cat1, &c.g_full_b, h, w);
        conv2d_backward_input(
            &cv(8),
            &c.g_full_b,
            n,
            h,
            w,
            wt(8),
            &mut c.g_cat1,
            &mut c.ws,
        );
        // dec2
        upsample_nearest2_backward_from(&c.g_cat1, n, h2, w2, c1, c1 + c0, 0, &mut c.g_half_a);
        relu_backward_inplace(&c.d2b, &mut c.g_half_a);
        dweights!(7, &c.d2a, &c.g_half_a, h2, w2);
        conv2d_backward_input(
            &cv(7),
            &c.g_half_a,
            n,
            h2,
            w2,
            wt(7),
            &mut c.g_half_b,
            &mut c.ws,
        );
        relu_backward_inplace(&c.d2a, &mut c.g_half_b);
        dweights!(6, &c.cat2, &c.g_half_b, h2, w2);
        conv2d_backward_input(
            &cv(6),
            &c.g_half_b,
            n,
            h2,
            w2,
            wt(6),
            &mut c.g_cat2,
            &mut c.ws,
        );
        // mid
        upsample_nearest2_backward_from(&c.g_cat2, n, h4, w4, c2, c2 + c1, 0, &mut c.g_quarter_a);
        relu_backward_inplace(&c.m2, &mut c.g_quarter_a);
        dweights!(5, &c.m1, &c.g_quarter_a, h4, w4);
        conv2d_backward_input(
            &cv(5),
            &c.g_quarter_a,
            n,
            h4,
            w4,
            wt(5),
            &mut c.g_quarter_b,
            &mut c.ws,
        );
        relu_backward_inplace(&c.m1, &mut c.g_quarter_b);
        dweights!(4, &c.p2, &c.g_quarter_b, h4, w4);
        conv2d_backward_input(
            &cv(4),
            &c.g_quarter_b,
            n,
            h4,
            w4,
            wt(4),
            &mut c.g_p2,
            &mut c.ws,
        );
        // enc2: skip2 gets the pooling's gradient plus its share of the decoder's concatenation.
        max_pool2_backward(&c.g_p2, &c.am2, n, h2, w2, c1, &mut c.g_half_a);
        split_channels_acc(&c.g_cat2, n * h2 * w2, c2 + c1, c2, &mut c.g_half_a, c1);
        relu_backward_inplace(&c.skip2, &mut c.g_half_a);
        dweights!(3, &c.a2, &c.g_half_a, h2, w2);
        conv2d_backward_input(
            &cv(3),
            &c.g_half_a,
            n,
            h2,
            w2,
            wt(3),
            &mut c.g_half_b,
            &mut c.ws,
        );
        relu_backward_inplace(&c.a2, &mut c.g_half_b);
        dweights!(2, &c.p1, &c.g_half_b, h2, w2);
        conv2d_backward_input(
            &cv(2),
            &c.g_half_b,
            n,
            h2,
            w2,
            wt(2),
            &mut c.g_p1,
            &mut c.ws,
        );
        // enc1
        max_pool2_backward(&c.g_p1, &c.am1, n, h, w, c0, &mut c.g_full_a);
        split_channels_acc(&c.g_cat1, n * h * w, c1 + c0, c1, &mut c.g_full_a, c0);
        relu_backward_inplace(&c.skip1, &mut c.g_full_a);
        dweights!(1, &c.a1, &c.g_full_a, h, w);
        conv2d_backward_input(
            &cv(1),
            &c.g_full_a,
            n,
            h,
            w,
            wt(1),
            &mut c.g_full_b,
            &mut c.ws,
        );
        relu_backward_inplace(&c.a1, &mut c.g_full_b);
        {
            let (gw, gb) = lay.pair_mut(&mut c.grads, idx::conv_w(0), idx::conv_b(0));
            self.first_conv().backward(
                &c.img,
                &c.temb,
                &c.g_full_b,
                n,
                h,
                w,
                wt(0),
                gw,
                gb,
                &mut c.g_temb,
                &mut c.ws,
            );
        }
        // time MLP
        relu_backward_inplace(&c.temb, &mut c.g_temb);
        {
            let (gw, gb) = lay.pair_mut(&mut c.grads, idx::T2_W, idx::T2_B);
            linear_backward(
                &c.th1,
                &c.g_temb,
                n,
                th,
                th,
                self.p(idx::T2_W),
                Some(&mut c.g_th1),
                gw,
                Some(gb),
            );
        }
        relu_backward_inplace(&c.th1, &mut c.g_th1);
        let (gw, gb) = lay.pair_mut(&mut c.grads, idx::T1_W, idx::T1_B);
        linear_backward(
            &c.sinus,
            &c.g_th1,
            n,
            te,
            th,
            self.p(idx::T1_W),
            None,
            gw,
            Some(gb),
        );
    }
}
