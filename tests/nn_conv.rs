//! The convolution and matrix-product kernels against naive f64 references written here:
//! forward values, both backward passes (checked against an f64 analytic backward, which is in
//! turn checked against finite differences of the f64 forward), determinism, and bad lengths.

use difflab::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, Padding, Workspace,
};
use difflab::nn::matmul::{matmul, matmul_a_bt, matmul_at_b};
use difflab::util::rng::Rng;

/// A test problem: a layer, an input size, and random x, weight, bias and upstream gradient.
struct Case {
    c: Conv2d,
    n: usize,
    h: usize,
    w: usize,
    x: Vec<f32>,
    wt: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
}

impl Case {
    fn new(c: Conv2d, n: usize, h: usize, w: usize, seed: u64) -> Self {
        let mut rng = Rng::seeded(seed);
        let (oh, ow) = c.out_hw(h, w);
        Case {
            c,
            n,
            h,
            w,
            x: rng.normal_vec(n * h * w * c.cin),
            wt: rng.normal_vec(c.weight_len()),
            b: rng.normal_vec(c.cout),
            dy: rng.normal_vec(n * oh * ow * c.cout),
        }
    }
    fn out_len(&self) -> usize {
        let (oh, ow) = self.c.out_hw(self.h, self.w);
        self.n * oh * ow * self.c.cout
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

/// Calls `f(b, oy, ox, iy, ix, kh, kw)` for every in-image tap of every output pixel.
fn for_each_tap(c: &Conv2d, n: usize, h: usize, w: usize, mut f: impl FnMut([usize; 7])) {
    let (oh, ow) = c.out_hw(h, w);
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for kh in 0..c.k {
                    for kw in 0..c.k {
                        let iy = (oy * c.stride + kh) as isize - c.pad.top as isize;
                        let ix = (ox * c.stride + kw) as isize - c.pad.left as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            f([b, oy, ox, iy as usize, ix as usize, kh, kw]);
                        }
                    }
                }
            }
        }
    }
}

/// Naive f64 forward without activation: y = b + Σ x·w.
fn ref_forward(
    c: &Conv2d,
    n: usize,
    h: usize,
    w: usize,
    x: &[f64],
    wt: &[f64],
    b: &[f64],
) -> Vec<f64> {
    let (oh, ow) = c.out_hw(h, w);
    let (ci_n, co_n) = (c.cin, c.cout);
    let mut y = vec![0.0; n * oh * ow * co_n];
    for px in 0..n * oh * ow {
        y[px * co_n..(px + 1) * co_n].copy_from_slice(b);
    }
    for_each_tap(c, n, h, w, |[bi, oy, ox, iy, ix, kh, kw]| {
        for ci in 0..ci_n {
            let xv = x[((bi * h + iy) * w + ix) * ci_n + ci];
            for co in 0..co_n {
                y[((bi * oh + oy) * ow + ox) * co_n + co] +=
                    xv * wt[((kh * c.k + kw) * ci_n + ci) * co_n + co];
            }
        }
    });
    y
}

/// Naive f64 analytic backward: (dx, dw, db) for upstream gradient dy.
fn ref_backward(
    c: &Conv2d,
    n: usize,
    h: usize,
    w: usize,
    x: &[f64],
    wt: &[f64],
    dy: &[f64],
) -> [Vec<f64>; 3] {
    let (oh, ow) = c.out_hw(h, w);
    let (ci_n, co_n) = (c.cin, c.cout);
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; wt.len()];
    let mut db = vec![0.0; co_n];
    for (i, g) in dy.iter().enumerate() {
        db[i % co_n] += g;
    }
    for_each_tap(c, n, h, w, |[bi, oy, ox, iy, ix, kh, kw]| {
        for ci in 0..ci_n {
            let xi = ((bi * h + iy) * w + ix) * ci_n + ci;
            for co in 0..co_n {
                let g = dy[((bi * oh + oy) * ow + ox) * co_n + co];
                let wi = ((kh * c.k + kw) * ci_n + ci) * co_n + co;
                dx[xi] += g * wt[wi];
                dw[wi] += g * x[xi];
            }
        }
    });
    [dx, dw, db]
}

/// Asserts |got − want| ≤ tol · (1 + |want|) element-wise, naming the first bad index.
fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &r)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - r).abs();
        assert!(
            err <= tol * (1.0 + r.abs()),
            "{what}[{i}]: got {g}, want {r} (error {err:e})"
        );
    }
}

/// Layers covering 1×1 and 3×3 (and 5×5), stride 1 and 2, symmetric, none and right/bottom
/// padding, odd sizes and channel counts that are not multiples of 8.
fn layers() -> Vec<(Conv2d, usize, usize, usize)> {
    let conv = Conv2d::new;
    let pad = |top, left, bottom, right| Padding {
        top,
        left,
        bottom,
        right,
    };
    vec![
        (conv(3, 5, 3, 1, Padding::same(3)), 2, 7, 5),
        (conv(13, 17, 3, 1, Padding::same(3)), 3, 9, 11),
        (conv(65, 32, 3, 1, Padding::same(3)), 2, 8, 8),
        (conv(7, 9, 3, 2, Padding::same(3)), 2, 9, 10),
        (conv(6, 11, 3, 2, Padding::right_bottom(1)), 3, 8, 7),
        (conv(5, 4, 3, 2, Padding::none()), 2, 9, 9),
        (conv(9, 3, 3, 1, Padding::none()), 1, 6, 5),
        (conv(19, 10, 1, 1, Padding::none()), 3, 5, 7),
        (conv(4, 6, 1, 2, Padding::none()), 2, 6, 5),
        (conv(3, 4, 5, 1, Padding::same(5)), 2, 6, 7),
        (conv(2, 3, 3, 1, pad(2, 0, 1, 3)), 2, 4, 5),
        // Stride 1 with cin ≥ cout takes the transposed-convolution route for dx.
        (conv(6, 4, 3, 1, pad(0, 2, 1, 0)), 2, 5, 6),
        // Wide images take the im2col-free band route for stride 1: several bands per image,
        // asymmetric padding, 5×5.
        (conv(5, 6, 3, 1, Padding::same(3)), 2, 30, 40),
        (conv(4, 3, 3, 1, pad(0, 2, 1, 0)), 3, 9, 20),
        (conv(3, 4, 5, 1, Padding::same(5)), 2, 6, 30),
        // Bigger than one im2col chunk, so that several chunks and threads take part.
        (conv(37, 24, 3, 1, Padding::same(3)), 5, 17, 15),
    ]
}

#[test]
fn forward_matches_naive_reference() {
    for (i, &(c, n, h, w)) in layers().iter().enumerate() {
        let case = Case::new(c, n, h, w, 100 + i as u64);
        let want = ref_forward(&c, n, h, w, &f64s(&case.x), &f64s(&case.wt), &f64s(&case.b));
        let want_relu: Vec<f64> = want.iter().map(|&v| v.max(0.0)).collect();
        let want_nobias = ref_forward(
            &c,
            n,
            h,
            w,
            &f64s(&case.x),
            &f64s(&case.wt),
            &vec![0.0; c.cout],
        );
        let mut ws = Workspace::new();
        let mut y = vec![f32::NAN; case.out_len()];
        conv2d_forward(
            &c,
            &case.x,
            n,
            h,
            w,
            &case.wt,
            Some(&case.b),
            Act::None,
            &mut y,
            &mut ws,
        );
        assert_close(&format!("layer {i} {c:?} y"), &y, &want, 1e-4);
        conv2d_forward(
            &c,
            &case.x,
            n,
            h,
            w,
            &case.wt,
            Some(&case.b),
            Act::Relu,
            &mut y,
            &mut ws,
        );
        assert_close(&format!("layer {i} relu y"), &y, &want_relu, 1e-4);
        assert!(y.iter().all(|&v| v >= 0.0));
        y.fill(f32::NAN);
        conv2d_forward(
            &c,
            &case.x,
            n,
            h,
            w,
            &case.wt,
            None,
            Act::None,
            &mut y,
            &mut ws,
        );
        assert_close(&format!("layer {i} no-bias y"), &y, &want_nobias, 1e-4);
    }
}

#[test]
fn forward_relu_keeps_nan() {
    let c = Conv2d::new(2, 3, 1, 1, Padding::none());
    let x = [f32::NAN, 1.0, -1.0, 0.5];
    let wt = [1.0, -1.0, 2.0, 1.0, 1.0, -3.0];
    let mut y = [0.0; 6];
    conv2d_forward(
        &c,
        &x,
        1,
        1,
        2,
        &wt,
        None,
        Act::Relu,
        &mut y,
        &mut Workspace::new(),
    );
    assert!(
        y[..3].iter().all(|v| v.is_nan()),
        "NaN input must give NaN, got {y:?}"
    );
    // Second pixel: x = (-1, 0.5): (-1 + 0.5, 1 + 0.5, -2 - 1.5) → relu → (0, 1.5, 0).
    assert_eq!(&y[3..], &[0.0, 1.5, 0.0]);
}

/// The reference backward is the derivative of the reference forward: central differences of
/// L = Σ y·dy in f64, for every input, weight and bias value of small layers.
#[test]
fn reference_backward_matches_finite_differences() {
    for (i, &(c, n, h, w)) in layers()
        .iter()
        .enumerate()
        .filter(|(_, (c, n, h, w))| c.weight_len() < 1000 && n * h * w * c.cin < 1500)
    {
        let case = Case::new(c, n, h, w, 200 + i as u64);
        let (x, wt, b, dy) = (f64s(&case.x), f64s(&case.wt), f64s(&case.b), f64s(&case.dy));
        let analytic = ref_backward(&c, n, h, w, &x, &wt, &dy);
        let loss = |v: &[Vec<f64>; 3]| -> f64 {
            ref_forward(&c, n, h, w, &v[0], &v[1], &v[2])
                .iter()
                .zip(&dy)
                .map(|(a, g)| a * g)
                .sum()
        };
        let eps = 1e-3;
        for (which, name) in ["dx", "dw", "db"].iter().enumerate() {
            for j in 0..analytic[which].len() {
                let mut v = [x.clone(), wt.clone(), b.clone()];
                v[which][j] += eps;
                let up = loss(&v);
                v[which][j] -= 2.0 * eps;
                let down = loss(&v);
                let fd = (up - down) / (2.0 * eps);
                let a = analytic[which][j];
                assert!(
                    (fd - a).abs() < 1e-7 * (1.0 + fd.abs()),
                    "layer {i} {name}[{j}]: fd {fd} vs {a}"
                );
            }
        }
    }
}

#[test]
fn backward_matches_reference() {
    for (i, &(c, n, h, w)) in layers().iter().enumerate() {
        let case = Case::new(c, n, h, w, 300 + i as u64);
        let [dx_want, dw_want, db_want] = ref_backward(
            &c,
            n,
            h,
            w,
            &f64s(&case.x),
            &f64s(&case.wt),
            &f64s(&case.dy),
        );
        let mut ws = Workspace::new();
        let mut dx = vec![f32::NAN; case.x.len()];
        conv2d_backward_input(&c, &case.dy, n, h, w, &case.wt, &mut dx, &mut ws);
        assert_close(&format!("layer {i} {c:?} dx"), &dx, &dx_want, 1e-4);
        let mut dw = vec![f32::NAN; case.wt.len()];
        let mut db = vec![f32::NAN; c.cout];
        conv2d_backward_weight(
            &c,
            &case.x,
            &case.dy,
            n,
            h,
            w,
            &mut dw,
            Some(&mut db),
            &mut ws,
        );
        // dw sums up to n·oh·ow products: scale the tolerance with that count.
        let (oh, ow) = c.out_hw(h, w);
        let tol = 1e-5 * ((n * oh * ow) as f64).sqrt();
        assert_close(&format!("layer {i} dw"), &dw, &dw_want, tol);
        assert_close(&format!("layer {i} db"), &db, &db_want, tol);
        dw.fill(f32::NAN);
        conv2d_backward_weight(&c, &case.x, &case.dy, n, h, w, &mut dw, None, &mut ws);
        assert_close(&format!("layer {i} dw without bias"), &dw, &dw_want, tol);
    }
}

#[test]
fn stride_two_gives_zero_gradient_to_skipped_pixels() {
    // 1×1 stride 2 reads only even rows and columns: the others get exactly 0.
    let c = Conv2d::new(3, 2, 1, 2, Padding::none());
    let case = Case::new(c, 2, 5, 6, 7);
    let mut dx = vec![f32::NAN; case.x.len()];
    conv2d_backward_input(
        &c,
        &case.dy,
        2,
        5,
        6,
        &case.wt,
        &mut dx,
        &mut Workspace::new(),
    );
    for (p, px) in dx.chunks(3).enumerate() {
        let (iy, ix) = ((p / 6) % 5, p % 6);
        if iy % 2 == 1 || ix % 2 == 1 {
            assert!(px.iter().all(|&v| v == 0.0), "pixel ({iy},{ix}) got {px:?}");
        } else {
            assert!(px.iter().any(|&v| v != 0.0), "pixel ({iy},{ix}) got {px:?}");
        }
    }
}

/// Runs all three passes and returns their outputs.
fn run_all(case: &Case, ws: &mut Workspace) -> [Vec<f32>; 4] {
    let (c, n, h, w) = (&case.c, case.n, case.h, case.w);
    let mut y = vec![0.0; case.out_len()];
    conv2d_forward(
        c,
        &case.x,
        n,
        h,
        w,
        &case.wt,
        Some(&case.b),
        Act::Relu,
        &mut y,
        ws,
    );
    let mut dx = vec![0.0; case.x.len()];
    conv2d_backward_input(c, &case.dy, n, h, w, &case.wt, &mut dx, ws);
    let mut dw = vec![0.0; case.wt.len()];
    let mut db = vec![0.0; c.cout];
    conv2d_backward_weight(c, &case.x, &case.dy, n, h, w, &mut dw, Some(&mut db), ws);
    [y, dx, dw, db]
}

#[test]
fn results_are_bit_identical_run_to_run() {
    // 8×8 takes the im2col route, 16×16 the band route (see src/nn/conv/band.rs), and one
    // 4×4 image is a single task whose products gemm splits over the threads.
    let cases = [
        Case::new(Conv2d::new(32, 64, 3, 1, Padding::same(3)), 16, 8, 8, 9),
        Case::new(Conv2d::new(24, 16, 3, 1, Padding::same(3)), 7, 16, 16, 11),
        Case::new(Conv2d::new(128, 128, 3, 1, Padding::same(3)), 1, 4, 4, 12),
    ];
    for (case, threads) in cases.iter().flat_map(|c| [1, 2, 3].map(|t| (c, t))) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (first, second) = pool.install(|| {
            let mut ws = Workspace::new();
            let first = run_all(case, &mut ws);
            // A workspace left dirty by a different layer must not change anything.
            let other = Case::new(Conv2d::new(5, 7, 3, 2, Padding::same(3)), 3, 11, 9, 10);
            run_all(&other, &mut ws);
            (first, run_all(case, &mut ws))
        });
        for (name, (a, b)) in ["y", "dx", "dw", "db"]
            .iter()
            .zip(first.iter().zip(&second))
        {
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{name} differs between runs with {threads} threads"
            );
        }
    }
}

#[test]
fn out_hw_and_weight_len() {
    let c = Conv2d::new(64, 128, 3, 2, Padding::right_bottom(1));
    assert_eq!(c.out_hw(32, 32), (16, 16));
    assert_eq!(c.out_hw(7, 8), (3, 4));
    assert_eq!(
        Conv2d::new(3, 8, 3, 2, Padding::same(3)).out_hw(7, 8),
        (4, 4)
    );
    assert_eq!(
        Conv2d::new(3, 8, 3, 1, Padding::same(3)).out_hw(7, 8),
        (7, 8)
    );
    assert_eq!(c.weight_len(), 3 * 3 * 64 * 128);
}

#[test]
#[should_panic(expected = "conv2d_forward: x has 10 values, expected 12")]
fn wrong_length_names_kernel_and_buffer() {
    let c = Conv2d::new(3, 2, 1, 1, Padding::none());
    let mut y = vec![0.0; 8];
    conv2d_forward(
        &c,
        &[0.0; 10],
        1,
        2,
        2,
        &[0.0; 6],
        None,
        Act::None,
        &mut y,
        &mut Workspace::new(),
    );
}

#[test]
fn matmul_variants_match_naive() {
    let mut rng = Rng::seeded(5);
    for &(m, k, n) in &[
        (1, 1, 1),
        (3, 5, 7),
        (33, 17, 9),
        (130, 70, 66),
        (257, 300, 129),
    ] {
        let a = rng.normal_vec(m * k);
        let b = rng.normal_vec(k * n);
        let c0 = rng.normal_vec(m * n);
        let mut want = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k)
                    .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                    .sum();
            }
        }
        let want_acc: Vec<f64> = want.iter().zip(&c0).map(|(w, c)| w + *c as f64).collect();
        // Transposed copies for the Aᵀ·B and A·Bᵀ forms.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let tol = 1e-5 * (k as f64).sqrt();
        for acc in [false, true] {
            let expect = if acc { &want_acc } else { &want };
            let mut c = if acc {
                c0.clone()
            } else {
                vec![f32::NAN; m * n]
            };
            matmul(m, k, n, &a, &b, &mut c, acc);
            assert_close(&format!("matmul {m}x{k}x{n} acc={acc}"), &c, expect, tol);
            let mut c = if acc {
                c0.clone()
            } else {
                vec![f32::NAN; m * n]
            };
            matmul_at_b(m, k, n, &at, &b, &mut c, acc);
            assert_close(
                &format!("matmul_at_b {m}x{k}x{n} acc={acc}"),
                &c,
                expect,
                tol,
            );
            let mut c = if acc {
                c0.clone()
            } else {
                vec![f32::NAN; m * n]
            };
            matmul_a_bt(m, k, n, &a, &bt, &mut c, acc);
            assert_close(
                &format!("matmul_a_bt {m}x{k}x{n} acc={acc}"),
                &c,
                expect,
                tol,
            );
        }
    }
}
