//! Scoring a set of digits against MNIST: how many the classifier recognises, whether they are
//! the digits the model was trained on and in what proportions, and their FID against the
//! MNIST test digits of those classes — with the same scores for real training digits beside
//! them as the floor.
//!
//! "Recognised" is only as honest as the classifier's doubt: trained on digits alone, a CNN
//! calls noise an "8" with certainty. difflab's classifier is also shown synthetic non-digits
//! with a uniform target ([`crate::models::classifier::outliers`]), so pure noise is recognised
//! about 0% of the time while about 97% of real test digits are.

use super::fid::feature_gaussian;
use super::frechet::{frechet_distance, Gaussian};
use crate::data::digits::load_digits;
use crate::data::Split;
use crate::models::classifier::{cached_classifier, CachedClassifier, Classifier};
use crate::nn::Tensor;
use crate::pipelines::sample::to_unit_range;
use crate::util::progress::Progress;
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::models::classifier::CONFIDENCE;

/// The scores of one set of digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetScores {
    /// Number of digits scored.
    pub count: usize,
    /// Share whose top class probability is at least [`CONFIDENCE`].
    pub recognised: f64,
    /// Share classified as one of the trained digits (whatever the confidence).
    pub in_classes: f64,
    /// How many were classified as each digit 0-9.
    pub class_histogram: Vec<usize>,
    /// FID against the MNIST test digits of the trained classes.
    pub fid: f64,
}

/// Scores digits for one image size and set of trained classes: holds the classifier, the
/// Gaussian of the reference (MNIST test digits of those classes) and the floor.
#[derive(Clone, Debug)]
pub struct Evaluator {
    /// The classifier, its accuracy and where it is cached.
    pub classifier: CachedClassifier,
    /// The trained digits, ascending.
    pub digits: Vec<u8>,
    /// Features of the MNIST test digits of `digits`.
    pub reference: Gaussian,
    /// The scores of as many real training digits of `digits` as a generated set has: what a
    /// perfect generator would get.
    pub floor: SetScores,
}

/// Check a list of trained digits: not empty, each 0-9, no repeats; returned ascending.
fn checked_digits(digits: &[u8]) -> Result<Vec<u8>> {
    let mut d = digits.to_vec();
    d.sort_unstable();
    d.dedup();
    if d.is_empty() || d.len() != digits.len() || d.iter().any(|&v| v > 9) {
        return Err(Error::invalid(format!(
            "trained digits must be distinct digits 0-9, got {digits:?}"
        )));
    }
    Ok(d)
}

impl Evaluator {
    /// Get the classifier for `image_size` (the cache at `classifier_path` or the default one,
    /// trained if needed) and prepare the reference and the floor for sets of `count` digits.
    pub fn new(
        image_size: usize,
        digits: &[u8],
        count: usize,
        seed: u64,
        classifier_path: Option<&Path>,
        mnist_dir: Option<&Path>,
        progress: &mut dyn Progress,
    ) -> Result<Self> {
        let classifier = cached_classifier(image_size, classifier_path, mnist_dir, progress)?;
        Self::with_classifier(classifier, digits, count, seed, mnist_dir)
    }

    /// Like [`Evaluator::new`] with a classifier at hand. The floor uses `count` training
    /// digits of `digits` drawn at random with `seed`.
    pub fn with_classifier(
        classifier: CachedClassifier,
        digits: &[u8],
        count: usize,
        seed: u64,
        mnist_dir: Option<&Path>,
    ) -> Result<Self> {
        let digits = checked_digits(digits)?;
        if count < 2 {
            return Err(Error::invalid(format!(
                "an evaluation needs at least 2 digits (FID fits a covariance), got {count}"
            )));
        }
        let size = classifier.classifier.image_size();
        let test = load_digits(Split::Test, size, mnist_dir)?;
        let reference = feature_gaussian(
            &classifier.classifier,
            &select(&test.images, &test.labels, size, &digits, None, seed),
        )?;
        let train = load_digits(Split::Train, size, mnist_dir)?;
        let real = select(
            &train.images,
            &train.labels,
            size,
            &digits,
            Some(count),
            seed,
        );
        let mut ev = Evaluator {
            classifier,
            digits,
            reference,
            floor: empty_scores(),
        };
        ev.floor = ev.score_unit(&real)?;
        Ok(ev)
    }

    /// The classifier.
    pub fn model(&self) -> &Classifier {
        &self.classifier.classifier
    }

    /// Side of the digits it scores.
    pub fn image_size(&self) -> usize {
        self.model().image_size()
    }

    /// Score digits given as `n × s × s` values in [0, 1] (0 = background).
    pub fn score_unit(&self, images: &[f32]) -> Result<SetScores> {
        Ok(self.score_unit_predicted(images)?.0)
    }

    /// [`Evaluator::score_unit`], also returning the class the classifier gives each digit.
    pub fn score_unit_predicted(&self, images: &[f32]) -> Result<(SetScores, Vec<usize>)> {
        let c = self.model().classify(images)?;
        let n = c.len();
        if n < 2 {
            return Err(Error::invalid(format!(
                "scoring needs at least 2 digits, got {n}"
            )));
        }
        let predicted = c.predicted();
        let mut class_histogram = vec![0usize; c.classes];
        for &p in &predicted {
            class_histogram[p] += 1;
        }
        let in_classes = predicted
            .iter()
            .filter(|&&p| self.digits.contains(&(p as u8)))
            .count();
        let gen = Gaussian::fit(&c.features, c.feature_dim)?;
        let scores = SetScores {
            count: n,
            recognised: c.recognised_share(),
            in_classes: in_classes as f64 / n as f64,
            class_histogram,
            fid: frechet_distance(&gen, &self.reference)?,
        };
        Ok((scores, predicted))
    }

    /// Score generated samples as a model returns them: `[n, s, s, 1]` in the models' range
    /// [−1, 1] (clamped, then mapped to [0, 1] as for display).
    pub fn score_samples(&self, samples: &Tensor) -> Result<SetScores> {
        Ok(self.score_samples_predicted(samples)?.0)
    }

    /// [`Evaluator::score_samples`], also returning the class the classifier gives each sample.
    pub fn score_samples_predicted(&self, samples: &Tensor) -> Result<(SetScores, Vec<usize>)> {
        let s = self.image_size();
        match samples.shape() {
            [_, h, w, 1] if *h == s && *w == s => {}
            other => {
                return Err(Error::invalid(format!(
                    "the classifier scores [n, {s}, {s}, 1] samples, got shape {other:?}"
                )))
            }
        }
        self.score_unit_predicted(to_unit_range(samples).data())
    }
}

fn empty_scores() -> SetScores {
    SetScores {
        count: 0,
        recognised: 0.0,
        in_classes: 0.0,
        class_histogram: vec![0; 10],
        fid: 0.0,
    }
}

/// The images whose label is in `digits`: all of them in file order, or `limit` of them drawn
/// at random without replacement with `seed`.
fn select(
    images: &[f32],
    labels: &[u8],
    size: usize,
    digits: &[u8],
    limit: Option<usize>,
    seed: u64,
) -> Vec<f32> {
    let px = size * size;
    let mut idx: Vec<usize> = (0..labels.len())
        .filter(|&i| digits.contains(&labels[i]))
        .collect();
    if let Some(k) = limit {
        Rng::seeded(seed).shuffle(&mut idx);
        idx.truncate(k);
    }
    idx.iter()
        .flat_map(|&i| images[i * px..(i + 1) * px].iter().copied())
        .collect()
}
