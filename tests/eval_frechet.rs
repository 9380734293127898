//! The Fréchet distance and its linear algebra against answers known in closed form.

use difflab::eval::frechet::{frechet_distance, Gaussian};
use difflab::eval::linalg::{matmul_square, sqrt_psd, symmetric_eigen};
use difflab::util::rng::Rng;

/// A random symmetric positive semi-definite matrix `B Bᵀ` of rank `rank`.
fn random_psd(n: usize, rank: usize, rng: &mut Rng) -> Vec<f64> {
    let b: Vec<f64> = (0..n * rank).map(|_| rng.normal() as f64).collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..rank).map(|k| b[i * rank + k] * b[j * rank + k]).sum();
        }
    }
    a
}

/// A random orthogonal matrix: the eigenvectors of a random symmetric matrix.
fn random_rotation(n: usize, rng: &mut Rng) -> Vec<f64> {
    symmetric_eigen(&random_psd(n, n + 2, rng), n)
        .unwrap()
        .vectors
}

fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    (0..n * n).map(|k| a[(k % n) * n + k / n]).collect()
}

fn diag(d: &[f64]) -> Vec<f64> {
    let n = d.len();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = d[i];
    }
    a
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn jacobi_reconstructs_random_symmetric_matrices_with_orthonormal_vectors() {
    let mut rng = Rng::seeded(1);
    for &(n, rank) in &[(1, 1), (2, 2), (7, 7), (40, 40), (64, 10)] {
        let a = random_psd(n, rank, &mut rng);
        let e = symmetric_eigen(&a, n).unwrap();
        let scale = e.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            e.values.windows(2).all(|w| w[0] <= w[1]),
            "eigenvalues ascending"
        );
        let back = e.map(|l| l);
        assert!(
            max_abs_diff(&back, &a) < 1e-12 * scale,
            "n={n}: V Λ Vᵀ differs from A by {}",
            max_abs_diff(&back, &a)
        );
        let vtv = matmul_square(&transpose(&e.vectors, n), &e.vectors, n);
        assert!(
            max_abs_diff(&vtv, &diag(&vec![1.0; n])) < 1e-12,
            "n={n}: VᵀV is not I"
        );
        // Rank-deficient: n − rank eigenvalues are zero to rounding, the others positive.
        let zeros = e.values.iter().filter(|v| v.abs() < 1e-10 * scale).count();
        assert_eq!(
            zeros,
            n - rank,
            "n={n} rank={rank}: eigenvalues {:?}",
            &e.values[..n.min(12)]
        );
    }
}

#[test]
fn jacobi_finds_known_eigenvalues() {
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with eigenvectors (1, −1)/√2 and (1, 1)/√2.
    let e = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
    assert!(
        (e.values[0] - 1.0).abs() < 1e-15 && (e.values[1] - 3.0).abs() < 1e-15,
        "{:?}",
        e.values
    );
    let v1 = [e.vectors[1], e.vectors[3]];
    assert!(
        (v1[0].abs() - 0.5f64.sqrt()).abs() < 1e-15 && (v1[0] - v1[1]).abs() < 1e-15,
        "{v1:?}"
    );
    // Rotated diagonal matrix: the eigenvalues come back exactly as put in.
    let mut rng = Rng::seeded(2);
    let q = random_rotation(12, &mut rng);
    let d: Vec<f64> = (0..12).map(|i| (i as f64 - 3.0) * 0.7).collect();
    let a = matmul_square(&matmul_square(&q, &diag(&d), 12), &transpose(&q, 12), 12);
    let e = symmetric_eigen(&a, 12).unwrap();
    assert!(
        max_abs_diff(&e.values, &d) < 1e-13,
        "{:?} vs {d:?}",
        e.values
    );
}

#[test]
fn jacobi_rejects_bad_input() {
    let err = symmetric_eigen(&[1.0, 2.0, 0.0, 1.0], 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not symmetric"), "{err}");
    let err = symmetric_eigen(&[1.0, f64::NAN, f64::NAN, 1.0], 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NaN"), "{err}");
    let err = symmetric_eigen(&[1.0, 2.0, 3.0], 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2×2"), "{err}");
}

#[test]
fn psd_square_root_squares_back() {
    let mut rng = Rng::seeded(3);
    for &(n, rank) in &[(5, 5), (30, 30), (30, 6)] {
        let a = random_psd(n, rank, &mut rng);
        let s = sqrt_psd(&a, n).unwrap();
        let back = matmul_square(&s, &s, n);
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            max_abs_diff(&back, &a) < 1e-10 * scale,
            "n={n} rank={rank}: S² differs by {}",
            max_abs_diff(&back, &a)
        );
        assert!(
            max_abs_diff(&s, &transpose(&s, n)) < 1e-12 * scale.sqrt(),
            "S is symmetric"
        );
    }
}

/// Closed form when Σ₁ and Σ₂ commute (same eigenvectors, eigenvalues aᵢ and bᵢ):
/// d² = ‖μ₁ − μ₂‖² + Σᵢ (√aᵢ − √bᵢ)².
fn commuting_closed_form(m1: &[f64], m2: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let mean: f64 = m1.iter().zip(m2).map(|(x, y)| (x - y).powi(2)).sum();
    mean + a
        .iter()
        .zip(b)
        .map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2))
        .sum::<f64>()
}

#[test]
fn frechet_of_diagonal_covariances_matches_the_closed_form() {
    let mut rng = Rng::seeded(4);
    for n in [1, 3, 16] {
        let m1: Vec<f64> = (0..n).map(|_| rng.normal() as f64).collect();
        let m2: Vec<f64> = (0..n).map(|_| rng.normal() as f64).collect();
        let a: Vec<f64> = (0..n).map(|_| rng.uniform(0.1, 4.0) as f64).collect();
        let b: Vec<f64> = (0..n).map(|_| rng.uniform(0.0, 4.0) as f64).collect();
        let g1 = Gaussian::new(m1.clone(), diag(&a)).unwrap();
        let g2 = Gaussian::new(m2.clone(), diag(&b)).unwrap();
        let want = commuting_closed_form(&m1, &m2, &a, &b);
        let got = frechet_distance(&g1, &g2).unwrap();
        assert!(
            (got - want).abs() < 1e-10 * want.max(1.0),
            "n={n}: {got} vs {want}"
        );
        let back = frechet_distance(&g2, &g1).unwrap();
        assert!(
            (back - want).abs() < 1e-10 * want.max(1.0),
            "symmetric in its arguments: {back} vs {want}"
        );
    }
}

#[test]
fn frechet_of_rotated_commuting_covariances_matches_the_closed_form() {
    let mut rng = Rng::seeded(5);
    let n = 20;
    let q = random_rotation(n, &mut rng);
    let rot = |d: &[f64]| matmul_square(&matmul_square(&q, &diag(d), n), &transpose(&q, n), n);
    let a: Vec<f64> = (0..n).map(|_| rng.uniform(0.0, 3.0) as f64).collect();
    let mut b: Vec<f64> = (0..n).map(|_| rng.uniform(0.0, 3.0) as f64).collect();
    b[0] = 0.0; // singular Σ₂
    let m1: Vec<f64> = (0..n).map(|_| rng.normal() as f64).collect();
    let m2: Vec<f64> = (0..n).map(|_| rng.normal() as f64).collect();
    let got = frechet_distance(
        &Gaussian::new(m1.clone(), rot(&a)).unwrap(),
        &Gaussian::new(m2.clone(), rot(&b)).unwrap(),
    )
    .unwrap();
    let want = commuting_closed_form(&m1, &m2, &a, &b);
    assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
}

#[test]
fn frechet_of_a_non_commuting_2x2_pair_matches_the_hand_computation() {
    // Σ₁ = diag(4, 1), Σ₂ = [[2, 1], [1, 2]], equal means. Σ₁^{1/2} = diag(2, 1), so
    // M = Σ₁^{1/2} Σ₂ Σ₁^{1/2} = [[8, 2], [2, 2]]; for a 2×2 PSD matrix
    // tr √M = √(tr M + 2√det M) = √(10 + 2√12). d² = 5 + 4 − 2√(10 + 2√12) ≈ 0.771220.
    let g1 = Gaussian::new(vec![1.0, -2.0], vec![4.0, 0.0, 0.0, 1.0]).unwrap();
    let g2 = Gaussian::new(vec![1.0, -2.0], vec![2.0, 1.0, 1.0, 2.0]).unwrap();
    let want = 9.0 - 2.0 * (10.0 + 2.0 * 12f64.sqrt()).sqrt();
    let got = frechet_distance(&g1, &g2).unwrap();
    assert!((got - want).abs() < 1e-13, "{got} vs {want}");
    assert!((want - 0.771220).abs() < 1e-6);
    // Shifting one mean by (3, 4) adds exactly 25.
    let g3 = Gaussian::new(vec![4.0, 2.0], g2.cov.clone()).unwrap();
    assert!((frechet_distance(&g1, &g3).unwrap() - (want + 25.0)).abs() < 1e-12);
}

#[test]
fn fitted_gaussians_of_the_same_samples_are_at_distance_zero() {
    let mut rng = Rng::seeded(6);
    let dim = 32;
    let feats: Vec<f32> = (0..500 * dim)
        .map(|i| rng.normal() * (1.0 + (i % dim) as f32 * 0.1))
        .collect();
    let g = Gaussian::fit(&feats, dim).unwrap();
    let d = frechet_distance(&g, &g).unwrap();
    let tr: f64 = (0..dim).map(|i| g.cov[i * dim + i]).sum();
    assert!(d < 1e-10 * tr, "d² = {d} for identical sets (tr Σ = {tr})");
}

#[test]
fn gaussian_fit_gives_numpy_mean_and_unbiased_covariance() {
    // Three 2-d points: mean (2, 3); centred (−1, −2), (0, 1), (1, 1); cov = Σ xxᵀ / 2.
    let g = Gaussian::fit(&[1.0, 1.0, 2.0, 4.0, 3.0, 4.0], 2).unwrap();
    assert_eq!(g.count, 3);
    assert_eq!(g.mean, vec![2.0, 3.0]);
    assert_eq!(g.cov, vec![1.0, 1.5, 1.5, 3.0]);
    assert!(Gaussian::fit(&[1.0, 2.0], 2)
        .unwrap_err()
        .to_string()
        .contains("at least 2"));
    assert!(Gaussian::fit(&[1.0, 2.0, 3.0], 2)
        .unwrap_err()
        .to_string()
        .contains("not vectors of 2"));
    assert!(Gaussian::fit(&[1.0, f32::NAN, 3.0, 4.0], 2)
        .unwrap_err()
        .to_string()
        .contains("NaN"));
}
