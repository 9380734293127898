//! Dense symmetric linear algebra in f64 for the Fréchet distance: the eigendecomposition of a
//! symmetric matrix by cyclic Jacobi rotations, and the square root of a positive
//! semi-definite matrix built from it.
//!
//! Matrices are `n × n`, row-major, in `Vec<f64>`. Jacobi is slower than a tridiagonal QR for
//! big matrices but simple, needs no dependency, and is accurate to a few ulps of the largest
//! eigenvalue for every eigenvalue and eigenvector; at FID's sizes (128 × 128) a
//! decomposition takes a few tens of milliseconds.

use crate::{Error, Result};

/// The eigendecomposition `A = V · diag(values) · Vᵀ` of a symmetric matrix.
#[derive(Clone, Debug)]
pub struct SymmetricEigen {
    /// Size of the matrix.
    pub n: usize,
    /// Eigenvalues, ascending.
    pub values: Vec<f64>,
    /// Eigenvectors as the columns of an `n × n` row-major matrix, column `j` belonging to
    /// `values[j]`; orthonormal.
    pub vectors: Vec<f64>,
}

/// At most this many sweeps over all pairs; Jacobi converges quadratically, so well-scaled
/// matrices need 6 to 12.
const MAX_SWEEPS: usize = 100;

/// Eigendecomposition of the symmetric `n × n` matrix `a` by cyclic Jacobi rotations.
///
/// Each rotation in the plane `(p, q)` zeroes `a[p][q]`: with `θ = (a_qq − a_pp) / (2·a_pq)`,
/// `t = sign(θ) / (|θ| + √(θ² + 1))` (the smaller root of `t² + 2θt − 1 = 0`), `c = 1/√(t² + 1)`,
/// `s = t·c`, `A ← Jᵀ A J` and `V ← V J`. An entry too small to change either diagonal entry
/// it couples (even ×100) is set to 0 instead. Sweeps stop when the off-diagonal mass is below
/// `(1e-15 · ‖A‖_F)²`. Only the symmetric part matters: `a` must be symmetric to within
/// rounding (an error otherwise), and finite.
pub fn symmetric_eigen(a: &[f64], n: usize) -> Result<SymmetricEigen> {
    if a.len() != n * n {
        return Err(Error::invalid(format!(
            "symmetric_eigen: {} values for a {n}×{n} matrix",
            a.len()
        )));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "symmetric_eigen: the matrix has NaN or infinite entries",
        ));
    }
    let norm2: f64 = a.iter().map(|v| v * v).sum();
    let asym = (0..n)
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .map(|(i, j)| (a[i * n + j] - a[j * n + i]).abs())
        .fold(0.0, f64::max);
    if asym > 1e-9 * norm2.sqrt().max(f64::MIN_POSITIVE) {
        return Err(Error::invalid(format!(
            "symmetric_eigen: the matrix is not symmetric (|a_ij − a_ji| up to {asym:e})"
        )));
    }
    let mut m = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let tol = (1e-15f64).powi(2) * norm2;
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| j != i)
                    .map(|j| m[i * n + j].powi(2))
                    .sum::<f64>()
            })
            .sum();
        if off <= tol || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                let (app, aqq) = (m[p * n + p].abs(), m[q * n + q].abs());
                // An entry below rounding next to both diagonal entries is zero already.
                if apq == 0.0 || (app + 100.0 * apq.abs() == app && aqq + 100.0 * apq.abs() == aqq)
                {
                    m[p * n + q] = 0.0;
                    m[q * n + p] = 0.0;
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                rotate(&mut m, n, p, q, c, s);
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[i * n + i].total_cmp(&m[j * n + j]));
    let values = order.iter().map(|&i| m[i * n + i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (col, &src) in order.iter().enumerate() {
        for k in 0..n {
            vectors[k * n + col] = v[k * n + src];
        }
    }
    Ok(SymmetricEigen { n, values, vectors })
}

/// `M ← Jᵀ M J` for the rotation `J` in the plane `(p, q)` with cosine `c` and sine `s`
/// (`J_pp = J_qq = c`, `J_pq = s`, `J_qp = −s`); sets `M_pq = M_qp` to exactly 0 afterwards.
fn rotate(m: &mut [f64], n: usize, p: usize, q: usize, c: f64, s: f64) {
    for k in 0..n {
        let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
        m[k * n + p] = c * mkp - s * mkq;
        m[k * n + q] = s * mkp + c * mkq;
    }
    for k in 0..n {
        let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
        m[p * n + k] = c * mpk - s * mqk;
        m[q * n + k] = s * mpk + c * mqk;
    }
    m[p * n + q] = 0.0;
    m[q * n + p] = 0.0;
}

impl SymmetricEigen {
    /// `V · diag(f(λ)) · Vᵀ`: a function of the matrix.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        let n = self.n;
        let fl: Vec<f64> = self.values.iter().map(|&l| f(l)).collect();
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                let s: f64 = (0..n)
                    .map(|k| self.vectors[i * n + k] * fl[k] * self.vectors[j * n + k])
                    .sum();
                out[i * n + j] = s;
                out[j * n + i] = s;
            }
        }
        out
    }
}

/// The symmetric square root `A^{1/2} = V · diag(√max(λ, 0)) · Vᵀ` of a symmetric positive
/// semi-definite matrix. Eigenvalues that rounding made slightly negative count as 0.
pub fn sqrt_psd(a: &[f64], n: usize) -> Result<Vec<f64>> {
    Ok(symmetric_eigen(a, n)?.map(|l| l.max(0.0).sqrt()))
}

/// `C = A · B` for `n × n` row-major matrices.
pub fn matmul_square(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        let row = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (cij, &bkj) in row.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *cij += aik * bkj;
            }
        }
    }
    c
}

/// The trace of an `n × n` row-major matrix.
pub fn trace(a: &[f64], n: usize) -> f64 {
    (0..n).map(|i| a[i * n + i]).sum()
}
