//! The kernel behind the GroupNorm forward functions of `group_norm.rs`: per sample, blocked
//! SIMD sweeps over contiguous channel rows (statistics, then normalise + affine + SiLU), with
//! the input optionally shifted per channel or split in two channel parts (a concatenation).

use super::fastmath::silu_f32;
use rayon::prelude::*;

// Same checks as the public functions (`group_norm.rs`).
use super::group_norm::check;

/// The forward pass over the input `(xa, ca, xb)`: channels `0..ca` from `xa` (`[n, hw, ca]`),
/// `ca..c` from `xb` (`[n, hw, c − ca]`; empty when `ca = c`).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_parts(
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

#[cfg(test)]
mod tests {
    use crate::nn::ops::group_norm::*;
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
