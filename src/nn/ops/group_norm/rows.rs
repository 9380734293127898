//! The second GroupNorm family (the toy U-Net's): per-sample shift + GroupNorm + activation in
//! two fused passes each way, forward and backward (with the shift's gradient), over NHWC
//! activations.
//!
//! The math of the module (statistics per sample and group over `hw·cg` values, biased
//! variance, `y = act((x − μ)·r·γ + β)` with `r = 1/√(σ² + ε)`), organised so that every
//! pass is a vectorisable sweep over contiguous rows of `c` channels with per-channel
//! coefficients: `z = x·A_c + B_c` forward, `dx = dz·P_c + x·Q_c + R_c` backward, and one
//! exponential per element each way (the SiLU's sigmoid, a polynomial `exp` accurate to ~1 ulp).
//! The backward pass needs only per-channel sums (`Σ dz`, `Σ dz·x`), because the group sums of
//! GroupNorm's gradient are sums of per-channel ones.

use super::super::fastmath::{sigmoid_f32, silu_f32};
use rayon::prelude::*;

/// The activation applied after the normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormAct {
    /// `z·σ(z)`.
    Silu,
    /// `max(z, 0)`.
    Relu,
}

simd_dispatch! {
/// `y = act(x·a + b)` over rows of `c = a.len()` channels (`x`, `y` `[rows, c]`). One loop
/// per activation, so that each vectorises.
fn act_forward_rows(act: NormAct, x: &[f32], a: &[f32], b: &[f32], y: &mut [f32]) {
    let c = a.len();
    let b = &b[..c];
    for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        match act {
            NormAct::Silu => {
                for j in 0..c {
                    yr[j] = silu_f32(xr[j] * a[j] + b[j]);
                }
            }
            NormAct::Relu => {
                for j in 0..c {
                    yr[j] = (xr[j] * a[j] + b[j]).max(0.0);
                }
            }
        }
    }
}
}

simd_dispatch! {
/// Backward pass 1 over rows of `c = a.len()` channels (`(a, b)` the per-channel affine):
/// `dz = dy·act'(x·a + b)` into `dz`,
/// with the per-channel sums `sd += Σ_rows dz` and `sdx += Σ_rows dz·x`.
fn act_backward_rows(
    act: NormAct,
    x: &[f32],
    dy: &[f32],
    coef: (&[f32], &[f32]),
    dz: &mut [f32],
    sd: &mut [f32],
    sdx: &mut [f32],
) {
    let (a, b) = coef;
    let c = a.len();
    let (b, sd, sdx) = (&b[..c], &mut sd[..c], &mut sdx[..c]);
    for (dr, (xr, gr)) in dz
        .chunks_exact_mut(c)
        .zip(x.chunks_exact(c).zip(dy.chunks_exact(c)))
    {
        match act {
            NormAct::Silu => {
                for j in 0..c {
                    let z = xr[j] * a[j] + b[j];
                    let s = sigmoid_f32(z);
                    let d = gr[j] * s * (1.0 + z * (1.0 - s));
                    dr[j] = d;
                    sd[j] += d;
                    sdx[j] += d * xr[j];
                }
            }
            NormAct::Relu => {
                for j in 0..c {
                    let z = xr[j] * a[j] + b[j];
                    let d = if z > 0.0 { gr[j] } else { 0.0 };
                    dr[j] = d;
                    sd[j] += d;
                    sdx[j] += d * xr[j];
                }
            }
        }
    }
}
}

simd_dispatch! {
/// Backward pass 2 over rows of `c = p.len()` channels: `dz ← dz·p + x·q + r0` (the input
/// gradient, in place), with `acc += Σ_rows` of the result.
fn affine_rows(dz: &mut [f32], x: &[f32], p: &[f32], q: &[f32], r0: &[f32], acc: &mut [f32]) {
    let c = p.len();
    let (q, r0, acc) = (&q[..c], &r0[..c], &mut acc[..c]);
    for (dr, xr) in dz.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for j in 0..c {
            let d = dr[j] * p[j] + xr[j] * q[j] + r0[j];
            dr[j] = d;
            acc[j] += d;
        }
    }
}
}

simd_dispatch! {
/// `x[row, j] += s[j]` for every row of `c = s.len()` channels.
fn add_to_rows(x: &mut [f32], s: &[f32]) {
    let c = s.len();
    for row in x.chunks_exact_mut(c) {
        for j in 0..c {
            row[j] += s[j];
        }
    }
}
}

simd_dispatch! {
/// `acc[j] += Σ_rows x[row, j]` (with `mu`: `Σ_rows (x[row, j] − mu[j])²`), rows of
/// `c = acc.len()` channels.
fn sum_rows(x: &[f32], mu: Option<&[f32]>, acc: &mut [f32]) {
    let c = acc.len();
    match mu {
        None => {
            for row in x.chunks_exact(c) {
                for j in 0..c {
                    acc[j] += row[j];
                }
            }
        }
        Some(mu) => {
            let mu = &mu[..c];
            for row in x.chunks_exact(c) {
                for j in 0..c {
                    let d = row[j] - mu[j];
                    acc[j] += d * d;
                }
            }
        }
    }
}
}

/// Rows summed in f32 before they are added into the f64 totals.
const BLOCK: usize = 64;

/// Per-sample scratch of [`shift_norm_act_forward`] and [`shift_norm_act_backward`] (grown on
/// first use, then reused): 11 f32 and 3 f64 values per channel and sample.
#[derive(Default)]
pub struct NormScratch {
    f32s: Vec<f32>,
    f64s: Vec<f64>,
}

/// f32 scratch values per channel and sample.
const F32: usize = 11;
/// f64 scratch values per channel and sample.
const F64: usize = 3;

impl NormScratch {
    /// Per-sample chunks of `F32·c` and `F64·c` values for `n` samples.
    fn get(&mut self, n: usize, c: usize) -> (&mut [f32], &mut [f64]) {
        if self.f32s.len() < n * F32 * c {
            self.f32s.resize(n * F32 * c, 0.0);
        }
        if self.f64s.len() < n * F64 * c {
            self.f64s.resize(n * F64 * c, 0.0);
        }
        (&mut self.f32s[..n * F32 * c], &mut self.f64s[..n * F64 * c])
    }
}

/// Split `buf` into `k` consecutive slices of `len`.
fn parts<T, const K: usize>(buf: &mut [T], len: usize) -> [&mut [T]; K] {
    let mut rest = buf;
    std::array::from_fn(|_| {
        let (a, b) = std::mem::take(&mut rest).split_at_mut(len);
        rest = b;
        a
    })
}

/// Per-channel sums `tot[j] = Σ_rows x[row, j]` (with `mu`: `Σ_rows (x[row, j] − mu[j])²`),
/// in f32 within blocks of rows and f64 across them.
fn channel_sums(x: &[f32], c: usize, mu: Option<&[f32]>, acc: &mut [f32], tot: &mut [f64]) {
    tot.fill(0.0);
    for block in x.chunks(BLOCK * c) {
        acc.fill(0.0);
        sum_rows(block, mu, &mut acc[..c]);
        for (t, &a) in tot.iter_mut().zip(acc.iter()) {
            *t += a as f64;
        }
    }
}

/// Forward: `x ← x + shift[b]` (when given; `x` then holds the pre-normalisation values the
/// backward pass needs), `y = act((x − μ)·r·γ + β)`, saving `mean`/`rstd` (`[n, groups]`).
/// Statistics: two passes (the second around the mean), f64 totals.
///
/// Shapes: `x`, `y` `[n, hw, c]`; `shift` `[n, c]`; `gamma`, `beta` `[c]`.
#[allow(clippy::too_many_arguments)]
pub fn shift_norm_act_forward(
    x: &mut [f32],
    shift: Option<&[f32]>,
    (n, hw, c, groups): (usize, usize, usize, usize),
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    act: NormAct,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    scratch: &mut NormScratch,
) {
    let len = hw * c;
    assert!(
        x.len() == n * len && y.len() == n * len && gamma.len() == c && beta.len() == c,
        "shift_norm_act_forward: sizes"
    );
    assert!(
        groups > 0 && c % groups == 0 && mean.len() == n * groups && rstd.len() == n * groups,
        "shift_norm_act_forward: groups"
    );
    let cg = c / groups;
    let count = (hw * cg) as f64;
    let (s32, s64) = scratch.get(n, c);
    x.par_chunks_mut(len)
        .zip(y.par_chunks_mut(len))
        .zip(mean.par_chunks_mut(groups).zip(rstd.par_chunks_mut(groups)))
        .zip(s32.par_chunks_mut(F32 * c).zip(s64.par_chunks_mut(F64 * c)))
        .enumerate()
        .for_each(|(b, (((x, y), (mean, rstd)), (s32, s64)))| {
            let [acc, mu, a, bb] = parts::<f32, 4>(s32, c);
            let tot = &mut s64[..c];
            if let Some(s) = shift {
                let s = &s[b * c..(b + 1) * c];
                add_to_rows(x, s);
            }
            channel_sums(x, c, None, acc, tot);
            for g in 0..groups {
                mean[g] = (tot[g * cg..(g + 1) * cg].iter().sum::<f64>() / count) as f32;
            }
            for (j, m) in mu.iter_mut().enumerate() {
                *m = mean[j / cg];
            }
            channel_sums(x, c, Some(mu), acc, tot);
            for g in 0..groups {
                let var = tot[g * cg..(g + 1) * cg].iter().sum::<f64>() / count;
                rstd[g] = (1.0 / (var + eps as f64).sqrt()) as f32;
            }
            for j in 0..c {
                a[j] = rstd[j / cg] * gamma[j];
                bb[j] = beta[j] - mean[j / cg] * a[j];
            }
            act_forward_rows(act, x, &a[..c], &bb[..c], y);
        });
}

/// Backward of [`shift_norm_act_forward`] given `dy` (the gradient w.r.t. `y`) and the saved
/// `x` (after the shift), `mean`, `rstd`: writes `dx` (`[n, hw, c]`), `dgamma`, `dbeta` (`[c]`,
/// per-sample partials added in sample order) and, when given, `dshift` (`[n, c]`,
/// `Σ_pixels dx`, the gradient of the per-sample shift). All overwritten.
///
/// With `x̂ = (x − μ)·r`, `dz` the gradient through the activation, `g = dz·γ` and means over
/// the group's `hw·cg` values: `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dγ = Σ dz·x̂`, `dβ = Σ dz`.
#[allow(clippy::too_many_arguments)]
pub fn shift_norm_act_backward(
    x: &[f32],
    dy: &[f32],
    (n, hw, c, groups): (usize, usize, usize, usize),
    gamma: &[f32],
    beta: &[f32],
    act: NormAct,
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dshift: Option<&mut [f32]>,
    scratch: &mut NormScratch,
) {
    let len = hw * c;
    assert!(
        x.len() == n * len && dy.len() == n * len && dx.len() == n * len,
        "shift_norm_act_backward: sizes"
    );
    assert!(
        dgamma.len() == c && dbeta.len() == c && gamma.len() == c && beta.len() == c,
        "shift_norm_act_backward: parameter sizes"
    );
    assert!(
        groups > 0 && c % groups == 0 && mean.len() == n * groups && rstd.len() == n * groups,
        "shift_norm_act_backward: groups"
    );
    let want_shift = dshift.is_some();
    let (s32, s64) = scratch.get(n, c);
    dx.par_chunks_mut(len)
        .zip(s32.par_chunks_mut(F32 * c).zip(s64.par_chunks_mut(F64 * c)))
        .enumerate()
        .for_each(|(b, (dx, (s32, s64)))| {
            let g = b * groups..(b + 1) * groups;
            let sample = (&x[b * len..(b + 1) * len], &dy[b * len..(b + 1) * len]);
            let stats = (&mean[g.clone()], &rstd[g]);
            let norm = (gamma, beta, act);
            backward_sample(
                sample,
                (hw, c, groups),
                norm,
                stats,
                dx,
                (s32, s64),
                want_shift,
            );
        });
    dgamma.fill(0.0);
    dbeta.fill(0.0);
    for per in s32.chunks_exact(F32 * c) {
        let (dg, db) = (&per[8 * c..9 * c], &per[9 * c..10 * c]);
        for j in 0..c {
            dgamma[j] += dg[j];
            dbeta[j] += db[j];
        }
    }
    if let Some(ds) = dshift {
        for (o, per) in ds.chunks_exact_mut(c).zip(s32.chunks_exact(F32 * c)) {
            o.copy_from_slice(&per[10 * c..11 * c]);
        }
    }
}

/// One sample of [`shift_norm_act_backward`]: from `(x, dy)` (`[hw, c]`) and the sample's
/// `(mean, rstd)` (`[groups]`), writes `dx` and, in the sample's f32 scratch, its partial
/// `dγ`, `dβ` (slices 8 and 9) and `dshift` (slice 10, when `want_shift`).
fn backward_sample(
    (x, dy): (&[f32], &[f32]),
    (hw, c, groups): (usize, usize, usize),
    (gamma, beta, act): (&[f32], &[f32], NormAct),
    (mean, rstd): (&[f32], &[f32]),
    dx: &mut [f32],
    (s32, s64): (&mut [f32], &mut [f64]),
    want_shift: bool,
) {
    let cg = c / groups;
    let count = (hw * cg) as f64;
    let [a, bb, ad, adx, p, q, r0, ash, dg, db, dsh] = parts::<f32, 11>(s32, c);
    let [sd, sdx, sh] = parts::<f64, 3>(s64, c);
    for j in 0..c {
        a[j] = rstd[j / cg] * gamma[j];
        bb[j] = beta[j] - mean[j / cg] * a[j];
    }
    // Pass 1: dz (through the activation) into dx, per-channel Σ dz and Σ dz·x.
    sd.fill(0.0);
    sdx.fill(0.0);
    for (rows_dx, (rows_x, rows_dy)) in dx
        .chunks_mut(BLOCK * c)
        .zip(x.chunks(BLOCK * c).zip(dy.chunks(BLOCK * c)))
    {
        ad.fill(0.0);
        adx.fill(0.0);
        let coef = (&a[..c], &bb[..c]);
        act_backward_rows(
            act,
            rows_x,
            rows_dy,
            coef,
            rows_dx,
            &mut ad[..c],
            &mut adx[..c],
        );
        for j in 0..c {
            sd[j] += ad[j] as f64;
            sdx[j] += adx[j] as f64;
        }
    }
    // dβ = Σ dz, dγ = r·(Σ dz·x − μ Σ dz); the group means of g and g·x̂ from those.
    for g in 0..groups {
        let (mu, r) = (mean[g] as f64, rstd[g] as f64);
        let (mut sg, mut sgx) = (0.0f64, 0.0f64);
        for j in g * cg..(g + 1) * cg {
            let dgj = r * (sdx[j] - mu * sd[j]);
            db[j] = sd[j] as f32;
            dg[j] = dgj as f32;
            sg += gamma[j] as f64 * sd[j];
            sgx += gamma[j] as f64 * dgj;
        }
        let (mg, mgx) = (sg / count, sgx / count);
        for j in g * cg..(g + 1) * cg {
            p[j] = (r * gamma[j] as f64) as f32;
            q[j] = (-r * r * mgx) as f32;
            r0[j] = (r * (r * mu * mgx - mg)) as f32;
        }
    }
    // Pass 2: dx = dz·P + x·Q + R, and Σ dx for the shift.
    sh.fill(0.0);
    for (rows_dx, rows_x) in dx.chunks_mut(BLOCK * c).zip(x.chunks(BLOCK * c)) {
        ash.fill(0.0);
        affine_rows(rows_dx, rows_x, &p[..c], &q[..c], &r0[..c], &mut ash[..c]);
        if want_shift {
            for (s, &v) in sh.iter_mut().zip(ash.iter()) {
                *s += v as f64;
            }
        }
    }
    for (o, &s) in dsh.iter_mut().zip(sh.iter()) {
        *o = s as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{group_norm_backward, group_norm_forward, GroupNormArgs, GroupNormGrads};
    use super::*;
    use crate::nn::testing::assert_close as close;
    use crate::util::rng::Rng;

    /// The first family's GroupNorm(+SiLU, or + a ReLU applied outside) of `x` and its
    /// gradients for `dy`: `(y, mean, rstd, dx, dgamma, dbeta)`.
    #[allow(clippy::type_complexity)]
    fn reference(
        (x, dy): (&[f32], &[f32]),
        (n, hw, c, groups): (usize, usize, usize, usize),
        (gamma, beta, act): (&[f32], &[f32], NormAct),
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let (mut want, mut m2, mut r2) = (
            vec![0.0; x.len()],
            vec![0.0; n * groups],
            vec![0.0; n * groups],
        );
        let (mut dx2, mut dg2, mut db2) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        let silu = act == NormAct::Silu;
        let args = GroupNormArgs {
            n,
            hw,
            c,
            groups,
            eps: 1e-5,
            gamma,
            beta,
            silu,
        };
        group_norm_forward(x, &args, &mut want, (&mut m2, &mut r2));
        let masked: Vec<f32> = if silu {
            dy.to_vec()
        } else {
            // The ReLU, applied outside.
            let masked = dy
                .iter()
                .zip(&want)
                .map(|(&d, &z)| if z > 0.0 { d } else { 0.0 })
                .collect();
            want.iter_mut().for_each(|v| *v = v.max(0.0));
            masked
        };
        let grads = GroupNormGrads {
            dx: &mut dx2,
            dgamma: &mut dg2,
            dbeta: &mut db2,
        };
        group_norm_backward(x, &masked, &args, (&m2, &r2), grads);
        (want, m2, r2, dx2, dg2, db2)
    }

    /// The fused kernels agree with the compute core's GroupNorm(+SiLU) kernels after a shift.
    #[test]
    fn fused_kernels_match_the_core_group_norm() {
        let mut rng = Rng::seeded(3);
        for (n, hw, c, groups, act) in [
            (3, 20, 12, 4, NormAct::Silu),
            (2, 130, 32, 8, NormAct::Silu),
            (2, 9, 6, 2, NormAct::Relu),
            (1, 70, 8, 1, NormAct::Silu),
        ] {
            let x0: Vec<f32> = rng
                .normal_vec(n * hw * c)
                .iter()
                .map(|v| 2.0 * v + 0.7)
                .collect();
            let shift = rng.normal_vec(n * c);
            let gamma: Vec<f32> = rng.normal_vec(c).iter().map(|v| 1.0 + 0.3 * v).collect();
            let beta = rng.normal_vec(c);
            let dy = rng.normal_vec(n * hw * c);
            let mut x = x0.clone();
            let (mut y, mut mean, mut rstd) = (
                vec![0.0; x.len()],
                vec![0.0; n * groups],
                vec![0.0; n * groups],
            );
            let mut ws = NormScratch::default();
            shift_norm_act_forward(
                &mut x,
                Some(&shift),
                (n, hw, c, groups),
                1e-5,
                &gamma,
                &beta,
                act,
                &mut y,
                &mut mean,
                &mut rstd,
                &mut ws,
            );
            let shifted: Vec<f32> = x0
                .iter()
                .enumerate()
                .map(|(i, v)| v + shift[(i / (hw * c)) * c + i % c])
                .collect();
            assert_eq!(x, shifted, "x keeps the shifted values");
            let dims = (n, hw, c, groups);
            let norm = (&gamma[..], &beta[..], act);
            let (want, m2, r2, dx2, dg2, db2) = reference((&shifted, &dy), dims, norm);
            let tag = format!("n{n} hw{hw} c{c} g{groups} {act:?}");
            close(&y, &want, 2e-6, &format!("y {tag}"));
            close(&mean, &m2, 1e-6, &format!("mean {tag}"));
            close(&rstd, &r2, 1e-6, &format!("rstd {tag}"));
            let (mut dx, mut dg, mut db, mut ds) = (
                vec![f32::NAN; x.len()],
                vec![f32::NAN; c],
                vec![f32::NAN; c],
                vec![f32::NAN; n * c],
            );
            shift_norm_act_backward(
                &x,
                &dy,
                (n, hw, c, groups),
                &gamma,
                &beta,
                act,
                &mean,
                &rstd,
                &mut dx,
                &mut dg,
                &mut db,
                Some(&mut ds),
                &mut ws,
            );
            close(&dx, &dx2, 2e-5, &format!("dx {tag}"));
            close(&dg, &dg2, 2e-5, &format!("dgamma {tag}"));
            close(&db, &db2, 2e-5, &format!("dbeta {tag}"));
            let mut ds2 = vec![0.0f32; n * c];
            for (i, v) in dx2.iter().enumerate() {
                ds2[(i / (hw * c)) * c + i % c] += v;
            }
            close(&ds, &ds2, 2e-5, &format!("dshift {tag}"));
        }
    }
}
