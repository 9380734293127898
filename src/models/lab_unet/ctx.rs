//! The lab U-Net's training context (every activation and gradient buffer for one batch shape,
//! allocated once) and the model's explicit forward and backward passes.

use super::{idx, LabUNet, LabUNetConfig};
use crate::models::trainable::{grad_buf, UNetCtx};
use crate::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, FirstConv, Padding,
};
use crate::nn::ops::*;
use crate::nn::workspace::Workspace;

/// The lab U-Net's context: [`UNetCtx`] with the buffers of [`LabBufs`].
pub type LabUNetCtx = UNetCtx<LabBufs>;

/// The lab U-Net's own activations (kept for the backward pass) and activation gradients.
pub struct LabBufs {
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
}

impl LabBufs {
    /// The buffers for batches of `n` images of `h × w`; gradients only when `train`.
    pub(super) fn new(cfg: &LabUNetConfig, (n, h, w): (usize, usize, usize), train: bool) -> Self {
        let [c0, c1, c2] = cfg.channels;
        let (th, te) = (cfg.time_hidden, cfg.time_embed_dim);
        let (full, half, quarter) = (n * h * w, n * (h / 2) * (w / 2), n * (h / 4) * (w / 4));
        let g = |len: usize| grad_buf(train, len);
        LabBufs {
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
        }
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

    /// Convolution `i` of [`super::CONV_NAMES`] (with its bias and `act`) of `x`
    /// (`[n, h, w, cin]`) into `y`.
    fn conv_forward(
        &self,
        i: usize,
        x: &[f32],
        dims: Dims,
        act: Act,
        y: &mut [f32],
        ws: &mut Workspace,
    ) {
        let (cin, cout) = self.cfg.conv_shapes()[i];
        let (n, h, w) = dims;
        let (weight, bias) = (self.p(idx::conv_w(i)), self.p(idx::conv_b(i)));
        conv2d_forward(&conv(cin, cout), x, n, h, w, weight, Some(bias), act, y, ws);
    }

    /// The gradients of convolution `i` from its input `x` and output gradient `dy`: its weight
    /// and bias gradients into `grads`, then (unless `dx` is `None`) the input gradient.
    #[allow(clippy::too_many_arguments)]
    fn conv_backward(
        &self,
        i: usize,
        x: &[f32],
        dy: &[f32],
        (n, h, w): Dims,
        dx: &mut [f32],
        grads: &mut [f32],
        ws: &mut Workspace,
    ) {
        let (cin, cout) = self.cfg.conv_shapes()[i];
        let cv = conv(cin, cout);
        let lay = self.params.layout();
        let (gw, gb) = lay.pair_mut(grads, idx::conv_w(i), idx::conv_b(i));
        conv2d_backward_weight(&cv, x, dy, n, h, w, gw, Some(gb), ws);
        conv2d_backward_input(&cv, dy, n, h, w, self.p(idx::conv_w(i)), dx, ws);
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
            channels: [c0, c1, c2],
            ..
        } = self.cfg;
        let (n, h, w) = (ctx.n, ctx.h, ctx.w);
        let (full, half, quarter) = ((n, h, w), (n, h / 2, w / 2), (n, h / 4, w / 4));
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
        self.time_forward(&mut ctx.bufs, t, n);
        let img: &[f32] = if ctx.train {
            ctx.img.copy_from_slice(x);
            &ctx.img
        } else {
            x
        };
        let (b, ws) = (&mut ctx.bufs, &mut ctx.ws);
        let (wt0, bs0) = (self.p(idx::conv_w(0)), self.p(idx::conv_b(0)));
        self.first_conv()
            .forward(img, &b.temb, n, h, w, wt0, bs0, &mut b.a1, ws);
        self.conv_forward(1, &b.a1, full, Act::Relu, &mut b.skip1, ws);
        max_pool2_forward(&b.skip1, n, h, w, c0, &mut b.p1, &mut b.am1);
        self.conv_forward(2, &b.p1, half, Act::Relu, &mut b.a2, ws);
        self.conv_forward(3, &b.a2, half, Act::Relu, &mut b.skip2, ws);
        max_pool2_forward(&b.skip2, n, h / 2, w / 2, c1, &mut b.p2, &mut b.am2);
        self.conv_forward(4, &b.p2, quarter, Act::Relu, &mut b.m1, ws);
        self.conv_forward(5, &b.m1, quarter, Act::Relu, &mut b.m2, ws);
        upsample_nearest2_forward_into(&b.m2, n, h / 4, w / 4, c2, (&mut b.cat2, c2 + c1, 0));
        copy_into_channels(
            &b.skip2,
            n * (h / 2) * (w / 2),
            c1,
            &mut b.cat2,
            c2 + c1,
            c2,
        );
        self.conv_forward(6, &b.cat2, half, Act::Relu, &mut b.d2a, ws);
        self.conv_forward(7, &b.d2a, half, Act::Relu, &mut b.d2b, ws);
        upsample_nearest2_forward_into(&b.d2b, n, h / 2, w / 2, c1, (&mut b.cat1, c1 + c0, 0));
        copy_into_channels(&b.skip1, n * h * w, c0, &mut b.cat1, c1 + c0, c1);
        self.conv_forward(8, &b.cat1, full, Act::Relu, &mut b.d1a, ws);
        self.conv_forward(9, &b.d1a, full, Act::Relu, &mut b.d1b, ws);
        self.conv_forward(10, &b.d1b, full, Act::None, &mut ctx.out, ws);
        &ctx.out
    }

    /// The time MLP: `temb = relu(relu(sinusoid(t)·W1 + b1)·W2 + b2)`.
    fn time_forward(&self, b: &mut LabBufs, t: &[f32], n: usize) {
        let (te, th) = (self.cfg.time_embed_dim, self.cfg.time_hidden);
        timestep_embedding(t, te, 10000.0, false, 1.0, &mut b.sinus);
        let (w1, b1) = (self.p(idx::T1_W), Some(self.p(idx::T1_B)));
        linear_forward(&b.sinus, n, te, w1, b1, th, &mut b.th1);
        relu_forward_inplace(&mut b.th1);
        let (w2, b2) = (self.p(idx::T2_W), Some(self.p(idx::T2_B)));
        linear_forward(&b.th1, n, th, w2, b2, th, &mut b.temb);
        relu_forward_inplace(&mut b.temb);
    }

    /// [`crate::models::Trainable::backward_from_loss_grad`]: from `c.dout` back to every parameter.
    pub(super) fn backward_pass(&self, c: &mut LabUNetCtx) {
        let [c0, c1, c2] = self.cfg.channels;
        let (n, h, w) = (c.n, c.h, c.w);
        let (h2, w2, h4, w4) = (h / 2, w / 2, h / 4, w / 4);
        let (full, half, quarter) = ((n, h, w), (n, h2, w2), (n, h4, w4));
        let (b, g, ws) = (&mut c.bufs, &mut c.grads, &mut c.ws);
        // out, dec1
        self.conv_backward(10, &b.d1b, &c.dout, full, &mut b.g_full_a, g, ws);
        relu_backward_inplace(&b.d1b, &mut b.g_full_a);
        self.conv_backward(9, &b.d1a, &b.g_full_a, full, &mut b.g_full_b, g, ws);
        relu_backward_inplace(&b.d1a, &mut b.g_full_b);
        self.conv_backward(8, &b.cat1, &b.g_full_b, full, &mut b.g_cat1, g, ws);
        // dec2
        upsample_nearest2_backward_from((&b.g_cat1, c1 + c0, 0), n, h2, w2, c1, &mut b.g_half_a);
        relu_backward_inplace(&b.d2b, &mut b.g_half_a);
        self.conv_backward(7, &b.d2a, &b.g_half_a, half, &mut b.g_half_b, g, ws);
        relu_backward_inplace(&b.d2a, &mut b.g_half_b);
        self.conv_backward(6, &b.cat2, &b.g_half_b, half, &mut b.g_cat2, g, ws);
        // mid
        upsample_nearest2_backward_from((&b.g_cat2, c2 + c1, 0), n, h4, w4, c2, &mut b.g_quarter_a);
        relu_backward_inplace(&b.m2, &mut b.g_quarter_a);
        self.conv_backward(5, &b.m1, &b.g_quarter_a, quarter, &mut b.g_quarter_b, g, ws);
        relu_backward_inplace(&b.m1, &mut b.g_quarter_b);
        self.conv_backward(4, &b.p2, &b.g_quarter_b, quarter, &mut b.g_p2, g, ws);
        // enc2: skip2 gets the pooling's gradient plus its share of the decoder's concatenation.
        max_pool2_backward(&b.g_p2, &b.am2, n, h2, w2, c1, &mut b.g_half_a);
        split_channels(
            (&b.g_cat2, c2 + c1),
            n * h2 * w2,
            c2,
            (&mut b.g_half_a, c1),
            true,
        );
        relu_backward_inplace(&b.skip2, &mut b.g_half_a);
        self.conv_backward(3, &b.a2, &b.g_half_a, half, &mut b.g_half_b, g, ws);
        relu_backward_inplace(&b.a2, &mut b.g_half_b);
        self.conv_backward(2, &b.p1, &b.g_half_b, half, &mut b.g_p1, g, ws);
        // enc1
        max_pool2_backward(&b.g_p1, &b.am1, n, h, w, c0, &mut b.g_full_a);
        split_channels(
            (&b.g_cat1, c1 + c0),
            n * h * w,
            c1,
            (&mut b.g_full_a, c0),
            true,
        );
        relu_backward_inplace(&b.skip1, &mut b.g_full_a);
        self.conv_backward(1, &b.a1, &b.g_full_a, full, &mut b.g_full_b, g, ws);
        relu_backward_inplace(&b.a1, &mut b.g_full_b);
        let lay = self.params.layout();
        let (gw, gb) = lay.pair_mut(g, idx::conv_w(0), idx::conv_b(0));
        let (wt0, dtemb) = (self.p(idx::conv_w(0)), &mut b.g_temb);
        self.first_conv().backward(
            &c.img,
            &b.temb,
            &b.g_full_b,
            n,
            h,
            w,
            wt0,
            gw,
            gb,
            dtemb,
            ws,
        );
        self.time_backward(b, g, n);
    }

    /// The time MLP's backward pass from `b.g_temb`.
    fn time_backward(&self, b: &mut LabBufs, grads: &mut [f32], n: usize) {
        let (te, th) = (self.cfg.time_embed_dim, self.cfg.time_hidden);
        let lay = self.params.layout();
        relu_backward_inplace(&b.temb, &mut b.g_temb);
        let (gw, gb) = lay.pair_mut(grads, idx::T2_W, idx::T2_B);
        let w2 = self.p(idx::T2_W);
        linear_backward(
            &b.th1,
            &b.g_temb,
            n,
            th,
            th,
            w2,
            Some(&mut b.g_th1),
            gw,
            Some(gb),
        );
        relu_backward_inplace(&b.th1, &mut b.g_th1);
        let (gw, gb) = lay.pair_mut(grads, idx::T1_W, idx::T1_B);
        let w1 = self.p(idx::T1_W);
        linear_backward(&b.sinus, &b.g_th1, n, te, th, w1, None, gw, Some(gb));
    }
}

/// A batch shape `(n, h, w)`.
type Dims = (usize, usize, usize);
