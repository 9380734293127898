//! The backward passes of the first GroupNorm family (plain and fused with SiLU).

use super::super::activation::sigmoid;
use super::sweep::check;
use rayon::prelude::*;

/// Gradients of [`super::group_norm_forward`]: with `x̂ = (x − μ)·r`, `g = dy·γ` and means over the
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
    let grads = (dx, dgamma, dbeta);
    backward(
        x,
        dy,
        (n, hw, c, groups),
        (gamma, gamma),
        (mean, rstd),
        grads,
        false,
    )
}

/// Gradients of [`super::group_norm_silu_forward`]; `dy` is the gradient w.r.t. the SiLU's output
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
    let grads = (dx, dgamma, dbeta);
    backward(
        x,
        dy,
        (n, hw, c, groups),
        (gamma, beta),
        (mean, rstd),
        grads,
        true,
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

/// The backward pass for `dims = (n, hw, c, groups)`, the affine `(gamma, beta)` and the
/// saved `(mean, rstd)`: overwrites `(dx, dgamma, dbeta)`; through the SiLU when `silu`.
fn backward(
    x: &[f32],
    dy: &[f32],
    (n, hw, c, groups): (usize, usize, usize, usize),
    (gamma, beta): (&[f32], &[f32]),
    (mean, rstd): (&[f32], &[f32]),
    (dx, dgamma, dbeta): (&mut [f32], &mut [f32], &mut [f32]),
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
    let stats = (mean, rstd);
    param_grads(
        x,
        dy,
        (n, hw, c, groups),
        (gamma, beta),
        stats,
        (dgamma, dbeta),
        silu,
    );
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

/// `dγ[ch] = Σ dz·x̂` and `dβ[ch] = Σ dz` over samples and pixels (arguments as `backward`):
/// each rayon task owns a few channels and sums in a fixed order.
fn param_grads(
    x: &[f32],
    dy: &[f32],
    (n, hw, c, groups): (usize, usize, usize, usize),
    (gamma, beta): (&[f32], &[f32]),
    (mean, rstd): (&[f32], &[f32]),
    (dgamma, dbeta): (&mut [f32], &mut [f32]),
    silu: bool,
) {
    let cg = c / groups;
    let len = hw * c;
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
}
