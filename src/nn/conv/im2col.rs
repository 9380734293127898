//! Gathering receptive fields into rows (im2col) and scattering them back (col2im).

use super::{Conv2d, Geom};

/// Where output pixel `p` (a flat index over `n·oh·ow`) reads its input.
#[derive(Clone, Copy)]
struct Field {
    /// Offset of image `b`'s first value in `x`.
    image: usize,
    /// Top-left input row and column of the receptive field (may be negative: padding).
    iy0: isize,
    ix0: isize,
}

fn field(c: &Conv2d, g: &Geom, p: usize) -> Field {
    let per_image = g.oh * g.ow;
    let (b, rem) = (p / per_image, p % per_image);
    let (oy, ox) = (rem / g.ow, rem % g.ow);
    Field {
        image: b * g.h * g.w * c.cin,
        iy0: (oy * c.stride) as isize - c.pad.top as isize,
        ix0: (ox * c.stride) as isize - c.pad.left as isize,
    }
}

/// `col[r, (kh·k + kw)·cin + ci] = x[b, oy·s − top + kh, ox·s − left + kw, ci]` (0 outside the
/// image) for the output pixels `p0 .. p0 + rows`, `r = p − p0`.
///
/// `x` is the whole `[n, h, w, cin]` batch; `col` holds at least `rows · k·k·cin` values.
pub(super) fn im2col(c: &Conv2d, g: &Geom, x: &[f32], p0: usize, rows: usize, col: &mut [f32]) {
    let (k, cin) = (c.k, c.cin);
    let kc = k * cin;
    let (h, w) = (g.h as isize, g.w as isize);
    for (r, dst_row) in col[..rows * g.kkc].chunks_exact_mut(g.kkc).enumerate() {
        let f = field(c, g, p0 + r);
        for (kh, dst) in dst_row.chunks_exact_mut(kc).enumerate() {
            let iy = f.iy0 + kh as isize;
            if iy < 0 || iy >= h {
                dst.fill(0.0);
                continue;
            }
            let x_row = &x[f.image + iy as usize * g.w * cin..][..g.w * cin];
            if f.ix0 >= 0 && f.ix0 + k as isize <= w {
                // The whole kernel row is inside the image: one contiguous copy.
                let start = f.ix0 as usize * cin;
                dst.copy_from_slice(&x_row[start..start + kc]);
            } else {
                for (kw, d) in dst.chunks_exact_mut(cin).enumerate() {
                    let ix = f.ix0 + kw as isize;
                    if ix < 0 || ix >= w {
                        d.fill(0.0);
                    } else {
                        d.copy_from_slice(&x_row[ix as usize * cin..][..cin]);
                    }
                }
            }
        }
    }
}

simd_dispatch! {
/// The adjoint of [`im2col`]: `dx[b, iy, ix, ci] += col[r, (kh·k + kw)·cin + ci]` for every
/// pixel `p0 + r` whose receptive field covers `(iy, ix)`.
///
/// `dx` holds the images `first_image ..` of the batch (`dx[0]` is image `first_image`'s first
/// value), so that threads can own disjoint image ranges.
pub(super) fn col2im_add(
    c: &Conv2d,
    g: &Geom,
    col: &[f32],
    p0: usize,
    rows: usize,
    first_image: usize,
    dx: &mut [f32],
) {
    let (k, cin) = (c.k, c.cin);
    let kc = k * cin;
    let (h, w) = (g.h as isize, g.w as isize);
    let base = first_image * g.h * g.w * cin;
    for (r, src_row) in col[..rows * g.kkc].chunks_exact(g.kkc).enumerate() {
        let f = field(c, g, p0 + r);
        for (kh, src) in src_row.chunks_exact(kc).enumerate() {
            let iy = f.iy0 + kh as isize;
            if iy < 0 || iy >= h {
                continue;
            }
            let dx_row = &mut dx[f.image - base + iy as usize * g.w * cin..][..g.w * cin];
            if f.ix0 >= 0 && f.ix0 + k as isize <= w {
                let start = f.ix0 as usize * cin;
                add_into(&mut dx_row[start..start + kc], src);
            } else {
                for (kw, s) in src.chunks_exact(cin).enumerate() {
                    let ix = f.ix0 + kw as isize;
                    if ix >= 0 && ix < w {
                        add_into(&mut dx_row[ix as usize * cin..][..cin], s);
                    }
                }
            }
        }
    }
}
}

/// `dst += src`, element-wise.
#[inline]
pub(super) fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// The fixed-order reduction of per-part weight-gradient partials, `partial(t)` laid out
/// `[dweight, dbias]`: `dweight = partial(0) + partial(1) + …` over `parts` parts, and the same
/// for `dbias` when given, so the sums do not depend on which thread finished first.
pub(super) fn sum_partials<'a>(
    parts: usize,
    partial: impl Fn(usize) -> &'a [f32],
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
) {
    let dw_len = dweight.len();
    dweight.copy_from_slice(&partial(0)[..dw_len]);
    for t in 1..parts {
        add_into(dweight, &partial(t)[..dw_len]);
    }
    if let Some(db) = dbias {
        db.copy_from_slice(&partial(0)[dw_len..]);
        for t in 1..parts {
            add_into(db, &partial(t)[dw_len..]);
        }
    }
}
