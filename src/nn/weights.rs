//! Named weights: a sorted map from diffusers-style names (`down_blocks.0.resnets.0.conv1.weight`)
//! to f32 tensors, read from and written to safetensors files.
//!
//! Every error names the file the weights came from (when there is one), the key, and, for a
//! shape mismatch, both shapes, so that a wrong or damaged checkpoint explains itself.

use crate::nn::Tensor;
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A set of named f32 tensors plus free-form string metadata (safetensors' `__metadata__`).
#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
    metadata: BTreeMap<String, String>,
    source: Option<PathBuf>,
}

impl Weights {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read every tensor of a safetensors file. F32, F64, F16 and BF16 tensors are converted to
    /// f32; any other dtype, a truncated file or a damaged header is an error naming the file.
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_safetensors_bytes(&bytes, Some(path))
    }

    /// Parse safetensors bytes; `path` (if any) is remembered for error messages.
    pub fn from_safetensors_bytes(bytes: &[u8], path: Option<&Path>) -> Result<Self> {
        let label = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("<safetensors bytes>"));
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::file(&label, format!("not a valid safetensors file ({e})")))?;
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::file(&label, format!("not a valid safetensors file ({e})")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = decode(view.dtype(), view.data())
                .map_err(|msg| Error::file(&label, format!("tensor `{name}`: {msg}")))?;
            let t = Tensor::new(view.shape().to_vec(), data)
                .map_err(|e| Error::file(&label, format!("tensor `{name}`: {e}")))?;
            tensors.insert(name, t);
        }
        let metadata = meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Weights {
            tensors,
            metadata,
            source: path.map(Path::to_path_buf),
        })
    }

    /// Write all tensors (as F32) and the metadata to `path`, atomically.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self
            .to_safetensors_bytes()
            .map_err(|e| Error::file(path, e))?;
        write_atomic(path, &bytes)
    }

    /// The safetensors encoding of these weights (all tensors F32).
    pub fn to_safetensors_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        let views = self.tensors.iter().map(|(k, t)| (k.as_str(), F32View(t)));
        let meta: Option<HashMap<String, String>> = if self.metadata.is_empty() {
            None
        } else {
            Some(self.metadata.clone().into_iter().collect())
        };
        let bytes = safetensors::serialize(views, &meta)
            .map_err(|e| format!("could not encode safetensors: {e}"))?;
        Ok(with_sorted_header(bytes))
    }

    /// The file these weights were read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The tensor `name`, which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| self.missing(name))?;
        if t.shape() != shape {
            return Err(self.err(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                t.shape()
            )));
        }
        Ok(t)
    }

    /// Remove and return the tensor `name`, which must have exactly `shape` (on a shape
    /// mismatch the tensor stays in the set).
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get(name, shape)?;
        Ok(self.tensors.remove(name).expect("checked by get"))
    }

    /// The tensor `name` whatever its shape, if present.
    pub fn get_any(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Add or replace a tensor.
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    /// True if a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// All tensor names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Iterate over `(name, tensor)` pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Total number of scalar values over all tensors.
    pub fn num_values(&self) -> usize {
        self.tensors.values().map(Tensor::len).sum()
    }

    /// The string metadata stored beside the tensors.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Set one metadata entry.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    fn missing(&self, name: &str) -> Error {
        let near: Vec<&str> = self
            .keys()
            .filter(|k| {
                let stem = name.rsplit_once('.').map_or(name, |(a, _)| a);
                k.starts_with(stem)
            })
            .take(4)
            .collect();
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (present nearby: {})", near.join(", "))
        };
        self.err(format!("missing tensor `{name}`{hint}"))
    }

    fn err(&self, msg: String) -> Error {
        match &self.source {
            Some(p) => Error::file(p, msg),
            None => Error::invalid(format!("weights: {msg}")),
        }
    }
}

/// Convert raw little-endian bytes of `dtype` to f32.
fn decode(dtype: Dtype, raw: &[u8]) -> std::result::Result<Vec<f32>, String> {
    let out = match dtype {
        Dtype::F32 => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => raw
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::BF16 => raw
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect(),
        other => {
            return Err(format!(
                "unsupported dtype {other:?} (need F32, F64, F16 or BF16)"
            ))
        }
    };
    Ok(out)
}

/// IEEE half → f32, exact (every f16 is representable in f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man · 2^-24, normalise into f32.
            let v = man as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (man << 13),
        _ => sign | ((exp + 112) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// A tensor seen by safetensors' serializer as little-endian F32 bytes.
struct F32View<'a>(&'a Tensor);

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.0.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let mut out = Vec::with_capacity(self.0.len() * 4);
        for v in self.0.data() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Cow::Owned(out)
    }
    fn data_len(&self) -> usize {
        self.0.len() * 4
    }
}

/// `bytes` (a safetensors file) with its JSON header's keys in sorted order, so the same
/// weights and metadata always give the same bytes: the crate writes `__metadata__` from a
/// `HashMap`, whose order changes from run to run. The header keeps its length (the same
/// content, reordered), so the tensor data and its offsets are untouched.
fn with_sorted_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    else {
        return bytes;
    };
    let end = 8 + len as usize;
    let Some(header) = bytes.get(8..end) else {
        return bytes;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return bytes;
    };
    let sorted = sort_keys(value).to_string();
    if sorted.len() <= len as usize {
        let mut padded = sorted.into_bytes();
        padded.resize(len as usize, b' ');
        bytes[8..end].copy_from_slice(&padded);
    }
    bytes
}

/// `v` with every object's keys in sorted order (whatever map type serde_json was built with).
fn sort_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn the_same_weights_and_metadata_always_give_the_same_bytes() {
        let mut w = Weights::new();
        w.insert("b.weight", Tensor::new(vec![2, 3], vec![1.0; 6]).unwrap());
        w.insert(
            "a.bias",
            Tensor::new(vec![3], vec![-0.5, 0.0, 2.0]).unwrap(),
        );
        for k in [
            "version", "format", "info", "config", "stats", "seed", "arch", "notes",
        ] {
            w.set_metadata(k, format!("value of {k}"));
        }
        let first = w.to_safetensors_bytes().unwrap();
        for _ in 0..8 {
            assert_eq!(w.to_safetensors_bytes().unwrap(), first);
        }
        let back = Weights::from_safetensors_bytes(&first, None).unwrap();
        assert_eq!(back.metadata(), w.metadata());
        assert_eq!(back.get("a.bias", &[3]).unwrap().data(), &[-0.5, 0.0, 2.0]);
        let n = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&first[8..8 + n]).unwrap();
        let pos = |key: &str| header.find(&format!("\"{key}\"")).unwrap();
        assert!(
            pos("arch") < pos("config") && pos("config") < pos("version"),
            "{header}"
        );
    }
}
