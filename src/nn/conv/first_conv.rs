//! A 3×3 convolution over an image and a per-sample vector broadcast over it (the lab U-Net's
//! first layer, over 1 image + 64 time channels), without materialising the concatenation.
//!
//! The layer is a 3×3 'same' convolution (+ bias, ReLU) over the concatenation
//! `[image (ci channels), time embedding broadcast over the image (ct channels)]`. The `ct`
//! time channels are constant over space, so their contribution to an output pixel is
//! `Σ_{taps inside the image} T[b, tap]` with `T[b, tap, co] = Σ_c temb[b, c] · W[tap, ci + c, co]`:
//! one small matrix product per tap instead of a convolution over `ct` constant planes. Only
//! border pixels lose taps (to the zero padding), and which ones depends only on whether the pixel
//! is in the first/last row and first/last column, so every pixel belongs to one of 16 classes
//! whose time contributions are precomputed per sample. The image part (`ci` channels, 1 for
//! MNIST) is a direct 9-tap loop. No gradient w.r.t. the image is ever needed.

use crate::nn::matmul::{gemm_view, View};
use crate::nn::workspace::Workspace;
use rayon::prelude::*;

/// Number of border classes: bit 0 = first row, bit 1 = last row, bits 2-3 the same for columns.
const CLASSES: usize = 16;

/// The shape of the layer: `ci` image channels, `ct` time channels, `cout` outputs. Its
/// weight is HWIO `[3, 3, ci + ct, cout]` (input channel order: image first, then time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstConv {
    /// Image channels.
    pub ci: usize,
    /// Time-embedding channels (broadcast over space).
    pub ct: usize,
    /// Output channels.
    pub cout: usize,
}

/// The border class of row `i` of `h`: bit 0 set in the first row, bit 1 in the last.
#[inline]
fn edge(i: usize, h: usize) -> usize {
    (i == 0) as usize | (((i + 1 == h) as usize) << 1)
}

/// True if kernel row (or column) `t ∈ {0,1,2}` (offset `t − 1`) stays inside the image for a
/// pixel whose row (column) border class is `e`.
#[inline]
fn tap_ok(t: usize, e: usize) -> bool {
    match t {
        0 => e & 1 == 0,
        2 => e & 2 == 0,
        _ => true,
    }
}

impl FirstConv {
    /// Number of weights, `9·(ci + ct)·cout`.
    pub fn weight_len(&self) -> usize {
        9 * (self.ci + self.ct) * self.cout
    }

    /// Offset in the weight of row `(tap, channel)`.
    fn row(&self, tap: usize, ch: usize) -> usize {
        (tap * (self.ci + self.ct) + ch) * self.cout
    }

    /// The time rows of tap `tap` seen as a `[ct, cout]` matrix (contiguous in HWIO).
    fn time_block<'a>(&self, w: &'a [f32], tap: usize) -> &'a [f32] {
        &w[self.row(tap, self.ci)..self.row(tap, self.ci + self.ct)]
    }

    /// `y[b, i, j, co] = relu(bias[co] + Σ_{tap inside} (Σ_c img[b, i+di, j+dj, c] W[tap, c, co]
    /// + Σ_c temb[b, c] W[tap, ci + c, co]))`.
    ///
    /// Shapes: `img` `[n, h, w, ci]`, `temb` `[n, ct]`, `weight` `[3, 3, ci + ct, cout]`, `bias`
    /// `[cout]`, `y` `[n, h, w, cout]` (overwritten). Scratch (`25·n·cout` values) from `ws`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        img: &[f32],
        temb: &[f32],
        n: usize,
        h: usize,
        w: usize,
        weight: &[f32],
        bias: &[f32],
        y: &mut [f32],
        ws: &mut Workspace,
    ) {
        let (ci, ct, cout) = (self.ci, self.ct, self.cout);
        assert!(
            img.len() == n * h * w * ci && temb.len() == n * ct,
            "first conv: input sizes"
        );
        assert!(
            weight.len() == self.weight_len() && bias.len() == cout && y.len() == n * h * w * cout,
            "first conv: weight/bias/y sizes"
        );
        if n * h * w == 0 {
            return;
        }
        let scratch = ws.scratch(n * 25 * cout);
        let (taps, classes) = scratch.split_at_mut(n * 9 * cout);
        // taps[b, tap, :] = temb[b, :] · W_time[tap]
        for tap in 0..9 {
            let a = View::rows(temb, ct);
            let bm = View::rows(self.time_block(weight, tap), cout);
            gemm_view(
                n,
                ct,
                cout,
                a,
                bm,
                &mut taps[tap * cout..],
                (9 * cout, 1),
                false,
                1,
            );
        }
        let hwc = h * w * cout;
        y.par_chunks_mut(hwc)
            .zip(classes.par_chunks_mut(CLASSES * cout))
            .zip(taps.par_chunks(9 * cout))
            .enumerate()
            .for_each(|(b, ((y, cls), taps))| {
                for (k, s) in cls.chunks_exact_mut(cout).enumerate() {
                    s.copy_from_slice(bias);
                    for ty in (0..3).filter(|&ty| tap_ok(ty, k & 3)) {
                        for tx in (0..3).filter(|&tx| tap_ok(tx, k >> 2)) {
                            for (s, &t) in s.iter_mut().zip(&taps[(ty * 3 + tx) * cout..][..cout]) {
                                *s += t;
                            }
                        }
                    }
                }
                let img = &img[b * h * w * ci..(b + 1) * h * w * ci];
                for i in 0..h {
                    for j in 0..w {
                        let k = edge(i, h) | (edge(j, w) << 2);
                        let out = &mut y[(i * w + j) * cout..][..cout];
                        out.copy_from_slice(&cls[k * cout..][..cout]);
                        for ty in (0..3).filter(|&ty| tap_ok(ty, k & 3)) {
                            for tx in (0..3).filter(|&tx| tap_ok(tx, k >> 2)) {
                                let px = ((i + ty - 1) * w + j + tx - 1) * ci;
                                for c in 0..ci {
                                    let v = img[px + c];
                                    let wr = &weight[self.row(ty * 3 + tx, c)..][..cout];
                                    for (o, &wv) in out.iter_mut().zip(wr) {
                                        *o += v * wv;
                                    }
                                }
                            }
                        }
                        for o in out.iter_mut() {
                            *o = o.max(0.0);
                        }
                    }
                }
            });
    }

    /// Gradients given `dy` (w.r.t. the pre-activation, i.e. already masked by the ReLU):
    /// `dweight` (`[3, 3, ci + ct, cout]`), `dbias` (`[cout]`) and `dtemb` (`[n, ct]`), all
    /// overwritten. With `D[b, tap, co] = Σ_{pixels whose tap is inside} dy[b, ·, co]`:
    /// `dW[tap, ci + c] = Σ_b temb[b, c]·D[b, tap]`, `dtemb[b, c] = Σ_{tap, co} D[b, tap, co]·
    /// W[tap, ci + c, co]`; the image rows are the usual `Σ img·dy`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        img: &[f32],
        temb: &[f32],
        dy: &[f32],
        n: usize,
        h: usize,
        w: usize,
        weight: &[f32],
        dweight: &mut [f32],
        dbias: &mut [f32],
        dtemb: &mut [f32],
        ws: &mut Workspace,
    ) {
        let (ci, ct, cout) = (self.ci, self.ct, self.cout);
        assert!(
            img.len() == n * h * w * ci && temb.len() == n * ct && dy.len() == n * h * w * cout,
            "first conv backward: input sizes"
        );
        assert!(
            weight.len() == self.weight_len() && dweight.len() == self.weight_len(),
            "first conv backward: weight sizes"
        );
        assert!(
            dbias.len() == cout && dtemb.len() == n * ct,
            "first conv backward: dbias/dtemb sizes"
        );
        dweight.fill(0.0);
        dbias.fill(0.0);
        dtemb.fill(0.0);
        if n * h * w == 0 {
            return;
        }
        // Samples are split into one contiguous part per thread; each part sums its image-row
        // weight gradient into its own partial, and the partials are added in part order.
        let parts = rayon::current_num_threads().clamp(1, n);
        let per = n.div_ceil(parts);
        let parts = n.div_ceil(per);
        let img_len = 9 * ci * cout;
        let scratch = ws.scratch(n * 25 * cout + parts * img_len.max(1));
        let (d, rest) = scratch.split_at_mut(n * 9 * cout);
        let (e, partials) = rest.split_at_mut(n * CLASSES * cout);
        d.par_chunks_mut(per * 9 * cout)
            .zip(e.par_chunks_mut(per * CLASSES * cout))
            .zip(partials.par_chunks_mut(img_len.max(1)))
            .enumerate()
            .for_each(|(p, ((d, e), part))| {
                self.backward_part(img, dy, (p * per, h, w), d, e, part);
            });
        for part in partials.chunks_exact(img_len.max(1)).take(parts) {
            for tap in 0..9 {
                for c in 0..ci {
                    let src = &part[(tap * ci + c) * cout..][..cout];
                    for (a, &v) in dweight[self.row(tap, c)..][..cout].iter_mut().zip(src) {
                        *a += v;
                    }
                }
            }
        }
        // Every pixel is in exactly one class, so the class sums add up to Σ dy.
        for e in e.chunks_exact(cout) {
            for (a, &v) in dbias.iter_mut().zip(e) {
                *a += v;
            }
        }
        let threads = rayon::current_num_threads();
        for tap in 0..9 {
            let dt = View {
                data: &d[tap * cout..],
                rs: 9 * cout,
                cs: 1,
            };
            let (lo, hi) = (self.row(tap, ci), self.row(tap, ci + ct));
            gemm_view(
                ct,
                n,
                cout,
                View::transposed(temb, ct),
                dt,
                &mut dweight[lo..hi],
                (cout, 1),
                false,
                threads,
            );
            let wt = View::transposed(self.time_block(weight, tap), cout);
            gemm_view(n, cout, ct, dt, wt, dtemb, (ct, 1), tap > 0, threads);
        }
    }

    /// The samples `b0 ..` of one part of [`FirstConv::backward`]: per sample, the class sums
    /// `e` of `dy` and the tap sums `d` (`D[b, tap]`), and the image rows' weight gradient
    /// added into the part's partial `part`.
    fn backward_part(
        &self,
        img: &[f32],
        dy: &[f32],
        (b0, h, w): (usize, usize, usize),
        d: &mut [f32],
        e: &mut [f32],
        part: &mut [f32],
    ) {
        let (ci, cout) = (self.ci, self.cout);
        let hwc = h * w * cout;
        part.fill(0.0);
        e.fill(0.0);
        for (k, (d, e)) in d
            .chunks_exact_mut(9 * cout)
            .zip(e.chunks_exact_mut(CLASSES * cout))
            .enumerate()
        {
            let b = b0 + k;
            let dy = &dy[b * hwc..(b + 1) * hwc];
            let img = &img[b * h * w * ci..(b + 1) * h * w * ci];
            for i in 0..h {
                for j in 0..w {
                    let cls = edge(i, h) | (edge(j, w) << 2);
                    let g = &dy[(i * w + j) * cout..][..cout];
                    for (a, &v) in e[cls * cout..][..cout].iter_mut().zip(g) {
                        *a += v;
                    }
                    for ty in (0..3).filter(|&ty| tap_ok(ty, cls & 3)) {
                        for tx in (0..3).filter(|&tx| tap_ok(tx, cls >> 2)) {
                            let px = ((i + ty - 1) * w + j + tx - 1) * ci;
                            for c in 0..ci {
                                let v = img[px + c];
                                let acc = &mut part[((ty * 3 + tx) * ci + c) * cout..][..cout];
                                for (a, &gv) in acc.iter_mut().zip(g) {
                                    *a += v * gv;
                                }
                            }
                        }
                    }
                }
            }
            for ty in 0..3 {
                for tx in 0..3 {
                    let dt = &mut d[(ty * 3 + tx) * cout..][..cout];
                    dt.fill(0.0);
                    for cls in (0..CLASSES).filter(|&k| tap_ok(ty, k & 3) && tap_ok(tx, k >> 2)) {
                        for (a, &v) in dt.iter_mut().zip(&e[cls * cout..][..cout]) {
                            *a += v;
                        }
                    }
                }
            }
        }
    }
}
