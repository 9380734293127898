//! The Fréchet distance between two Gaussians, and fitting a Gaussian to feature vectors: the
//! math of FID (Heusel et al. 2017).
//!
//! ```text
//! d²(N(μ₁, Σ₁), N(μ₂, Σ₂)) = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}
//! ```
//! The last trace equals the usual `tr (Σ₁Σ₂)^{1/2}` (Σ₁Σ₂ and Σ₁^{1/2}Σ₂Σ₁^{1/2} have the same
//! eigenvalues), but the symmetric form needs only symmetric eigendecompositions — no general
//! matrix square root, no complex parts to discard, no inverse, and it holds for singular
//! covariances (dead ReLU features, fewer samples than dimensions). Everything is f64.

use super::linalg::{matmul_square, sqrt_psd, symmetric_eigen, trace};
use crate::{Error, Result};
use rayon::prelude::*;

/// A Gaussian fitted to `count` vectors of `dim` values: their mean and covariance.
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    /// Dimension.
    pub dim: usize,
    /// How many vectors it was fitted to (0 when built directly).
    pub count: usize,
    /// Mean, `dim` values.
    pub mean: Vec<f64>,
    /// Covariance, `dim × dim` row-major, symmetric.
    pub cov: Vec<f64>,
}

impl Gaussian {
    /// A Gaussian from its mean and covariance (checked: sizes, symmetry, finiteness).
    pub fn new(mean: Vec<f64>, cov: Vec<f64>) -> Result<Self> {
        let dim = mean.len();
        if cov.len() != dim * dim {
            return Err(Error::invalid(format!(
                "Gaussian: a mean of {dim} values needs a {dim}×{dim} covariance, got {} values",
                cov.len()
            )));
        }
        if mean.iter().chain(&cov).any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "Gaussian: NaN or infinite mean or covariance",
            ));
        }
        Ok(Gaussian {
            dim,
            count: 0,
            mean,
            cov,
        })
    }

    /// The maximum-likelihood mean and the unbiased covariance (divisor `count − 1`, as
    /// `numpy.cov` and pytorch-fid) of `features`, `count × dim` row-major f32 values.
    /// Needs at least two vectors.
    pub fn fit(features: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !features.len().is_multiple_of(dim) {
            return Err(Error::invalid(format!(
                "Gaussian::fit: {} values are not vectors of {dim}",
                features.len()
            )));
        }
        let count = features.len() / dim;
        if count < 2 {
            return Err(Error::invalid(format!(
                "Gaussian::fit: a covariance needs at least 2 vectors, got {count}"
            )));
        }
        if features.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "Gaussian::fit: the features contain NaN or infinite values",
            ));
        }
        let mut mean = vec![0.0f64; dim];
        for row in features.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= count as f64);
        // Centred values, one row per dimension, so each covariance entry is a dot product.
        let mut cols = vec![0.0f64; dim * count];
        for (r, row) in features.chunks_exact(dim).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                cols[j * count + r] = v as f64 - mean[j];
            }
        }
        let mut cov = vec![0.0f64; dim * dim];
        let denom = (count - 1) as f64;
        cov.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
            let ci = &cols[i * count..(i + 1) * count];
            for (j, out) in row.iter_mut().enumerate().skip(i) {
                let cj = &cols[j * count..(j + 1) * count];
                *out = ci.iter().zip(cj).map(|(a, b)| a * b).sum::<f64>() / denom;
            }
        });
        for i in 0..dim {
            for j in 0..i {
                cov[i * dim + j] = cov[j * dim + i];
            }
        }
        Ok(Gaussian {
            dim,
            count,
            mean,
            cov,
        })
    }
}

/// The Fréchet distance d² between two Gaussians of the same dimension (see the module doc),
/// computed with `S = Σ₁^{1/2}` and the eigenvalues λᵢ of `S Σ₂ S`:
/// `‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 Σᵢ √max(λᵢ, 0)`. Rounding can leave a result of order
/// 1e-12 · tr Σ below 0 for identical inputs; it is returned as 0.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    if a.dim != b.dim {
        return Err(Error::invalid(format!(
            "Fréchet distance between Gaussians of dimensions {} and {}",
            a.dim, b.dim
        )));
    }
    let n = a.dim;
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let s = sqrt_psd(&a.cov, n)?;
    let mut m = matmul_square(&matmul_square(&s, &b.cov, n), &s, n);
    // S Σ₂ S is symmetric in exact arithmetic; make it so in floating point too.
    for i in 0..n {
        for j in 0..i {
            let avg = 0.5 * (m[i * n + j] + m[j * n + i]);
            m[i * n + j] = avg;
            m[j * n + i] = avg;
        }
    }
    let tr_sqrt: f64 = symmetric_eigen(&m, n)?
        .values
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    let d = mean_term + trace(&a.cov, n) + trace(&b.cov, n) - 2.0 * tr_sqrt;
    Ok(d.max(0.0))
}
