//! Group normalisation over NHWC activations, forward and backward, optionally fused with the
//! activation that follows it: difflab's one GroupNorm, in two kernel families.
//!
//! For sample `b` and group `g` (channels `g·cg .. (g+1)·cg`, `cg = c / groups`), the statistics
//! run over all `hw·cg` values: `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased, as PyTorch),
//! `r = 1/√(σ² + eps)`, and `y = act((x − μ)·r·γ[ch] + β[ch])`. Statistics sum in f32 over
//! blocks of 64 pixels, then in f64.
//!
//! - `group_norm_*` (`forward.rs`, `sweep.rs`, `backward.rs`): diffusers' UNet2DModel. The
//!   forward pass is its hot elementwise kernel: blocked SIMD sweeps over each sample's channel
//!   rows, with the input optionally shifted per channel (a ResNet block's time embedding) or
//!   split in two channel parts (an up block's concatenation); the backward pass sums the
//!   group means of the gradient directly.
//! - `shift_norm_act_*` (`rows.rs`): the toy U-Net, GroupNorm + SiLU or ReLU after a per-sample
//!   shift, as per-channel affine sweeps `z = x·A_c + B_c` forward and `dx = dz·P_c + x·Q_c + R_c`
//!   backward (the same function; the arithmetic differs in rounding from the first family, and
//!   each model keeps the kernel it was trained and tested with).

mod backward;
mod forward;
mod rows;
mod sweep;

pub use backward::{group_norm_backward, GroupNormGrads};
pub use forward::{group_norm_forward, group_norm_forward_concat, group_norm_forward_shifted};
pub use rows::{shift_norm_act_backward, shift_norm_act_forward, NormAct, NormScratch};

/// What a call of the first family (`group_norm_*`) takes besides its buffers: the shape of the
/// `[n, hw, c]` activation and its `groups`, `eps`, the affine `γ`, `β` (`[c]` each) and
/// whether SiLU follows the normalisation.
#[derive(Clone, Copy, Debug)]
pub struct GroupNormArgs<'a> {
    /// Samples in the batch.
    pub n: usize,
    /// Pixels per sample.
    pub hw: usize,
    /// Channels (of all parts together, for [`group_norm_forward_concat`]).
    pub c: usize,
    /// Groups; they must divide `c`.
    pub groups: usize,
    /// Added to the variance under the square root (read by the forward passes only).
    pub eps: f32,
    /// Per-channel scale `γ`.
    pub gamma: &'a [f32],
    /// Per-channel shift `β` (the backward pass reads it only when `silu`).
    pub beta: &'a [f32],
    /// `y = silu(group_norm(x))` instead of `y = group_norm(x)`.
    pub silu: bool,
}

impl GroupNormArgs<'_> {
    /// `(n, hw, c, groups)`.
    pub fn dims(&self) -> (usize, usize, usize, usize) {
        (self.n, self.hw, self.c, self.groups)
    }
}
