//! The forward passes of the first GroupNorm family: plain or fused with SiLU, with a
//! per-sample channel shift, and over a two-part channel concatenation; all run the sweep of
//! `sweep.rs`.

use super::sweep::{forward_parts, Parts};
use super::GroupNormArgs;

/// `y = γ·(x − μ)/√(σ² + eps) + β` per (sample, group), then SiLU when `args.silu`; `x`, `y`
/// are `[n, hw, c]`; `stats = (mean, rstd)` (`[n, groups]` each) receive `μ` and
/// `1/√(σ² + eps)` for the backward pass.
pub fn group_norm_forward(
    x: &[f32],
    args: &GroupNormArgs,
    y: &mut [f32],
    stats: (&mut [f32], &mut [f32]),
) {
    forward_parts(whole(x, args), None, args, y, stats)
}

/// [`group_norm_forward`] of `x + shift`, with `shift` `[n, c]` added to every pixel of its
/// sample (a ResNet block's time embedding), without materialising `x + shift`: the
/// statistics in `stats` are those of `x + shift`.
pub fn group_norm_forward_shifted(
    x: &[f32],
    shift: &[f32],
    args: &GroupNormArgs,
    y: &mut [f32],
    stats: (&mut [f32], &mut [f32]),
) {
    let nc = args.n * args.c;
    assert!(
        shift.len() >= nc,
        "group_norm_forward_shifted: shift needs n·c = {nc} values"
    );
    forward_parts(whole(x, args), Some(shift), args, y, stats)
}

/// [`group_norm_forward`] of `concat(xa, xb)` over channels, without materialising the
/// concatenation: `xa` is `[n, hw, ca]`, `xb` is `[n, hw, c − ca]` (`c = args.c`), `y` is
/// `[n, hw, c]`, and the groups may straddle the boundary. What a U-Net's up block computes
/// first on `[up, skip]`.
pub fn group_norm_forward_concat(
    (xa, ca): (&[f32], usize),
    xb: &[f32],
    args: &GroupNormArgs,
    y: &mut [f32],
    stats: (&mut [f32], &mut [f32]),
) {
    let (n, hw, c, _) = args.dims();
    let cb = c
        .checked_sub(ca)
        .expect("group_norm_forward_concat: more channels in xa than in all");
    assert!(
        xa.len() >= n * hw * ca && xb.len() >= n * hw * cb,
        "group_norm_forward_concat: inputs shorter than [{n}, {hw}, {ca}] and [{n}, {hw}, {cb}]"
    );
    let x = Parts { a: xa, ca, b: xb };
    forward_parts(x, None, args, y, stats)
}

/// `x` as one part of `args.c` channels, after checking its length.
fn whole<'a>(x: &'a [f32], args: &GroupNormArgs) -> Parts<'a> {
    let (n, hw, c, _) = args.dims();
    assert!(
        x.len() >= n * hw * c,
        "group_norm: activation shorter than [{n}, {hw}, {c}]"
    );
    Parts {
        a: x,
        ca: c,
        b: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    /// The arguments of a test call, with `eps = 1e-6`.
    fn args<'a>(
        (n, hw, c, groups): (usize, usize, usize, usize),
        gamma: &'a [f32],
        beta: &'a [f32],
        silu: bool,
    ) -> GroupNormArgs<'a> {
        let eps = 1e-6;
        GroupNormArgs {
            n,
            hw,
            c,
            groups,
            eps,
            gamma,
            beta,
            silu,
        }
    }

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
    /// path: groups of one channel, groups wider than a sweep's channels (split into
    /// sub-blocks of 256 channels), channel counts and pixel counts that are not multiples of the vector width
    /// or of the 64-pixel blocks, and an offset mean (3 + 2·N(0, 1)) that punishes naive variance formulas.
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
                let args = args((n, hw, c, groups), &gamma, &beta, silu);
                group_norm_forward(&x, &args, &mut y, (&mut mo, &mut ro));
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
            let args = args((n, hw, c, groups), &gamma, &beta, true);
            group_norm_forward_shifted(&x, &shift, &args, &mut y, (&mut mo, &mut ro));
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
            let args = args((n, hw, c, groups), &gamma, &beta, true);
            group_norm_forward(&cat, &args, &mut y1, (&mut m1, &mut r1));
            let (mut y2, (mut m2, mut r2)) = (vec![f32::NAN; cat.len()], stats());
            group_norm_forward_concat((&xa, ca), &xb, &args, &mut y2, (&mut m2, &mut r2));
            assert!(
                y1 == y2 && m1 == m2 && r1 == r2,
                "{n}x{hw}x({ca}+{cb})/{groups}"
            );
        }
    }
}
