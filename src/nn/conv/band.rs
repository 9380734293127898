//! Stride-1 convolutions without im2col, for wide images.
//!
//! Copy a band of `R` output rows' worth of input into a zero-padded buffer `xp` of width
//! `wp = w + left + right`. In that layout the `k·cin` values that kernel row `kh` sees for the
//! padded output position `q = r·wp + ox` start at `xp[(q + kh·wp)·cin]`: the im2col matrix of
//! kernel row `kh` is a strided view of `xp` with row stride `cin` (rows overlap), which `gemm`
//! reads in place. So a band costs `k` products of depth `k·cin` and one `1×` copy of the input
//! instead of a `k·k×` im2col, at the price of computing `k − 1` throw-away columns per row
//! (`q` with `ox ≥ ow`) — hence only for images wide enough that this waste is small.

use rayon::prelude::*;

use super::bias_act::bias_act;
use super::im2col::{add_into, sum_partials};
use super::{Act, Conv2d, Geom};
use crate::nn::matmul::{gemm_view, View};

/// Padded output positions per band: enough for efficient products, little enough to stay in L2.
const BAND_POSITIONS: usize = 512;

/// Widest throw-away fraction accepted: `(wp − ow) / ow ≤ 1 / MIN_WIDTH_PER_WASTE`.
const MIN_WIDTH_PER_WASTE: usize = 7;

/// The band layout of one layer and input size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bands {
    /// Padded width.
    wp: usize,
    /// Output rows per band.
    rows: usize,
    /// Images per thread.
    images: usize,
    /// Threads.
    tasks: usize,
}

impl Bands {
    /// The band layout for the forward pass: as [`Bands::new`], and only when each of the `k`
    /// products is deep enough (`k·cin ≥ 128`); shallower ones re-read their output too often
    /// and measured slower than im2col.
    pub fn for_forward(c: &Conv2d, g: &Geom) -> Option<Self> {
        if c.k * c.cin < 128 {
            return None;
        }
        Bands::new(c, g)
    }

    /// The band layout, or `None` when the band path does not apply (stride 2, 1×1, narrow
    /// images, fewer images than threads).
    pub fn new(c: &Conv2d, g: &Geom) -> Option<Self> {
        let threads = rayon::current_num_threads();
        let waste = c.k - 1;
        if c.stride != 1 || c.k == 1 || g.ow < MIN_WIDTH_PER_WASTE * waste || g.n < threads {
            return None;
        }
        let wp = g.w + c.pad.left + c.pad.right;
        let rows = (BAND_POSITIONS / wp).clamp(1, g.oh);
        Some(Bands {
            wp,
            rows,
            images: g.n.div_ceil(threads),
            tasks: threads,
        })
    }

    /// Values of the padded input band.
    fn xp_len(&self, c: &Conv2d) -> usize {
        (self.rows + c.k - 1) * self.wp * c.cin
    }

    /// Values of a band's padded output (or padded `dy`).
    fn out_len(&self, c: &Conv2d) -> usize {
        self.rows * self.wp * c.cout
    }

    /// Scratch the forward pass needs.
    pub fn forward_scratch_len(&self, c: &Conv2d) -> usize {
        self.tasks * (self.xp_len(c) + self.out_len(c))
    }

    /// Scratch per thread of the weight-gradient pass: band buffers and the partial sums.
    fn weight_task_len(&self, c: &Conv2d) -> usize {
        self.xp_len(c) + self.out_len(c) + c.weight_len() + c.cout
    }

    /// Scratch the weight-gradient pass needs.
    pub fn weight_scratch_len(&self, c: &Conv2d) -> usize {
        self.tasks * self.weight_task_len(c)
    }

    /// Calls `f(b, oy0, rows)` for every band of the images `images`, in order.
    fn for_each_band(
        &self,
        g: &Geom,
        images: std::ops::Range<usize>,
        mut f: impl FnMut(usize, usize, usize),
    ) {
        for b in images {
            let mut oy0 = 0;
            while oy0 < g.oh {
                let rows = self.rows.min(g.oh - oy0);
                f(b, oy0, rows);
                oy0 += rows;
            }
        }
    }
}

/// `xp[pr, px, ci] = x[b, oy0 + pr − top, px − left, ci]`, zero outside the image, for padded
/// rows `pr < rows + k − 1`.
fn fill_band(
    c: &Conv2d,
    g: &Geom,
    bands: &Bands,
    x: &[f32],
    (b, oy0, rows): (usize, usize, usize),
    xp: &mut [f32],
) {
    let cin = c.cin;
    let row_len = bands.wp * cin;
    let image = &x[b * g.h * g.w * cin..][..g.h * g.w * cin];
    for (pr, dst) in xp
        .chunks_exact_mut(row_len)
        .take(rows + c.k - 1)
        .enumerate()
    {
        let iy = (oy0 + pr) as isize - c.pad.top as isize;
        if iy < 0 || iy >= g.h as isize {
            dst.fill(0.0);
            continue;
        }
        let (left, rest) = dst.split_at_mut(c.pad.left * cin);
        let (mid, right) = rest.split_at_mut(g.w * cin);
        left.fill(0.0);
        mid.copy_from_slice(&image[iy as usize * g.w * cin..][..g.w * cin]);
        right.fill(0.0);
    }
}

/// Padded positions a band of `rows` output rows computes: the last row's throw-away columns
/// are left out.
fn positions(bands: &Bands, g: &Geom, rows: usize) -> usize {
    (rows - 1) * bands.wp + g.ow
}

/// The forward pass (see [`super::conv2d_forward`]) through `bands` of the layer `c` with
/// `(weight, bias, act)`; `scratch` holds [`Bands::forward_scratch_len`] values.
pub(super) fn forward_bands(
    (c, g, bands): (&Conv2d, &Geom, &Bands),
    x: &[f32],
    (weight, bias, act): (&[f32], Option<&[f32]>, Act),
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let (cin, cout, k) = (c.cin, c.cout, c.k);
    let per_image = g.oh * g.ow * cout;
    let per_task = bands.xp_len(c) + bands.out_len(c);
    let kc = k * cin;
    y.par_chunks_mut(bands.images * per_image)
        .zip(scratch.par_chunks_mut(per_task))
        .enumerate()
        .for_each(|(t, (y_part, mine))| {
            let (xp, yp) = mine.split_at_mut(bands.xp_len(c));
            let first = t * bands.images;
            let images = first..first + y_part.len() / per_image;
            bands.for_each_band(g, images, |b, oy0, rows| {
                fill_band(c, g, bands, x, (b, oy0, rows), xp);
                let m = positions(bands, g, rows);
                for kh in 0..k {
                    let lhs = View {
                        data: &xp[kh * bands.wp * cin..],
                        rs: cin,
                        cs: 1,
                    };
                    let w_kh = View::rows(&weight[kh * kc * cout..][..kc * cout], cout);
                    gemm_view(m, kc, cout, lhs, w_kh, yp, (cout, 1), kh > 0, 1);
                }
                for r in 0..rows {
                    let src = &yp[r * bands.wp * cout..][..g.ow * cout];
                    let dst =
                        &mut y_part[((b - first) * g.oh + oy0 + r) * g.ow * cout..][..g.ow * cout];
                    dst.copy_from_slice(src);
                    bias_act(dst, cout, bias, act);
                }
            });
        });
}

/// The weight and bias gradients (see [`super::conv2d_backward_weight`]) through bands:
/// `dW[kh] = Σ_bands view_kh(xp)ᵀ · dyp`, with `dyp` the band's `dy` in the padded layout and
/// zero in the throw-away columns. Per-thread partials are added in thread order.
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grad_bands(
    c: &Conv2d,
    g: &Geom,
    bands: &Bands,
    x: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    scratch: &mut [f32],
) {
    let (cin, cout, k) = (c.cin, c.cout, c.k);
    let kc = k * cin;
    let per_image = g.oh * g.ow * cout;
    let per_task = bands.weight_task_len(c);
    let (xp_len, out_len, dw_len) = (bands.xp_len(c), bands.out_len(c), c.weight_len());
    dy.par_chunks(bands.images * per_image)
        .zip(scratch.par_chunks_mut(per_task))
        .enumerate()
        .for_each(|(t, (dy_part, mine))| {
            let (xp, rest) = mine.split_at_mut(xp_len);
            let (dyp, rest) = rest.split_at_mut(out_len);
            let (dw, db) = rest.split_at_mut(dw_len);
            db.fill(0.0);
            let first = t * bands.images;
            let images = first..first + dy_part.len() / per_image;
            let mut started = false;
            bands.for_each_band(g, images, |b, oy0, rows| {
                fill_band(c, g, bands, x, (b, oy0, rows), xp);
                let m = positions(bands, g, rows);
                for r in 0..rows {
                    let src =
                        &dy_part[((b - first) * g.oh + oy0 + r) * g.ow * cout..][..g.ow * cout];
                    let dst = &mut dyp[r * bands.wp * cout..][..bands.wp * cout];
                    let (valid, waste) = dst.split_at_mut(g.ow * cout);
                    valid.copy_from_slice(src);
                    waste.fill(0.0);
                    for row in src.chunks_exact(cout) {
                        add_into(db, row);
                    }
                }
                for kh in 0..k {
                    let lhs = View {
                        data: &xp[kh * bands.wp * cin..],
                        rs: 1,
                        cs: cin,
                    };
                    let dw_kh = &mut dw[kh * kc * cout..][..kc * cout];
                    gemm_view(
                        kc,
                        m,
                        cout,
                        lhs,
                        View::rows(&dyp[..m * cout], cout),
                        dw_kh,
                        (cout, 1),
                        started,
                        1,
                    );
                }
                started = true;
            });
        });

    let partial = |t: usize| &scratch[t * per_task + xp_len + out_len..(t + 1) * per_task];
    sum_partials(g.n.div_ceil(bands.images), partial, dweight, dbias);
}
