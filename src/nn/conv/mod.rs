//! 2-d convolution over NHWC activations with HWIO weights: forward (bias and activation fused),
//! gradient with respect to the input, and gradient with respect to the weights and bias.
//!
//! Layout: `x[n, h, w, cin]`, `weight[kh, kw, cin, cout]`, `y[n, oh, ow, cout]`, all row-major.
//! With that layout a convolution is a matrix product: each output pixel's receptive field,
//! laid out `[kh, kw, cin]`, is one row of an "im2col" matrix `col[pixels, k·k·cin]`, and
//! `y = col · W` with `W` the weight seen as `[k·k·cin, cout]`. All products go to `gemm`.
//! Three routes, picked per layer by what measured fastest (see `difflab bench`):
//! - im2col (`im2col.rs`): `col` is built a few hundred pixels at a time, so that it stays in
//!   the core's L2 cache; 1×1 stride-1 unpadded convolutions use `x` itself as `col`.
//! - bands (`band.rs`): for stride 1 on wide images, `gemm` reads each kernel row's im2col matrix
//!   in place from a zero-padded copy of the input, so no `k·k×` copy is made.
//! - Winograd F(2×2, 3×3) (`winograd.rs`, forward only, for inference): 3×3 stride-1 'same'
//!   layers with 2.25× fewer multiply-adds, from a kernel transformed once
//!   ([`WinogradWeights`]); callers pick it per layer with [`conv2d_winograd_forward`].
//! - two layers over concatenations that are never materialised: an image with a per-sample
//!   vector broadcast over it ([`FirstConv`], `first_conv.rs`) and a decoder's
//!   `[up-sampled, skip]` ([`UpConcatConv`], `up_concat.rs`).
//! - the input gradient of a stride-1 layer with `cin ≥ cout` is the forward pass of a flipped,
//!   transposed kernel over `dy` (`backward.rs`); otherwise it is `col2im(dy · Wᵀ)`.
//!
//! Threads: the pixels are split into one contiguous part per rayon thread (whole images where
//! a scatter or a band crosses pixel boundaries). Every output value is computed by one thread
//! in a fixed order, and weight gradients add per-part partials in part order, so results are
//! bit-identical run to run for a given thread count.

mod backward;
mod band;
mod bias_act;
pub mod first_conv;
mod forward;
mod im2col;
pub mod up_concat;
mod winograd;
mod winograd_transform;

pub use super::workspace::Workspace;
pub use backward::{conv2d_backward_input, conv2d_backward_weight};
pub use first_conv::FirstConv;
pub use forward::conv2d_forward;
pub use up_concat::{UpConcatConv, UpConvBufs};
pub use winograd::{conv2d_winograd_forward, winograd_scratch_len, WinogradWeights};

/// Zero padding added around the input, in pixels, on each side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Padding {
    /// Rows added above.
    pub top: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added on the right.
    pub right: usize,
}

impl Padding {
    /// 'Same' padding for an odd kernel size `k`: `k / 2` on every side (keeps the size at
    /// stride 1; PyTorch's `padding = k // 2`).
    pub fn same(k: usize) -> Self {
        let p = k / 2;
        Padding {
            top: p,
            left: p,
            bottom: p,
            right: p,
        }
    }
    /// No padding ('valid').
    pub fn none() -> Self {
        Padding::default()
    }
    /// `p` rows below and `p` columns on the right only: what diffusers' `Downsample2D` does
    /// with `downsample_padding = 0` (`F.pad(x, (0, 1, 0, 1))` before a 3×3 stride-2 conv).
    pub fn right_bottom(p: usize) -> Self {
        Padding {
            top: 0,
            left: 0,
            bottom: p,
            right: p,
        }
    }
    /// The same padding `p` on every side.
    pub fn uniform(p: usize) -> Self {
        Padding {
            top: p,
            left: p,
            bottom: p,
            right: p,
        }
    }
}

/// The activation fused into [`conv2d_forward`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// The identity.
    None,
    /// `max(0, v)` (NaN stays NaN).
    Relu,
}

/// The shape of a square-kernel 2-d convolution layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size (the kernel is `k × k`).
    pub k: usize,
    /// Stride, the same along both axes.
    pub stride: usize,
    /// Zero padding of the input.
    pub pad: Padding,
}

impl Conv2d {
    /// A layer from its shape.
    pub fn new(cin: usize, cout: usize, k: usize, stride: usize, pad: Padding) -> Self {
        Conv2d {
            cin,
            cout,
            k,
            stride,
            pad,
        }
    }

    /// Output height and width for an `h × w` input:
    /// `((h + top + bottom − k) / stride + 1, (w + left + right − k) / stride + 1)`.
    ///
    /// Panics if the padded input is smaller than the kernel or the stride is 0.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let (ph, pw) = (
            h + self.pad.top + self.pad.bottom,
            w + self.pad.left + self.pad.right,
        );
        assert!(
            self.stride > 0 && self.k > 0,
            "conv2d: kernel size and stride must be positive"
        );
        assert!(
            ph >= self.k && pw >= self.k,
            "conv2d: a {h}×{w} input padded to {ph}×{pw} is smaller than the {k}×{k} kernel",
            k = self.k
        );
        (
            (ph - self.k) / self.stride + 1,
            (pw - self.k) / self.stride + 1,
        )
    }

    /// Number of weights, `k·k·cin·cout` (the bias has `cout` more).
    pub fn weight_len(&self) -> usize {
        self.k * self.k * self.cin * self.cout
    }

    /// Multiply-adds ×2 of one forward pass over an `n × h × w` input: `2·n·oh·ow·k·k·cin·cout`.
    /// Each backward pass costs the same.
    pub fn flops(&self, n: usize, h: usize, w: usize) -> f64 {
        let (oh, ow) = self.out_hw(h, w);
        2.0 * (n * oh * ow) as f64 * self.weight_len() as f64
    }

    /// True when the convolution is a plain matrix product over pixels (1×1, stride 1, no pad).
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == Padding::none()
    }
}

/// Sizes shared by the three passes, checked once.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    /// Length of one im2col row, `k·k·cin`.
    kkc: usize,
}

impl Geom {
    fn new(c: &Conv2d, n: usize, h: usize, w: usize) -> Self {
        assert!(
            c.cin > 0 && c.cout > 0,
            "conv2d: channel counts must be positive"
        );
        let (oh, ow) = c.out_hw(h, w);
        Geom {
            n,
            h,
            w,
            oh,
            ow,
            kkc: c.k * c.k * c.cin,
        }
    }
    /// Output pixels over the whole batch.
    fn pixels(&self) -> usize {
        self.n * self.oh * self.ow
    }
}

/// Panics with a message naming the kernel and the buffer when a slice has the wrong length.
fn check_len(kernel: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{kernel}: {what} has {got} values, expected {want}"
    );
}

/// Im2col rows per product: enough to keep `gemm` efficient, few enough that the im2col
/// block (`rows × k·k·cin` floats) stays in L2 next to the packed weights.
fn chunk_rows(kkc: usize) -> usize {
    // 512 KiB of im2col: measured best among 128 KiB .. 1 MiB on the lab's layers (2 MiB L2).
    const COL_FLOATS: usize = 1 << 17;
    // But at least 256 rows for deep layers: `gemm` packs the whole `kkc × cout` weight matrix
    // for every product, and with a few dozen rows (k·k·cin ≥ 2048: the CIFAR U-Net's 3×3
    // convolutions over 256..512 channels at 8×8 and 4×4) it packs about as long as it
    // multiplies (measured 15-25% faster with 256).
    let min = if kkc >= 2048 { 256 } else { 32 };
    (COL_FLOATS / kkc).clamp(min, 4096)
}

/// How the pixels of a pass are cut: `tasks` contiguous parts of `part` pixels, each worked
/// through `chunk` pixels at a time.
struct Split {
    chunk: usize,
    tasks: usize,
    part: usize,
    /// Threads each task's products may use: more than 1 only when a small input leaves
    /// fewer tasks than threads (e.g. sampling one image at 4×4).
    gemm_threads: usize,
}

impl Split {
    fn new(g: &Geom) -> Self {
        let chunk = chunk_rows(g.kkc);
        let tasks = rayon::current_num_threads()
            .min(g.pixels().div_ceil(chunk))
            .max(1);
        Split {
            chunk,
            tasks,
            part: g.pixels().div_ceil(tasks),
            gemm_threads: rayon::current_num_threads().div_ceil(tasks),
        }
    }
}
