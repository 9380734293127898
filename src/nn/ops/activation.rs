//! Elementwise activations: ReLU forward and backward, SiLU backward (SiLU's forward kernels
//! live in `fastmath.rs`, beside the vectorisable `exp` they use).

use super::CHUNK;
use rayon::prelude::*;

/// `x ← max(x, 0)` in place.
pub fn relu_forward_inplace(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(|c| {
        for v in c {
            *v = v.max(0.0);
        }
    });
}

/// `dx = dy · [y > 0]`, where `y_or_x` is ReLU's input or output (both are positive at the
/// same places). All three slices have the same length.
pub fn relu_backward(y_or_x: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        y_or_x.len() == dy.len() && dy.len() == dx.len(),
        "relu_backward: length mismatch"
    );
    dx.par_chunks_mut(CHUNK)
        .zip(dy.par_chunks(CHUNK))
        .zip(y_or_x.par_chunks(CHUNK))
        .for_each(|((dx, dy), y)| {
            for ((d, &g), &v) in dx.iter_mut().zip(dy).zip(y) {
                *d = if v > 0.0 { g } else { 0.0 };
            }
        });
}

/// `dy ← dy · [y > 0]` in place: the gradient through a ReLU whose output was `y`.
pub fn relu_backward_inplace(y_or_x: &[f32], dy: &mut [f32]) {
    assert_eq!(
        y_or_x.len(),
        dy.len(),
        "relu_backward_inplace: length mismatch"
    );
    dy.par_chunks_mut(CHUNK)
        .zip(y_or_x.par_chunks(CHUNK))
        .for_each(|(dy, y)| {
            for (g, &v) in dy.iter_mut().zip(y) {
                *g = if v > 0.0 { *g } else { 0.0 };
            }
        });
}

/// The logistic function σ(x) = 1 / (1 + e^(−x)).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `dx = dy · σ(x) · (1 + x · (1 − σ(x)))`, the derivative of `x · σ(x)`, given SiLU's input `x`.
pub fn silu_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert!(
        x.len() == dy.len() && dy.len() == dx.len(),
        "silu_backward: length mismatch"
    );
    dx.par_chunks_mut(CHUNK)
        .zip(dy.par_chunks(CHUNK))
        .zip(x.par_chunks(CHUNK))
        .for_each(|((dx, dy), x)| {
            for ((d, &g), &v) in dx.iter_mut().zip(dy).zip(x) {
                let s = sigmoid(v);
                *d = g * s * (1.0 + v * (1.0 - s));
            }
        });
}
