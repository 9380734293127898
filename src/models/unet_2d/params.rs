//! Where the model's parameters come from: a checkpoint (safetensors or PyTorch `.bin`, with
//! diffusers' names and PyTorch layouts) or a seeded random initialisation (benchmarks).
//!
//! Layouts are converted once, here: conv weights OIHW `[cout, cin, k, k]` → HWIO
//! `[k, k, cin, cout]`, linear weights `[out, in]` → `[in, out]` (see notes/nn_contract.md).

use crate::nn::Weights;
use crate::util::rng::Rng;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A source of named parameters in PyTorch layout.
pub trait ParamSource {
    /// The values of `name`, which must have exactly `shape` (PyTorch layout).
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;
    /// True if `name` exists (used to tell the two attention key schemes apart).
    fn contains(&self, name: &str) -> bool;
}

/// Parameters read from a checkpoint file; errors name the file, the key and both shapes.
pub struct FileParams {
    weights: Weights,
    path: PathBuf,
}

impl FileParams {
    /// Wrap weights read from `path` (the path is only used in messages).
    pub fn new(weights: Weights, path: &Path) -> Self {
        FileParams {
            weights,
            path: path.to_path_buf(),
        }
    }

    /// Read `diffusion_pytorch_model.safetensors` or a PyTorch `.bin` (chosen by extension).
    pub fn load(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::file(path, "weights file not found"));
        }
        let weights = if path.extension().is_some_and(|e| e == "bin") {
            let mut w = Weights::new();
            for (name, t) in crate::nn::torch_bin::load_torch_bin(path)? {
                w.insert(name, t);
            }
            w
        } else {
            Weights::load_safetensors(path)?
        };
        Ok(FileParams::new(weights, path))
    }

    /// Names the model did not use (diffusers warns about these; difflab reports them).
    pub fn unused_keys(&self) -> Vec<String> {
        self.weights.keys().map(str::to_string).collect()
    }
}

impl ParamSource for FileParams {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let found: Vec<usize> = match self.weights.get_any(name) {
            Some(t) => t.shape().to_vec(),
            None => {
                return Err(Error::file(
                    &self.path,
                    format!("tensor `{name}` (shape {shape:?}) is missing: the file does not match config.json"),
                ))
            }
        };
        if found != shape {
            return Err(Error::file(
                &self.path,
                format!("tensor `{name}` has shape {found:?} in the file, but config.json implies {shape:?}"),
            ));
        }
        Ok(self.weights.take(name, shape)?.into_data())
    }
    fn contains(&self, name: &str) -> bool {
        self.weights.contains(name)
    }
}

/// Seeded random parameters with PyTorch's default scales (uniform ±1/√fan_in; norms γ = 1,
/// β = 0), for benchmarks and tests: speed does not depend on the values. Each tensor's values
/// depend only on the seed and its name, so two configs sharing a layer get the same weights.
pub struct RandomParams {
    seed: u64,
}

impl RandomParams {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        RandomParams { seed }
    }
}

impl ParamSource for RandomParams {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let len: usize = shape.iter().product();
        let is_norm = name.contains("norm");
        if is_norm && name.ends_with(".weight") {
            return Ok(vec![1.0; len]);
        }
        if is_norm && name.ends_with(".bias") {
            return Ok(vec![0.0; len]);
        }
        // FNV-1a of the name selects the stream.
        let stream = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x1000_0000_01b3)
        });
        let mut rng = Rng::stream(self.seed, stream);
        let fan_in: usize = if shape.len() >= 2 {
            shape[1..].iter().product()
        } else {
            shape[0]
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        Ok((0..len).map(|_| rng.uniform(-bound, bound)).collect())
    }
    fn contains(&self, _name: &str) -> bool {
        false
    }
}

/// OIHW `[cout, cin, kh, kw]` → HWIO `[kh, kw, cin, cout]`.
pub fn oihw_to_hwio(w: &[f32], cout: usize, cin: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for ky in 0..k {
                for kx in 0..k {
                    out[((ky * k + kx) * cin + ci) * cout + co] =
                        w[((co * cin + ci) * k + ky) * k + kx];
                }
            }
        }
    }
    out
}

/// `[rows, cols]` → `[cols, rows]` (PyTorch's `[out, in]` linear weight → `[in, out]`).
pub fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = w[r * cols + c];
        }
    }
    out
}
