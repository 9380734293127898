//! Group normalisation over NHWC activations, forward and backward, optionally fused with the
//! SiLU that follows it in every diffusers ResNet block.
//!
//! For sample `b` and group `g` (channels `g·cg .. (g+1)·cg`, `cg = c / groups`), the statistics
//! run over all `hw·cg` values: `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased, as PyTorch),
//! `r = 1/√(σ² + eps)`, and `y = (x − μ)·r·γ[ch] + β[ch]`. Statistics accumulate in f64
//! (the forward pass sums in f32 over blocks of pixels, then in f64).
//!
//! The forward pass is the U-Net's hot elementwise kernel: it sweeps each sample's contiguous
//! channel rows with SIMD loops and a polynomial `exp` for the SiLU (`group_norm_forward.rs`).

use super::activation::sigmoid;
use super::group_norm_forward::forward_parts;
use rayon::prelude::*;

pub(super) fn check(
    x: usize,
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    gamma: usize,
    stats: usize,
) {
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "group_norm: {c} channels not divisible into {groups} groups"
    );
    assert!(
        x >= n * hw * c,
        "group_norm: activation shorter than [{n}, {hw}, {c}]"
    );
    assert!(gamma >= c, "group_norm: gamma/beta need {c} values");
    assert!(
        stats >= n * groups,
        "group_norm: mean/rstd need n·groups = {} values",
        n * groups
    );
}

/// `y = γ·(x − μ)/√(σ² + eps) + β` per (sample, group); `x`, `y` are `[n, hw, c]`, `gamma`,
/// `beta` are `[c]`; `mean_out` and `rstd_out` (`[n, groups]`) keep `μ` and `1/√(σ² + eps)` for
/// the backward pass.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_forward(
    x: &[f32],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean_out: &mut [f32],
    rstd_out: &mut [f32],
) {
    forward(
        x, None, n, hw, c, groups, eps, gamma, beta, y, mean_out, rstd_out, false,
    )
}

/// `y = silu(group_norm(x))`, the two fused in one pass; arguments as [`group_norm_forward`].
#[allow(clippy::too_many_arguments)]
pub fn group_norm_silu_forward(
    x: &[f32],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean_out: &mut [f32],
    rstd_out: &mut [f32],
) {
    forward(
        x, None, n, hw, c, groups, eps, gamma, beta, y, mean_out, rstd_out, true,
    )
}

/// `y = silu(group_norm(x + shift))` with `shift` `[n, c]` added to every pixel of its sample
/// (a ResNet block's time embedding), without materialising `x + shift`: the statistics,
/// `mean_out` and `rstd_out` are those of `x + shift`. Other arguments as [`group_norm_forward`].
#[allow(clippy::too_many_arguments)]
pub fn group_norm_silu_forward_shifted(
    x: &[f32],
    shift: &[f32],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean_out: &mut [f32],
    rstd_out: &mut [f32],
) {
    assert!(
        shift.len() >= n * c,
        "group_norm_silu_forward_shifted: shift needs n·c = {} values",
        n * c
    );
    forward(
        x,
        Some(shift),
        n,
        hw,
        c,
        groups,
        eps,
        gamma,
        beta,
        y,
        mean_out,
        rstd_out,
        true,
    )
}

/// `y = silu(group_norm(concat(xa, xb)))` over channels, without materialising the
/// concatenation: `xa` is `[n, hw, ca]`, `xb` is `[n, hw, cb]`, `y` is `[n, hw, ca + cb]`, and
/// the groups (of `(ca + cb) / groups` channels) may straddle the boundary. What a U-Net's up
/// block computes first on `[up, skip]`. Other arguments as [`group_norm_forward`].
#[allow(clippy::too_many_arguments)]
pub fn group_norm_silu_forward_concat(
    xa: &[f32],
    ca: usize,
    xb: &[f32],
    cb: usize,
    n: usize,
    hw: usize,
    groups: usize,
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean_out: &mut [f32],
    rstd_out: &mut [f32],
) {
    assert!(
        xa.len() >= n * hw * ca && xb.len() >= n * hw * cb,
        "group_norm_silu_forward_concat: inputs shorter than [{n}, {hw}, {ca}] and [{n}, {hw}, {cb}]"
    );
    forward_parts(
        (xa, ca, xb),
        None,
        n,
        hw,
        ca + cb,
        groups,
        eps,
        gamma,
        beta,
        y,
        mean_out,
        rstd_out,
        true,
    )
}

#[allow(clippy::too_many_arguments)]
fn forward(
    x: &[f32],
    shift: Option<&[f32]>,
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mean_out: &mut [f32],
    rstd_out: &mut [f32],
    silu: bool,
) {
    assert!(
        x.len() >= n * hw * c,
        "group_norm: activation shorter than [{n}, {hw}, {c}]"
    );
    forward_parts(
        (x, c, &[]),
        shift,
        n,
        hw,
        c,
        groups,
        eps,
        gamma,
        beta,
        y,
        mean_out,
        rstd_out,
        silu,
    )
}

/// Gradients of [`group_norm_forward`]: with `x̂ = (x − μ)·r`, `g = dy·γ` and means over the
/// group's `hw·cg` values, `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dγ[ch] = Σ dy·x̂`,
/// `dβ[ch] = Σ dy` (sums over samples and pixels). `mean`/`rstd` are the forward's saved
/// statistics; `dx` is `[n, hw, c]`, `dgamma`/`dbeta` are `[c]`, all overwritten.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward(
    x: &[f32],
    dy: &[f32],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    // β only matters for the fused SiLU; γ stands in for it here.
    backward(
        x, dy, n, hw, c, groups, gamma, gamma, mean, rstd, dx, dgamma, dbeta, false,
    )
}

/// Gradients of [`group_norm_silu_forward`]; `dy` is the gradient w.r.t. the SiLU's output
/// (the pre-activation is recomputed from `x`, the saved statistics and `beta`). Arguments as
/// [`group_norm_backward`] plus `beta`.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_silu_backward(
    x: &[f32],
    dy: &[f32],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    backward(
        x, dy, n, hw, c, groups, gamma, beta, mean, rstd, dx, dgamma, dbeta, true,
    )
}

/// The gradient w.r.t. the normalised output: `dy`, or `dy · silu'(z)` with `z = x̂·γ + β`.
#[inline]
fn dz(dy: f32, xhat: f32, gamma: f32, beta: f32, silu: bool) -> f32 {
    if silu {
        let z = xhat * gamma + beta;
        let s = sigmoid(z);
        dy * s * (1.0 + z * (1.0 - s))
    } else {
        dy
    }
}

/// Channels per rayon task in the dγ/dβ reduction.
const CH_CHUNK: usize = 16;

#[allow(clippy::too_many_arguments)]
fn backward(
    x: &[f32],
    dy: &[f32],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    silu: bool,
) {
    check(
        x.len().min(dy.len()).min(dx.len()),
        n,
        hw,
        c,
        groups,
        gamma.len().min(beta.len()),
        mean.len().min(rstd.len()),
    );
    assert!(
        dgamma.len() >= c && dbeta.len() >= c,
        "group_norm_backward: dgamma/dbeta need {c} values"
    );
    let cg = c / groups;
    let len = hw * c;
    // dγ, dβ: each task owns a few channels and sums over samples and pixels in a fixed order.
    dgamma[..c]
        .par_chunks_mut(CH_CHUNK)
        .zip(dbeta[..c].par_chunks_mut(CH_CHUNK))
        .enumerate()
        .for_each(|(k, (dg, db))| {
            let lo = k * CH_CHUNK;
            let mut sg = [0.0f64; CH_CHUNK];
            let mut sb = [0.0f64; CH_CHUNK];
            for b in 0..n {
                for p in 0..hw {
                    let at = b * len + p * c + lo;
                    for j in 0..dg.len() {
                        let ch = lo + j;
                        let s = b * groups + ch / cg;
                        let xhat = (x[at + j] - mean[s]) * rstd[s];
                        let d = dz(dy[at + j], xhat, gamma[ch], beta[ch], silu);
                        sg[j] += (d * xhat) as f64;
                        sb[j] += d as f64;
                    }
                }
            }
            for j in 0..dg.len() {
                dg[j] = sg[j] as f32;
                db[j] = sb[j] as f32;
            }
        });
    if n * len == 0 {
        return;
    }
    dx[..n * len]
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(b, dx)| {
            let x = &x[b * len..(b + 1) * len];
            let dy = &dy[b * len..(b + 1) * len];
            for g in 0..groups {
                let lo = g * cg;
                let (m, r) = (mean[b * groups + g], rstd[b * groups + g]);
                let (ga, be) = (&gamma[lo..lo + cg], &beta[lo..lo + cg]);
                let (mut sa, mut sb) = (0.0f64, 0.0f64);
                for (xrow, dyrow) in x.chunks_exact(c).zip(dy.chunks_exact(c)) {
                    for j in 0..cg {
                        let xhat = (xrow[lo + j] - m) * r;
                        let gj = dz(dyrow[lo + j], xhat, ga[j], be[j], silu) * ga[j];
                        sa += (gj * xhat) as f64;
                        sb += gj as f64;
                    }
                }
                let cnt = (hw * cg) as f64;
                let (ma, mb) = ((sa / cnt) as f32, (sb / cnt) as f32);
                for ((dxrow, xrow), dyrow) in dx
                    .chunks_exact_mut(c)
                    .zip(x.chunks_exact(c))
                    .zip(dy.chunks_exact(c))
                {
                    for j in 0..cg {
                        let xhat = (xrow[lo + j] - m) * r;
                        let gj = dz(dyrow[lo + j], xhat, ga[j], be[j], silu) * ga[j];
                        dxrow[lo + j] = r * (gj - mb - xhat * ma);
                    }
                }
            }
        });
}
