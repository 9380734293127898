//! Every generated sample as its own PNG at native resolution, for outside evaluation.

use crate::util::fsio::{ensure_dir, write_atomic};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The file name of sample `i`: `0000.png`, `0001.png`, … (more digits past 9999).
pub fn sample_file_name(i: usize) -> String {
    format!("{i:04}.png")
}

/// Encode one sample (`[h, w, c]` values in the model range [−1, 1], c = 1 or 3) as an 8-bit
/// grayscale or RGB PNG: byte = round((clamp(x, −1, 1) + 1)/2 · 255).
pub fn encode_png(values: &[f32], shape: [usize; 3]) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let [h, w, c] = shape;
    let color = match c {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        _ => {
            return Err(Error::invalid(format!(
                "cannot save a {c}-channel image as PNG"
            )))
        }
    };
    if values.len() != h * w * c {
        return Err(Error::invalid(format!(
            "a {h}×{w}×{c} image needs {} values, got {}",
            h * w * c,
            values.len()
        )));
    }
    let bytes: Vec<u8> = values
        .iter()
        .map(|&v| ((v.clamp(-1.0, 1.0) + 1.0) * 0.5 * 255.0).round() as u8)
        .collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&bytes, w as u32, h as u32, color)
        .map_err(|e| Error::invalid(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// Is `name` a sample file (`NNNN.png`, four or more digits)? Returns its number.
fn sample_number(name: &str) -> Option<usize> {
    let stem = name.strip_suffix(".png")?;
    if stem.len() >= 4 && stem.bytes().all(|b| b.is_ascii_digit()) {
        stem.parse().ok()
    } else {
        None
    }
}

/// Write `images` (samples of `shape`, one after the other) as `dir/0000.png`, … and remove
/// sample files numbered `count` or more left by an earlier, larger run (so that the folder
/// holds exactly this run's samples). Returns the paths written.
pub fn write_samples(dir: &Path, images: &[f32], shape: [usize; 3]) -> Result<Vec<PathBuf>> {
    let per = shape.iter().product::<usize>();
    ensure_dir(dir)?;
    let count = images.len() / per.max(1);
    let mut paths = Vec::with_capacity(count);
    for (i, img) in images.chunks_exact(per).enumerate() {
        let path = dir.join(sample_file_name(i));
        write_atomic(&path, &encode_png(img, shape)?)?;
        paths.push(path);
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if let Some(k) = name.to_str().and_then(sample_number) {
            if k >= count && entry.path().is_file() {
                std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            }
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_numbers_are_recognised_strictly() {
        assert_eq!(sample_number("0007.png"), Some(7));
        assert_eq!(sample_number("12345.png"), Some(12345));
        assert_eq!(sample_number("007.png"), None);
        assert_eq!(sample_number("0007.PNG"), None);
        assert_eq!(sample_number("a007.png"), None);
        assert_eq!(sample_file_name(3), "0003.png");
    }

    #[test]
    fn png_round_trips_the_model_range() {
        let v = [-1.0, -0.5, 0.0, 1.0, 2.0, -3.0];
        let png = encode_png(&v, [2, 3, 1]).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.into_raw(), vec![0, 64, 128, 255, 255, 0]);
    }
}
