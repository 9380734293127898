//! Group normalisation over NHWC activations, forward and backward, optionally fused with the
//! SiLU that follows it in every diffusers ResNet block.
//!
//! For sample `b` and group `g` (channels `g·cg .. (g+1)·cg`, `cg = c / groups`), the statistics
//! run over all `hw·cg` values: `μ = mean(x)`, `σ² = mean((x − μ)²)` (biased, as PyTorch),
//! `r = 1/√(σ² + eps)`, and `y = (x − μ)·r·γ[ch] + β[ch]`. Statistics accumulate in f64
//! (the forward pass sums in f32 over blocks of pixels, then in f64).
//!
//! The forward pass is the U-Net's hot elementwise kernel: it sweeps each sample's contiguous
//! channel rows with SIMD loops and a polynomial `exp` for the SiLU ([`super::fastmath`]).

use super::activation::sigmoid;
use super::fastmath::silu_f32;
use rayon::prelude::*;

fn check(x: usize, n: usize, hw: usize, c: usize, groups: usize, gamma: usize, stats: usize) {
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

/// The forward pass over the input `(xa, ca, xb)`: channels `0..ca` from `xa` (`[n, hw, ca]`),
/// `ca..c` from `xb` (`[n, hw, c − ca]`; empty when `ca = c`).
#[allow(clippy::too_many_arguments)]
fn forward_parts(
    (xa, ca, xb): (&[f32], usize, &[f32]),
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
    check(
        y.len(),
        n,
        hw,
        c,
        groups,
        gamma.len().min(beta.len()),
        mean_out.len().min(rstd_out.len()),
    );
    let len = hw * c;
    if n * len == 0 {
        return;
    }
    let cb = c - ca;
    y[..n * len]
        .par_chunks_mut(len)
        .zip(mean_out[..n * groups].par_chunks_mut(groups))
        .zip(rstd_out[..n * groups].par_chunks_mut(groups))
        .enumerate()
        .for_each(|(b, ((y, mo), ro))| {
            let x = Sample {
                a: &xa[b * hw * ca..(b + 1) * hw * ca],
                ca,
                b: &xb[b * hw * cb..(b + 1) * hw * cb],
                c,
            };
            let shift = shift.map(|s| &s[b * c..(b + 1) * c]);
            forward_sample(
                x,
                shift,
                hw,
                groups,
                eps,
                &gamma[..c],
                &beta[..c],
                y,
                mo,
                ro,
                silu,
            )
        });
}

/// One sample's input: channels `0..ca` in `a` (`[hw, ca]`), `ca..c` in `b` (`[hw, c − ca]`).
#[derive(Clone, Copy)]
struct Sample<'a> {
    a: &'a [f32],
    ca: usize,
    b: &'a [f32],
    c: usize,
}

impl<'a> Sample<'a> {
    /// The sub-block of channels starting at `s0` (below `hi`): its width (at most [`CB`],
    /// never crossing from `a` into `b`), the buffer holding it, that buffer's row length and
    /// the sub-block's first channel in it.
    #[inline(always)]
    fn part(&self, s0: usize, hi: usize) -> (usize, &'a [f32], usize, usize) {
        if s0 < self.ca {
            (CB.min(hi.min(self.ca) - s0), self.a, self.ca, s0)
        } else {
            (CB.min(hi - s0), self.b, self.c - self.ca, s0 - self.ca)
        }
    }
}

/// Channels one sweep over a sample's pixels handles (the size of the stack buffers).
const CB: usize = 256;
/// Pixels whose values are summed in f32 before the partial sums are added in f64.
const ROWS: usize = 64;

simd_dispatch! {
/// One sample of the forward pass: `x` is the `[hw, c]` input (possibly in two parts), `y` is
/// `[hw, c]`, `mo`, `ro` are `[groups]`; the input is `x + shift` when `shift` (`[c]`) is given.
///
/// Groups are taken a block at a time (as many whole groups as fit in [`CB`] channels; a group
/// wider than that is split into sub-blocks), and each block is swept three times, every sweep
/// a loop over pixels whose inner loop runs along contiguous channels (so it vectorises): the
/// per-channel sums give the group means, the per-channel sums of `(x − μ)²` the variances
/// (both summed in f32 over [`ROWS`] pixels, then in f64), and the last sweep writes
/// `act((x − μ)·r·γ + β)`.
#[allow(clippy::too_many_arguments)]
fn forward_sample(
    x: Sample,
    shift: Option<&[f32]>,
    hw: usize,
    groups: usize,
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    mo: &mut [f32],
    ro: &mut [f32],
    silu: bool,
) {
    let c = x.c;
    let cg = c / groups;
    let per_block = (CB / cg).max(1);
    let cnt = (hw * cg) as f64;
    let mut gs = [0.0f64; CB];
    let mut gm = [0.0f64; CB];
    let mut ch_sum = [0.0f64; CB];
    let (mut m, mut a, mut b) = ([0.0f32; CB], [0.0f32; CB], [0.0f32; CB]);
    let mut g0 = 0;
    while g0 < groups {
        let gn = per_block.min(groups - g0);
        let (lo, hi) = (g0 * cg, (g0 + gn) * cg);
        // 1. means
        gs[..gn].fill(0.0);
        let mut s0 = lo;
        while s0 < hi {
            let (w, src, stride, at) = x.part(s0, hi);
            channel_sums(src, stride, at, w, None, &mut ch_sum[..w]);
            for (j, &v) in ch_sum[..w].iter().enumerate() {
                let sh = shift.map_or(0.0, |s| s[s0 + j] as f64);
                gs[(s0 + j) / cg - g0] += v + hw as f64 * sh;
            }
            s0 += w;
        }
        for i in 0..gn {
            gm[i] = gs[i] / cnt;
        }
        // 2. variances, about the group means
        gs[..gn].fill(0.0);
        let mut s0 = lo;
        while s0 < hi {
            let (w, src, stride, at) = x.part(s0, hi);
            // Σ (x + s − μ)² = Σ (x − (μ − s))²
            for j in 0..w {
                let sh = shift.map_or(0.0, |s| s[s0 + j] as f64);
                m[j] = (gm[(s0 + j) / cg - g0] - sh) as f32;
            }
            channel_sums(src, stride, at, w, Some(&m[..w]), &mut ch_sum[..w]);
            for (j, &v) in ch_sum[..w].iter().enumerate() {
                gs[(s0 + j) / cg - g0] += v;
            }
            s0 += w;
        }
        for i in 0..gn {
            let rstd = 1.0 / (gs[i] / cnt + eps as f64).sqrt();
            mo[g0 + i] = gm[i] as f32;
            ro[g0 + i] = rstd as f32;
        }
        // 3. normalise, scale and shift, activate
        let mut s0 = lo;
        while s0 < hi {
            let (w, src, stride, at) = x.part(s0, hi);
            for j in 0..w {
                let g = (s0 + j) / cg;
                m[j] = mo[g] - shift.map_or(0.0, |s| s[s0 + j]);
                a[j] = ro[g] * gamma[s0 + j];
                b[j] = beta[s0 + j];
            }
            let (m, a, b) = (&m[..w], &a[..w], &b[..w]);
            for (yr, xr) in y.chunks_exact_mut(c).zip(src.chunks_exact(stride)) {
                let (yr, xr) = (&mut yr[s0..s0 + w], &xr[at..at + w]);
                if silu {
                    for j in 0..w {
                        yr[j] = silu_f32((xr[j] - m[j]) * a[j] + b[j]);
                    }
                } else {
                    for j in 0..w {
                        yr[j] = (xr[j] - m[j]) * a[j] + b[j];
                    }
                }
            }
            s0 += w;
        }
        g0 += gn;
    }
}
}

/// `out[j] = Σ_p x[p, s0 + j]` (or `Σ_p (x[p, s0 + j] − mu[j])²`) for `j < w ≤ CB`, over all
/// pixels `p` of an `[hw, c]` sample: f32 sums over [`ROWS`] pixels, added up in f64.
#[inline(always)]
fn channel_sums(x: &[f32], c: usize, s0: usize, w: usize, mu: Option<&[f32]>, out: &mut [f64]) {
    let mut acc = [0.0f32; CB];
    let (acc, out) = (&mut acc[..w], &mut out[..w]);
    out.fill(0.0);
    for block in x.chunks(ROWS * c) {
        acc.fill(0.0);
        for row in block.chunks_exact(c) {
            let r = &row[s0..s0 + w];
            match mu {
                None => {
                    for j in 0..w {
                        acc[j] += r[j];
                    }
                }
                Some(mu) => {
                    let mu = &mu[..w];
                    for j in 0..w {
                        let d = r[j] - mu[j];
                        acc[j] += d * d;
                    }
                }
            }
        }
        for j in 0..w {
            out[j] += acc[j] as f64;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    /// Straightforward f64 GroupNorm(+SiLU) of an `[n, hw, c]` activation.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        n: usize,
        hw: usize,
        c: usize,
        groups: usize,
        eps: f64,
        gamma: &[f32],
        beta: &[f32],
        silu: bool,
    ) -> Vec<f64> {
        let cg = c / groups;
        let mut y = vec![0.0; x.len()];
        for b in 0..n {
            for g in 0..groups {
                let at = |p: usize, j: usize| (b * hw + p) * c + g * cg + j;
                let vals = || (0..hw).flat_map(move |p| (0..cg).map(move |j| at(p, j)));
                let cnt = (hw * cg) as f64;
                let mean = vals().map(|i| x[i] as f64).sum::<f64>() / cnt;
                let var = vals().map(|i| (x[i] as f64 - mean).powi(2)).sum::<f64>() / cnt;
                for i in vals() {
                    let ch = i % c;
                    let z = (x[i] as f64 - mean) / (var + eps).sqrt() * gamma[ch] as f64
                        + beta[ch] as f64;
                    y[i] = if silu { z / (1.0 + (-z).exp()) } else { z };
                }
            }
        }
        y
    }

    /// The blocked SIMD forward pass against the f64 reference, on shapes that exercise every
    /// path: groups of one channel, groups wider than a sweep's [`CB`] channels (split into
    /// sub-blocks), channel counts and pixel counts that are not multiples of the vector width
    /// or of [`ROWS`], and an offset mean (3 + 2·N(0, 1)) that punishes naive variance formulas.
    #[test]
    fn forward_matches_f64_reference() {
        let mut rng = Rng::seeded(21);
        for (n, hw, c, groups) in [
            (2, 130, 12, 4),
            (1, 65, 7, 7),
            (3, 17, 96, 32),
            (2, 40, 600, 2),
            (1, 9, 520, 1),
            (2, 33, 515, 5),
        ] {
            let x: Vec<f32> = rng
                .normal_vec(n * hw * c)
                .iter()
                .map(|v| 3.0 + 2.0 * v)
                .collect();
            let gamma = rng.normal_vec(c);
            let beta = rng.normal_vec(c);
            for silu in [false, true] {
                let mut y = vec![f32::NAN; x.len()];
                let (mut mo, mut ro) = (vec![0.0; n * groups], vec![0.0; n * groups]);
                let f = if silu {
                    group_norm_silu_forward
                } else {
                    group_norm_forward
                };
                f(
                    &x, n, hw, c, groups, 1e-6, &gamma, &beta, &mut y, &mut mo, &mut ro,
                );
                let want = reference(&x, n, hw, c, groups, 1e-6, &gamma, &beta, silu);
                for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        (g as f64 - w).abs() <= 2e-6 * w.abs().max(1.0),
                        "{n}x{hw}x{c}/{groups} silu={silu} [{i}]: got {g}, want {w}"
                    );
                }
                // Saved statistics of the last group of the last sample.
                let (cg, b, g) = (c / groups, n - 1, groups - 1);
                let vals: Vec<f64> = (0..hw)
                    .flat_map(|p| (0..cg).map(move |j| (b * hw + p) * c + g * cg + j))
                    .map(|i| x[i] as f64)
                    .collect();
                let m = vals.iter().sum::<f64>() / vals.len() as f64;
                let v = vals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / vals.len() as f64;
                let k = b * groups + g;
                assert!((mo[k] as f64 - m).abs() <= 1e-6 * m.abs(), "mean");
                assert!(
                    (ro[k] as f64 * (v + 1e-6).sqrt() - 1.0).abs() <= 1e-6,
                    "rstd"
                );
            }
        }
    }

    /// The shifted variant equals GroupNorm+SiLU of `x + shift` computed in f64.
    #[test]
    fn shifted_forward_matches_f64_reference_of_the_sum() {
        let mut rng = Rng::seeded(22);
        for (n, hw, c, groups) in [(3, 70, 48, 8), (2, 16, 384, 32), (1, 10, 300, 1)] {
            let x = rng.normal_vec(n * hw * c);
            let shift: Vec<f32> = rng.normal_vec(n * c).iter().map(|v| 2.0 * v).collect();
            let gamma = rng.normal_vec(c);
            let beta = rng.normal_vec(c);
            let mut y = vec![f32::NAN; x.len()];
            let (mut mo, mut ro) = (vec![0.0; n * groups], vec![0.0; n * groups]);
            group_norm_silu_forward_shifted(
                &x, &shift, n, hw, c, groups, 1e-6, &gamma, &beta, &mut y, &mut mo, &mut ro,
            );
            let sum: Vec<f32> = x
                .iter()
                .enumerate()
                .map(|(i, &v)| v + shift[(i / (hw * c)) * c + i % c])
                .collect();
            let want = reference(&sum, n, hw, c, groups, 1e-6, &gamma, &beta, true);
            for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                assert!(
                    (g as f64 - w).abs() <= 2e-6 * w.abs().max(1.0),
                    "{n}x{hw}x{c}/{groups} [{i}]: got {g}, want {w}"
                );
            }
        }
    }

    /// The concatenating variant gives exactly what GroupNorm+SiLU of the materialised
    /// concatenation gives (per-channel sums do not depend on where the input is split), with
    /// groups straddling the boundary and groups wider than a sweep.
    #[test]
    fn concat_forward_equals_forward_of_the_concatenation() {
        let mut rng = Rng::seeded(23);
        for (n, hw, ca, cb, groups) in [
            (2, 20, 10, 14, 4),
            (3, 9, 256, 128, 32),
            (1, 33, 300, 200, 1),
            (2, 5, 7, 1, 2),
        ] {
            let c = ca + cb;
            let xa = rng.normal_vec(n * hw * ca);
            let xb: Vec<f32> = rng
                .normal_vec(n * hw * cb)
                .iter()
                .map(|v| v + 1.0)
                .collect();
            let (gamma, beta) = (rng.normal_vec(c), rng.normal_vec(c));
            let mut cat = vec![0.0; n * hw * c];
            for p in 0..n * hw {
                cat[p * c..p * c + ca].copy_from_slice(&xa[p * ca..(p + 1) * ca]);
                cat[p * c + ca..(p + 1) * c].copy_from_slice(&xb[p * cb..(p + 1) * cb]);
            }
            let stats = || (vec![0.0; n * groups], vec![0.0; n * groups]);
            let (mut y1, (mut m1, mut r1)) = (vec![0.0; cat.len()], stats());
            group_norm_silu_forward(
                &cat, n, hw, c, groups, 1e-6, &gamma, &beta, &mut y1, &mut m1, &mut r1,
            );
            let (mut y2, (mut m2, mut r2)) = (vec![f32::NAN; cat.len()], stats());
            group_norm_silu_forward_concat(
                &xa, ca, &xb, cb, n, hw, groups, 1e-6, &gamma, &beta, &mut y2, &mut m2, &mut r2,
            );
            assert!(
                y1 == y2 && m1 == m2 && r1 == r2,
                "{n}x{hw}x({ca}+{cb})/{groups}"
            );
        }
    }
}
