//! Reading a student's own picture (PNG or JPEG) as an MNIST-like grayscale image.

use super::resize::{resize, ResizeFilter};
use crate::{Error, Result};
use std::path::Path;

/// A picture converted to MNIST's convention.
#[derive(Clone, Debug, PartialEq)]
pub struct GrayImport {
    /// `size × size` values in [0, 1], white ink on black.
    pub pixels: Vec<f32>,
    /// The picture's original width and height.
    pub original_size: (u32, u32),
    /// True if it was inverted because it had a light background (dark ink on paper).
    pub inverted: bool,
}

/// Decode a picture (PNG, JPEG, … recognised by content) as luma (Rec. 709) in [0, 1], row by
/// row, with transparent pixels composited over `background` (0 black, 1 white); returns the
/// values, the width and the height. Errors name the file; a picture that cannot be decoded
/// "could not be read as {what}".
pub fn read_luma(path: &Path, background: f32, what: &str) -> Result<(Vec<f32>, usize, usize)> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let img = reader
        .decode()
        .map_err(|e| Error::file(path, format!("could not be read as {what} ({e})")))?;
    let rgba = img.to_rgba32f();
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    let luma = rgba
        .pixels()
        .map(|p| {
            let [r, g, b, a] = p.0;
            let luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            (luma * a + background * (1.0 - a)).clamp(0.0, 1.0)
        })
        .collect();
    Ok((luma, w, h))
}

/// Load any PNG or JPEG (by content) as a `size × size` grayscale image in [0, 1].
///
/// Transparent pixels are composited over white; colour becomes luma (Rec. 709); a picture
/// whose border is mostly light is inverted so that the ink is white on black, as in MNIST;
/// a non-square picture is padded to a square with its background colour; then it is shrunk
/// (or grown) with the area filter.
pub fn load_gray_image(path: &Path, size: usize) -> Result<GrayImport> {
    if size == 0 {
        return Err(Error::invalid("the image size must be at least 1 pixel"));
    }
    let (mut gray, w, h) = read_luma(path, 1.0, "a PNG or JPEG image")?;
    let border: Vec<f32> = (0..w)
        .flat_map(|x| [gray[x], gray[(h - 1) * w + x]])
        .chain((0..h).flat_map(|y| [gray[y * w], gray[y * w + w - 1]]))
        .collect();
    let inverted = border.iter().sum::<f32>() / border.len() as f32 > 0.5;
    if inverted {
        gray.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    // Pad to a square with black (the background after inversion), keeping the digit centred.
    let side = w.max(h);
    let mut square = vec![0.0f32; side * side];
    let (ox, oy) = ((side - w) / 2, (side - h) / 2);
    for y in 0..h {
        square[(oy + y) * side + ox..(oy + y) * side + ox + w]
            .copy_from_slice(&gray[y * w..(y + 1) * w]);
    }
    let pixels = resize(&square, side, side, size, size, ResizeFilter::Area);
    Ok(GrayImport {
        pixels,
        original_size: (w as u32, h as u32),
        inverted,
    })
}
