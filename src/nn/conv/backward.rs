//! The two backward passes: the input gradient (a stride-1 convolution of `dy` with the flipped
//! kernel, or `col2im(dy · Wᵀ)` in general) and `dW = Σ im2col(x)ᵀ · dy`, `db = Σ dy`.

use rayon::prelude::*;

use super::band::{weight_grad_bands, Bands};
use super::forward::{forward_into, forward_scratch_len};
use super::im2col::{add_into, col2im_add, im2col, sum_partials};
use super::{check_len, chunk_rows, Act, Conv2d, Geom, Padding, Split, Workspace};
use crate::nn::matmul::{gemm_view, View};

/// The gradient with respect to the input:
/// `dx[n, iy, ix, ci] = Σ_{oh, ow, kh, kw, co} dy[n, oh, ow, co] · weight[kh, kw, ci, co]` over
/// the output pixels whose receptive field puts `(kh, kw)` on `(iy, ix)`.
///
/// Shapes: `dy` is `[n, oh, ow, cout]` (already multiplied by the activation's derivative),
/// `weight` is `[k, k, cin, cout]`, `dx` is `[n, h, w, cin]` and is overwritten. Input pixels
/// that no receptive field covers (possible with stride 2) get 0. Panics on a wrong length.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_input(
    c: &Conv2d,
    dy: &[f32],
    n: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    dx: &mut [f32],
    ws: &mut Workspace,
) {
    const K: &str = "conv2d_backward_input";
    let g = Geom::new(c, n, h, w);
    check_len(K, "dy", dy.len(), g.pixels() * c.cout);
    check_len(K, "weight", weight.len(), c.weight_len());
    check_len(K, "dx", dx.len(), n * h * w * c.cin);
    if dx.is_empty() {
        return;
    }
    if let Some(t) = transposed_conv(c) {
        // dx = conv(dy, flip(W)ᵀ): the same fast path as the forward pass.
        let tg = Geom::new(&t, n, g.oh, g.ow);
        let wlen = c.weight_len();
        let scratch = ws.scratch(wlen + forward_scratch_len(&t, &tg));
        let (wt, rest) = scratch.split_at_mut(wlen);
        flip_transpose(c, weight, wt);
        forward_into(&t, &tg, dy, wt, None, Act::None, dx, rest);
    } else {
        backward_input_col2im(c, &g, dy, weight, dx, ws);
    }
}

/// For stride 1 and padding below `k` on every side, the input gradient is itself a stride-1
/// convolution of `dy`: its weights are `W'[kh, kw, co, ci] = W[k−1−kh, k−1−kw, ci, co]` and its
/// padding is `k − 1 − p` on each side. Its products have depth `k·k·cout` instead of the
/// `cout` of `dy · Wᵀ`, which keeps `gemm` busy. `None` where it does not apply or pay.
fn transposed_conv(c: &Conv2d) -> Option<Conv2d> {
    let p = c.pad;
    let fits = [p.top, p.left, p.bottom, p.right].iter().all(|&v| v < c.k);
    // With fewer input than output channels the transposed product is narrow (`cin` columns)
    // and the col2im route measured as fast or faster.
    if c.stride != 1 || !fits || c.cin < c.cout {
        return None;
    }
    let flip = |v: usize| c.k - 1 - v;
    let pad = Padding {
        top: flip(p.top),
        left: flip(p.left),
        bottom: flip(p.bottom),
        right: flip(p.right),
    };
    Some(Conv2d::new(c.cout, c.cin, c.k, 1, pad))
}

/// `wt[kh, kw, co, ci] = w[k−1−kh, k−1−kw, ci, co]`.
fn flip_transpose(c: &Conv2d, w: &[f32], wt: &mut [f32]) {
    let (k, cin, cout) = (c.k, c.cin, c.cout);
    for kh in 0..k {
        for kw in 0..k {
            let src = &w[((k - 1 - kh) * k + (k - 1 - kw)) * cin * cout..][..cin * cout];
            let dst = &mut wt[(kh * k + kw) * cin * cout..][..cin * cout];
            for (co, d) in dst.chunks_exact_mut(cin).enumerate() {
                for (ci, v) in d.iter_mut().enumerate() {
                    *v = src[ci * cout + co];
                }
            }
        }
    }
}

/// The general input gradient: `dcol = dy · Wᵀ`, then scatter-add `dcol` into `dx`.
fn backward_input_col2im(
    c: &Conv2d,
    g: &Geom,
    dy: &[f32],
    weight: &[f32],
    dx: &mut [f32],
    ws: &mut Workspace,
) {
    let cout = c.cout;
    let wt = View::transposed(weight, cout);
    let chunk = chunk_rows(g.kkc);
    // col2im scatters across neighbouring output pixels, so each thread owns whole images.
    let tasks = rayon::current_num_threads().min(g.n).max(1);
    let images = g.n.div_ceil(tasks);
    // With fewer images than threads, let gemm use the idle threads instead.
    let gemm_threads = rayon::current_num_threads().div_ceil(tasks);
    let col_len = chunk * g.kkc;
    let scratch = ws.scratch(tasks * col_len);
    let per_image_in = g.h * g.w * c.cin;
    let per_image_out = g.oh * g.ow;

    dx.par_chunks_mut(images * per_image_in)
        .zip(scratch.par_chunks_mut(col_len))
        .enumerate()
        .for_each(|(t, (dx_part, col))| {
            dx_part.fill(0.0);
            let first_image = t * images;
            let first = first_image * per_image_out;
            let end = first + dx_part.len() / per_image_in * per_image_out;
            let mut p0 = first;
            while p0 < end {
                let rows = chunk.min(end - p0);
                let dy_c = View::rows(&dy[p0 * cout..(p0 + rows) * cout], cout);
                gemm_view(
                    rows,
                    cout,
                    g.kkc,
                    dy_c,
                    wt,
                    col,
                    (g.kkc, 1),
                    false,
                    gemm_threads,
                );
                col2im_add(c, g, col, p0, rows, first_image, dx_part);
                p0 += rows;
            }
        });
}

/// The gradients with respect to the weights and the bias:
/// `dweight[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s − top + kh, ow·s − left + kw, ci]
/// · dy[n, oh, ow, co]` and `dbias[co] = Σ_{n, oh, ow} dy[n, oh, ow, co]`.
///
/// Shapes: `x` is `[n, h, w, cin]`, `dy` is `[n, oh, ow, cout]`, `dweight` is
/// `[k, k, cin, cout]` and `dbias` is `[cout]`; both are overwritten. Each thread sums its part
/// of the pixels into a partial in `ws`; the partials are then added in a fixed order.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_weight(
    c: &Conv2d,
    x: &[f32],
    dy: &[f32],
    n: usize,
    h: usize,
    w: usize,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    ws: &mut Workspace,
) {
    const K: &str = "conv2d_backward_weight";
    let g = Geom::new(c, n, h, w);
    let pixels = g.pixels();
    let cout = c.cout;
    check_len(K, "x", x.len(), n * h * w * c.cin);
    check_len(K, "dy", dy.len(), pixels * cout);
    check_len(K, "dweight", dweight.len(), c.weight_len());
    if let Some(db) = dbias.as_deref() {
        check_len(K, "dbias", db.len(), cout);
    }
    if pixels == 0 {
        dweight.fill(0.0);
        if let Some(db) = dbias {
            db.fill(0.0);
        }
        return;
    }
    if let Some(bands) = Bands::new(c, &g) {
        let scratch = ws.scratch(bands.weight_scratch_len(c));
        weight_grad_bands(c, &g, &bands, x, dy, dweight, dbias, scratch);
        return;
    }
    let pointwise = c.is_pointwise();
    let Split {
        chunk,
        tasks,
        part,
        gemm_threads,
    } = Split::new(&g);
    let kkc = g.kkc;
    let col_len = if pointwise { 0 } else { chunk * kkc };
    let dw_len = kkc * cout;
    let per_task = col_len + dw_len + cout;
    let scratch = ws.scratch(tasks * per_task);

    dy.par_chunks(part * cout)
        .zip(scratch.par_chunks_mut(per_task))
        .enumerate()
        .for_each(|(t, (dy_part, mine))| {
            let (col, rest) = mine.split_at_mut(col_len);
            let (dw, db) = rest.split_at_mut(dw_len);
            let task = (t * part, chunk, gemm_threads);
            weight_grad_part(c, &g, x, dy_part, task, col, dw, db);
        });
    let partial = |t: usize| &scratch[t * per_task + col_len..(t + 1) * per_task];
    sum_partials(pixels.div_ceil(part), partial, dweight, dbias);
}

/// One task's partial weight and bias gradients over its output pixels `p_start ..` (whose
/// `dy` rows are `dy_part`), `chunk` pixels per product through the im2col block `col`.
#[allow(clippy::too_many_arguments)]
fn weight_grad_part(
    c: &Conv2d,
    g: &Geom,
    x: &[f32],
    dy_part: &[f32],
    (p_start, chunk, gemm_threads): (usize, usize, usize),
    col: &mut [f32],
    dw: &mut [f32],
    db: &mut [f32],
) {
    let (cout, kkc) = (c.cout, g.kkc);
    let rows_here = dy_part.len() / cout;
    let mut done = 0;
    while done < rows_here {
        let rows = chunk.min(rows_here - done);
        let p0 = p_start + done;
        let xt = if c.is_pointwise() {
            View::transposed(&x[p0 * kkc..(p0 + rows) * kkc], kkc)
        } else {
            im2col(c, g, x, p0, rows, col);
            View::transposed(&col[..rows * kkc], kkc)
        };
        let dy_c = &dy_part[done * cout..(done + rows) * cout];
        let dy_v = View::rows(dy_c, cout);
        gemm_view(
            kkc,
            rows,
            cout,
            xt,
            dy_v,
            dw,
            (cout, 1),
            done > 0,
            gemm_threads,
        );
        if done == 0 {
            db.fill(0.0);
        }
        for row in dy_c.chunks_exact(cout) {
            add_into(db, row);
        }
        done += rows;
    }
}
