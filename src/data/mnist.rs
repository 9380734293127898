//! The MNIST splits in memory, and selecting a training set from them.
//!
//! Pixel conventions (used by every module):
//! - on disk and in [`Mnist`]: `u8`, 0 = black background, 255 = white ink, 28 × 28;
//! - for display ([`PixelRange::Unit`]): `v / 255` in [0, 1];
//! - for the models ([`PixelRange::Symmetric`]): `2·v/255 − 1` in [−1, 1], so that the data has
//!   roughly the scale of the N(0, 1) noise it is mixed with and pure noise is centred on "grey".
//!   [`to_display`] maps a model-range value back to [0, 1] (clamped) for figures.

use super::idx::{read_images, read_labels};
use super::locate::{find_file, MnistLocator};
use super::resize::{ResizeFilter, Resizer};
use crate::nn::tensor::Tensor;
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The training (60 000 images) or test (10 000 images) split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// `train-*`: 60 000 images.
    #[default]
    Train,
    /// `t10k-*`: 10 000 images.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
    /// The (images, labels) file names without `.gz`.
    pub fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

/// One MNIST split: `len()` images of `rows × cols` bytes and their labels.
#[derive(Clone, Debug)]
pub struct Mnist {
    split: Split,
    rows: usize,
    cols: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    images_path: PathBuf,
}

impl Mnist {
    /// Load `split`, finding the files as the CLI does ([`MnistLocator::from_env`]: the
    /// `--mnist-dir` value passed here, then `DIFFLAB_MNIST_DIR`, the cache, a download).
    pub fn load(split: Split, mnist_dir: Option<&Path>) -> Result<Self> {
        let loc = MnistLocator::from_env(mnist_dir).locate()?;
        Self::load_dir(&loc.dir, split)
    }

    /// Load `split` from `dir`, which holds its two files raw or `.gz`.
    pub fn load_dir(dir: &Path, split: Split) -> Result<Self> {
        let (img, lab) = split.file_names();
        let path = |name: &str| {
            find_file(dir, name).ok_or_else(|| {
                Error::file(
                    dir.join(name),
                    "missing: neither it nor its .gz is in this folder",
                )
            })
        };
        Self::from_files(&path(img)?, &path(lab)?, split)
    }

    /// Load from an explicit pair of files. Their counts must agree.
    pub fn from_files(images: &Path, labels: &Path, split: Split) -> Result<Self> {
        let (imgs, labs) = rayon::join(|| read_images(images), || read_labels(labels));
        let (count, rows, cols, pixels) = imgs?;
        let labels_v = labs?;
        if labels_v.len() != count {
            return Err(Error::file(
                labels,
                format!(
                    "has {} labels but {} has {count} images",
                    labels_v.len(),
                    images.display()
                ),
            ));
        }
        Ok(Mnist {
            split,
            rows,
            cols,
            pixels,
            labels: labels_v,
            images_path: images.to_path_buf(),
        })
    }

    /// Which split this is.
    pub fn split(&self) -> Split {
        self.split
    }
    /// The image file it was read from (for messages).
    pub fn images_path(&self) -> &Path {
        &self.images_path
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True if there are no images (never for a valid file: dimensions are non-zero).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image height (28 for MNIST).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Image width (28 for MNIST).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Every label, one per image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
    /// The label of image `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }
    /// The raw bytes of image `i` (`rows × cols`). Panics if `i >= len()`.
    pub fn image_u8(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
    /// Image `i` in `range`, at its stored size, or an error naming the index if it is out of range.
    pub fn image(&self, i: usize, range: PixelRange) -> Result<Vec<f32>> {
        if i >= self.len() {
            return Err(Error::invalid(format!(
                "--index {i} is out of range: MNIST {} has {} images (0..={})",
                self.split.name(),
                self.len(),
                self.len() - 1
            )));
        }
        Ok(self.image_u8(i).iter().map(|&v| range.from_u8(v)).collect())
    }
    /// The index of the first image labelled `digit`, if any.
    pub fn first_index_of(&self, digit: u8) -> Option<usize> {
        self.labels.iter().position(|&l| l == digit)
    }

    /// The images of the selected digits, resized, in [0, 1]; in file order.
    pub fn select(&self, sel: &Selection) -> Result<Dataset> {
        if sel.size == 0 {
            return Err(Error::invalid("the image size must be at least 1 pixel"));
        }
        if sel.limit == Some(0) {
            return Err(Error::invalid(
                "the selection limit must be at least 1 image",
            ));
        }
        let mut indices: Vec<usize> = (0..self.len())
            .filter(|&i| sel.digits.contains(self.labels[i]))
            .collect();
        if let Some(limit) = sel.limit {
            indices.truncate(limit);
        }
        if indices.is_empty() {
            return Err(Error::file(
                &self.images_path,
                format!(
                    "the selection is empty: no image of {} in this file",
                    sel.digits.describe()
                ),
            ));
        }
        let s = sel.size;
        let mut images = vec![0.0f32; indices.len() * s * s];
        let same = s == self.rows && s == self.cols;
        let resizer = (!same).then(|| Resizer::new(self.rows, self.cols, s, s, sel.filter));
        images
            .par_chunks_mut(s * s)
            .zip(indices.par_iter())
            .with_min_len(256)
            .for_each_init(
                || (vec![0.0f32; self.rows * self.cols], Vec::new()),
                |(src, scratch), (out, &i)| {
                    for (d, &v) in src.iter_mut().zip(self.image_u8(i)) {
                        *d = v as f32 / 255.0;
                    }
                    match &resizer {
                        Some(r) => r.apply_with(src, out, scratch),
                        None => out.copy_from_slice(src),
                    }
                },
            );
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Ok(Dataset {
            split: self.split,
            size: s,
            images,
            labels,
            indices,
        })
    }
}

/// Which digits to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Digits {
    /// Digits `0..n` (the `--classes N` option), 1 ≤ n ≤ 10.
    Classes(u8),
    /// An explicit list (the `--digits 0,3,7` option): each 0-9, no duplicates, not empty.
    List(Vec<u8>),
}

impl Digits {
    /// All ten digits.
    pub fn all() -> Self {
        Digits::Classes(10)
    }
    /// Digits `0..n`; `n` must be 1..=10.
    pub fn classes(n: usize) -> Result<Self> {
        if !(1..=10).contains(&n) {
            return Err(Error::invalid(format!(
                "--classes {n} is out of range: use 1 to 10 (digits 0..N-1)"
            )));
        }
        Ok(Digits::Classes(n as u8))
    }
    /// An explicit list of digits, each 0-9, without duplicates.
    pub fn list(digits: &[u8]) -> Result<Self> {
        if digits.is_empty() {
            return Err(Error::invalid(
                "--digits is empty: give at least one digit 0-9",
            ));
        }
        for (i, &d) in digits.iter().enumerate() {
            if d > 9 {
                return Err(Error::invalid(format!("--digits: {d} is not a digit 0-9")));
            }
            if digits[..i].contains(&d) {
                return Err(Error::invalid(format!("--digits: {d} is listed twice")));
            }
        }
        Ok(Digits::List(digits.to_vec()))
    }
    /// Parse a comma-separated list such as `"0,3,7"`.
    pub fn parse_list(text: &str) -> Result<Self> {
        let digits = text
            .split(',')
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<u8>().map_err(|_| {
                    Error::invalid(format!(
                        "--digits: '{p}' is not a digit 0-9 (expected a list like 0,3,7)"
                    ))
                })
            })
            .collect::<Result<Vec<u8>>>()?;
        Self::list(&digits)
    }
    /// True if `digit` is selected.
    pub fn contains(&self, digit: u8) -> bool {
        match self {
            Digits::Classes(n) => digit < *n,
            Digits::List(v) => v.contains(&digit),
        }
    }
    /// The selected digits, ascending.
    pub fn to_vec(&self) -> Vec<u8> {
        (0..10).filter(|&d| self.contains(d)).collect()
    }
    /// E.g. `"digits 0-3"` or `"digits 0, 3, 7"`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Digits::Classes(1) => "digit 0".to_string(),
            Digits::Classes(n) => format!("digits 0-{}", n - 1),
            Digits::List(v) if v.len() == 1 => format!("digit {}", v[0]),
            Digits::List(v) => format!(
                "digits {}",
                v.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// What to take from a split: digits, output size, filter, and an optional cap on the count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The digits to keep.
    pub digits: Digits,
    /// Output images are `size × size`.
    pub size: usize,
    /// The resampling filter (when `size` ≠ 28).
    pub filter: ResizeFilter,
    /// Keep at most this many (the first ones in file order).
    pub limit: Option<usize>,
}

impl Selection {
    /// The training default: `digits`, 16 × 16, bilinear (as the Python lab), no limit.
    pub fn training(digits: Digits) -> Self {
        Selection {
            digits,
            size: 16,
            filter: ResizeFilter::Bilinear,
            limit: None,
        }
    }
    /// Full-size 28 × 28 images of `digits` (Module 1 and display).
    pub fn full_size(digits: Digits) -> Self {
        Selection {
            digits,
            size: 28,
            filter: ResizeFilter::Bilinear,
            limit: None,
        }
    }
    /// The same selection at another size.
    pub fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }
    /// The same selection with another filter.
    pub fn with_filter(mut self, filter: ResizeFilter) -> Self {
        self.filter = filter;
        self
    }
    /// The same selection capped at `limit` images.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The value range pixels are handed out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelRange {
    /// [0, 1]: for display.
    Unit,
    /// [−1, 1]: for the models (`2·unit − 1`).
    Symmetric,
}

impl PixelRange {
    /// A byte 0..=255 in this range.
    pub fn from_u8(self, v: u8) -> f32 {
        self.from_unit(v as f32 / 255.0)
    }
    /// A [0, 1] value in this range.
    pub fn from_unit(self, v: f32) -> f32 {
        match self {
            PixelRange::Unit => v,
            PixelRange::Symmetric => 2.0 * v - 1.0,
        }
    }
}

/// A model-range value (nominally [−1, 1]) as a display value in [0, 1], clamped.
pub fn to_display(v: f32) -> f32 {
    ((v + 1.0) * 0.5).clamp(0.0, 1.0)
}

/// A selected, resized set of images, stored in [0, 1].
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The split they come from.
    pub split: Split,
    /// Each image is `size × size`.
    pub size: usize,
    /// `len() × size × size` values in [0, 1], row-major.
    pub images: Vec<f32>,
    /// The label of each image.
    pub labels: Vec<u8>,
    /// The index of each image in its split.
    pub indices: Vec<usize>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True if there are none (never for a dataset returned by [`Mnist::select`]).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Image `i` in [0, 1]. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.size * self.size;
        &self.images[i * n..(i + 1) * n]
    }
    /// Every image as an NHWC tensor `[len, size, size, 1]` in `range`.
    pub fn tensor(&self, range: PixelRange) -> Tensor {
        let data = self.images.iter().map(|&v| range.from_unit(v)).collect();
        Tensor::new(vec![self.len(), self.size, self.size, 1], data).expect("shape matches data")
    }
}
