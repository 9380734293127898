//! The labelled MNIST digits the classifier trains and is tested on, through the data layer
//! ([`crate::data`]): found as everywhere in difflab (`--mnist-dir`, `DIFFLAB_MNIST_DIR`, the
//! cache, a download) and resized like the denoisers' training data (bilinear, half-pixel
//! centres), so the classifier sees digits exactly as the generators learn them.

use crate::data::{Digits, Mnist, Selection, Split};
use crate::Result;
use std::path::Path;

/// A labelled set of square grayscale digits in [0, 1] (0 = background).
#[derive(Clone, Debug)]
pub struct LabeledDigits {
    /// Side of each image.
    pub size: usize,
    /// `len × size × size` values in [0, 1], row-major.
    pub images: Vec<f32>,
    /// One label 0-9 per image.
    pub labels: Vec<u8>,
}

impl LabeledDigits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image `i` (`size × size` values).
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.size * self.size;
        &self.images[i * p..(i + 1) * p]
    }
}

/// Every digit of `split` (60,000 training or 10,000 test digits) at `size × size`, in [0, 1],
/// in file order.
pub fn load_digits(split: Split, size: usize, mnist_dir: Option<&Path>) -> Result<LabeledDigits> {
    let mnist = Mnist::load(split, mnist_dir)?;
    let set = mnist.select(&Selection::full_size(Digits::all()).with_size(size))?;
    Ok(LabeledDigits {
        size,
        images: set.images,
        labels: set.labels,
    })
}
