//! Channel concatenation without a concat op: producers write into channel slices of a wider
//! NHWC buffer ([`copy_into_channels`]), and backward reads the slices out again
//! ([`split_channels`]).

use rayon::prelude::*;

/// Rows (pixels) per rayon task.
const ROWS: usize = 512;

/// `dst[r, offset + j] = src[r, j]` for `r < rows`, `j < c_src`: place a `[rows, c_src]` tensor
/// into channels `offset..offset + c_src` of a `[rows, c_dst]` tensor, leaving the other
/// channels untouched. `rows` is `n·h·w`.
pub fn copy_into_channels(
    src: &[f32],
    rows: usize,
    c_src: usize,
    dst: &mut [f32],
    c_dst: usize,
    offset: usize,
) {
    let fits = src.len() >= rows * c_src && dst.len() >= rows * c_dst;
    check("copy_into_channels", (offset, c_src, c_dst), fits);
    row_pairs(dst, c_dst, src, c_src, rows, |drow, srow| {
        drow[offset..offset + c_src].copy_from_slice(srow)
    });
}

/// Panics unless channels `offset..offset + part` lie within `whole` and the buffers `fit`.
fn check(name: &str, (offset, part, whole): (usize, usize, usize), fit: bool) {
    assert!(
        offset + part <= whole,
        "{name}: channels {offset}+{part} exceed {whole}"
    );
    assert!(fit, "{name}: buffers too short");
}

/// `f(dst row, src row)` for each of the first `rows` rows of `dst` (`c_dst` values a row) and
/// `src` (`c_src`), over rayon's threads a block of rows at a time.
fn row_pairs(
    dst: &mut [f32],
    c_dst: usize,
    src: &[f32],
    c_src: usize,
    rows: usize,
    f: impl Fn(&mut [f32], &[f32]) + Sync,
) {
    if rows == 0 || c_src == 0 || c_dst == 0 {
        return;
    }
    dst[..rows * c_dst]
        .par_chunks_mut(ROWS * c_dst)
        .zip(src[..rows * c_src].par_chunks(ROWS * c_src))
        .for_each(|(d, s)| {
            for (drow, srow) in d.chunks_exact_mut(c_dst).zip(s.chunks_exact(c_src)) {
                f(drow, srow);
            }
        });
}

/// `dst[r, j] = src[r, offset + j]` for `r < rows`, `j < c_dst`: read channels
/// `offset..offset + c_dst` of a `[rows, c_src]` tensor into a `[rows, c_dst]` tensor (concat's
/// backward); `dst[r, j] += …` when `acc`, for a tensor whose gradient also arrives by another
/// path (a skip connection).
pub fn split_channels(
    (src, c_src): (&[f32], usize),
    rows: usize,
    offset: usize,
    (dst, c_dst): (&mut [f32], usize),
    acc: bool,
) {
    let fits = src.len() >= rows * c_src && dst.len() >= rows * c_dst;
    check("split_channels", (offset, c_dst, c_src), fits);
    row_pairs(dst, c_dst, src, c_src, rows, |drow, srow| {
        let part = &srow[offset..offset + c_dst];
        if acc {
            for (a, &b) in drow.iter_mut().zip(part) {
                *a += b;
            }
        } else {
            drow.copy_from_slice(part);
        }
    });
}
