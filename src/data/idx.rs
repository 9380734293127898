//! The IDX format of the MNIST files, gzip-compressed or raw.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code (0x08 = unsigned byte)
//! and the number of dimensions — then one big-endian `u32` per dimension, then the data.
//! MNIST images are `2051` (0x00000803: ubyte, 3 dims: count × rows × cols) and labels
//! `2049` (0x00000801: ubyte, 1 dim: count). Whether a file is gzip-compressed is decided by
//! its first two bytes (the gzip magic `1f 8b`), never by its name.

use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Magic number of an IDX file of unsigned-byte images (count × rows × cols).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (count).
pub const LABELS_MAGIC: u32 = 2049;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A parsed IDX file of unsigned bytes: its dimensions and its data (row-major).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions from the header, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// True if `bytes` starts with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[..2] == GZIP_MAGIC
}

/// Read `path` whole and decompress it if it is gzip (by content). Errors name the file.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decompress_if_gzip(path, raw)
}

/// Decompress `raw` if it is a gzip stream, else hand it back; `path` only names it in errors.
pub fn decompress_if_gzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    // An MNIST file inflates about 5×; reserving avoids repeated regrowth of a 47 MB buffer.
    let mut out = Vec::with_capacity(raw.len().saturating_mul(5));
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| Error::file(path, format!("is not a valid gzip stream ({e})")))?;
    Ok(out)
}

/// Parse IDX `bytes` (already decompressed) that must carry `magic`; `path` names it in errors.
///
/// Checks the magic, that no dimension is zero, and that exactly the announced number of
/// data bytes follows the header (a shorter file is "truncated", a longer one is rejected too).
/// Takes the bytes by value so the 47 MB of training images are not copied.
pub fn parse_idx(path: &Path, mut bytes: Vec<u8>, magic: u32) -> Result<Idx> {
    let what = match magic {
        IMAGES_MAGIC => "an MNIST image file",
        LABELS_MAGIC => "an MNIST label file",
        _ => "an IDX file",
    };
    if bytes.len() < 4 {
        return Err(Error::file(
            path,
            format!(
                "is truncated: {} bytes, too short for an IDX header ({what})",
                bytes.len()
            ),
        ));
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic {
        return Err(Error::file(
            path,
            format!("wrong magic number {found} (0x{found:08x}); expected {magic} for {what}"),
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::file(
            path,
            format!("is truncated: the header announces {ndim} dimensions but the file has only {} bytes", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    if dims.contains(&0) {
        return Err(Error::file(
            path,
            format!("has a zero dimension in its header {dims:?}"),
        ));
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::file(
                path,
                format!("header dimensions {dims:?} are impossibly large"),
            )
        })?;
    let body = bytes.len() - header;
    if body < expected {
        return Err(Error::file(
            path,
            format!(
                "is truncated: the header announces {} = {expected} data bytes but only {body} follow",
                dims_text(&dims)
            ),
        ));
    }
    if body > expected {
        return Err(Error::file(
            path,
            format!(
                "has {} unexpected bytes after the {expected} data bytes announced by its header ({})",
                body - expected,
                dims_text(&dims)
            ),
        ));
    }
    bytes.drain(..header);
    Ok(Idx { dims, data: bytes })
}

fn dims_text(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" × ")
}

/// Read an MNIST image file (raw or gzip): returns `(count, rows, cols, pixels)`, pixels
/// row-major `count × rows × cols`, 0 = background (black), 255 = ink (white).
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let bytes = read_maybe_gzip(path)?;
    let idx = parse_idx(path, bytes, IMAGES_MAGIC)?;
    // The magic 0x00000803 fixes three dimensions.
    Ok((idx.dims[0], idx.dims[1], idx.dims[2], idx.data))
}

/// Read an MNIST label file (raw or gzip): one digit 0-9 per image. A label above 9 is an error.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_maybe_gzip(path)?;
    let idx = parse_idx(path, bytes, LABELS_MAGIC)?;
    if let Some((i, &l)) = idx.data.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(Error::file(
            path,
            format!("label {l} at position {i} is not a digit 0-9"),
        ));
    }
    Ok(idx.data)
}

/// Encode an IDX file of unsigned bytes (the inverse of [`parse_idx`]); used to write test
/// files and small subsets.
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
