//! Small display-ready images (RGB8) made from model tensors: grayscale, RGB, and signed values
//! through a diverging colour map. Figures scale them up with nearest neighbour.
//!
//! Value conventions match [`crate::data`]: "unit" values are in [0, 1], "model" values in
//! [−1, 1]; anything outside is clamped (NaN shows as black).

use crate::{Error, Result};
use plotters::style::RGBColor;

/// An RGB8 image, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

fn to_byte(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

fn check_len(what: &str, w: u32, h: u32, channels: usize, len: usize) -> Result<()> {
    let need = w as usize * h as usize * channels;
    if need != len || w == 0 || h == 0 {
        return Err(Error::invalid(format!(
            "{what} picture of {w}×{h}×{channels} needs {need} values (and a non-zero size), got {len}"
        )));
    }
    Ok(())
}

impl Picture {
    /// A grayscale picture from `width × height` values in [0, 1] (0 = black).
    pub fn gray(width: u32, height: u32, values: &[f32]) -> Result<Self> {
        check_len("a grayscale", width, height, 1, values.len())?;
        let rgb = values.iter().flat_map(|&v| [to_byte(v); 3]).collect();
        Ok(Picture { width, height, rgb })
    }
    /// A grayscale picture from model-range values in [−1, 1] (−1 = black).
    pub fn gray_model(width: u32, height: u32, values: &[f32]) -> Result<Self> {
        let unit: Vec<f32> = values.iter().map(|&v| (v + 1.0) * 0.5).collect();
        Self::gray(width, height, &unit)
    }
    /// A colour picture from `height × width × 3` (HWC) values in [0, 1].
    pub fn rgb(width: u32, height: u32, values: &[f32]) -> Result<Self> {
        check_len("an RGB", width, height, 3, values.len())?;
        Ok(Picture {
            width,
            height,
            rgb: values.iter().map(|&v| to_byte(v)).collect(),
        })
    }
    /// A colour picture from HWC model-range values in [−1, 1].
    pub fn rgb_model(width: u32, height: u32, values: &[f32]) -> Result<Self> {
        let unit: Vec<f32> = values.iter().map(|&v| (v + 1.0) * 0.5).collect();
        Self::rgb(width, height, &unit)
    }
    /// Signed values (noise, filters, differences) through the diverging map: `−scale` is dark
    /// blue, 0 white, `+scale` dark red. Use one `scale` for pictures that are compared
    /// (see [`max_abs`]) and show it with a colour bar.
    pub fn signed(width: u32, height: u32, values: &[f32], scale: f32) -> Result<Self> {
        check_len("a signed", width, height, 1, values.len())?;
        let s = if scale > 0.0 && scale.is_finite() {
            scale
        } else {
            1.0
        };
        let rgb = values
            .iter()
            .flat_map(|&v| {
                let c = diverging(if v.is_nan() { 0.0 } else { v / s });
                [c.0, c.1, c.2]
            })
            .collect();
        Ok(Picture { width, height, rgb })
    }
    /// A picture from raw RGB8 bytes.
    pub fn from_rgb8(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self> {
        check_len("an RGB8", width, height, 3, rgb.len())?;
        Ok(Picture { width, height, rgb })
    }
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The RGB bytes, row-major.
    pub fn rgb_bytes(&self) -> &[u8] {
        &self.rgb
    }
    /// The colour at (x, y). Panics outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let o = ((y * self.width + x) * 3) as usize;
        [self.rgb[o], self.rgb[o + 1], self.rgb[o + 2]]
    }
}

/// ColorBrewer RdBu (11 classes), from −1 (blue) to +1 (red).
const RDBU: [(u8, u8, u8); 11] = [
    (5, 48, 97),
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
    (103, 0, 31),
];

/// The diverging colour of `v` in [−1, 1] (clamped): blue for negative, white at 0, red for positive.
pub fn diverging(v: f32) -> RGBColor {
    let x = (v.clamp(-1.0, 1.0) + 1.0) * 0.5 * (RDBU.len() - 1) as f32;
    let i = (x.floor() as usize).min(RDBU.len() - 2);
    let f = x - i as f32;
    let (a, b) = (RDBU[i], RDBU[i + 1]);
    let mix = |p: u8, q: u8| (p as f32 + (q as f32 - p as f32) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The largest |value| over several arrays: a shared scale for [`Picture::signed`].
/// Returns 1 when everything is zero (or empty), so the scale is always usable.
pub fn max_abs<'a>(arrays: impl IntoIterator<Item = &'a [f32]>) -> f32 {
    let m = arrays
        .into_iter()
        .flat_map(|a| a.iter())
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 {
        m
    } else {
        1.0
    }
}
