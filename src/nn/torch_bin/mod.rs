//! Read a PyTorch state dict saved by `torch.save` (`pytorch_model.bin`,
//! `diffusion_pytorch_model.bin`) **without executing any pickle code**.
//!
//! Since PyTorch 1.6 such a file is a zip archive: `<name>/data.pkl` is a pickle describing the
//! dictionary, and `<name>/data/<key>` holds the raw little-endian bytes of each storage. Pickle
//! is a small stack machine whose `GLOBAL` + `REDUCE` opcodes can call any Python function, which
//! is why loading untrusted `.bin` files in Python is dangerous. This reader interprets only the
//! opcodes `torch.save` emits for a state dict and only the callables it needs
//! (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`
//! and the typed storages as persistent ids); any other opcode or global is rejected with an error
//! naming it. Nothing is ever called: tensors are rebuilt from (storage, offset, size, stride).

mod pickle;

use crate::nn::Tensor;
use crate::{Error, Result};
use pickle::{kind, DType, TensorRef, Unpickler, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// Read every tensor of a PyTorch zip state dict, converted to f32, by name (shapes as stored).
pub fn load_torch_bin(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        Error::file(
            path,
            format!(
                "not a PyTorch zip archive ({e}); files written by torch < 1.6 (legacy tar/pickle format) \
                 are not supported: convert them to safetensors"
            ),
        )
    })?;
    let pkl_name = (0..archive.len())
        .filter_map(|i| archive.name_for_index(i).map(str::to_string))
        .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or_else(|| Error::file(path, "zip archive has no data.pkl: not a torch.save file"))?;
    let prefix = &pkl_name[..pkl_name.len() - "data.pkl".len()];
    if let Ok(bo) = read_entry(&mut archive, &format!("{prefix}byteorder"), path) {
        if bo.trim_ascii() != b"little" {
            return Err(Error::file(
                path,
                "big-endian PyTorch archives are not supported",
            ));
        }
    }
    let pickle = read_entry(&mut archive, &pkl_name, path)?;
    let root = Unpickler::new(&pickle)
        .run()
        .map_err(|msg| Error::file(path, format!("{pkl_name}: {msg}")))?;
    let entries = match root {
        Value::Dict(entries) => entries,
        other => {
            return Err(Error::file(
                path,
                format!(
                    "expected a state dict at the top level, found {}",
                    kind(&other)
                ),
            ))
        }
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let name = match k {
            Value::Str(s) => s,
            other => {
                return Err(Error::file(
                    path,
                    format!("state dict key is {} rather than a string", kind(&other)),
                ))
            }
        };
        let t = match v {
            Value::Tensor(t) => t,
            other => {
                return Err(Error::file(
                    path,
                    format!("entry '{name}' is {} rather than a tensor", kind(&other)),
                ))
            }
        };
        if !storages.contains_key(&t.storage_key) {
            let bytes = read_entry(
                &mut archive,
                &format!("{prefix}data/{}", t.storage_key),
                path,
            )?;
            storages.insert(t.storage_key.clone(), bytes);
        }
        let tensor = materialise(&t, &storages[&t.storage_key])
            .map_err(|msg| Error::file(path, format!("tensor '{name}': {msg}")))?;
        out.insert(name, tensor);
    }
    Ok(out)
}

fn read_entry(
    archive: &mut zip::ZipArchive<std::fs::File>,
    name: &str,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut f = archive
        .by_name(name)
        .map_err(|e| Error::file(path, format!("zip entry {name}: {e}")))?;
    let mut buf = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut buf)
        .map_err(|e| Error::file(path, format!("zip entry {name}: {e}")))?;
    Ok(buf)
}

/// Gather the (possibly strided) view into a contiguous f32 tensor.
fn materialise(t: &TensorRef, bytes: &[u8]) -> std::result::Result<Tensor, String> {
    let es = t.dtype.size();
    let numel: usize = t.size.iter().product();
    if t.size.len() != t.stride.len() {
        return Err(format!(
            "size {:?} and stride {:?} differ in rank",
            t.size, t.stride
        ));
    }
    let max_off = t.offset
        + t.size
            .iter()
            .zip(&t.stride)
            .map(|(&s, &st)| s.saturating_sub(1) * st)
            .sum::<usize>();
    if numel > 0 && (max_off + 1) * es > bytes.len() {
        return Err(format!(
            "view (offset {}, size {:?}, stride {:?}) reaches past its storage of {} bytes",
            t.offset,
            t.size,
            t.stride,
            bytes.len()
        ));
    }
    let read = |i: usize| -> f32 {
        let b = &bytes[i * es..(i + 1) * es];
        match t.dtype {
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            DType::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            DType::BF16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            DType::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
        }
    };
    let mut data = Vec::with_capacity(numel);
    let mut idx = vec![0usize; t.size.len()];
    for _ in 0..numel {
        let off = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        data.push(read(off));
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < t.size[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Tensor::new(t.size.clone(), data).map_err(|e| e.to_string())
}

/// IEEE half → f32 (subnormals, infinities and NaN included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: value = f · 2^-24
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_covers_normal_subnormal_and_special_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn strided_views_are_gathered_in_row_major_order() {
        // a 2×3 f32 storage [0..6) viewed transposed as 3×2 (stride (1, 3))
        let bytes: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let t = TensorRef {
            dtype: DType::F32,
            storage_key: "0".into(),
            offset: 0,
            size: vec![3, 2],
            stride: vec![1, 3],
        };
        let out = materialise(&t, &bytes).unwrap();
        assert_eq!(out.shape(), &[3, 2]);
        assert_eq!(out.data(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }
}
