//! `conditional.png` and `guidance.png`, in the shared `viz` style.

use super::PER_ROW;
use crate::eval::guided::GuidanceSweep;
use crate::pipelines::sample::Samples;
use crate::viz::{Figure, ImageGrid, Picture, Tile};
use crate::Result;
use std::path::Path;

/// Sample `i` of `s` (model range, one channel) as a picture.
fn picture(s: &Samples, i: usize) -> Picture {
    let [_, h, w, c] = s.images.dims4().expect("samples are NHWC");
    let per = h * w * c;
    let v = &s.images.data()[i * per..(i + 1) * per];
    if c == 3 {
        Picture::rgb_model(w as u32, h as u32, v).expect("image-sized")
    } else {
        Picture::gray_model(w as u32, h as u32, v).expect("image-sized")
    }
}

/// `conditional.png`: one row per digit of `digits`, the [`PER_ROW`] samples that asked for it
/// (as [`super::conditional_samples`] makes them), at scale `w`.
pub fn conditional_png(
    path: &Path,
    samples: &Samples,
    digits: &[u8],
    w: f32,
    about: &str,
) -> Result<(u32, u32)> {
    let tiles = (0..digits.len() * PER_ROW).map(|i| Tile::new(picture(samples, i)));
    let grid = ImageGrid::new(PER_ROW)
        .tiles(tiles)
        .tile_px(64)
        .gap(8)
        .row_labels(digits.iter().map(|d| format!("“{d}”")).collect());
    Figure::new()
        .title("Ask for a digit, get that digit")
        .subtitle(format!(
            "{about} · classifier-free guidance w = {w}\nEach row asked the same model for one digit; each column starts from its own noise.\nThe only new input is a label embedding, added to the time embedding."
        ))
        .grid(grid)
        .note("Text-to-image models do the same with a prompt: a text encoder's embedding takes the place of the digit's label.")
        .save_png(path)
}

/// `guidance.png`: `digit` at every scale of the sweep, the first [`PER_ROW`] samples of each
/// (same starting noise down each column), each row captioned with its scores.
pub fn guidance_png(
    path: &Path,
    sweep: &GuidanceSweep,
    shown: &[Samples],
    digit: u8,
    about: &str,
) -> Result<(u32, u32)> {
    let mut tiles = Vec::new();
    let mut labels = Vec::new();
    for (r, s) in sweep.runs.iter().zip(shown) {
        labels.push(format!("w = {}", r.guidance));
        for i in 0..PER_ROW.min(s.images.shape()[0]) {
            let t = Tile::new(picture(s, i));
            tiles.push(if i == 0 {
                t.caption(format!("{:.0}% are a {digit}", 100.0 * r.agreement))
                    .caption(format!("FID {:.1}", r.scores.fid))
            } else if i == 1 {
                t.caption(format!("{:.0}% recognised", 100.0 * r.scores.recognised))
                    .caption(" ")
            } else {
                t.caption(" ").caption(" ")
            });
        }
    }
    let grid = ImageGrid::new(PER_ROW)
        .tiles(tiles)
        .tile_px(64)
        .gap(8)
        .row_labels(labels);
    Figure::new()
        .title(format!("Guidance: how hard to push towards “{digit}”"))
        .subtitle(format!(
            "{about} · {} {} steps · scores over {} samples per row\nε̂ = ε̂(no class) + w · (ε̂(“{digit}”) − ε̂(no class))\nw = 0 ignores the label, w = 1 is the plain conditional model, w > 1 extrapolates.",
            sweep.sampler.to_uppercase(),
            sweep.steps,
            sweep.count
        ))
        .grid(grid)
        .note(format!(
            "Same starting noise down each column. As w grows, more samples are clearly a {digit} (fidelity)\nwhile they grow alike (less variety). Real training {digit}s score FID {:.1}; lower is closer to them.",
            sweep.floor.fid
        ))
        .save_png(path)
}
