//! The forward pass: `y = act(b + im2col(x) · W)`.

use rayon::prelude::*;

use super::band::{forward_bands, Bands};
use super::bias_act::bias_act;
use super::im2col::im2col;
use super::{check_len, Act, Conv2d, Geom, Split, Workspace};
use crate::nn::matmul::{gemm_view, View};

/// `y[n, oh, ow, co] = act(bias[co] + Σ_{kh, kw, ci} x[n, oh·s − top + kh, ow·s − left + kw, ci]
/// · weight[kh, kw, ci, co])`, with `x` zero outside the image.
///
/// Shapes: `x` is `[n, h, w, cin]`, `weight` is `[k, k, cin, cout]` (HWIO), `bias` is `[cout]`,
/// `y` is `[n, oh, ow, cout]` with `(oh, ow) = c.out_hw(h, w)`; `y` is overwritten. Scratch
/// (im2col blocks or padded bands, one per thread) comes from `ws`. Panics if a slice has the wrong length.
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
    check_len(K, "y", y.len(), g.pixels() * c.cout);
    let scratch = ws.scratch(forward_scratch_len(c, &g));
    forward_into(c, &g, x, weight, bias, act, y, scratch);
}

/// Scratch one thread needs: an im2col block.
fn per_task_len(c: &Conv2d, g: &Geom, chunk: usize) -> usize {
    if c.is_pointwise() {
        1
    } else {
        chunk * g.kkc
    }
}

/// Scratch [`forward_into`] needs for this layer and input size.
pub(super) fn forward_scratch_len(c: &Conv2d, g: &Geom) -> usize {
    if let Some(bands) = Bands::for_forward(c, g) {
        return bands.forward_scratch_len(c);
    }
    let s = Split::new(g);
    s.tasks * per_task_len(c, g, s.chunk)
}

/// The forward pass on checked shapes, with `scratch` of [`forward_scratch_len`] values.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_into(
    c: &Conv2d,
    g: &Geom,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    y: &mut [f32],
    scratch: &mut [f32],
) {
    if g.pixels() == 0 {
        return;
    }
    if let Some(bands) = Bands::for_forward(c, g) {
        forward_bands((c, g, &bands), x, (weight, bias, act), y, scratch);
        return;
    }
    let Split {
        chunk,
        part,
        gemm_threads,
        ..
    } = Split::new(g);
    let pointwise = c.is_pointwise();
    let per_task = per_task_len(c, g, chunk);
    let cout = c.cout;
    let kkc = g.kkc;

    y.par_chunks_mut(part * cout)
        .zip(scratch.par_chunks_mut(per_task))
        .enumerate()
        .for_each(|(t, (y_part, col))| {
            let rows_here = y_part.len() / cout;
            let mut done = 0;
            while done < rows_here {
                let rows = chunk.min(rows_here - done);
                let p0 = t * part + done;
                let lhs = if pointwise {
                    View::rows(&x[p0 * kkc..(p0 + rows) * kkc], kkc)
                } else {
                    im2col(c, g, x, p0, rows, col);
                    View::rows(&col[..rows * kkc], kkc)
                };
                let yc = &mut y_part[done * cout..(done + rows) * cout];
                gemm_view(
                    rows,
                    kkc,
                    cout,
                    lhs,
                    View::rows(weight, cout),
                    yc,
                    (cout, 1),
                    false,
                    gemm_threads,
                );
                bias_act(yc, cout, bias, act);
                done += rows;
            }
        });
}
