//! Softmax and multi-head scaled-dot-product attention (forward only: no trained model of
//! difflab has attention; diffusers' UNet2DModel uses it at inference).

use crate::nn::matmul::{gemm_view, View};
use crate::nn::workspace::Workspace;
use rayon::prelude::*;

/// Row-wise softmax in place: `x[r, j] ← exp(x[r, j] − max_j x[r, ·]) / Σ_j exp(…)` for a
/// `[rows, cols]` matrix.
pub fn softmax_rows_inplace(x: &mut [f32], rows: usize, cols: usize) {
    assert!(
        x.len() >= rows * cols,
        "softmax_rows_inplace: buffer shorter than [{rows}, {cols}]"
    );
    if rows * cols == 0 {
        return;
    }
    x[..rows * cols]
        .par_chunks_mut(cols.max(1) * 64)
        .for_each(|block| {
            for row in block.chunks_exact_mut(cols) {
                softmax_scaled(row, 1.0);
            }
        });
}

/// `row ← softmax(scale · row)`.
fn softmax_scaled(row: &mut [f32], scale: f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = ((*v - max) * scale).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Multi-head scaled-dot-product attention, `out = softmax(Q·Kᵀ/√head_dim)·V` per sample and
/// head.
///
/// `q`, `k`, `v` and `out` are `[batch, seq, heads·head_dim]` (the natural output of the
/// projections; head `h` owns columns `h·head_dim .. (h+1)·head_dim`). The score matrices live
/// in `ws`: one `seq × seq` matrix per thread when the batch has at least two samples (samples
/// then run in parallel, one per thread), otherwise one, whose products use all threads.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    batch: usize,
    heads: usize,
    seq: usize,
    head_dim: usize,
    out: &mut [f32],
    ws: &mut Workspace,
) {
    let width = heads * head_dim;
    let per = seq * width;
    let total = batch * per;
    assert!(
        q.len() >= total && k.len() >= total && v.len() >= total,
        "attention_forward: q/k/v shorter than [{batch}, {seq}, {width}]"
    );
    assert!(
        out.len() >= total,
        "attention_forward: out shorter than [{batch}, {seq}, {width}]"
    );
    let ss = seq * seq;
    if total == 0 {
        return;
    }
    let scale = 1.0 / (head_dim as f32).sqrt();
    let threads = rayon::current_num_threads();
    let slots = threads.min(batch);
    let scores = ws.scratch(slots * ss);
    let one = |b: usize, out: &mut [f32], s: &mut [f32], threads: usize| {
        let base = b * per;
        for h in 0..heads {
            let off = base + h * head_dim;
            let qv = View {
                data: &q[off..base + per],
                rs: width,
                cs: 1,
            };
            let kt = View {
                data: &k[off..base + per],
                rs: 1,
                cs: width,
            };
            gemm_view(seq, head_dim, seq, qv, kt, s, seq, false, threads);
            for row in s.chunks_exact_mut(seq) {
                softmax_scaled(row, scale);
            }
            let vv = View {
                data: &v[off..base + per],
                rs: width,
                cs: 1,
            };
            gemm_view(
                seq,
                seq,
                head_dim,
                View::rows(s, seq),
                vv,
                &mut out[h * head_dim..],
                width,
                false,
                threads,
            );
        }
    };
    if slots >= 2 {
        for (round, outs) in out[..total].chunks_mut(slots * per).enumerate() {
            outs.par_chunks_mut(per)
                .zip(scores.par_chunks_mut(ss))
                .enumerate()
                .for_each(|(i, (o, s))| one(round * slots + i, o, s, 1));
        }
    } else {
        for (b, o) in out[..total].chunks_mut(per).enumerate() {
            one(b, o, &mut scores[..ss], threads);
        }
    }
}
