//! How the figures show a noise level: the border colour of a noisy image and the percentage
//! it is labelled with (Modules 1 and 3 and the inpainting share them).

use super::style;
use plotters::style::RGBColor;

/// Noise weight 1 − ᾱ below this: "mostly signal" (green border).
pub const GREEN_BELOW: f64 = 0.3;
/// Noise weight below this (and at least [`GREEN_BELOW`]): "balanced" (orange); above: red.
pub const ORANGE_BELOW: f64 = 0.7;

/// The border colour for a noise weight 1 − ᾱₜ.
pub fn noise_color(noise_weight: f64) -> RGBColor {
    if noise_weight < GREEN_BELOW {
        style::GOOD
    } else if noise_weight < ORANGE_BELOW {
        style::WARN
    } else {
        style::BAD
    }
}

/// A share as a percentage: one decimal below 10 %, none above ("4.3%", "60%").
pub fn pct(v: f64) -> String {
    let p = v * 100.0;
    if p < 9.95 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}
