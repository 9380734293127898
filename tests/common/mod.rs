//! Helpers shared by the integration tests: where the shared fixtures are, and reading them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// The diffusers reference fixtures: `$DIFFLAB_FIXTURES_DIR`, else `../shared/fixtures/diffusers`
/// beside the checkout (where CI and every developer have it). Missing fixtures fail the test.
pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("DIFFLAB_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/diffusers")
        });
    assert!(
        dir.join("manifest.json").is_file(),
        "diffusers fixtures not found at {} (set DIFFLAB_FIXTURES_DIR)",
        dir.display()
    );
    dir
}

/// A fixture tensor: shape and values widened to f64 (f32 and i64 fixtures).
#[derive(Debug, Clone)]
pub struct Fx {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Fx {
    pub fn f32s(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// Every tensor of a fixture safetensors file, by name.
pub fn read_fixture(name: &str) -> HashMap<String, Fx> {
    read_safetensors(&fixtures_dir().join(name))
}

/// Every tensor of any safetensors file, by name (F32, F64, I64 supported).
pub fn read_safetensors(path: &std::path::Path) -> HashMap<String, Fx> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let raw = view.data();
        let data: Vec<f64> = match view.dtype() {
            safetensors::Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::I64 => raw
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            d => panic!("{name}: unsupported dtype {d:?}"),
        };
        out.insert(
            name.to_string(),
            Fx {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    out
}

/// The fixture manifest as JSON.
pub fn manifest() -> serde_json::Value {
    let p = fixtures_dir().join("manifest.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The MNIST folder: `$DIFFLAB_MNIST_DIR` (CI sets it), else `../shared/data/mnist` beside the
/// checkout. Missing MNIST fails the test.
pub fn mnist_dir() -> PathBuf {
    let dir = std::env::var_os("DIFFLAB_MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    assert!(
        dir.is_dir(),
        "MNIST not found at {} (set DIFFLAB_MNIST_DIR)",
        dir.display()
    );
    dir
}

/// Run the `difflab` binary with `args`, MNIST from [`mnist_dir`] and no download mirrors.
pub fn difflab(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_difflab"))
        .args(args)
        .env("DIFFLAB_MNIST_DIR", mnist_dir())
        .env_remove("DIFFLAB_MNIST_MIRRORS")
        .output()
        .expect("the difflab binary runs")
}
