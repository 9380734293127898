//! The forward pass: `y = act(b + im2col(x) · W)`.

use rayon::prelude::*;

use super::im2col::im2col;
use super::{check_len, chunk_rows, tasks_for, Act, Conv2d, Geom, Workspace};
use crate::nn::matmul::{gemm_view, View};

/// `y[n, oh, ow, co] = act(bias[co] + Σ_{kh, kw, ci} x[n, oh·s − top + kh, ow·s − left + kw, ci]
/// · weight[kh, kw, ci, co])`, with `x` zero outside the image.
///
/// Shapes: `x` is `[n, h, w, cin]`, `weight` is `[k, k, cin, cout]` (HWIO), `bias` is `[cout]`,
/// `y` is `[n, oh, ow, cout]` with `(oh, ow) = c.out_hw(h, w)`; `y` is overwritten. Scratch
/// (im2col blocks, one per thread) comes from `ws`. Panics if a slice has the wrong length.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    c: &Conv2d,
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    y: &mut [f32],
    ws: &mut Workspace,
) {
    const K: &str = "conv2d_forward";
    let g = Geom::new(c, n, h, w);
    check_len(K, "x", x.len(), n * h * w * c.cin);
    check_len(K, "weight", weight.len(), c.weight_len());
    if let Some(b) = bias {
        check_len(K, "bias", b.len(), c.cout);
    }
    let pixels = g.pixels();
    check_len(K, "y", y.len(), pixels * c.cout);
    if pixels == 0 {
        return;
    }
    let pointwise = c.is_pointwise();
    let chunk = chunk_rows(g.kkc);
    let tasks = tasks_for(pixels, chunk);
    let part = pixels.div_ceil(tasks);
    let col_len = if pointwise { 0 } else { chunk * g.kkc };
    let scratch = ws.scratch(tasks * col_len.max(1));
    let cout = c.cout;

    y.par_chunks_mut(part * cout)
        .zip(scratch.par_chunks_mut(col_len.max(1)))
        .enumerate()
        .for_each(|(t, (y_part, col))| {
            let first = t * part;
            let rows_here = y_part.len() / cout;
            let mut done = 0;
            while done < rows_here {
                let rows = chunk.min(rows_here - done);
                let p0 = first + done;
                let yc = &mut y_part[done * cout..(done + rows) * cout];
                let lhs = if pointwise {
                    View::rows(&x[p0 * g.kkc..(p0 + rows) * g.kkc], g.kkc)
                } else {
                    im2col(c, &g, x, p0, rows, col);
                    View::rows(&col[..rows * g.kkc], g.kkc)
                };
                if let Some(b) = bias {
                    for row in yc.chunks_exact_mut(cout) {
                        row.copy_from_slice(b);
                    }
                }
                gemm_view(
                    rows,
                    g.kkc,
                    cout,
                    lhs,
                    View::rows(weight, cout),
                    yc,
                    cout,
                    bias.is_some(),
                    1,
                );
                if act == Act::Relu {
                    relu_inplace(yc);
                }
                done += rows;
            }
        });
}

/// `v = max(0, v)`, keeping NaN so that bugs upstream stay visible.
fn relu_inplace(v: &mut [f32]) {
    for x in v {
        if *x < 0.0 {
            *x = 0.0;
        }
    }
}
