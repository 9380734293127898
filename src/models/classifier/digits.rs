//! TEMPORARY private MNIST reader for the classifier, until the data layer (`crate::data`) lands:
//! reads the IDX files (raw or .gz) from `--mnist-dir` or `DIFFLAB_MNIST_DIR` and resizes with
//! bilinear interpolation at half-pixel centres (the data layer's default filter).

use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// The training split (`train = true`, 60 000 images) or the test split (10 000) at
/// `size × size`, in [0, 1].
pub fn load_digits(train: bool, size: usize, mnist_dir: Option<&Path>) -> Result<LabeledDigits> {
    let dir = match mnist_dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("DIFFLAB_MNIST_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| {
                Error::Unavailable("MNIST not found: pass --mnist-dir DIR or set DIFFLAB_MNIST_DIR".into())
            })?,
    };
    let (img, lab) = if train {
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    } else {
        ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    };
    let (n, rows, cols, pixels) = read_idx(&find(&dir, img)?, 3)?;
    let lab_path = find(&dir, lab)?;
    let (nl, _, _, labels) = read_idx(&lab_path, 1)?;
    if nl != n {
        return Err(Error::file(&lab_path, format!("has {nl} labels for {n} images")));
    }
    let mut images = vec![0.0f32; n * size * size];
    let mut src = vec![0.0f32; rows * cols];
    for (i, out) in images.chunks_exact_mut(size * size).enumerate() {
        for (d, &v) in src.iter_mut().zip(&pixels[i * rows * cols..(i + 1) * rows * cols]) {
            *d = v as f32 / 255.0;
        }
        bilinear(&src, rows, cols, size, out);
    }
    Ok(LabeledDigits { size, images, labels })
}

fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    for p in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::file(dir.join(name), "missing: neither it nor its .gz is in this folder"))
}

fn read_idx(path: &Path, ndims: usize) -> Result<(usize, usize, usize, Vec<u8>)> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::file(path, format!("bad gzip data ({e})")))?;
        out
    } else {
        raw
    };
    let header = 4 + 4 * ndims;
    if bytes.len() < header || bytes[2] != 8 || bytes[3] as usize != ndims {
        return Err(Error::file(path, "not an IDX file of unsigned bytes with the expected dimensions"));
    }
    let dim = |k: usize| u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().unwrap()) as usize;
    let (n, r, c) = if ndims == 3 { (dim(0), dim(1), dim(2)) } else { (dim(0), 1, 1) };
    if bytes.len() != header + n * r * c {
        return Err(Error::file(path, "truncated IDX file"));
    }
    Ok((n, r, c, bytes[header..].to_vec()))
}

fn bilinear(src: &[f32], h: usize, w: usize, size: usize, out: &mut [f32]) {
    if h == size && w == size {
        out.copy_from_slice(src);
        return;
    }
    let taps = |n_in: usize| -> Vec<(usize, usize, f32)> {
        let ratio = n_in as f64 / size as f64;
        (0..size)
            .map(|i| {
                let s = ((i as f64 + 0.5) * ratio - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n_in - 1);
                (i0, (i0 + 1).min(n_in - 1), (s - i0 as f64) as f32)
            })
            .collect()
    };
    let (ty, tx) = (taps(h), taps(w));
    let mut rows = vec![0.0f32; h * size];
    for r in 0..h {
        for (o, &(a, b, f)) in tx.iter().enumerate() {
            rows[r * size + o] = src[r * w + a] * (1.0 - f) + src[r * w + b] * f;
        }
    }
    for (oy, &(a, b, f)) in ty.iter().enumerate() {
        for ox in 0..size {
            out[oy * size + ox] = rows[a * size + ox] * (1.0 - f) + rows[b * size + ox] * f;
        }
    }
}
