//! Where the reverse process starts: x_T drawn from pure noise, or from noise matched to what the
//! forward process really leaves of the training data at the first sampled timestep.
//!
//! The lab's schedule (T = 200, linear β from 1e-4 to 0.02) ends at ᾱ_T ≈ 0.132: the noisiest
//! training input still holds √ᾱ_T ≈ 36% of the image, `x_T = 0.36·x₀ + 0.93·ε`. MNIST digits in
//! [-1, 1] are mostly background (mean pixel ≈ -0.73), so every x_T the model saw in training had
//! a mean of about -0.27, while pure noise has mean 0: it looks like a picture with more ink than
//! any digit. Started there, the model drifts to the inkiest digits and almost never draws a thin
//! "1". Matching the start's mean and variance to the noised data removes that mismatch
//! without telling the model anything about any particular digit (two numbers for the whole
//! training set, not an image).
//!
//! With T = 1000 (diffusers' models) ᾱ_T ≈ 4e-5, and both starts are the same to within 0.6%.

use serde::{Deserialize, Serialize};

/// The distribution of the starting sample x_T.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StartNoise {
    /// `x_T ~ N(0, I)`: pure noise, as DDPM and diffusers start.
    Pure,
    /// `x_T ~ N(√ᾱ·mean, (1 − ᾱ + ᾱ·std²)·I)`: the mean and variance the forward process gives a
    /// pixel of the training data (pixel mean `mean`, standard deviation `std`) at the first
    /// sampled timestep, whose ᾱ is passed to [`StartNoise::shape`].
    Matched {
        /// Mean pixel value of the training images (in the model's range).
        mean: f32,
        /// Standard deviation of the training images' pixels.
        std: f32,
    },
}

impl StartNoise {
    /// The matched start for training images with pixel mean `mean` and deviation `std`.
    pub fn matched(mean: f32, std: f32) -> Self {
        StartNoise::Matched { mean, std }
    }

    /// Turn standard normals `x` (in place) into draws of this start at a timestep with
    /// cumulative signal `alpha_bar` (ᾱ of the loop's first timestep): `x ← a + b·x` with
    /// `a = √ᾱ·mean`, `b = √(1 − ᾱ + ᾱ·std²)`. Leaves `x` unchanged for [`StartNoise::Pure`].
    pub fn shape(&self, alpha_bar: f64, x: &mut [f32]) {
        if let StartNoise::Matched { mean, std } = *self {
            let (a, b) = Self::affine(alpha_bar, mean, std);
            for v in x.iter_mut() {
                *v = a + b * *v;
            }
        }
    }

    /// `(a, b)` of [`StartNoise::shape`].
    fn affine(alpha_bar: f64, mean: f32, std: f32) -> (f32, f32) {
        let ab = alpha_bar.clamp(0.0, 1.0);
        let a = ab.sqrt() * mean as f64;
        let b = (1.0 - ab + ab * (std as f64).powi(2)).sqrt();
        (a as f32, b as f32)
    }

    /// This start, or [`StartNoise::Pure`] when `pure` (a `--pure-start` option).
    pub fn or_pure(self, pure: bool) -> Self {
        if pure {
            StartNoise::Pure
        } else {
            self
        }
    }

    /// A short name for summaries and figure captions: `pure` or `matched`.
    pub fn name(&self) -> &'static str {
        match self {
            StartNoise::Pure => "pure",
            StartNoise::Matched { .. } => "matched",
        }
    }
}

/// Mean and standard deviation of all values of `images` (f64 sums); `None` when empty or not
/// finite.
pub fn pixel_moments(images: &[f32]) -> Option<(f32, f32)> {
    if images.is_empty() {
        return None;
    }
    let n = images.len() as f64;
    let mean = images.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = images
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean.is_finite() && var.is_finite()).then(|| (mean as f32, var.sqrt() as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::Rng;

    /// The matched start has the mean and variance of `√ᾱ·x₀ + √(1−ᾱ)·ε` over the data.
    #[test]
    fn matched_start_has_the_noised_datas_moments() {
        let mut rng = Rng::seeded(1);
        let data: Vec<f32> = (0..200_000)
            .map(|i| if i % 5 == 0 { 0.9 } else { -1.0 })
            .collect();
        let (m, s) = pixel_moments(&data).unwrap();
        assert!((m - (-0.62)).abs() < 1e-4, "{m}");
        let ab = 0.132;
        let eps = rng.normal_vec(data.len());
        let noised: Vec<f32> = data
            .iter()
            .zip(&eps)
            .map(|(&x, &e)| (ab as f32).sqrt() * x + (1.0 - ab as f32).sqrt() * e)
            .collect();
        let (want_m, want_s) = pixel_moments(&noised).unwrap();
        let mut x = rng.normal_vec(data.len());
        StartNoise::matched(m, s).shape(ab, &mut x);
        let (got_m, got_s) = pixel_moments(&x).unwrap();
        assert!((got_m - want_m).abs() < 0.01, "mean {got_m} vs {want_m}");
        assert!((got_s - want_s).abs() < 0.01, "std {got_s} vs {want_s}");
        let mut y = x.clone();
        StartNoise::Pure.shape(ab, &mut y);
        assert_eq!(x, y);
        assert!(pixel_moments(&[]).is_none());
        assert!(pixel_moments(&[f32::NAN]).is_none());
    }
}
