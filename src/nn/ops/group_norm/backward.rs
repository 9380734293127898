//! The backward pass of the first GroupNorm family (plain or fused with SiLU).

use super::super::activation::sigmoid;
use super::sweep::check;
use super::GroupNormArgs;
use rayon::prelude::*;

/// The gradients [`group_norm_backward`] writes: `dx` (`[n, hw, c]`), `dgamma` and `dbeta`
/// (`[c]`), all overwritten.
#[derive(Debug)]
pub struct GroupNormGrads<'a> {
    /// Gradient w.r.t. the input.
    pub dx: &'a mut [f32],
    /// Gradient w.r.t. `γ`.
    pub dgamma: &'a mut [f32],
    /// Gradient w.r.t. `β`.
    pub dbeta: &'a mut [f32],
}

/// Gradients of [`super::group_norm_forward`] for the same `args`: with `x̂ = (x − μ)·r`,
/// `g = dz·γ` and means over the group's `hw·cg` values, `dx = r·(g − mean(g) − x̂·mean(g·x̂))`,
/// `dγ[ch] = Σ dz·x̂`, `dβ[ch] = Σ dz` (sums over samples and pixels), where `dz` is `dy`, or
/// `dy·silu'(z)` when `args.silu` (the pre-activation `z` is recomputed from `x`, the saved
/// statistics and `β`). `(mean, rstd)` are the forward's saved statistics.
pub fn group_norm_backward(
    x: &[f32],
    dy: &[f32],
    args: &GroupNormArgs,
    (mean, rstd): (&[f32], &[f32]),
    grads: GroupNormGrads,
) {
    // β only matters for the fused SiLU; γ stands in for it otherwise.
    let beta = if args.silu { args.beta } else { args.gamma };
    let args = GroupNormArgs { beta, ..*args };
    check(
        &args,
        x.len().min(dy.len()).min(grads.dx.len()),
        mean.len().min(rstd.len()),
    );
    let c = args.c;
    assert!(
        grads.dgamma.len() >= c && grads.dbeta.len() >= c,
        "group_norm_backward: dgamma/dbeta need {c} values"
    );
    param_grads(x, dy, &args, (mean, rstd), (grads.dgamma, grads.dbeta));
    input_grad(x, dy, &args, (mean, rstd), grads.dx);
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

/// `dx` of [`group_norm_backward`] (arguments as there, `β` standing in for `γ` unless SiLU).
fn input_grad(
    x: &[f32],
    dy: &[f32],
    args: &GroupNormArgs,
    (mean, rstd): (&[f32], &[f32]),
    dx: &mut [f32],
) {
    let (n, hw, c, groups) = args.dims();
    let (gamma, beta, silu) = (args.gamma, args.beta, args.silu);
    let cg = c / groups;
    let len = hw * c;
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

/// `dγ[ch] = Σ dz·x̂` and `dβ[ch] = Σ dz` over samples and pixels (arguments as [`group_norm_backward`]):
/// each rayon task owns a few channels and sums in a fixed order.
fn param_grads(
    x: &[f32],
    dy: &[f32],
    args: &GroupNormArgs,
    (mean, rstd): (&[f32], &[f32]),
    (dgamma, dbeta): (&mut [f32], &mut [f32]),
) {
    let (n, hw, c, groups) = args.dims();
    let (gamma, beta, silu) = (args.gamma, args.beta, args.silu);
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
