//! The classifier's forward and backward passes over one batch, with every buffer owned here
//! and allocated once per batch capacity.

use super::{param_layout, Classifier, ClassifierConfig};
use crate::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, Padding, Workspace,
};
use crate::nn::ops::{
    linear_backward, linear_forward, max_pool2_backward, max_pool2_forward, relu_backward_inplace,
    relu_forward_inplace,
};

/// Activations (and, for training, gradients) of the classifier for batches of up to
/// `capacity` images. Fill [`input_mut`](ClassifierCtx::input_mut), call
/// [`forward`](ClassifierCtx::forward); for training set [`dlogits_mut`](ClassifierCtx::dlogits_mut)
/// and call [`backward`](ClassifierCtx::backward), after which
/// [`grads`](ClassifierCtx::grads) is aligned with the model's flat parameters.
pub struct ClassifierCtx {
    cfg: ClassifierConfig,
    capacity: usize,
    conv1: Conv2d,
    conv2: Conv2d,
    /// `[n, s, s, 1]`.
    input: Vec<f32>,
    /// conv1 + ReLU, `[n, s, s, c1]`.
    a1: Vec<f32>,
    /// Pooled, `[n, s/2, s/2, c1]`, and which of the four won.
    p1: Vec<f32>,
    am1: Vec<u8>,
    /// conv2 + ReLU, `[n, s/2, s/2, c2]`.
    a2: Vec<f32>,
    /// Pooled, `[n, s/4, s/4, c2]` = `[n, flat]`.
    p2: Vec<f32>,
    am2: Vec<u8>,
    /// fc1 + ReLU, `[n, hidden]`: the features.
    h: Vec<f32>,
    /// `[n, classes]`.
    logits: Vec<f32>,
    train: Option<Grads>,
    ws: Workspace,
}

/// Gradient buffers (training only).
struct Grads {
    params: Vec<f32>,
    dlogits: Vec<f32>,
    dh: Vec<f32>,
    dp2: Vec<f32>,
    da2: Vec<f32>,
    dp1: Vec<f32>,
    da1: Vec<f32>,
}

impl ClassifierCtx {
    /// Buffers for batches of up to `capacity` images; with `train` also the gradients.
    pub fn new(cfg: &ClassifierConfig, capacity: usize, train: bool) -> Self {
        let s = cfg.image_size;
        let [c1, c2] = cfg.channels;
        let n = capacity;
        let (l_a1, l_p1, l_a2, l_p2) = (
            n * s * s * c1,
            n * (s / 2).pow(2) * c1,
            n * (s / 2).pow(2) * c2,
            n * cfg.flat_features(),
        );
        let grads = train.then(|| Grads {
            params: vec![0.0; param_layout(cfg).len()],
            dlogits: vec![0.0; n * cfg.classes],
            dh: vec![0.0; n * cfg.hidden],
            dp2: vec![0.0; l_p2],
            da2: vec![0.0; l_a2],
            dp1: vec![0.0; l_p1],
            da1: vec![0.0; l_a1],
        });
        ClassifierCtx {
            cfg: cfg.clone(),
            capacity,
            conv1: Conv2d::new(1, c1, 3, 1, Padding::same(3)),
            conv2: Conv2d::new(c1, c2, 3, 1, Padding::same(3)),
            input: vec![0.0; n * s * s],
            a1: vec![0.0; l_a1],
            p1: vec![0.0; l_p1],
            am1: vec![0; l_p1],
            a2: vec![0.0; l_a2],
            p2: vec![0.0; l_p2],
            am2: vec![0; l_p2],
            h: vec![0.0; n * cfg.hidden],
            logits: vec![0.0; n * cfg.classes],
            train: grads,
            ws: Workspace::new(),
        }
    }

    /// The most images one pass takes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The input of the first `n` images, `[n, s, s, 1]`, to be filled before [`forward`](Self::forward).
    pub fn input_mut(&mut self, n: usize) -> &mut [f32] {
        let px = self.cfg.image_size.pow(2);
        &mut self.input[..n * px]
    }

    /// The logits of the last forward pass, `[n, classes]`.
    pub fn logits(&self, n: usize) -> &[f32] {
        &self.logits[..n * self.cfg.classes]
    }

    /// The penultimate features of the last forward pass, `[n, hidden]`.
    pub fn features(&self, n: usize) -> &[f32] {
        &self.h[..n * self.cfg.hidden]
    }

    /// The gradient of the loss with respect to the logits, `[n, classes]`, to be filled before
    /// [`backward`](Self::backward). Panics if the context was made without `train`.
    pub fn dlogits_mut(&mut self, n: usize) -> &mut [f32] {
        let c = self.cfg.classes;
        &mut self
            .train
            .as_mut()
            .expect("ClassifierCtx made for inference")
            .dlogits[..n * c]
    }

    /// The parameter gradients of the last backward pass, aligned with `Classifier::params`.
    pub fn grads(&self) -> &[f32] {
        &self
            .train
            .as_ref()
            .expect("ClassifierCtx made for inference")
            .params
    }

    /// The forward pass over the first `n ≤ capacity` images of the input.
    pub fn forward(&mut self, model: &Classifier, n: usize) {
        assert!(
            n <= self.capacity,
            "ClassifierCtx: batch of {n} exceeds the capacity {}",
            self.capacity
        );
        assert_eq!(
            model.config(),
            &self.cfg,
            "ClassifierCtx: made for another classifier config"
        );
        let cfg = &self.cfg;
        let s = cfg.image_size;
        let [c1, c2] = cfg.channels;
        let (h2, h4) = (s / 2, s / 4);
        let p = |k: usize| model.store().get(k);
        let ws = &mut self.ws;

        let a1 = &mut self.a1[..n * s * s * c1];
        conv2d_forward(
            &self.conv1,
            &self.input[..n * s * s],
            n,
            s,
            s,
            p(0),
            Some(p(1)),
            Act::Relu,
            a1,
            ws,
        );
        let (p1, am1) = (
            &mut self.p1[..n * h2 * h2 * c1],
            &mut self.am1[..n * h2 * h2 * c1],
        );
        max_pool2_forward(a1, n, s, s, c1, p1, am1);
        let a2 = &mut self.a2[..n * h2 * h2 * c2];
        conv2d_forward(
            &self.conv2,
            p1,
            n,
            h2,
            h2,
            p(2),
            Some(p(3)),
            Act::Relu,
            a2,
            ws,
        );
        let (p2, am2) = (
            &mut self.p2[..n * h4 * h4 * c2],
            &mut self.am2[..n * h4 * h4 * c2],
        );
        max_pool2_forward(a2, n, h2, h2, c2, p2, am2);
        let flat = cfg.flat_features();
        let h = &mut self.h[..n * cfg.hidden];
        linear_forward(p2, n, flat, p(4), Some(p(5)), cfg.hidden, h);
        relu_forward_inplace(h);
        let logits = &mut self.logits[..n * cfg.classes];
        linear_forward(h, n, cfg.hidden, p(6), Some(p(7)), cfg.classes, logits);
    }

    /// The backward pass for the first `n` images of the last forward pass, from
    /// [`dlogits_mut`](Self::dlogits_mut); overwrites [`grads`](Self::grads).
    pub fn backward(&mut self, model: &Classifier, n: usize) {
        let cfg = &self.cfg;
        let g = self
            .train
            .as_mut()
            .expect("ClassifierCtx made for inference");
        let s = cfg.image_size;
        let [c1, c2] = cfg.channels;
        let (h2, h4) = (s / 2, s / 4);
        let (flat, hid, cls) = (cfg.flat_features(), cfg.hidden, cfg.classes);
        let p = |k: usize| model.store().get(k);
        let mut dp = model.store().layout().split_mut(&mut g.params);
        let ws = &mut self.ws;

        let h = &self.h[..n * hid];
        let dh = &mut g.dh[..n * hid];
        {
            let (dw, db) = dp.split_at_mut(7);
            linear_backward(
                h,
                &g.dlogits[..n * cls],
                n,
                hid,
                cls,
                p(6),
                Some(dh),
                dw[6],
                Some(db[0]),
            );
        }
        relu_backward_inplace(h, dh);
        let dp2 = &mut g.dp2[..n * flat];
        {
            let (dw, db) = dp.split_at_mut(5);
            linear_backward(
                &self.p2[..n * flat],
                dh,
                n,
                flat,
                hid,
                p(4),
                Some(dp2),
                dw[4],
                Some(db[0]),
            );
        }
        let a2 = &self.a2[..n * h2 * h2 * c2];
        let da2 = &mut g.da2[..n * h2 * h2 * c2];
        max_pool2_backward(dp2, &self.am2[..n * h4 * h4 * c2], n, h2, h2, c2, da2);
        relu_backward_inplace(a2, da2);
        let p1 = &self.p1[..n * h2 * h2 * c1];
        {
            let (dw, db) = dp.split_at_mut(3);
            conv2d_backward_weight(&self.conv2, p1, da2, n, h2, h2, dw[2], Some(db[0]), ws);
        }
        let dp1 = &mut g.dp1[..n * h2 * h2 * c1];
        conv2d_backward_input(&self.conv2, da2, n, h2, h2, p(2), dp1, ws);
        let a1 = &self.a1[..n * s * s * c1];
        let da1 = &mut g.da1[..n * s * s * c1];
        max_pool2_backward(dp1, &self.am1[..n * h2 * h2 * c1], n, s, s, c1, da1);
        relu_backward_inplace(a1, da1);
        let (dw, db) = dp.split_at_mut(1);
        conv2d_backward_weight(
            &self.conv1,
            &self.input[..n * s * s],
            da1,
            n,
            s,
            s,
            dw[0],
            Some(db[0]),
            ws,
        );
    }
}
