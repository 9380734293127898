//! The forward passes of the first GroupNorm family: plain, fused with SiLU, with a per-sample
//! channel shift, and over a two-part channel concatenation; all run the sweep of `sweep.rs`.

use super::sweep::{forward_parts, Parts};

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
    let x = whole(x, n, hw, c);
    let stats = (mean_out, rstd_out);
    forward_parts(
        x,
        None,
        (n, hw, c, groups),
        (eps, gamma, beta),
        y,
        stats,
        false,
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
    let x = whole(x, n, hw, c);
    let stats = (mean_out, rstd_out);
    forward_parts(
        x,
        None,
        (n, hw, c, groups),
        (eps, gamma, beta),
        y,
        stats,
        true,
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
    let x = whole(x, n, hw, c);
    let stats = (mean_out, rstd_out);
    forward_parts(
        x,
        Some(shift),
        (n, hw, c, groups),
        (eps, gamma, beta),
        y,
        stats,
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
    let x = Parts { a: xa, ca, b: xb };
    let stats = (mean_out, rstd_out);
    forward_parts(
        x,
        None,
        (n, hw, ca + cb, groups),
        (eps, gamma, beta),
        y,
        stats,
        true,
    )
}

/// `x` as one part of `c` channels, after checking its length.
fn whole(x: &[f32], n: usize, hw: usize, c: usize) -> Parts<'_> {
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
