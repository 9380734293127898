//! Labelled MNIST digits as the models take them: the selected digits of a split, resized as
//! the lab does (bilinear, half-pixel centres) and scaled to a pixel range. The denoisers train
//! on them in [−1, 1], the classifier trains and is tested on them in [0, 1], so both see
//! digits exactly alike.

use super::mnist::{Digits, Mnist, PixelRange, Selection, Split};
use crate::Result;
use std::path::{Path, PathBuf};

/// A labelled set of square grayscale digits.
#[derive(Clone, Debug)]
pub struct LabeledDigits {
    /// Side of each image.
    pub size: usize,
    /// `len() · size²` values in [`LabeledDigits::range`], one image after another, row-major.
    pub images: Vec<f32>,
    /// The digit of each image.
    pub labels: Vec<u8>,
    /// The pixel range of `images`.
    pub range: PixelRange,
    /// The file the images came from.
    pub source: PathBuf,
}

impl LabeledDigits {
    /// The images of `digits` in `split` at `size × size`, in file order, at most `limit` of
    /// them, in `range`. MNIST is found as everywhere in difflab: `dir` (`--mnist-dir`),
    /// `DIFFLAB_MNIST_DIR`, the cache, a download.
    pub fn load(
        split: Split,
        digits: Digits,
        size: usize,
        limit: Option<usize>,
        range: PixelRange,
        dir: Option<&Path>,
    ) -> Result<Self> {
        let mnist = Mnist::load(split, dir)?;
        let mut sel = Selection::training(digits).with_size(size);
        if let Some(n) = limit {
            sel = sel.with_limit(n);
        }
        let d = mnist.select(&sel)?;
        let images = d.images.iter().map(|&v| range.from_unit(v)).collect();
        Ok(LabeledDigits {
            size,
            images,
            labels: d.labels,
            range,
            source: mnist.images_path().to_path_buf(),
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` (`size²` values). Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.size * self.size;
        &self.images[i * p..(i + 1) * p]
    }
}

/// Every digit of `split` (60,000 training or 10,000 test digits) at `size × size`, in [0, 1],
/// in file order: what the classifier trains and is tested on.
pub fn load_digits(split: Split, size: usize, mnist_dir: Option<&Path>) -> Result<LabeledDigits> {
    LabeledDigits::load(
        split,
        Digits::all(),
        size,
        None,
        PixelRange::Unit,
        mnist_dir,
    )
}
