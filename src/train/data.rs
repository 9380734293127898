//! The training images: MNIST digits of the selected classes, resized, scaled to [−1, 1].
//!
//! This is a small stand-in for the data module's loader, to be replaced by it: IDX files
//! (raw or gzip) from `--mnist-dir` or `DIFFLAB_MNIST_DIR`, bilinear resizing with half-pixel
//! centres and no antialiasing (as the lab's `tf.image.resize`).

use crate::{Error, Result};
use std::io::Read;
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
    if !(1..=10).contains(&n) {
        return Err(Error::invalid(format!("--classes {n} is out of range: use 1 to 10 (digits 0..N-1)")));
    }
    Ok((0..n as u8).collect())
}

/// A validated `--digits` list: each 0-9, no repeats, not empty; sorted.
pub fn digit_list(digits: &[u8]) -> Result<Vec<u8>> {
    if digits.is_empty() {
        return Err(Error::invalid("--digits is empty: give at least one digit 0-9"));
    }
    let mut v = digits.to_vec();
    for (i, &d) in digits.iter().enumerate() {
        if d > 9 {
            return Err(Error::invalid(format!("--digits: {d} is not a digit 0-9")));
        }
        if digits[..i].contains(&d) {
            return Err(Error::invalid(format!("--digits: {d} is listed twice")));
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// The MNIST folder: `dir`, else `$DIFFLAB_MNIST_DIR`.
fn mnist_dir(dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = dir {
        return Ok(d.to_path_buf());
    }
    std::env::var_os("DIFFLAB_MNIST_DIR").map(PathBuf::from).ok_or_else(|| {
        Error::Unavailable("MNIST not found: pass --mnist-dir DIR or set DIFFLAB_MNIST_DIR to the folder of the four IDX files".into())
    })
}

/// Read `name` or `name.gz` from `dir`, decompressed.
fn read_idx(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>)> {
    for (file, gz) in [(format!("{name}.gz"), true), (name.to_string(), false)] {
        let path = dir.join(file);
        if path.is_file() {
            let raw = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            if !gz {
                return Ok((path, raw));
            }
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| Error::file(&path, format!("not a valid gzip file ({e})")))?;
            return Ok((path, out));
        }
    }
    Err(Error::Unavailable(format!("{}: no {name}(.gz) in this MNIST folder", dir.display())))
}

/// Dimensions and payload of an IDX file with the given magic (0x803 images, 0x801 labels).
fn parse_idx<'a>(path: &Path, bytes: &'a [u8], magic: u32, ndim: usize) -> Result<(Vec<usize>, &'a [u8])> {
    let header = 4 + 4 * ndim;
    if bytes.len() < header || u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) != magic {
        return Err(Error::file(path, format!("not an IDX file with magic {magic:#x}")));
    }
    let dims: Vec<usize> = (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize).collect();
    let len: usize = dims.iter().product();
    if bytes.len() < header + len {
        return Err(Error::file(path, format!("truncated: {} bytes of data for dimensions {dims:?}", bytes.len() - header)));
    }
    Ok((dims, &bytes[header..header + len]))
}

/// The training images of `digits` at `size × size`, in file order, at most `limit` of them.
pub fn load_training_set(dir: Option<&Path>, digits: &[u8], size: usize, limit: Option<usize>) -> Result<TrainingSet> {
    let dir = mnist_dir(dir)?;
    let (ipath, ibytes) = read_idx(&dir, "train-images-idx3-ubyte")?;
    let (lpath, lbytes) = read_idx(&dir, "train-labels-idx1-ubyte")?;
    let (idims, pixels) = parse_idx(&ipath, &ibytes, 0x803, 3)?;
    let (ldims, labels) = parse_idx(&lpath, &lbytes, 0x801, 1)?;
    if idims[0] != ldims[0] {
        return Err(Error::file(&lpath, format!("{} labels for {} images in {}", ldims[0], idims[0], ipath.display())));
    }
    let (rows, cols) = (idims[1], idims[2]);
    let resize = Bilinear::new(rows, cols, size);
    let mut images = Vec::new();
    let mut picked = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        if !digits.contains(&l) {
            continue;
        }
        if limit.is_some_and(|n| picked.len() >= n) {
            break;
        }
        let src: Vec<f32> = pixels[i * rows * cols..(i + 1) * rows * cols].iter().map(|&v| v as f32 / 255.0).collect();
        let start = images.len();
        images.resize(start + size * size, 0.0);
        resize.apply(&src, &mut images[start..]);
        picked.push(l);
    }
    for v in &mut images {
        *v = 2.0 * *v - 1.0;
    }
    Ok(TrainingSet { size, images, labels: picked, source: ipath })
}

/// Bilinear resampling with half-pixel centres and no antialiasing.
struct Bilinear {
    rows: usize,
    cols: usize,
    size: usize,
    ys: Vec<(usize, usize, f32)>,
    xs: Vec<(usize, usize, f32)>,
}

impl Bilinear {
    fn new(rows: usize, cols: usize, size: usize) -> Self {
        let taps = |n: usize| {
            (0..size)
                .map(|o| {
                    let s = ((o as f32 + 0.5) * (n as f32 / size as f32) - 0.5).max(0.0);
                    let i0 = (s.floor() as usize).min(n - 1);
                    (i0, (i0 + 1).min(n - 1), s - i0 as f32)
                })
                .collect()
        };
        Bilinear { rows, cols, size, ys: taps(rows), xs: taps(cols) }
    }

    fn apply(&self, src: &[f32], out: &mut [f32]) {
        if self.rows == self.size && self.cols == self.size {
            out.copy_from_slice(src);
            return;
        }
        for (oy, &(y0, y1, fy)) in self.ys.iter().enumerate() {
            for (ox, &(x0, x1, fx)) in self.xs.iter().enumerate() {
                let at = |y: usize, x: usize| src[y * self.cols + x];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bot = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out[oy * self.size + ox] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
}
