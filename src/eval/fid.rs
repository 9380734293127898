//! FID in the classifier's feature space: the Fréchet distance between Gaussians fitted to the
//! penultimate features (the 128-d `fc1` output) of two sets of digits.
//!
//! The classic FID uses Inception-v3 features of 299×299 photos; for 16×16 digits a small
//! MNIST classifier is the usual stand-in (as in the fast.ai course and lucidrains' trainer).
//! Values are therefore comparable only between runs that use the same classifier, the same
//! reference set and the same sample count (FID is biased upwards for small sets), which is why
//! every evaluation reports a floor: the FID of as many real training digits.

use super::frechet::{frechet_distance, Gaussian};
use crate::models::classifier::Classifier;
use crate::Result;

/// The Gaussian fitted to the classifier's penultimate features of `images` (`n × s × s`
/// values in [0, 1]).
pub fn feature_gaussian(classifier: &Classifier, images: &[f32]) -> Result<Gaussian> {
    let c = classifier.classify(images)?;
    Gaussian::fit(&c.features, c.feature_dim)
}

/// FID between two sets of digits (each `n × s × s` values in [0, 1], at least two images).
pub fn fid(classifier: &Classifier, a: &[f32], b: &[f32]) -> Result<f64> {
    frechet_distance(
        &feature_gaussian(classifier, a)?,
        &feature_gaussian(classifier, b)?,
    )
}
