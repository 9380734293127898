//! The trained classifier is cached: trained on first use (about a minute) and kept at
//! `$XDG_CACHE_HOME/difflab/classifier-{size}.safetensors`, else
//! `~/.cache/difflab/classifier-{size}.safetensors`, beside the MNIST cache.
//!
//! The file is a safetensors file of the named weights whose metadata holds the format tag, the
//! config and a [`ClassifierInfo`] (test accuracy, training recipe and time), and it is written
//! atomically. A cache file that cannot be used (damaged, truncated, another format or version,
//! other sizes) is not an error: difflab prints a warning naming the file and what is wrong,
//! retrains, and replaces it.

use super::{train_classifier, Classifier, ClassifierConfig, TrainOptions, TrainReport};
use crate::data::digits::{load_digits, LabeledDigits};
use crate::data::{default_cache_dir, Split};
use crate::nn::Weights;
use crate::util::progress::Progress;
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` metadata of a classifier file.
pub const FORMAT: &str = "difflab-classifier";
/// Bump when the architecture or the training recipe changes: older caches are then retrained.
pub const VERSION: u32 = 1;

/// What is known about a trained classifier (stored in its file's metadata).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierInfo {
    /// Accuracy on the 10,000 MNIST test digits at the classifier's size.
    pub test_accuracy: f64,
    /// Share of the test digits it recognises (top probability ≥ [`super::CONFIDENCE`]).
    pub test_recognised: f64,
    /// Share of 1,000 pure-noise images (what an untrained denoiser makes) it "recognises":
    /// should be near 0.
    pub noise_recognised: f64,
    /// The recipe it was trained with.
    pub options: TrainOptions,
    /// What the training did (images, steps, loss, seconds).
    pub report: TrainReport,
}

/// A classifier read from (or just written to) its cache file.
#[derive(Clone, Debug)]
pub struct CachedClassifier {
    /// The model.
    pub classifier: Classifier,
    /// Its accuracy and training recipe.
    pub info: ClassifierInfo,
    /// The cache file (`None` when no cache folder is known and nothing was written).
    pub path: Option<PathBuf>,
    /// True when it was trained by this call rather than read from the cache.
    pub trained_now: bool,
}

/// `classifier-{size}.safetensors` beside the MNIST cache ([`default_cache_dir`]):
/// `$XDG_CACHE_HOME/difflab/` when that variable is an absolute path, else `~/.cache/difflab/`;
/// `None` when neither is known.
pub fn default_cache_path(size: usize) -> Option<PathBuf> {
    let mnist = default_cache_dir()?;
    Some(
        mnist
            .parent()?
            .join(format!("classifier-{size}.safetensors")),
    )
}

/// Write `classifier` and `info` to `path` atomically.
pub fn save_classifier(path: &Path, classifier: &Classifier, info: &ClassifierInfo) -> Result<()> {
    let mut w = classifier.to_weights();
    w.set_metadata("format", FORMAT);
    w.set_metadata("version", VERSION.to_string());
    w.set_metadata(
        "config",
        serde_json::to_string(classifier.config()).expect("serialisable"),
    );
    w.set_metadata("info", serde_json::to_string(info).expect("serialisable"));
    w.save_safetensors(path)
}

/// Read a classifier file written by [`save_classifier`]. Every problem is an error naming the
/// file: not safetensors, another format or version, a bad config, missing or mis-shaped
/// tensors, non-finite weights.
pub fn load_classifier(path: &Path) -> Result<(Classifier, ClassifierInfo)> {
    let w = Weights::load_safetensors(path)?;
    let meta = w.metadata();
    let field = |k: &str| {
        meta.get(k).ok_or_else(|| {
            Error::file(
                path,
                format!("no `{k}` metadata: not a difflab classifier file"),
            )
        })
    };
    let format = field("format")?;
    if format != FORMAT {
        return Err(Error::file(
            path,
            format!("format is `{format}`, expected `{FORMAT}`"),
        ));
    }
    let version = field("version")?;
    if version.parse::<u32>().ok() != Some(VERSION) {
        return Err(Error::file(
            path,
            format!("classifier version {version}, this difflab uses version {VERSION}"),
        ));
    }
    let cfg: ClassifierConfig = serde_json::from_str(field("config")?)
        .map_err(|e| Error::file(path, format!("bad `config` metadata ({e})")))?;
    let info: ClassifierInfo = serde_json::from_str(field("info")?)
        .map_err(|e| Error::file(path, format!("bad `info` metadata ({e})")))?;
    let model = Classifier::from_weights(cfg, &w).map_err(|e| match e {
        Error::Invalid(msg) => Error::file(path, msg),
        other => other,
    })?;
    Ok((model, info))
}

/// Train a classifier for `size × size` digits with `opts` on the MNIST training digits (all
/// 60,000 unless `opts.limit`) and measure it on the 10,000 test digits.
pub fn train_and_test(
    size: usize,
    opts: &TrainOptions,
    mnist_dir: Option<&Path>,
    progress: &mut dyn Progress,
) -> Result<(Classifier, ClassifierInfo)> {
    let cfg = ClassifierConfig::for_size(size);
    cfg.validate()?;
    let train = load_digits(Split::Train, size, mnist_dir)?;
    let test = load_digits(Split::Test, size, mnist_dir)?;
    let (model, report) = train_classifier(&cfg, &train, opts, progress)?;
    let info = ClassifierInfo::measure(&model, &test, opts, report)?;
    Ok((model, info))
}

impl ClassifierInfo {
    /// Measure `model` on the MNIST `test` digits and on 1,000 pure-noise images
    /// (`(clamp(z, −1, 1) + 1)/2` for z ~ N(0, 1), seed 0: a sampler's output from a model that
    /// learned nothing), and record how it was trained.
    pub fn measure(
        model: &Classifier,
        test: &LabeledDigits,
        options: &TrainOptions,
        report: TrainReport,
    ) -> Result<Self> {
        let c = model.classify(&test.images)?;
        let s = model.image_size();
        let noise: Vec<f32> = Rng::seeded(0)
            .normal_vec(1000 * s * s)
            .iter()
            .map(|z| (z.clamp(-1.0, 1.0) + 1.0) * 0.5)
            .collect();
        Ok(ClassifierInfo {
            test_accuracy: c.accuracy(&test.labels),
            test_recognised: c.recognised_share(),
            noise_recognised: model.classify(&noise)?.recognised_share(),
            options: options.clone(),
            report,
        })
    }
}

/// The classifier for `size × size` digits: read from `path` (default [`default_cache_path`])
/// if it holds a usable one of that size, else trained now with [`TrainOptions::for_size`] (see
/// [`train_and_test`]) and written there. An unusable cache file gives a warning on stderr and
/// is replaced.
pub fn cached_classifier(
    size: usize,
    path: Option<&Path>,
    mnist_dir: Option<&Path>,
    progress: &mut dyn Progress,
) -> Result<CachedClassifier> {
    let opts = TrainOptions::for_size(size);
    cached_classifier_with(size, path, mnist_dir, &opts, progress)
}

/// [`cached_classifier`] with another training recipe for the case that it must train.
pub fn cached_classifier_with(
    size: usize,
    path: Option<&Path>,
    mnist_dir: Option<&Path>,
    opts: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<CachedClassifier> {
    ClassifierConfig::for_size(size).validate()?;
    let path = path
        .map(Path::to_path_buf)
        .or_else(|| default_cache_path(size));
    if let Some(p) = path.as_deref().filter(|p| p.exists()) {
        match load_classifier(p) {
            Ok((classifier, info)) if classifier.image_size() == size => {
                return Ok(CachedClassifier { classifier, info, path: Some(p.to_path_buf()), trained_now: false })
            }
            Ok((c, _)) => eprintln!(
                "warning: {}: holds a classifier for {s}×{s} digits, not {size}×{size}; retraining and replacing it",
                p.display(),
                s = c.image_size()
            ),
            Err(e) => eprintln!("warning: the cached classifier is unusable ({e}); retraining and replacing it"),
        }
    }
    progress.line(&format!(
        "Training the {size}×{size} MNIST classifier that judges digits (once; it is cached)..."
    ));
    let (classifier, info) = train_and_test(size, opts, mnist_dir, progress)?;
    match path.as_deref() {
        Some(p) => save_classifier(p, &classifier, &info)?,
        None => eprintln!("warning: no cache folder (neither XDG_CACHE_HOME nor HOME is set): the classifier is not kept"),
    }
    Ok(CachedClassifier {
        classifier,
        info,
        path,
        trained_now: true,
    })
}
