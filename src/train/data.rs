//! The training images: MNIST training digits of the selected classes, resized as the lab does
//! (bilinear, half-pixel centres), in the models' range [−1, 1] (a [`LabeledDigits`] set of
//! the data layer), and the digit options.

use crate::data::digits::LabeledDigits;
use crate::data::{Digits, PixelRange, Split};
use crate::Result;
use std::path::Path;

/// The digits `0..n` for `--classes n`, which must be 1..=10.
pub fn classes(n: usize) -> Result<Vec<u8>> {
    Ok(Digits::classes(n)?.to_vec())
}

/// A validated `--digits` list (each 0-9, no repeats, not empty), ascending.
pub fn digit_list(digits: &[u8]) -> Result<Vec<u8>> {
    Ok(Digits::list(digits)?.to_vec())
}

/// The training images of `digits` at `size × size`, in file order, at most `limit` of them,
/// in [−1, 1]. MNIST is found as everywhere in difflab: `dir` (`--mnist-dir`),
/// `DIFFLAB_MNIST_DIR`, the cache, a download.
pub fn load_training_set(
    dir: Option<&Path>,
    digits: &[u8],
    size: usize,
    limit: Option<usize>,
) -> Result<LabeledDigits> {
    let digits = Digits::list(digits)?;
    LabeledDigits::load(
        Split::Train,
        digits,
        size,
        limit,
        PixelRange::Symmetric,
        dir,
    )
}
