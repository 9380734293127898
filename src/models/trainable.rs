//! What difflab's own U-Nets (the lab's and the toy) share: one model type, [`UNetModel`], over
//! an architecture ([`UNetArch`], implemented by each configuration), with parameters in one
//! [`Params`] store, a context of buffers per batch shape ([`UNetCtx`]), an explicit forward
//! pass and a backward pass from the loss gradient. The entry points written once here (loading,
//! parameter access, the MSE loss and its backward pass, prediction on a kept inference
//! context) serve both.

use crate::nn::ops::mse_loss_and_grad;
use crate::nn::params::{ParamLayout, ParamSpec, Params};
use crate::nn::workspace::Workspace;
use crate::nn::{Tensor, Weights};
use crate::{Error, Result};

/// An error unless an `h × w` input can go through `name`'s two 2× poolings and back.
pub(crate) fn check_size(name: &str, h: usize, w: usize) -> Result<()> {
    if h == 0 || w == 0 || !h.is_multiple_of(4) || !w.is_multiple_of(4) {
        return Err(Error::invalid(format!(
            "the {name} needs image sides divisible by 4 (two 2× poolings), got {h}×{w}"
        )));
    }
    Ok(())
}

/// What both own U-Net configurations require of their widths: `name`'s error (showing `cfg`)
/// unless every channel count is positive and the time embedding is even and at least 4.
pub(crate) fn check_widths(
    name: &str,
    cfg: &impl std::fmt::Debug,
    (in_channels, time_hidden, channels): (usize, usize, [usize; 3]),
    time_embed_dim: usize,
) -> Result<()> {
    let bad = |m: String| Err(Error::invalid(format!("{name} config: {m}")));
    if in_channels == 0 || time_hidden == 0 || channels.contains(&0) {
        return bad(format!("channel counts must be positive, got {cfg:?}"));
    }
    if time_embed_dim < 4 || !time_embed_dim.is_multiple_of(2) {
        return bad(format!(
            "time_embed_dim must be even and at least 4, got {time_embed_dim}"
        ));
    }
    Ok(())
}

/// `(cin, cout)` of the eleven 3×3 convolutions of both own U-Nets (encoder, bottleneck,
/// decoder over `channels`, then the output to `out` channels), the first taking `first_in`.
pub(crate) fn conv_shapes(
    first_in: usize,
    out: usize,
    channels: [usize; 3],
) -> [(usize, usize); 11] {
    let [c0, c1, c2] = channels;
    [
        (first_in, c0),
        (c0, c0),
        (c0, c1),
        (c1, c1),
        (c1, c2),
        (c2, c2),
        (c2 + c1, c1),
        (c1, c1),
        (c1 + c0, c0),
        (c0, c0),
        (c0, out),
    ]
}

/// A gradient buffer of `len` zeros in a training context, empty in an inference one.
pub(crate) fn grad_buf(train: bool, len: usize) -> Vec<f32> {
    if train {
        vec![0.0; len]
    } else {
        Vec::new()
    }
}

/// Activations (kept for the backward pass) and gradients of a U-Net for batches of `n` images
/// of `h × w`: what every U-Net needs, plus the model's own buffers `B`. Create it with
/// [`Trainable::train_ctx`] (or [`Trainable::infer_ctx`], without gradient buffers) and reuse
/// it for every batch of that shape: nothing is allocated after the first step.
pub struct UNetCtx<B> {
    pub(crate) n: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) train: bool,
    /// Parameter gradients, aligned with the model's parameters; filled by the backward pass.
    pub grads: Vec<f32>,
    /// Gradient of the loss w.r.t. the output (`[n, h, w, in_channels]`).
    pub dout: Vec<f32>,
    /// A copy of the input images (training only: the first layer's weight gradient reads it).
    pub(crate) img: Vec<f32>,
    /// The output of the last forward pass.
    pub(crate) out: Vec<f32>,
    /// Convolution scratch.
    pub(crate) ws: Workspace,
    /// The model's own activations and gradients.
    pub(crate) bufs: B,
}

impl<B> UNetCtx<B> {
    /// Buffers for the model `name` with `nparams` parameters, on batches of `n` images of
    /// `h × w × in_channels` (sides divisible by 4), with the model's own `bufs()`.
    pub(crate) fn new(
        name: &str,
        (nparams, in_channels): (usize, usize),
        (n, h, w): (usize, usize, usize),
        train: bool,
        bufs: impl FnOnce() -> B,
    ) -> Result<Self> {
        check_size(name, h, w)?;
        if n == 0 {
            return Err(Error::invalid(format!(
                "{name}: batch size must be at least 1"
            )));
        }
        let px = n * h * w * in_channels;
        Ok(UNetCtx {
            n,
            h,
            w,
            train,
            grads: grad_buf(train, nparams),
            dout: grad_buf(train, px),
            img: grad_buf(train, px),
            out: vec![0.0; px],
            ws: Workspace::new(),
            bufs: bufs(),
        })
    }
}

impl<B> TrainCtx for UNetCtx<B> {
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

/// The buffers of one batch shape, as a trainable model's forward and backward passes use them.
pub trait TrainCtx {
    /// The batch shape `(n, h, w)` these buffers serve.
    fn dims(&self) -> (usize, usize, usize);

    /// The output of the last forward pass, `[n, h, w, in_channels]`.
    fn output(&self) -> &[f32];

    /// The parameter gradients of the last backward pass, aligned with the model's parameters
    /// (empty in an inference context).
    fn grads(&self) -> &[f32];

    /// Whether the context has gradient buffers, the last output and the loss gradient with
    /// respect to it (which the backward pass starts from).
    fn loss_bufs(&mut self) -> (bool, &[f32], &mut [f32]);
}

/// A network trained by difflab: flat named parameters, explicit forward and backward passes
/// over a [`TrainCtx`] made for one batch shape (nothing is allocated after the first step).
pub trait Trainable: Sized {
    /// The model's buffers for one batch shape.
    type Ctx: TrainCtx;

    /// The model's name in messages (`lab U-Net`).
    const NAME: &'static str;

    /// The parameters.
    fn store(&self) -> &Params;

    /// The parameters, mutable.
    fn store_mut(&mut self) -> &mut Params;

    /// Image channels of the input and the output.
    fn in_channels(&self) -> usize;

    /// Buffers for batches of `dims = (n, h, w)`, with gradient buffers when `train`.
    fn new_ctx(&self, dims: (usize, usize, usize), train: bool) -> Result<Self::Ctx>;

    /// Where the model keeps its inference buffers between predictions.
    fn infer_slot(&mut self) -> &mut Option<Self::Ctx>;

    /// The noise prediction for images `x` (`[n, h, w, in_channels]`) at timesteps `t` (`[n]`),
    /// keeping in `ctx` what the backward pass needs. Panics if the sizes do not match `ctx`.
    fn forward<'c>(&self, ctx: &'c mut Self::Ctx, x: &[f32], t: &[f32]) -> &'c [f32];

    /// The backward pass from the loss gradient in `ctx` (see [`TrainCtx::loss_bufs`]): fills
    /// the context's parameter gradients (overwritten).
    fn backward_from_loss_grad(&self, ctx: &mut Self::Ctx);

    /// Buffers for training on batches of `n` images of `h × w` (forward and backward).
    fn train_ctx(&self, n: usize, h: usize, w: usize) -> Result<Self::Ctx> {
        self.new_ctx((n, h, w), true)
    }

    /// Buffers for inference on batches of `n` images of `h × w` (no gradient buffers).
    fn infer_ctx(&self, n: usize, h: usize, w: usize) -> Result<Self::Ctx> {
        self.new_ctx((n, h, w), false)
    }

    /// The named tensors and their places in the flat buffer, in forward order.
    fn param_specs(&self) -> &[ParamSpec] {
        self.store().specs()
    }

    /// All parameters, flat (aligned with [`TrainCtx::grads`]).
    fn params(&self) -> &[f32] {
        self.store().values()
    }

    /// All parameters, flat and mutable (for the optimiser).
    fn params_mut(&mut self) -> &mut [f32] {
        self.store_mut().values_mut()
    }

    /// Number of parameters.
    fn num_params(&self) -> usize {
        self.store().len()
    }

    /// Every parameter tensor by name.
    fn to_weights(&self) -> Weights {
        self.store().to_weights()
    }

    /// Add `values` (a flat buffer laid out like the parameters: EMA weights, optimiser
    /// moments) to `w` under `prefix + name`.
    fn add_to_weights(&self, w: &mut Weights, prefix: &str, values: &[f32]) {
        self.store().layout().add_to_weights(w, prefix, values)
    }

    /// The MSE loss of the last forward output against `target` (the noise), and the backward
    /// pass of that loss: fills the context's gradients. Returns the loss. Panics for an
    /// inference context.
    fn loss_backward(&self, ctx: &mut Self::Ctx, target: &[f32]) -> f32 {
        let (train, out, dout) = ctx.loss_bufs();
        assert!(
            train,
            "{}: loss_backward needs a training context",
            Self::NAME
        );
        let loss = mse_loss_and_grad(out, target, dout);
        self.backward_from_loss_grad(ctx);
        loss
    }

    /// Backward pass from `dout` (the loss gradient w.r.t. the last forward output): fills the
    /// context's gradients (overwritten) with the gradient of every parameter. Panics for an
    /// inference context.
    fn backward(&self, ctx: &mut Self::Ctx, dout: &[f32]) {
        let (train, _, d) = ctx.loss_bufs();
        assert!(train, "{}: backward needs a training context", Self::NAME);
        d.copy_from_slice(dout);
        self.backward_from_loss_grad(ctx);
    }

    /// A prediction for `x` (`[n, h, w, in_channels]`) at `timesteps`: checks the shapes, then
    /// runs `run` (a forward pass) on the kept inference buffers, made anew when the batch
    /// shape changes, and returns the output.
    fn predict_with(
        &mut self,
        x: &Tensor,
        timesteps: &[f32],
        run: impl FnOnce(&Self, &mut Self::Ctx, &[f32], &[f32]),
    ) -> Result<Tensor> {
        let [n, h, w, c] = x.dims4()?;
        if c != self.in_channels() {
            return Err(Error::invalid(format!(
                "{}: input has {c} channels, the model takes {}",
                Self::NAME,
                self.in_channels()
            )));
        }
        if timesteps.len() != n {
            return Err(Error::invalid(format!(
                "{}: {n} images but {} timesteps",
                Self::NAME,
                timesteps.len()
            )));
        }
        let mut ctx = match self.infer_slot().take() {
            Some(ctx) if ctx.dims() == (n, h, w) => ctx,
            _ => self.infer_ctx(n, h, w)?,
        };
        run(self, &mut ctx, x.data(), timesteps);
        let out = Tensor::new(vec![n, h, w, c], ctx.output().to_vec());
        *self.infer_slot() = Some(ctx);
        out
    }
}

/// The architecture half of one of difflab's own U-Nets, implemented by its configuration: what
/// [`UNetModel`] needs to lay out, train and run the network.
pub trait UNetArch: Clone + std::fmt::Debug + Sized {
    /// The model's own activations and gradients for one batch shape (inside a [`UNetCtx`]).
    type Bufs;
    /// Where the model's tensors sit among its parameters, beyond their names.
    type Layout;
    /// The model's name in messages (`lab U-Net`).
    const NAME: &'static str;

    /// After checking the configuration: the parameter tensors and where they sit.
    fn layout(&self) -> Result<(ParamLayout, Self::Layout)>;

    /// Image channels of the input and the output.
    fn in_channels(&self) -> usize;

    /// The model's own buffers for batches of `dims = (n, h, w)`, with gradients when `train`.
    fn new_bufs(model: &UNetModel<Self>, dims: (usize, usize, usize), train: bool) -> Self::Bufs;

    /// [`Trainable::forward`] of `model`.
    fn forward<'c>(
        model: &UNetModel<Self>,
        ctx: &'c mut UNetCtx<Self::Bufs>,
        x: &[f32],
        t: &[f32],
    ) -> &'c [f32];

    /// [`Trainable::backward_from_loss_grad`] of `model`.
    fn backward(model: &UNetModel<Self>, ctx: &mut UNetCtx<Self::Bufs>);
}

/// One of difflab's own U-Nets: its configuration `A`, its parameters in one flat buffer and
/// the inference buffers kept between [`crate::models::NoisePredictor::predict`] calls.
pub struct UNetModel<A: UNetArch> {
    pub(crate) cfg: A,
    pub(crate) params: Params,
    pub(crate) layout: A::Layout,
    infer: Option<UNetCtx<A::Bufs>>,
}

impl<A: UNetArch> UNetModel<A> {
    /// A model of `cfg` with every parameter zero (each architecture's `new` initialises it).
    pub(crate) fn zeros(cfg: A) -> Result<Self> {
        let (store, layout) = cfg.layout()?;
        let params = Params::zeros(store);
        Ok(UNetModel {
            cfg,
            params,
            layout,
            infer: None,
        })
    }

    /// A model with the named tensors of `w` (as written by [`Trainable::to_weights`]); a
    /// missing tensor or a wrong shape is an error naming the file, the key and the shapes.
    pub fn from_weights(cfg: A, w: &Weights) -> Result<Self> {
        Self::from_weights_prefixed(cfg, w, "")
    }

    /// Like [`UNetModel::from_weights`], reading `prefix + name` (e.g. `ema.` for EMA weights).
    pub fn from_weights_prefixed(cfg: A, w: &Weights, prefix: &str) -> Result<Self> {
        let (store, layout) = cfg.layout()?;
        let params = Params::from_weights(store, w, prefix)?;
        Ok(UNetModel {
            cfg,
            params,
            layout,
            infer: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &A {
        &self.cfg
    }

    /// The parameter tensor `i` of [`Trainable::param_specs`].
    pub(crate) fn p(&self, i: usize) -> &[f32] {
        self.params.get(i)
    }
}

impl<A: UNetArch> Trainable for UNetModel<A> {
    type Ctx = UNetCtx<A::Bufs>;
    const NAME: &'static str = A::NAME;

    fn store(&self) -> &Params {
        &self.params
    }
    fn store_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    fn in_channels(&self) -> usize {
        self.cfg.in_channels()
    }
    fn new_ctx(&self, dims: (usize, usize, usize), train: bool) -> Result<Self::Ctx> {
        let sizes = (self.params.len(), self.in_channels());
        UNetCtx::new(Self::NAME, sizes, dims, train, || {
            A::new_bufs(self, dims, train)
        })
    }
    fn infer_slot(&mut self) -> &mut Option<Self::Ctx> {
        &mut self.infer
    }
    fn forward<'c>(&self, ctx: &'c mut Self::Ctx, x: &[f32], t: &[f32]) -> &'c [f32] {
        A::forward(self, ctx, x, t)
    }
    fn backward_from_loss_grad(&self, ctx: &mut Self::Ctx) {
        A::backward(self, ctx)
    }
}

impl<A: UNetArch> std::fmt::Debug for UNetModel<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(A::NAME)
            .field("cfg", &self.cfg)
            .field("num_params", &self.params.len())
            .finish_non_exhaustive()
    }
}
