//! The kernel behind the forward passes of `forward.rs`: per sample, blocked SIMD sweeps over
//! contiguous channel rows (statistics, then normalise + affine + SiLU), with the input
//! optionally shifted per channel or split in two channel parts (a concatenation).

use super::super::fastmath::silu_f32;
use super::GroupNormArgs;
use rayon::prelude::*;

/// Panics unless the buffers fit `args` (`[n, hw, c]` in `groups` groups): `x` activation
/// values and `stats` per-(sample, group) values; `γ` and `β` need `c` values.
pub(super) fn check(args: &GroupNormArgs, x: usize, stats: usize) {
    let (n, hw, c, groups) = args.dims();
    assert!(
        groups > 0 && c.is_multiple_of(groups),
        "group_norm: {c} channels not divisible into {groups} groups"
    );
    assert!(
        x >= n * hw * c,
        "group_norm: activation shorter than [{n}, {hw}, {c}]"
    );
    assert!(
        args.gamma.len().min(args.beta.len()) >= c,
        "group_norm: gamma/beta need {c} values"
    );
    assert!(
        stats >= n * groups,
        "group_norm: mean/rstd need n·groups = {} values",
        n * groups
    );
}

/// The input of a forward pass: channels `0..ca` in `a` (`[n, hw, ca]`), the others in `b`
/// (`[n, hw, c − ca]`; empty when `ca = c`).
#[derive(Clone, Copy)]
pub(super) struct Parts<'a> {
    pub a: &'a [f32],
    pub ca: usize,
    pub b: &'a [f32],
}

/// The forward pass over `x` (plus `shift`, `[n, c]`, when given) for `args`: writes `y`
/// (`[n, hw, c]`) and the statistics `(mean, rstd)` (`[n, groups]`).
pub(super) fn forward_parts(
    x: Parts,
    shift: Option<&[f32]>,
    args: &GroupNormArgs,
    y: &mut [f32],
    (mean_out, rstd_out): (&mut [f32], &mut [f32]),
) {
    check(args, y.len(), mean_out.len().min(rstd_out.len()));
    let (n, hw, c, groups) = args.dims();
    let (eps, gamma, beta, silu) = (args.eps, args.gamma, args.beta, args.silu);
    let len = hw * c;
    if n * len == 0 {
        return;
    }
    let (ca, cb) = (x.ca, c - x.ca);
    y[..n * len]
        .par_chunks_mut(len)
        .zip(mean_out[..n * groups].par_chunks_mut(groups))
        .zip(rstd_out[..n * groups].par_chunks_mut(groups))
        .enumerate()
        .for_each(|(b, ((y, mo), ro))| {
            let x = Sample {
                a: &x.a[b * hw * ca..(b + 1) * hw * ca],
                ca,
                b: &x.b[b * hw * cb..(b + 1) * hw * cb],
                c,
            };
            let shift = shift.map(|s| &s[b * c..(b + 1) * c]);
            let affine = (&gamma[..c], &beta[..c]);
            forward_sample(x, shift, (hw, groups, eps), affine, y, (mo, ro), silu)
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
/// `[hw, c]`, the statistics `(mo, ro)` are `[groups]`, `sizes` is `(hw, groups, eps)` and
/// `affine` is `(γ, β)`; the input is `x + shift` when `shift` (`[c]`) is given.
///
/// Groups are taken a block at a time (as many whole groups as fit in [`CB`] channels; a group
/// wider than that is split into sub-blocks), and each block is swept three times, every sweep
/// a loop over pixels whose inner loop runs along contiguous channels (so it vectorises): the
/// per-channel sums give the group means, the per-channel sums of `(x − μ)²` the variances
/// (both summed in f32 over [`ROWS`] pixels, then in f64), and the last sweep writes
/// `act((x − μ)·r·γ + β)`.
fn forward_sample(
    x: Sample,
    shift: Option<&[f32]>,
    sizes: (usize, usize, f32),
    affine: (&[f32], &[f32]),
    y: &mut [f32],
    stats: (&mut [f32], &mut [f32]),
    silu: bool,
) {
    let ((hw, groups, eps), (gamma, beta), (mo, ro)) = (sizes, affine, stats);
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
