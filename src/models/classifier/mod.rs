//! A small MNIST classifier (the Lab 7 CNN) on the compute core: it judges generated digits
//! (which digit, how sure) and its penultimate layer is the feature space of difflab's FID.
//!
//! ```text
//! x (s×s×1, pixels in [0, 1])
//!   conv1: Conv3×3 16 + ReLU ─ MaxPool2          → s/2 × s/2 × 16
//!   conv2: Conv3×3 32 + ReLU ─ MaxPool2          → s/4 × s/4 × 32 (flattened, NHWC order)
//!   fc1:   Linear 128 + ReLU                     → the 128 "penultimate features"
//!   fc2:   Linear 10                             → logits; softmax gives class probabilities
//! ```
//! 'Same' padding; `s` is 16 or 28 (any side divisible by 4 works). At 16×16 the model has
//! 71,754 parameters, at 28×28 206,922. Parameters live in one flat buffer in [`PARAM_NAMES`]
//! order, conv weights HWIO `[3, 3, cin, cout]`, linear weights `[in, out]`; training goes
//! through a [`ClassifierCtx`] that owns the activations and gradients of one batch size.
//! Training, the synthetic non-digits it learns to doubt and the cache are in [`train`],
//! [`outliers`] and [`cache`]; the labelled digits come from [`crate::data::digits`].

pub mod cache;
mod ctx;
pub mod outliers;
pub mod train;

pub use cache::{
    cached_classifier, cached_classifier_with, default_cache_path, load_classifier,
    save_classifier, train_and_test, CachedClassifier, ClassifierInfo,
};
pub use ctx::ClassifierCtx;
// Old paths of the data layer's labelled digits, still imported by `eval::score`.
pub use train::{train_classifier, TrainOptions, TrainReport};

use crate::nn::params::{ParamLayout, Params};
use crate::nn::{init, Weights};
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The classifier's sizes. [`ClassifierConfig::for_size`] gives difflab's model for a side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Side of the square input images (16 or 28).
    pub image_size: usize,
    /// Output channels of the two convolutions (`[16, 32]`).
    pub channels: [usize; 2],
    /// Width of the penultimate dense layer, i.e. of the FID features (128).
    pub hidden: usize,
    /// Number of classes (10 digits).
    pub classes: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self::for_size(16)
    }
}

impl ClassifierConfig {
    /// difflab's classifier for `size × size` digits: channels 16 and 32, 128 features, 10 classes.
    pub fn for_size(size: usize) -> Self {
        ClassifierConfig {
            image_size: size,
            channels: [16, 32],
            hidden: 128,
            classes: 10,
        }
    }

    /// An error unless every size is usable (positive, side divisible by 4 and at least 4).
    pub fn validate(&self) -> Result<()> {
        let s = self.image_size;
        if s < 4 || !s.is_multiple_of(4) {
            return Err(Error::invalid(format!(
                "the classifier needs an image side divisible by 4 (two 2× poolings), got {s}"
            )));
        }
        if self.channels.contains(&0) || self.hidden == 0 || self.classes < 2 {
            return Err(Error::invalid(format!(
                "classifier config: sizes must be positive (and ≥ 2 classes), got {self:?}"
            )));
        }
        Ok(())
    }

    /// Length of the flattened second pooling output, `(s/4)² · channels[1]`.
    pub fn flat_features(&self) -> usize {
        (self.image_size / 4).pow(2) * self.channels[1]
    }

    /// The shapes of the parameter tensors, in [`PARAM_NAMES`] order.
    pub fn param_shapes(&self) -> [Vec<usize>; 8] {
        let [c1, c2] = self.channels;
        [
            vec![3, 3, 1, c1],
            vec![c1],
            vec![3, 3, c1, c2],
            vec![c2],
            vec![self.flat_features(), self.hidden],
            vec![self.hidden],
            vec![self.hidden, self.classes],
            vec![self.classes],
        ]
    }
}

/// A digit counts as recognised when the classifier gives its top class at least this
/// probability.
pub const CONFIDENCE: f32 = 0.9;

/// Names of the parameter tensors, in the order of the flat buffer.
pub const PARAM_NAMES: [&str; 8] = [
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
];

/// The parameter tensors, in [`PARAM_NAMES`] order.
fn param_layout(cfg: &ClassifierConfig) -> ParamLayout {
    let mut l = ParamLayout::new();
    for (name, shape) in PARAM_NAMES.iter().zip(cfg.param_shapes()) {
        l.push(*name, shape);
    }
    l
}

/// The classifier: its configuration and its parameters in one flat buffer.
#[derive(Clone, Debug)]
pub struct Classifier {
    cfg: ClassifierConfig,
    params: Params,
}

impl Classifier {
    /// A freshly initialised model: He-uniform weights (`U(±√(6/fan_in))`, suited to ReLU),
    /// zero biases.
    pub fn new(cfg: ClassifierConfig, rng: &mut Rng) -> Result<Self> {
        cfg.validate()?;
        let mut params = Params::zeros(param_layout(&cfg));
        for (i, shape) in cfg.param_shapes().iter().enumerate() {
            if shape.len() > 1 {
                let fan_in: usize = shape[..shape.len() - 1].iter().product();
                init::kaiming_uniform(params.get_mut(i), fan_in, 0.0, rng);
            }
        }
        Ok(Classifier { cfg, params })
    }

    /// A model with the named tensors of `w` (as written by [`Classifier::to_weights`]); a
    /// missing tensor or a wrong shape is an error naming the file, the key and the shapes.
    pub fn from_weights(cfg: ClassifierConfig, w: &Weights) -> Result<Self> {
        cfg.validate()?;
        let params = Params::from_weights(param_layout(&cfg), w, "")?;
        if params.values().iter().any(|v| !v.is_finite()) {
            let src = w
                .source()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "classifier weights".into());
            return Err(Error::invalid(format!(
                "{src}: the classifier weights contain NaN or infinite values"
            )));
        }
        Ok(Classifier { cfg, params })
    }

    /// The parameters as named tensors (no metadata).
    pub fn to_weights(&self) -> Weights {
        self.params.to_weights()
    }

    /// The configuration.
    pub fn config(&self) -> &ClassifierConfig {
        &self.cfg
    }
    /// Side of the images it takes.
    pub fn image_size(&self) -> usize {
        self.cfg.image_size
    }
    /// Width of [`Classification::features`] (the penultimate layer).
    pub fn feature_dim(&self) -> usize {
        self.cfg.hidden
    }
    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }
    /// The flat parameter buffer.
    pub fn params(&self) -> &[f32] {
        self.params.values()
    }
    /// The flat parameter buffer, mutable (for optimisers).
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.params.values_mut()
    }
    /// Where each tensor of [`PARAM_NAMES`] sits in the flat buffer.
    pub fn param_ranges(&self) -> Vec<Range<usize>> {
        self.params
            .specs()
            .iter()
            .map(|s| s.range.clone())
            .collect()
    }
    /// The parameters and their layout.
    pub(crate) fn store(&self) -> &Params {
        &self.params
    }

    /// Run the classifier over `images` (`n × s × s` values, pixels in [0, 1], 0 = background),
    /// in batches, and return every image's class probabilities and penultimate features.
    pub fn classify(&self, images: &[f32]) -> Result<Classification> {
        let s = self.cfg.image_size;
        let px = s * s;
        if !images.len().is_multiple_of(px) {
            return Err(Error::invalid(format!(
                "classify: {} values are not a whole number of {s}×{s} images",
                images.len()
            )));
        }
        let n = images.len() / px;
        const BATCH: usize = 500;
        let mut ctx = ClassifierCtx::new(&self.cfg, BATCH.min(n.max(1)), false);
        let (c, f) = (self.cfg.classes, self.cfg.hidden);
        let mut probs = vec![0.0f32; n * c];
        let mut features = vec![0.0f32; n * f];
        for start in (0..n).step_by(BATCH) {
            let len = BATCH.min(n - start);
            ctx.input_mut(len)
                .copy_from_slice(&images[start * px..(start + len) * px]);
            ctx.forward(self, len);
            features[start * f..(start + len) * f].copy_from_slice(ctx.features(len));
            let p = &mut probs[start * c..(start + len) * c];
            p.copy_from_slice(ctx.logits(len));
            crate::nn::ops::softmax_rows_inplace(p, len, c);
        }
        Ok(Classification {
            classes: c,
            feature_dim: f,
            probs,
            features,
        })
    }
}

/// What the classifier says about a set of images.
#[derive(Clone, Debug)]
pub struct Classification {
    /// Number of classes per row of `probs`.
    pub classes: usize,
    /// Width of a row of `features`.
    pub feature_dim: usize,
    /// Class probabilities, `[n, classes]`.
    pub probs: Vec<f32>,
    /// Penultimate (fc1, after ReLU) features, `[n, feature_dim]`.
    pub features: Vec<f32>,
}

impl Classification {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.probs.len() / self.classes
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.probs.is_empty()
    }
    /// The most probable class of each image.
    pub fn predicted(&self) -> Vec<usize> {
        crate::nn::cross_entropy::argmax_rows(&self.probs, self.classes)
    }
    /// The probability of each image's most probable class.
    pub fn top_probs(&self) -> Vec<f32> {
        self.probs
            .chunks_exact(self.classes)
            .map(|r| r.iter().fold(0.0f32, |a, &v| a.max(v)))
            .collect()
    }
    /// The share of images whose top class probability is at least [`CONFIDENCE`].
    pub fn recognised_share(&self) -> f64 {
        let n = self
            .top_probs()
            .iter()
            .filter(|&&p| p >= CONFIDENCE)
            .count();
        n as f64 / self.len().max(1) as f64
    }
    /// The share of images whose predicted class equals `labels[i]`.
    pub fn accuracy(&self, labels: &[u8]) -> f64 {
        let pred = self.predicted();
        let right = pred
            .iter()
            .zip(labels)
            .filter(|(&p, &l)| p == l as usize)
            .count();
        right as f64 / pred.len().max(1) as f64
    }
}
