//! Resizing single-channel images (f32, row-major) with a separable filter.
//!
//! Two filters:
//! - [`ResizeFilter::Bilinear`] (the default): bilinear interpolation at half-pixel centres, no
//!   antialiasing — exactly `tf.image.resize(..., "bilinear")` as the Keras lab used it, PyTorch's
//!   `interpolate(mode="bilinear", align_corners=False, antialias=False)`, and the Python
//!   baseline's loader (`bench/mnist16.py`). It is the default so that difflab trains on the same
//!   pixels as the Python originals and losses are comparable. Shrinking 28 → 16 (factor 1.75)
//!   reads only a 2×2 neighbourhood per output pixel, so thin strokes can come out slightly
//!   fainter than they are.
//! - [`ResizeFilter::Area`]: every output pixel is the exact average of the input area it covers
//!   (fractional overlaps weighted; OpenCV's `INTER_AREA`, `tf.image.resize(..., "area")`). This is
//!   the antialiased choice for shrinking and what [`super::load_gray_image`] uses for photos.

use serde::{Deserialize, Serialize};

/// How to resample when resizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeFilter {
    /// Bilinear at half-pixel centres, no antialias (tf.image.resize bilinear; the Python lab).
    #[default]
    Bilinear,
    /// Exact area average (antialiased box filter).
    Area,
}

/// One output sample along an axis: `(input index, weight)` pairs summing to 1.
type Taps = Vec<(usize, f32)>;

fn axis_taps(n_in: usize, n_out: usize, filter: ResizeFilter) -> Vec<Taps> {
    let ratio = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|i| match filter {
            ResizeFilter::Bilinear => {
                let s = ((i as f64 + 0.5) * ratio - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                let f = (s - i0 as f64) as f32;
                vec![(i0, 1.0 - f), (i1, f)]
            }
            ResizeFilter::Area => {
                let (lo, hi) = (i as f64 * ratio, (i + 1) as f64 * ratio);
                let first = lo.floor() as usize;
                let last = (hi.ceil() as usize).min(n_in);
                (first..last)
                    .map(|j| {
                        let overlap = hi.min(j as f64 + 1.0) - lo.max(j as f64);
                        (j, (overlap / ratio) as f32)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            }
        })
        .collect()
}

/// A reusable resizer from `in_h × in_w` to `out_h × out_w` (the taps are computed once, so
/// resizing 60 000 images costs only the arithmetic).
#[derive(Clone, Debug)]
pub struct Resizer {
    in_w: usize,
    in_h: usize,
    out_w: usize,
    out_h: usize,
    taps_y: Vec<Taps>,
    taps_x: Vec<Taps>,
}

impl Resizer {
    /// A resizer between the given sizes. All sizes must be ≥ 1 (panics otherwise: callers
    /// validate user input first).
    pub fn new(in_h: usize, in_w: usize, out_h: usize, out_w: usize, filter: ResizeFilter) -> Self {
        assert!(
            in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0,
            "resize sizes must be positive"
        );
        Resizer {
            in_w,
            in_h,
            out_w,
            out_h,
            taps_y: axis_taps(in_h, out_h, filter),
            taps_x: axis_taps(in_w, out_w, filter),
        }
    }

    /// Resize one image: `src` is `in_h × in_w`, `out` is `out_h × out_w` (row-major).
    /// Rows are interpolated horizontally first, then vertically (the Python lab's order).
    pub fn apply(&self, src: &[f32], out: &mut [f32]) {
        self.apply_with(src, out, &mut Vec::new());
    }

    /// [`Resizer::apply`] with a caller-kept scratch buffer (no allocation once it has grown).
    pub fn apply_with(&self, src: &[f32], out: &mut [f32], scratch: &mut Vec<f32>) {
        assert_eq!(src.len(), self.in_h * self.in_w, "resize: source size");
        assert_eq!(out.len(), self.out_h * self.out_w, "resize: output size");
        scratch.resize(self.in_h * self.out_w, 0.0);
        let rows = scratch;
        for (r, row) in rows.chunks_exact_mut(self.out_w).enumerate() {
            let line = &src[r * self.in_w..(r + 1) * self.in_w];
            for (o, taps) in row.iter_mut().zip(&self.taps_x) {
                *o = taps.iter().fold(0.0, |acc, &(j, w)| acc + line[j] * w);
            }
        }
        for (oy, taps) in self.taps_y.iter().enumerate() {
            let dst = &mut out[oy * self.out_w..(oy + 1) * self.out_w];
            dst.fill(0.0);
            for &(y, w) in taps {
                let line = &rows[y * self.out_w..(y + 1) * self.out_w];
                for (d, &v) in dst.iter_mut().zip(line) {
                    *d += v * w;
                }
            }
        }
    }
}

/// Resize one `h × w` image to `out_h × out_w` with `filter`.
pub fn resize(
    src: &[f32],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    filter: ResizeFilter,
) -> Vec<f32> {
    let mut out = vec![0.0; out_h * out_w];
    Resizer::new(h, w, out_h, out_w, filter).apply(src, &mut out);
    out
}
