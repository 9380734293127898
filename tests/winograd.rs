//! Winograd F(2×2, 3×3) against the direct convolution (`conv2d_forward`, itself checked against
//! a naive f64 reference in `nn_conv.rs`) on random data: odd and tiny images, few and many
//! channels, batches of 1 and 3, with and without bias, each activation; plus determinism,
//! workspace reuse and bad lengths.
//!
//! Tolerance: the largest difference is at most 1e-5 of the largest output magnitude (both are
//! f32 computations of the same sum, in different orders; F(2×2, 3×3)'s transforms only add,
//! subtract and halve, so its error stays within a few ulps of the im2col result's).

use difflab::nn::conv::{
    conv2d_forward, conv2d_winograd_forward, winograd_scratch_len, Act, Conv2d, Padding,
    WinogradWeights, Workspace,
};
use difflab::util::rng::Rng;

const REL_TOL: f32 = 1e-5;

/// Direct and Winograd outputs for a random `[n, h, w, cin]` input and `[3, 3, cin, cout]` kernel.
fn both(
    (n, h, w, cin, cout): (usize, usize, usize, usize, usize),
    bias: bool,
    act: Act,
    seed: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::seeded(seed);
    let x = rng.normal_vec(n * h * w * cin);
    let wt = rng.normal_vec(9 * cin * cout);
    let b = rng.normal_vec(cout);
    let bias = bias.then_some(&b[..]);
    let c = Conv2d::new(cin, cout, 3, 1, Padding::same(3));
    let mut ws = Workspace::new();
    let mut direct = vec![f32::NAN; n * h * w * cout];
    conv2d_forward(&c, &x, n, h, w, &wt, bias, act, &mut direct, &mut ws);
    let wg = WinogradWeights::new(&wt, cin, cout);
    let mut wino = vec![f32::NAN; n * h * w * cout];
    conv2d_winograd_forward(&wg, &x, n, h, w, bias, act, &mut wino, &mut ws);
    (direct, wino)
}

/// Asserts `max |got − want| ≤ REL_TOL · max |want|`, naming the worst index.
fn assert_close(what: &str, want: &[f32], got: &[f32]) {
    assert_eq!(want.len(), got.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    let (worst, err) = want
        .iter()
        .zip(got)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0.0f32), |(i, e), (j, d)| {
            if d > e || d.is_nan() {
                (j, d)
            } else {
                (i, e)
            }
        });
    assert!(
        err <= REL_TOL * scale,
        "{what}: index {worst}: direct {} vs winograd {} (error {err:e}, scale {scale})",
        want[worst],
        got[worst]
    );
}

#[test]
fn matches_direct_convolution_on_many_shapes() {
    // (n, h, w, cin, cout)
    let shapes = [
        (1, 5, 7, 4, 6),
        (3, 7, 5, 3, 5),
        (1, 1, 1, 8, 8),
        (3, 1, 1, 5, 3),
        (2, 2, 2, 16, 1),
        (1, 3, 3, 3, 1),
        (3, 6, 8, 13, 17),
        (2, 9, 4, 32, 24),
        (1, 16, 16, 64, 32),
        (3, 11, 13, 40, 56),
        (2, 4, 4, 128, 128),
        (1, 8, 8, 256, 130),
    ];
    for (i, &shape) in shapes.iter().enumerate() {
        for (bias, act) in [
            (true, Act::None),
            (false, Act::None),
            (true, Act::Relu),
            (false, Act::Relu),
        ] {
            let (direct, wino) = both(shape, bias, act, 10 + i as u64);
            assert_close(
                &format!("shape {shape:?} bias {bias} {act:?}"),
                &direct,
                &wino,
            );
        }
    }
}

#[test]
fn many_bands_and_tasks() {
    // Enough tiles for several bands per task; odd sizes so bands end mid tile row.
    let (direct, wino) = both((5, 23, 31, 24, 40), true, Act::Relu, 7);
    assert_close("5×23×31 24→40", &direct, &wino);
    // One image with more tile rows than threads, so tasks split inside the image.
    let (direct, wino) = both((1, 33, 9, 8, 8), true, Act::None, 8);
    assert_close("1×33×9 8→8", &direct, &wino);
}

#[test]
fn relu_output_is_clamped() {
    let (direct, wino) = both((2, 5, 5, 6, 7), true, Act::Relu, 3);
    assert!(wino.iter().all(|&v| v >= 0.0));
    assert!(wino.contains(&0.0) && wino.iter().any(|&v| v > 0.0));
    assert_close("relu", &direct, &wino);
}

#[test]
fn deterministic_and_reuses_workspace() {
    let (n, h, w, cin, cout) = (3, 10, 9, 12, 20);
    let mut rng = Rng::seeded(5);
    let x = rng.normal_vec(n * h * w * cin);
    let wg = WinogradWeights::new(&rng.normal_vec(9 * cin * cout), cin, cout);
    let b = rng.normal_vec(cout);
    let mut ws = Workspace::new();
    let mut y1 = vec![0.0; n * h * w * cout];
    conv2d_winograd_forward(&wg, &x, n, h, w, Some(&b), Act::None, &mut y1, &mut ws);
    let cap = ws.capacity();
    assert_eq!(cap, winograd_scratch_len(&wg, n, h, w));
    let mut y2 = vec![f32::NAN; n * h * w * cout];
    conv2d_winograd_forward(&wg, &x, n, h, w, Some(&b), Act::None, &mut y2, &mut ws);
    assert_eq!(
        ws.capacity(),
        cap,
        "the second call must not grow the workspace"
    );
    assert!(y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
#[should_panic(expected = "conv2d_winograd_forward: x has 10 values, expected 12")]
fn wrong_input_length_panics_with_its_name() {
    let wg = WinogradWeights::new(&[0.0; 9 * 3 * 2], 3, 2);
    let mut y = vec![0.0; 8];
    conv2d_winograd_forward(
        &wg,
        &[0.0; 10],
        1,
        2,
        2,
        None,
        Act::None,
        &mut y,
        &mut Workspace::new(),
    );
}

#[test]
#[should_panic(expected = "WinogradWeights: weight has 17 values, expected 18")]
fn wrong_kernel_length_panics_with_its_name() {
    WinogradWeights::new(&[0.0; 17], 1, 2);
}
