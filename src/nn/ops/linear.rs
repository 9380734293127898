//! Fully connected layer. Weights are stored `[in_f, out_f]` row-major (PyTorch's `[out, in]`
//! is transposed once by the loaders), so the forward is a plain `x·W`.

use super::elementwise::fill_rows;
use crate::nn::matmul::{matmul, matmul_a_bt, matmul_at_b};

/// `y[m, out_f] = x[m, in_f] · w[in_f, out_f] + b[out_f]`.
pub fn linear_forward(
    x: &[f32],
    m: usize,
    in_f: usize,
    w: &[f32],
    b: Option<&[f32]>,
    out_f: usize,
    y: &mut [f32],
) {
    assert!(
        x.len() >= m * in_f && w.len() >= in_f * out_f && y.len() >= m * out_f,
        "linear_forward: buffers too short"
    );
    let y = &mut y[..m * out_f];
    match b {
        Some(b) => {
            assert!(
                b.len() >= out_f,
                "linear_forward: bias needs {out_f} values"
            );
            fill_rows(b, out_f, y);
            matmul(m, in_f, out_f, &x[..m * in_f], &w[..in_f * out_f], y, true);
        }
        None => matmul(m, in_f, out_f, &x[..m * in_f], &w[..in_f * out_f], y, false),
    }
}

/// Gradients of [`linear_forward`] given `dy[m, out_f]`: `dx = dy · wᵀ` (`[m, in_f]`, skipped
/// when `None`), `dw = xᵀ · dy` (`[in_f, out_f]`), `db = Σ_rows dy` (`[out_f]`). All overwritten.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    x: &[f32],
    dy: &[f32],
    m: usize,
    in_f: usize,
    out_f: usize,
    w: &[f32],
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) {
    assert!(
        x.len() >= m * in_f && dy.len() >= m * out_f,
        "linear_backward: x or dy too short"
    );
    assert!(
        w.len() >= in_f * out_f && dw.len() >= in_f * out_f,
        "linear_backward: w or dw too short"
    );
    let (x, dy) = (&x[..m * in_f], &dy[..m * out_f]);
    if let Some(dx) = dx {
        assert!(dx.len() >= m * in_f, "linear_backward: dx too short");
        matmul_a_bt(
            m,
            out_f,
            in_f,
            dy,
            &w[..in_f * out_f],
            &mut dx[..m * in_f],
            false,
        );
    }
    matmul_at_b(in_f, m, out_f, x, dy, &mut dw[..in_f * out_f], false);
    if let Some(db) = db {
        assert!(
            db.len() >= out_f,
            "linear_backward: db needs {out_f} values"
        );
        let db = &mut db[..out_f];
        db.fill(0.0);
        for row in dy.chunks_exact(out_f) {
            for (a, &g) in db.iter_mut().zip(row) {
                *a += g;
            }
        }
    }
}
