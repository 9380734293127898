//! The training images: MNIST training digits of the selected classes, resized as the lab does
//! (bilinear, half-pixel centres), in the models' range [−1, 1]. Loading, lookup and resizing
//! are the data module's ([`crate::data`]); this adds the model range and the digit options.

use crate::data::{Digits, Mnist, PixelRange, Selection, Split};
use crate::Result;
use std::path::{Path, PathBuf};

/// Selected training images in model range.
#[derive(Clone, Debug)]
pub struct TrainingSet {
    /// Each image is `size × size`.
    pub size: usize,
    /// `len() · size²` values in [−1, 1], one image after another.
    pub images: Vec<f32>,
    /// The digit of each image.
    pub labels: Vec<u8>,
    /// The file the images came from.
    pub source: PathBuf,
}

impl TrainingSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image `i` (`size²` values).
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.size * self.size;
        &self.images[i * p..(i + 1) * p]
    }
}

/// The digits `0..n` for `--classes n`, which must be 1..=10.
pub fn classes(n: usize) -> Result<Vec<u8>> {
    Ok(Digits::classes(n)?.to_vec())
}

/// A validated `--digits` list (each 0-9, no repeats, not empty), ascending.
pub fn digit_list(digits: &[u8]) -> Result<Vec<u8>> {
    Ok(Digits::list(digits)?.to_vec())
}

/// The training images of `digits` at `size × size`, in file order, at most `limit` of them.
/// MNIST is found as everywhere in difflab: `dir` (`--mnist-dir`), `DIFFLAB_MNIST_DIR`, the
/// cache, a download.
pub fn load_training_set(
    dir: Option<&Path>,
    digits: &[u8],
    size: usize,
    limit: Option<usize>,
) -> Result<TrainingSet> {
    let mnist = Mnist::load(Split::Train, dir)?;
    let mut sel = Selection::training(Digits::list(digits)?).with_size(size);
    if let Some(n) = limit {
        sel = sel.with_limit(n);
    }
    let d = mnist.select(&sel)?;
    let images = d
        .images
        .iter()
        .map(|&v| PixelRange::Symmetric.from_unit(v))
        .collect();
    Ok(TrainingSet {
        size,
        images,
        labels: d.labels,
        source: mnist.images_path().to_path_buf(),
    })
}
