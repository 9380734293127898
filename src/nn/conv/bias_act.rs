//! The epilogue of every convolution product: bias and activation over a block of output rows.

use super::Act;

simd_dispatch! {
/// `y[r, co] = act(y[r, co] + bias[co])` over a block of rows, while it is still in cache.
pub(super) fn bias_act(y: &mut [f32], cout: usize, bias: Option<&[f32]>, act: Act) {
    match (bias, act) {
        (None, Act::None) => {}
        (Some(b), Act::None) => {
            for row in y.chunks_exact_mut(cout) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v += b;
                }
            }
        }
        (Some(b), Act::Relu) => {
            for row in y.chunks_exact_mut(cout) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v = relu(*v + b);
                }
            }
        }
        (None, Act::Relu) => y.iter_mut().for_each(|v| *v = relu(*v)),
    }
}
}

/// `max(0, v)` as a select rather than a branch, so that loops vectorise; NaN stays NaN.
#[inline]
fn relu(v: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}
