//! Which pixels inpainting regenerates: a [`Mask`] over an `h × w` image, from a named preset
//! (half of the image, or its centre) or from a picture file.
//!
//! **Convention** (as diffusers' and Stable Diffusion's inpainting): the mask marks the *hidden*
//! region, the part the model regenerates. In a mask picture, **white = hidden (regenerated)**
//! and **black = known (kept from the original)**.

use crate::data::image_file::read_luma;
use crate::data::{resize, ResizeFilter};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A named mask, defined for any image size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskPreset {
    /// The left half is hidden (columns `0 .. w/2`).
    Left,
    /// The right half is hidden (the last `w/2` columns).
    Right,
    /// The top half is hidden (rows `0 .. h/2`).
    Top,
    /// The bottom half is hidden (the last `h/2` rows).
    Bottom,
    /// A centred `h/2 × w/2` rectangle is hidden (a quarter of the image).
    Center,
}

impl MaskPreset {
    /// Every preset, in the order of the CLI's help.
    pub const ALL: [MaskPreset; 5] = [
        MaskPreset::Left,
        MaskPreset::Right,
        MaskPreset::Top,
        MaskPreset::Bottom,
        MaskPreset::Center,
    ];

    /// `left`, `right`, `top`, `bottom` or `center`.
    pub fn name(self) -> &'static str {
        match self {
            MaskPreset::Left => "left",
            MaskPreset::Right => "right",
            MaskPreset::Top => "top",
            MaskPreset::Bottom => "bottom",
            MaskPreset::Center => "center",
        }
    }

    /// The preset called `name` (any case; `centre` too), if any.
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let lower = if lower == "centre" { "center" } else { &lower };
        MaskPreset::ALL.into_iter().find(|p| p.name() == lower)
    }

    /// Is pixel (`y`, `x`) of an `h × w` image hidden?
    fn hides(self, y: usize, x: usize, h: usize, w: usize) -> bool {
        let (hh, hw) = (h / 2, w / 2);
        match self {
            MaskPreset::Left => x < hw,
            MaskPreset::Right => x >= w - hw,
            MaskPreset::Top => y < hh,
            MaskPreset::Bottom => y >= h - hh,
            MaskPreset::Center => {
                let (y0, x0) = ((h - hh) / 2, (w - hw) / 2);
                (y0..y0 + hh).contains(&y) && (x0..x0 + hw).contains(&x)
            }
        }
    }
}

/// Where a mask came from, for captions and the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaskSource {
    /// A preset.
    Preset(MaskPreset),
    /// A picture file (white = hidden).
    File(PathBuf),
    /// Built in code.
    Custom,
}

/// The hidden region of an `h × w` image: `true` where the model regenerates the pixel,
/// `false` where the original is kept. Applies to every channel of a pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    height: usize,
    width: usize,
    hidden: Vec<bool>,
    source: MaskSource,
}

impl Mask {
    /// A mask from `h·w` flags, row-major (`true` = hidden). Errors on a wrong length or an
    /// empty size.
    pub fn from_hidden(height: usize, width: usize, hidden: Vec<bool>) -> Result<Self> {
        if height == 0 || width == 0 || hidden.len() != height * width {
            return Err(Error::invalid(format!(
                "a {height}×{width} mask needs {} flags (and a non-zero size), got {}",
                height * width,
                hidden.len()
            )));
        }
        Ok(Mask {
            height,
            width,
            hidden,
            source: MaskSource::Custom,
        })
    }

    /// The preset `p` for an `h × w` image (both at least 2, so that half is not empty).
    pub fn preset(p: MaskPreset, height: usize, width: usize) -> Result<Self> {
        if height < 2 || width < 2 {
            return Err(Error::invalid(format!(
                "the {} mask needs an image of at least 2×2 pixels, got {height}×{width}",
                p.name()
            )));
        }
        let hidden = (0..height)
            .flat_map(|y| (0..width).map(move |x| p.hides(y, x, height, width)))
            .collect();
        Ok(Mask {
            source: MaskSource::Preset(p),
            ..Mask::from_hidden(height, width, hidden)?
        })
    }

    /// Read a mask picture (PNG, JPEG, … by content) of any size and fit it to `h × w`:
    /// colour becomes luma (Rec. 709), transparent pixels count as black (known), the picture
    /// is resized with the area filter, and a pixel is hidden where the result is at least ½
    /// (white = hidden, black = known). Errors name the file: it cannot be read, is not an
    /// image, or hides no pixel or every pixel at `h × w`.
    pub fn from_file(path: &Path, height: usize, width: usize) -> Result<Self> {
        let (luma, w0, h0) = read_luma(
            path,
            0.0,
            "a mask picture (PNG or JPEG; white = hidden, black = known)",
        )?;
        let fitted = resize(&luma, h0, w0, height, width, ResizeFilter::Area);
        let hidden: Vec<bool> = fitted.iter().map(|&v| v >= 0.5).collect();
        let n = hidden.iter().filter(|&&h| h).count();
        let whole = format!("at {height}×{width} (the model's image size; the picture is {w0}×{h0}, white = hidden, black = known)");
        if n == 0 {
            return Err(Error::file(
                path,
                format!("the mask hides no pixel {whole}: nothing to regenerate"),
            ));
        }
        if n == hidden.len() {
            return Err(Error::file(
                path,
                format!("the mask hides every pixel {whole}: nothing is left to complete from"),
            ));
        }
        Ok(Mask {
            source: MaskSource::File(path.to_path_buf()),
            ..Mask::from_hidden(height, width, hidden)?
        })
    }

    /// `--mask` as given on the command line: a preset name, else the path of a mask picture.
    pub fn parse(spec: &str, height: usize, width: usize) -> Result<Self> {
        match MaskPreset::parse(spec) {
            Some(p) => Mask::preset(p, height, width),
            None => {
                let path = Path::new(spec);
                if !path.exists() {
                    return Err(Error::invalid(format!(
                        "--mask {spec}: not a preset ({}) and no such file",
                        MaskPreset::ALL.map(MaskPreset::name).join(", ")
                    )));
                }
                Mask::from_file(path, height, width)
            }
        }
    }

    /// Image height.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Image width.
    pub fn width(&self) -> usize {
        self.width
    }
    /// The flags, row-major (`true` = hidden).
    pub fn hidden(&self) -> &[bool] {
        &self.hidden
    }
    /// Is pixel (`y`, `x`) hidden? Panics outside the image.
    pub fn is_hidden(&self, y: usize, x: usize) -> bool {
        assert!(y < self.height && x < self.width, "pixel outside the mask");
        self.hidden[y * self.width + x]
    }
    /// Number of hidden pixels.
    pub fn hidden_count(&self) -> usize {
        self.hidden.iter().filter(|&&h| h).count()
    }
    /// The hidden share of the image, 0 … 1.
    pub fn hidden_share(&self) -> f64 {
        self.hidden_count() as f64 / self.hidden.len() as f64
    }
    /// Where it came from.
    pub fn source(&self) -> &MaskSource {
        &self.source
    }
    /// "left half hidden", "centre hidden", "mask.png".
    pub fn describe(&self) -> String {
        match &self.source {
            MaskSource::Preset(MaskPreset::Center) => "centre hidden".into(),
            MaskSource::Preset(p) => format!("{} half hidden", p.name()),
            MaskSource::File(path) => format!(
                "mask {}",
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            MaskSource::Custom => "custom mask".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(m: &Mask) -> Vec<String> {
        (0..m.height())
            .map(|y| {
                (0..m.width())
                    .map(|x| if m.is_hidden(y, x) { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn presets_on_an_odd_size() {
        let m = |p| rows(&Mask::preset(p, 3, 5).unwrap());
        assert_eq!(m(MaskPreset::Left), ["##...", "##...", "##..."]);
        assert_eq!(m(MaskPreset::Right), ["...##", "...##", "...##"]);
        assert_eq!(m(MaskPreset::Top), ["#####", ".....", "....."]);
        assert_eq!(m(MaskPreset::Bottom), [".....", ".....", "#####"]);
        assert_eq!(m(MaskPreset::Center), [".....", ".##..", "....."]);
    }

    #[test]
    fn names_round_trip() {
        for p in MaskPreset::ALL {
            assert_eq!(MaskPreset::parse(p.name()), Some(p));
            assert_eq!(MaskPreset::parse(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(MaskPreset::parse("centre"), Some(MaskPreset::Center));
        assert_eq!(MaskPreset::parse("middle"), None);
    }

    #[test]
    fn tiny_or_mismatched_masks_are_errors() {
        assert!(Mask::preset(MaskPreset::Left, 1, 16).is_err());
        assert!(Mask::from_hidden(2, 2, vec![true; 3]).is_err());
        assert!(Mask::from_hidden(0, 2, vec![]).is_err());
    }
}
