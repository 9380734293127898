//! Elementwise sums over whole activations, split over rayon's threads (a serial pass over a
//! batch's activation costs as much as a small convolution's share on two cores).

use super::CHUNK;
use rayon::prelude::*;

/// `y[i] += x[i]` (a residual connection). `x` and `y` have the same length.
pub fn add_inplace(y: &mut [f32], x: &[f32]) {
    assert_eq!(x.len(), y.len(), "add_inplace: length mismatch");
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            for (v, &a) in y.iter_mut().zip(x) {
                *v += a;
            }
        });
}

/// `y[r, j] = x[r, j] + b[j]` for a `[rows, c]` matrix `x` (a residual plus a bias, before a
/// product is accumulated onto it). `y` and `x` have `rows·c` values, `b` has `c`.
pub fn add_row_bias(x: &[f32], b: &[f32], c: usize, y: &mut [f32]) {
    assert!(
        c > 0 && x.len() == y.len() && x.len().is_multiple_of(c) && b.len() >= c,
        "add_row_bias: x and y must be [rows, {c}] and b [{c}]"
    );
    let rows_per_task = (CHUNK / c).max(1);
    y.par_chunks_mut(rows_per_task * c)
        .zip(x.par_chunks(rows_per_task * c))
        .for_each(|(y, x)| {
            for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                for ((v, &a), &bb) in yr.iter_mut().zip(xr).zip(&b[..c]) {
                    *v = a + bb;
                }
            }
        });
}

/// `y[r, j] = b[j]` for every row of a `[rows, c]` matrix (a bias broadcast before a product
/// accumulates onto it).
pub fn fill_rows(b: &[f32], c: usize, y: &mut [f32]) {
    assert!(
        c > 0 && y.len().is_multiple_of(c) && b.len() >= c,
        "fill_rows: y must be [rows, {c}] and b [{c}]"
    );
    let rows_per_task = (CHUNK / c).max(1);
    y.par_chunks_mut(rows_per_task * c).for_each(|y| {
        for row in y.chunks_exact_mut(c) {
            row.copy_from_slice(&b[..c]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    #[test]
    fn sums_match_scalar_loops_on_odd_sizes() {
        let mut rng = Rng::seeded(41);
        for (rows, c) in [(1usize, 1usize), (7, 5), (3001, 13), (100, 300)] {
            let x = rng.normal_vec(rows * c);
            let b = rng.normal_vec(c);
            let mut y = rng.normal_vec(rows * c);
            let y0 = y.clone();
            add_inplace(&mut y, &x);
            for i in 0..y.len() {
                assert_eq!(y[i], y0[i] + x[i]);
            }
            add_row_bias(&x, &b, c, &mut y);
            for i in 0..y.len() {
                assert_eq!(y[i], x[i] + b[i % c]);
            }
            fill_rows(&b, c, &mut y);
            for i in 0..y.len() {
                assert_eq!(y[i], b[i % c]);
            }
        }
    }
}
