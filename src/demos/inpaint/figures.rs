//! `inpaint.png` and `inpaint.gif`, in the shared `viz` style. Pictures are drawn at a whole
//! multiple of the image size so that the hidden region can be hatched and outlined finer than
//! one image pixel.

use crate::pipelines::inpaint::{Inpainted, Mask};
use crate::viz::{
    self, style, Canvas, Figure, GifFrame, ImageGrid, KeyShape, LegendEntry, Picture, Tile,
};
use crate::viz::{noise_color, pct};
use crate::Result;
use std::path::Path;

/// Display size (px) of one picture.
const TILE_PX: usize = 128;
/// Width of the outline around the regenerated region (px).
const OUTLINE_PX: usize = 2;
/// Colour of that outline.
const OUTLINE: viz::RGBColor = style::PALETTE[1];
/// The two greys of the hatching over the hidden region, and its period (px).
const HATCH: [[u8; 3]; 2] = [[118, 118, 118], [150, 150, 150]];
const HATCH_PERIOD: usize = 8;
/// Width of the animation's frames (px): wider than any frame's content, so all are equal.
const FRAME_WIDTH: u32 = 640;

/// The longest caption of the animation; the last frame's captions are padded to its width
/// so that every frame has the same layout.
const GUESS_NOTE: &str = "the completion if it stopped here";

/// `text` padded with spaces on both sides to the width of [`GUESS_NOTE`] (as a muted caption).
fn pad(text: &str) -> String {
    let style = style::text(style::CAPTION_SIZE, style::MUTED);
    let target = Canvas::text_size(GUESS_NOTE, &style).0;
    let mut t = text.to_string();
    while Canvas::text_size(&t, &style).0 < target {
        t = format!(" {t} ");
    }
    t
}

/// Everything the figures need.
pub(super) struct Context<'a> {
    /// Image side.
    pub size: usize,
    /// The original, `size²` values in the model range.
    pub original: &'a [f32],
    pub mask: &'a Mask,
    pub run: &'a Inpainted,
    /// The subtitle's first lines (model, image, mask; sampler, seed).
    pub heading: String,
    /// Per completion, the RMS error on the hidden region.
    pub rmse: &'a [f64],
}

/// How the hidden region is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hidden {
    /// Hatched grey: the masked input.
    Hatched,
    /// The image, with the region's edge outlined.
    Outlined,
}

impl Context<'_> {
    fn scale(&self) -> usize {
        (TILE_PX / self.size).max(1)
    }

    /// One image (model range, `size²` values) drawn at [`Self::scale`].
    fn picture(&self, values: &[f32], hidden: Hidden) -> Picture {
        let (n, s) = (self.size, self.scale());
        let side = n * s;
        let mut rgb = Vec::with_capacity(side * side * 3);
        for py in 0..side {
            for px in 0..side {
                let (y, x) = (py / s, px / s);
                let masked = self.mask.is_hidden(y, x);
                let c = if masked && hidden == Hidden::Hatched {
                    HATCH[((px + py) / (HATCH_PERIOD / 2)) % 2]
                } else if masked && self.on_edge(y, x, py % s, px % s) {
                    [OUTLINE.0, OUTLINE.1, OUTLINE.2]
                } else {
                    let v = ((values[y * n + x].clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
                    [v; 3]
                };
                rgb.extend_from_slice(&c);
            }
        }
        Picture::from_rgb8(side as u32, side as u32, rgb).expect("sized to fit")
    }

    /// Is sub-pixel (`sy`, `sx`) of hidden pixel (`y`, `x`) within the outline of a side that
    /// borders a known pixel?
    fn on_edge(&self, y: usize, x: usize, sy: usize, sx: usize) -> bool {
        let (n, s) = (self.size, self.scale());
        let w = OUTLINE_PX.min(s);
        let known = |yy: Option<usize>, xx: Option<usize>| match (yy, xx) {
            (Some(a), Some(b)) if a < n && b < n => !self.mask.is_hidden(a, b),
            _ => false,
        };
        (sy < w && known(y.checked_sub(1), Some(x)))
            || (sy >= s - w && known(Some(y + 1), Some(x)))
            || (sx < w && known(Some(y), x.checked_sub(1)))
            || (sx >= s - w && known(Some(y), Some(x + 1)))
    }

    /// Image `i` of a batch buffer.
    fn nth<'b>(&self, data: &'b [f32], i: usize) -> &'b [f32] {
        let per = self.size * self.size;
        &data[i * per..(i + 1) * per]
    }

    /// `x̂0` with the known pixels of the original: what the completion would be if the loop
    /// stopped here.
    fn with_known(&self, x0: &[f32]) -> Vec<f32> {
        x0.iter()
            .zip(self.original)
            .zip(self.mask.hidden())
            .map(|((&g, &o), &h)| if h { g } else { o })
            .collect()
    }

    fn legend(&self) -> Vec<LegendEntry> {
        vec![
            LegendEntry::new(
                KeyShape::Swatch,
                viz::RGBColor(134, 134, 134),
                "hidden from the model",
            ),
            LegendEntry::new(KeyShape::Line, OUTLINE, "edge of the regenerated region"),
        ]
    }

    /// `inpaint.png`: original, masked input, and every completion (up to 8) in one strip.
    pub fn inpaint_png(&self, path: &Path) -> Result<(u32, u32)> {
        let images = self.run.samples.images.data();
        let count = images.len() / (self.size * self.size);
        let shown = count.min(8);
        let mut tiles = vec![
            Tile::new(self.picture(self.original, Hidden::Outlined))
                .caption("original")
                .caption("(the truth)"),
            Tile::new(self.picture(self.original, Hidden::Hatched))
                .caption("masked input")
                .caption(format!("{} hidden", pct(self.mask.hidden_share()))),
        ];
        for i in 0..shown {
            tiles.push(
                Tile::new(self.picture(self.nth(images, i), Hidden::Outlined))
                    .caption(format!("completion #{i}"))
                    .caption(format!("error {:.2}", self.rmse[i])),
            );
        }
        Figure::new()
            .title("Inpainting: the model fills in what was hidden")
            .subtitle(format!(
                "{}\nAt every step the known pixels are replaced by the original noised to the step's level, and the model fills\nthe hidden region to match. Each completion starts from its own noise.",
                self.heading
            ))
            .grid(ImageGrid::strip(tiles).tile_px(TILE_PX as u32).gap(14))
            .legend(self.legend())
            .note("error: RMS difference from the original over the hidden region (pixel values in [−1, 1]); the known region is kept exactly.")
            .save_png(path)
    }

    /// `inpaint.gif`: completion #0 forming — xₜ (border coloured by its noise share) and the
    /// model's guess x̂₀ with the known pixels, at the loop indices `at`, then the result.
    pub fn inpaint_gif(&self, path: &Path, at: &[usize]) -> Result<(u32, u32)> {
        let n = self.run.samples.timesteps.len();
        let mut frames = Vec::new();
        for (j, &k) in at.iter().enumerate() {
            let s = self
                .run
                .samples
                .snapshots
                .iter()
                .find(|s| s.index == k)
                .expect("snapshot recorded");
            let noise = 1.0 - s.level.alpha_bar;
            let guess = self.with_known(self.nth(s.pred_x0.data(), 0));
            let canvas = self
                .frame(
                    format!("t = {} · step {} of {n}", s.t, k + 1),
                    Tile::new(self.picture(self.nth(s.x_t.data(), 0), Hidden::Outlined))
                        .caption("xₜ, what the sampler holds")
                        .caption(format!("noise {}", pct(noise)))
                        .border(noise_color(noise)),
                    Tile::new(self.picture(&guess, Hidden::Outlined))
                        .caption("guess x̂₀ + known pixels")
                        .caption(GUESS_NOTE),
                )
                .render()?;
            let delay = if j == 0 {
                60
            } else {
                (300 / at.len().max(1)).clamp(3, 20) as u16
            };
            frames.push(GifFrame {
                canvas,
                delay_cs: delay,
            });
        }
        let done = self.nth(self.run.samples.images.data(), 0);
        let canvas = self
            .frame(
                format!("done: {n} of {n} steps"),
                Tile::new(self.picture(done, Hidden::Outlined))
                    .caption("x₀, completion #0")
                    .caption(pad(&format!("hidden-region error {:.2}", self.rmse[0])))
                    .border(noise_color(0.0)),
                Tile::new(self.picture(self.original, Hidden::Outlined))
                    .caption("the original")
                    .caption(pad("the truth, for comparison")),
            )
            .render()?;
        frames.push(GifFrame {
            canvas,
            delay_cs: 200,
        });
        viz::write_gif(path, &frames)?;
        Ok((frames[0].canvas.width(), frames[0].canvas.height()))
    }

    /// One frame of the animation: a title and two tiles side by side.
    fn frame(&self, title: String, left: Tile, right: Tile) -> Figure {
        Figure::new()
            .width(FRAME_WIDTH)
            .title(title)
            .grid(
                ImageGrid::strip(vec![left, right])
                    .tile_px(TILE_PX as u32)
                    .gap(32),
            )
            .legend(vec![LegendEntry::new(
                KeyShape::Line,
                OUTLINE,
                "edge of the regenerated region",
            )])
    }
}
