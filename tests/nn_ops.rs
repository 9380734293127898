//! The compute core's non-convolution kernels: forward against naive f64 references written
//! here, backward against central finite differences of those references in f64, on random
//! shapes with odd sizes and channel counts that are not multiples of 8.

use difflab::nn::ops::*;
use difflab::nn::workspace::Workspace;
use difflab::util::rng::Rng;

fn randn(rng: &mut Rng, n: usize) -> Vec<f32> {
    rng.normal_vec(n)
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// `got` (f32 kernel) matches `want` (f64 reference) within `tol · max(1, |want|)`.
fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w} (err {err:e})"
        );
    }
}

/// Central finite differences in f64 of `loss` at `x`, compared with the analytic gradient
/// `grad` that an f32 backward kernel produced; errors are measured relative to the gradient's
/// largest magnitude (f32 rounding is relative to that scale).
fn fd_check(what: &str, x: &[f32], grad: &[f32], loss: impl Fn(&[f64]) -> f64) {
    assert_eq!(x.len(), grad.len(), "{what}: gradient length");
    let mut xs = f64s(x);
    let scale = grad.iter().fold(1e-3f64, |m, &g| m.max(g.abs() as f64));
    let h = 1e-6;
    for i in 0..x.len() {
        let x0 = xs[i];
        xs[i] = x0 + h;
        let lp = loss(&xs);
        xs[i] = x0 - h;
        let lm = loss(&xs);
        xs[i] = x0;
        let num = (lp - lm) / (2.0 * h);
        let err = (num - grad[i] as f64).abs();
        assert!(
            err <= 2e-5 * scale + 1e-6,
            "{what}[{i}]: analytic {} vs numeric {num} (err {err:e}, scale {scale:e})",
            grad[i]
        );
    }
}

fn dot(a: &[f64], r: &[f32]) -> f64 {
    a.iter().zip(r).map(|(&a, &r)| a * r as f64).sum()
}

// ---------------------------------------------------------------- naive f64 references

fn ref_linear(x: &[f64], m: usize, k: usize, w: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] = b[j] + (0..k).map(|l| x[i * k + l] * w[l * n + j]).sum::<f64>();
        }
    }
    y
}

fn ref_silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

#[allow(clippy::too_many_arguments)]
fn ref_group_norm(
    x: &[f64],
    n: usize,
    hw: usize,
    c: usize,
    groups: usize,
    eps: f64,
    gamma: &[f64],
    beta: &[f64],
    silu: bool,
) -> Vec<f64> {
    let cg = c / groups;
    let mut y = vec![0.0; x.len()];
    for b in 0..n {
        for g in 0..groups {
            let idx: Vec<usize> = (0..hw)
                .flat_map(|p| (0..cg).map(move |j| (b * hw + p) * c + g * cg + j))
                .collect();
            let mean = idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64;
            let var = idx.iter().map(|&i| (x[i] - mean).powi(2)).sum::<f64>() / idx.len() as f64;
            for &i in &idx {
                let ch = i % c;
                let z = (x[i] - mean) / (var + eps).sqrt() * gamma[ch] + beta[ch];
                y[i] = if silu { ref_silu(z) } else { z };
            }
        }
    }
    y
}

/// The arguments of a GroupNorm call on `[n, hw, c]` in `groups` groups.
fn gn_args<'a>(
    (n, hw, c, groups): (usize, usize, usize, usize),
    eps: f32,
    (gamma, beta): (&'a [f32], &'a [f32]),
    silu: bool,
) -> GroupNormArgs<'a> {
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

/// 2×2 pooling reference: `max` or mean of each window; odd trailing rows/columns dropped.
fn ref_pool(x: &[f64], n: usize, h: usize, w: usize, c: usize, max: bool) -> Vec<f64> {
    let (oh, ow) = (h / 2, w / 2);
    let mut y = vec![0.0; n * oh * ow * c];
    for b in 0..n {
        for i in 0..oh {
            for j in 0..ow {
                for ch in 0..c {
                    let v: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|(di, dj)| x[((b * h + 2 * i + di) * w + 2 * j + dj) * c + ch])
                        .collect();
                    y[((b * oh + i) * ow + j) * c + ch] = if max {
                        v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        v.iter().sum::<f64>() / 4.0
                    };
                }
            }
        }
    }
    y
}

fn ref_upsample(x: &[f64], n: usize, h: usize, w: usize, c: usize) -> Vec<f64> {
    let mut y = vec![0.0; n * 4 * h * w * c];
    for b in 0..n {
        for r in 0..2 * h {
            for col in 0..2 * w {
                for ch in 0..c {
                    y[((b * 2 * h + r) * 2 * w + col) * c + ch] =
                        x[((b * h + r / 2) * w + col / 2) * c + ch];
                }
            }
        }
    }
    y
}

fn ref_attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    batch: usize,
    heads: usize,
    seq: usize,
    hd: usize,
) -> Vec<f64> {
    let width = heads * hd;
    let mut out = vec![0.0; batch * seq * width];
    for b in 0..batch {
        for h in 0..heads {
            for i in 0..seq {
                let at = |t: &[f64], s: usize, d: usize| t[(b * seq + s) * width + h * hd + d];
                let s: Vec<f64> = (0..seq)
                    .map(|j| {
                        (0..hd).map(|d| at(q, i, d) * at(k, j, d)).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|&s| (s - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    out[(b * seq + i) * width + h * hd + d] =
                        (0..seq).map(|j| e[j] / z * at(v, j, d)).sum();
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------- forward kernels

#[test]
fn linear_forward_matches_reference() {
    let mut rng = Rng::seeded(1);
    for (m, k, n) in [(1, 1, 1), (7, 13, 5), (33, 64, 17), (128, 32, 64)] {
        let (x, w, b) = (
            randn(&mut rng, m * k),
            randn(&mut rng, k * n),
            randn(&mut rng, n),
        );
        let mut y = vec![f32::NAN; m * n];
        linear_forward(&x, m, k, &w, Some(&b), n, &mut y);
        assert_close(
            "linear+bias",
            &y,
            &ref_linear(&f64s(&x), m, k, &f64s(&w), &f64s(&b), n),
            1e-5,
        );
        linear_forward(&x, m, k, &w, None, n, &mut y);
        assert_close(
            "linear",
            &y,
            &ref_linear(&f64s(&x), m, k, &f64s(&w), &vec![0.0; n], n),
            1e-5,
        );
    }
}

#[test]
fn activations_match_reference() {
    let mut rng = Rng::seeded(2);
    let x = randn(&mut rng, 40_001);
    let mut y = vec![0.0; x.len()];
    silu_forward(&x, &mut y);
    assert_close(
        "silu",
        &y,
        &x.iter().map(|&v| ref_silu(v as f64)).collect::<Vec<_>>(),
        1e-6,
    );
    let mut z = x.clone();
    silu_forward_inplace(&mut z);
    assert_eq!(y, z, "silu in place");
    let mut r = x.clone();
    relu_forward_inplace(&mut r);
    assert_close(
        "relu",
        &r,
        &x.iter().map(|&v| (v as f64).max(0.0)).collect::<Vec<_>>(),
        0.0,
    );
}

#[test]
fn group_norm_forward_matches_reference() {
    let mut rng = Rng::seeded(3);
    for (n, hw, c, groups) in [
        (2, 9, 6, 3),
        (3, 25, 12, 4),
        (1, 7, 5, 1),
        (2, 16, 64, 32),
        (1, 1, 7, 7),
    ] {
        let x: Vec<f32> = randn(&mut rng, n * hw * c)
            .iter()
            .map(|v| 3.0 * v + 1.5)
            .collect();
        let (gamma, beta) = (randn(&mut rng, c), randn(&mut rng, c));
        let (mut y, mut mean, mut rstd) = (
            vec![0.0; x.len()],
            vec![0.0; n * groups],
            vec![0.0; n * groups],
        );
        for silu in [false, true] {
            let args = gn_args((n, hw, c, groups), 1e-5, (&gamma, &beta), silu);
            group_norm_forward(&x, &args, &mut y, (&mut mean, &mut rstd));
            let want = ref_group_norm(
                &f64s(&x),
                n,
                hw,
                c,
                groups,
                1e-5,
                &f64s(&gamma),
                &f64s(&beta),
                silu,
            );
            assert_close(
                &format!("group_norm silu={silu} {n}x{hw}x{c}/{groups}"),
                &y,
                &want,
                2e-5,
            );
        }
        // Saved statistics: the group mean and 1/√(var + eps) of the first group of sample 0.
        let cg = c / groups;
        let vals: Vec<f64> = (0..hw)
            .flat_map(|p| (0..cg).map(move |j| p * c + j))
            .map(|i| x[i] as f64)
            .collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let v = vals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / vals.len() as f64;
        assert_close("gn mean", &mean[..1], &[m], 1e-5);
        assert_close("gn rstd", &rstd[..1], &[1.0 / (v + 1e-5).sqrt()], 1e-5);
    }
}

#[test]
fn pooling_and_upsampling_match_reference() {
    let mut rng = Rng::seeded(4);
    for (n, h, w, c) in [(2, 5, 7, 3), (1, 8, 8, 13), (3, 4, 6, 1), (2, 1, 3, 2)] {
        let x = randn(&mut rng, n * h * w * c);
        let (oh, ow) = (h / 2, w / 2);
        let mut y = vec![f32::NAN; n * oh * ow * c];
        let mut am = vec![9u8; y.len()];
        max_pool2_forward(&x, n, h, w, c, &mut y, &mut am);
        assert_close("max_pool2", &y, &ref_pool(&f64s(&x), n, h, w, c, true), 0.0);
        for (o, &a) in am.iter().enumerate() {
            let (ch, j, i, b) = (o % c, (o / c) % ow, (o / c / ow) % oh, o / c / ow / oh);
            let (di, dj) = ((a / 2) as usize, (a % 2) as usize);
            assert_eq!(
                x[((b * h + 2 * i + di) * w + 2 * j + dj) * c + ch],
                y[o],
                "argmax points at the maximum"
            );
        }
        avg_pool2_forward(&x, n, h, w, c, &mut y);
        assert_close(
            "avg_pool2",
            &y,
            &ref_pool(&f64s(&x), n, h, w, c, false),
            1e-6,
        );
        let mut up = vec![f32::NAN; n * 4 * h * w * c];
        upsample_nearest2_forward(&x, n, h, w, c, &mut up);
        assert_close("upsample", &up, &ref_upsample(&f64s(&x), n, h, w, c), 0.0);
        // Into channels 2..2+c of a wider buffer: the other channels stay as they were.
        let wide = c + 5;
        let mut buf = vec![-7.0f32; n * 4 * h * w * wide];
        upsample_nearest2_forward_into(&x, n, h, w, c, (&mut buf, wide, 2));
        for (p, row) in buf.chunks_exact(wide).enumerate() {
            assert_eq!(&row[2..2 + c], &up[p * c..(p + 1) * c]);
            assert!(row[..2].iter().chain(&row[2 + c..]).all(|&v| v == -7.0));
        }
    }
}

#[test]
fn channel_copies_place_and_read_slices() {
    let mut rng = Rng::seeded(5);
    let (rows, ca, cb) = (37, 5, 11);
    let (a, b) = (randn(&mut rng, rows * ca), randn(&mut rng, rows * cb));
    let mut cat = vec![0.0; rows * (ca + cb)];
    copy_into_channels(&a, rows, ca, &mut cat, ca + cb, 0);
    copy_into_channels(&b, rows, cb, &mut cat, ca + cb, ca);
    for r in 0..rows {
        assert_eq!(
            &cat[r * (ca + cb)..r * (ca + cb) + ca],
            &a[r * ca..(r + 1) * ca]
        );
        assert_eq!(
            &cat[r * (ca + cb) + ca..(r + 1) * (ca + cb)],
            &b[r * cb..(r + 1) * cb]
        );
    }
    let mut back = vec![0.0; rows * cb];
    split_channels((&cat, ca + cb), rows, ca, (&mut back, cb), false);
    assert_eq!(back, b);
    split_channels((&cat, ca + cb), rows, ca, (&mut back, cb), true);
    assert_eq!(back, b.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
}

#[test]
fn softmax_and_attention_match_reference() {
    let mut rng = Rng::seeded(6);
    let (rows, cols) = (9, 13);
    let x: Vec<f32> = randn(&mut rng, rows * cols)
        .iter()
        .map(|v| 5.0 * v)
        .collect();
    let mut s = x.clone();
    softmax_rows_inplace(&mut s, rows, cols);
    for (r, row) in s.chunks_exact(cols).enumerate() {
        let xr = &x[r * cols..(r + 1) * cols];
        let m = xr.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z: f64 = xr.iter().map(|&v| (v as f64 - m).exp()).sum();
        assert_close(
            "softmax",
            row,
            &xr.iter()
                .map(|&v| (v as f64 - m).exp() / z)
                .collect::<Vec<_>>(),
            1e-6,
        );
    }
    for (batch, heads, seq, hd) in [(1, 1, 16, 8), (3, 2, 7, 5), (2, 4, 9, 3)] {
        let total = batch * seq * heads * hd;
        let (q, k, v) = (
            randn(&mut rng, total),
            randn(&mut rng, total),
            randn(&mut rng, total),
        );
        let want = ref_attention(&f64s(&q), &f64s(&k), &f64s(&v), batch, heads, seq, hd);
        for threads in [1, 2, 3] {
            let mut out = vec![f32::NAN; total];
            let mut ws = Workspace::new();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                attention_forward(&q, &k, &v, batch, heads, seq, hd, &mut out, &mut ws)
            });
            assert_close(
                &format!("attention b{batch} h{heads} s{seq} d{hd} threads {threads}"),
                &out,
                &want,
                1e-5,
            );
        }
    }
}

#[test]
fn timestep_embedding_matches_diffusers_formula() {
    let t = [0.0f32, 1.0, 17.0, 199.0, 999.0, 0.5];
    for (dim, flip, shift) in [
        (32, false, 1.0),
        (32, true, 0.0),
        (64, true, 1.0),
        (7, false, 0.0),
    ] {
        let mut out = vec![f32::NAN; t.len() * dim];
        timestep_embedding(&t, dim, 10000.0, flip, shift, &mut out);
        let half = dim / 2;
        let mut want = vec![0.0f64; t.len() * dim];
        for (b, &tb) in t.iter().enumerate() {
            for i in 0..half {
                let f = (-(10000f64.ln()) * i as f64 / (half as f64 - shift as f64)).exp();
                let (s, c) = ((tb as f64 * f).sin(), (tb as f64 * f).cos());
                let (si, ci) = if flip { (half + i, i) } else { (i, half + i) };
                want[b * dim + si] = s;
                want[b * dim + ci] = c;
            }
        }
        // f32 arguments of up to 999 carry an absolute error of ~1e-4 (as in PyTorch).
        assert_close(&format!("embedding dim {dim}"), &out, &want, 2e-4);
    }
    // The lab's lowest frequency is exactly 1e-4: exp(−ln(10000)·15/15).
    let mut out = vec![0.0; 32];
    timestep_embedding(&[10000.0], 32, 10000.0, false, 1.0, &mut out);
    assert!((out[15] - 1f32.sin()).abs() < 1e-4 && (out[31] - 1f32.cos()).abs() < 1e-4);
}

#[test]
fn mse_loss_matches_reference() {
    let mut rng = Rng::seeded(7);
    let (p, t) = (randn(&mut rng, 1001), randn(&mut rng, 1001));
    let want = p
        .iter()
        .zip(&t)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / 1001.0;
    assert_close("mse", &[mse_loss(&p, &t)], &[want], 1e-6);
    let (mut g1, mut g2) = (vec![0.0; 1001], vec![0.0; 1001]);
    mse_loss_grad(&p, &t, &mut g1);
    let l = mse_loss_and_grad(&p, &t, &mut g2);
    assert_eq!(g1, g2);
    assert_eq!(l, mse_loss(&p, &t));
    fd_check("mse grad", &p, &g1, |x| {
        x.iter()
            .zip(&t)
            .map(|(&a, &b)| (a - b as f64).powi(2))
            .sum::<f64>()
            / 1001.0
    });
}

// ---------------------------------------------------------------- backward kernels (f64 FD)

#[test]
fn linear_backward_passes_finite_differences() {
    let mut rng = Rng::seeded(11);
    for (m, k, n) in [(3, 5, 7), (9, 13, 6), (1, 4, 1)] {
        let (x, w, b, r) = (
            randn(&mut rng, m * k),
            randn(&mut rng, k * n),
            randn(&mut rng, n),
            randn(&mut rng, m * n),
        );
        let (mut dx, mut dw, mut db) = (
            vec![f32::NAN; m * k],
            vec![f32::NAN; k * n],
            vec![f32::NAN; n],
        );
        linear_backward(&x, &r, m, k, n, &w, Some(&mut dx), &mut dw, Some(&mut db));
        let (x64, w64, b64) = (f64s(&x), f64s(&w), f64s(&b));
        fd_check("linear dx", &x, &dx, |xp| {
            dot(&ref_linear(xp, m, k, &w64, &b64, n), &r)
        });
        fd_check("linear dw", &w, &dw, |wp| {
            dot(&ref_linear(&x64, m, k, wp, &b64, n), &r)
        });
        fd_check("linear db", &b, &db, |bp| {
            dot(&ref_linear(&x64, m, k, &w64, bp, n), &r)
        });
    }
}

#[test]
fn activation_backward_passes_finite_differences() {
    let mut rng = Rng::seeded(12);
    let x = randn(&mut rng, 301);
    let r = randn(&mut rng, 301);
    let mut dx = vec![f32::NAN; 301];
    relu_backward(&x, &r, &mut dx);
    fd_check("relu", &x, &dx, |xp| {
        xp.iter()
            .zip(&r)
            .map(|(&v, &g)| v.max(0.0) * g as f64)
            .sum()
    });
    let mut y = x.clone();
    relu_forward_inplace(&mut y);
    let mut inplace = r.clone();
    relu_backward_inplace(&y, &mut inplace);
    assert_eq!(inplace, dx, "relu backward from the output, in place");
    silu_backward(&x, &r, &mut dx);
    fd_check("silu", &x, &dx, |xp| {
        xp.iter()
            .zip(&r)
            .map(|(&v, &g)| ref_silu(v) * g as f64)
            .sum()
    });
}

#[test]
fn group_norm_backward_passes_finite_differences() {
    let mut rng = Rng::seeded(13);
    for (n, hw, c, groups) in [(2, 5, 6, 3), (1, 9, 7, 1), (3, 4, 10, 5)] {
        let x: Vec<f32> = randn(&mut rng, n * hw * c)
            .iter()
            .map(|v| 2.0 * v + 0.3)
            .collect();
        let (gamma, beta, r) = (
            randn(&mut rng, c),
            randn(&mut rng, c),
            randn(&mut rng, n * hw * c),
        );
        for silu in [false, true] {
            let (mut y, mut mean, mut rstd) = (
                vec![0.0; x.len()],
                vec![0.0; n * groups],
                vec![0.0; n * groups],
            );
            let (mut dx, mut dg, mut db) = (
                vec![f32::NAN; x.len()],
                vec![f32::NAN; c],
                vec![f32::NAN; c],
            );
            let args = gn_args((n, hw, c, groups), 1e-5, (&gamma, &beta), silu);
            group_norm_forward(&x, &args, &mut y, (&mut mean, &mut rstd));
            let grads = GroupNormGrads {
                dx: &mut dx,
                dgamma: &mut dg,
                dbeta: &mut db,
            };
            group_norm_backward(&x, &r, &args, (&mean, &rstd), grads);
            let (x64, g64, b64) = (f64s(&x), f64s(&gamma), f64s(&beta));
            let tag = format!("gn silu={silu} {n}x{hw}x{c}/{groups}");
            fd_check(&format!("{tag} dx"), &x, &dx, |p| {
                dot(
                    &ref_group_norm(p, n, hw, c, groups, 1e-5, &g64, &b64, silu),
                    &r,
                )
            });
            fd_check(&format!("{tag} dgamma"), &gamma, &dg, |p| {
                dot(
                    &ref_group_norm(&x64, n, hw, c, groups, 1e-5, p, &b64, silu),
                    &r,
                )
            });
            fd_check(&format!("{tag} dbeta"), &beta, &db, |p| {
                dot(
                    &ref_group_norm(&x64, n, hw, c, groups, 1e-5, &g64, p, silu),
                    &r,
                )
            });
        }
    }
}

#[test]
fn pool_and_upsample_backward_pass_finite_differences() {
    let mut rng = Rng::seeded(14);
    for (n, h, w, c) in [(2, 5, 7, 3), (1, 6, 4, 9), (1, 3, 3, 1)] {
        let x = randn(&mut rng, n * h * w * c);
        let (oh, ow) = (h / 2, w / 2);
        let r = randn(&mut rng, n * oh * ow * c);
        let mut y = vec![0.0; r.len()];
        let mut am = vec![0u8; r.len()];
        let mut dx = vec![f32::NAN; x.len()];
        max_pool2_forward(&x, n, h, w, c, &mut y, &mut am);
        max_pool2_backward(&r, &am, n, h, w, c, &mut dx);
        fd_check("max_pool2", &x, &dx, |p| {
            dot(&ref_pool(p, n, h, w, c, true), &r)
        });
        avg_pool2_backward(&r, n, h, w, c, &mut dx);
        fd_check("avg_pool2", &x, &dx, |p| {
            dot(&ref_pool(p, n, h, w, c, false), &r)
        });
        let ru = randn(&mut rng, n * 4 * h * w * c);
        upsample_nearest2_backward(&ru, n, h, w, c, &mut dx);
        fd_check("upsample", &x, &dx, |p| {
            dot(&ref_upsample(p, n, h, w, c), &ru)
        });
        // From channels 3..3+c of a wider gradient: the same as the narrow gradient.
        let wide = c + 4;
        let mut rw = randn(&mut rng, n * 4 * h * w * wide);
        for (p, row) in rw.chunks_exact_mut(wide).enumerate() {
            row[3..3 + c].copy_from_slice(&ru[p * c..(p + 1) * c]);
        }
        let mut dx2 = vec![f32::NAN; x.len()];
        upsample_nearest2_backward_from((&rw, wide, 3), n, h, w, c, &mut dx2);
        assert_eq!(dx2, dx);
    }
}

#[test]
fn concat_backward_passes_finite_differences() {
    let mut rng = Rng::seeded(15);
    let (rows, ca, cb) = (11, 3, 5);
    let (a, b) = (randn(&mut rng, rows * ca), randn(&mut rng, rows * cb));
    let r = randn(&mut rng, rows * (ca + cb));
    let concat = |a: &[f64], b: &[f64]| -> Vec<f64> {
        (0..rows)
            .flat_map(|i| {
                a[i * ca..(i + 1) * ca]
                    .iter()
                    .chain(&b[i * cb..(i + 1) * cb])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (mut da, mut db) = (vec![f32::NAN; a.len()], vec![f32::NAN; b.len()]);
    split_channels((&r, ca + cb), rows, 0, (&mut da, ca), false);
    split_channels((&r, ca + cb), rows, ca, (&mut db, cb), false);
    fd_check("concat da", &a, &da, |p| dot(&concat(p, &f64s(&b)), &r));
    fd_check("concat db", &b, &db, |p| dot(&concat(&f64s(&a), p), &r));
}

// ---------------------------------------------------------------- determinism

#[test]
fn kernels_are_bit_identical_across_runs_and_thread_counts() {
    let mut rng = Rng::seeded(16);
    let (n, hw, c, groups) = (8, 300, 48, 8);
    let x = randn(&mut rng, n * hw * c);
    let (gamma, beta, r) = (
        randn(&mut rng, c),
        randn(&mut rng, c),
        randn(&mut rng, n * hw * c),
    );
    let run = || {
        let (mut y, mut mean, mut rstd) = (
            vec![0.0; x.len()],
            vec![0.0; n * groups],
            vec![0.0; n * groups],
        );
        let (mut dx, mut dg, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        let args = gn_args((n, hw, c, groups), 1e-6, (&gamma, &beta), true);
        group_norm_forward(&x, &args, &mut y, (&mut mean, &mut rstd));
        let grads = GroupNormGrads {
            dx: &mut dx,
            dgamma: &mut dg,
            dbeta: &mut db,
        };
        group_norm_backward(&x, &r, &args, (&mean, &rstd), grads);
        (y, dx, dg, db)
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(run);
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(run);
    assert!(one == two && two == again);
}

// ---------------------------------------------------------------- weights

mod common;

use difflab::nn::{Tensor, Weights};

#[test]
fn weights_round_trip_and_explain_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let mut w = Weights::new();
    w.insert(
        "enc1.conv1.weight",
        Tensor::new(
            vec![3, 3, 2, 4],
            (0..72).map(|i| i as f32 * 0.5 - 3.0).collect(),
        )
        .unwrap(),
    );
    w.insert(
        "enc1.conv1.bias",
        Tensor::new(vec![4], vec![1.0, -2.0, f32::MIN_POSITIVE, 1e30]).unwrap(),
    );
    w.set_metadata("arch", "lab");
    w.save_safetensors(&path).unwrap();
    let mut back = Weights::load_safetensors(&path).unwrap();
    assert_eq!(
        back.keys().collect::<Vec<_>>(),
        vec!["enc1.conv1.bias", "enc1.conv1.weight"]
    );
    assert_eq!(
        back.get("enc1.conv1.weight", &[3, 3, 2, 4]).unwrap(),
        w.get_any("enc1.conv1.weight").unwrap()
    );
    assert_eq!(back.metadata().get("arch").map(String::as_str), Some("lab"));
    assert_eq!(back.num_values(), 76);

    let err = back
        .get("enc1.conv1.weight", &[3, 3, 4, 2])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("w.safetensors") && err.contains("enc1.conv1.weight"),
        "{err}"
    );
    assert!(
        err.contains("[3, 3, 2, 4]") && err.contains("[3, 3, 4, 2]"),
        "{err}"
    );
    let err = back
        .take("enc1.conv2.weight", &[1])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("w.safetensors") && err.contains("missing tensor `enc1.conv2.weight`"),
        "{err}"
    );
    assert!(back.take("enc1.conv1.bias", &[4]).is_ok() && !back.contains("enc1.conv1.bias"));

    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let err = Weights::load_safetensors(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.safetensors") && err.contains("safetensors"),
        "{err}"
    );
    let err = Weights::load_safetensors(dir.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
}

#[test]
fn weights_read_a_diffusers_checkpoint() {
    let path = common::fixtures_dir().join("unet_tiny/diffusion_pytorch_model.safetensors");
    let w = Weights::load_safetensors(&path).unwrap();
    let want = common::read_safetensors(&path);
    assert_eq!(w.len(), want.len());
    assert_eq!(w.num_values(), 702_499, "the manifest's parameter count");
    for (k, fx) in &want {
        let t = w.get(k, &fx.shape).unwrap();
        assert_close(k, t.data(), &fx.data, 0.0);
    }
}

// ---------------------------------------------------------------- optimiser

use difflab::nn::optim::{Adam, AdamConfig, Ema};

/// PyTorch's Adam/AdamW update in f64.
fn ref_adam(cfg: AdamConfig, p: &mut [f64], m: &mut [f64], v: &mut [f64], g: &[f64], t: i32) {
    let (b1, b2, lr, wd) = (
        cfg.beta1 as f64,
        cfg.beta2 as f64,
        cfg.lr as f64,
        cfg.weight_decay as f64,
    );
    for i in 0..p.len() {
        let gi = if cfg.decoupled {
            g[i]
        } else {
            g[i] + wd * p[i]
        };
        if cfg.decoupled {
            p[i] *= 1.0 - lr * wd;
        }
        m[i] = b1 * m[i] + (1.0 - b1) * gi;
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
        let mh = m[i] / (1.0 - b1.powi(t));
        let vh = v[i] / (1.0 - b2.powi(t));
        p[i] -= lr * mh / (vh.sqrt() + cfg.eps as f64);
    }
}

#[test]
fn adam_and_adamw_follow_pytorch() {
    let mut rng = Rng::seeded(21);
    let n = 40_000; // several rayon chunks
    for cfg in [
        AdamConfig::adam(1e-3),
        AdamConfig::adamw(3e-3, 0.01),
        AdamConfig {
            weight_decay: 0.1,
            ..AdamConfig::adam(1e-2)
        },
    ] {
        let mut p = randn(&mut rng, n);
        let (mut p64, mut m64, mut v64) = (f64s(&p), vec![0.0; n], vec![0.0; n]);
        let mut opt = Adam::new(cfg, n);
        for t in 1..=5 {
            let g: Vec<f32> = randn(&mut rng, n)
                .iter()
                .map(|v| v * 0.1 * t as f32)
                .collect();
            opt.step(&mut p, &g);
            ref_adam(cfg, &mut p64, &mut m64, &mut v64, &f64s(&g), t);
        }
        assert_eq!(opt.t, 5);
        assert_close(&format!("{cfg:?}"), &p, &p64, 1e-6);
    }
}

#[test]
fn ema_averages_weights() {
    let p0 = vec![1.0f32, -2.0, 4.0];
    let mut ema = Ema::new(&p0, 0.9);
    ema.update(&[2.0, -2.0, 0.0]);
    ema.update(&[2.0, -2.0, 0.0]);
    // 0.81·p0 + 0.19·p1
    assert_close("ema", ema.weights(), &[1.19, -2.0, 3.24], 1e-6);
    assert_eq!(ema.updates, 2);
}
