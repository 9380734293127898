//! Softmax and multi-head scaled-dot-product attention (forward only: no trained model of
//! difflab has attention; diffusers' UNet2DModel uses it at inference).

use super::fastmath::exp_f32;
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

simd_dispatch! {
/// `row ← softmax(scale · row)`, with the vectorisable [`exp_f32`] and the sum kept in 16
/// independent lanes (so that the loops vectorise; the order is fixed, so results are
/// reproducible).
fn softmax_scaled(row: &mut [f32], scale: f32) {
    const L: usize = 16;
    let mut mx = [f32::NEG_INFINITY; L];
    let mut chunks = row.chunks_exact(L);
    for ch in &mut chunks {
        for j in 0..L {
            mx[j] = mx[j].max(ch[j]);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&mx)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let mut acc = [0.0f32; L];
    let mut chunks = row.chunks_exact_mut(L);
    for ch in &mut chunks {
        for j in 0..L {
            let e = exp_f32((ch[j] - max) * scale);
            ch[j] = e;
            acc[j] += e;
        }
    }
    let mut sum = 0.0f32;
    for v in chunks.into_remainder() {
        *v = exp_f32((*v - max) * scale);
        sum += *v;
    }
    sum += acc.iter().sum::<f32>();
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
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
            gemm_view(seq, head_dim, seq, qv, kt, s, (seq, 1), false, threads);
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
                (width, 1),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    /// The SIMD softmax against f64 on row lengths around and between the 16-lane blocks.
    #[test]
    fn softmax_matches_f64_on_odd_row_lengths() {
        let mut rng = Rng::seeded(31);
        for cols in [1usize, 5, 15, 16, 17, 37, 256, 1001] {
            let rows = 3;
            let x: Vec<f32> = rng
                .normal_vec(rows * cols)
                .iter()
                .map(|v| 8.0 * v)
                .collect();
            let mut s = x.clone();
            softmax_rows_inplace(&mut s, rows, cols);
            for (got, xr) in s.chunks_exact(cols).zip(x.chunks_exact(cols)) {
                let m = xr.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
                let z: f64 = xr.iter().map(|&v| (v as f64 - m).exp()).sum();
                for (&g, &v) in got.iter().zip(xr) {
                    let want = (v as f64 - m).exp() / z;
                    assert!(
                        (g as f64 - want).abs() <= 1e-6 * want.max(1e-3),
                        "cols {cols}: got {g}, want {want}"
                    );
                }
            }
        }
    }
}
