//! Text layout and rasterisation with the embedded DejaVu Sans, via `ab_glyph`.
//!
//! Glyphs are placed at fractional pen positions with their side bearings and kerning, and
//! rasterised with coverage antialiasing. (plotters' own `ab_glyph` path drops the bearings,
//! which makes letter spacing uneven; every difflab text goes through here instead.)

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use std::sync::OnceLock;

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

fn fonts() -> &'static (FontRef<'static>, FontRef<'static>) {
    static FONTS: OnceLock<(FontRef<'static>, FontRef<'static>)> = OnceLock::new();
    FONTS.get_or_init(|| {
        (
            FontRef::try_from_slice(REGULAR).expect("embedded DejaVuSans.ttf is valid"),
            FontRef::try_from_slice(BOLD).expect("embedded DejaVuSans-Bold.ttf is valid"),
        )
    })
}

fn font(bold: bool) -> &'static FontRef<'static> {
    let f = fonts();
    if bold {
        &f.1
    } else {
        &f.0
    }
}

/// True if the embedded (regular) font has a glyph for `c`; text with missing glyphs would show
/// empty boxes, so tests check every character the figures use.
pub fn has_glyph(c: char) -> bool {
    font(false).glyph_id(c) != GlyphId(0)
}

/// A laid-out line of text: glyphs with pen positions, and the line's box.
struct Line {
    glyphs: Vec<(GlyphId, f32)>,
    width: f32,
    ascent: f32,
    descent: f32,
}

fn layout(text: &str, size: f64, bold: bool) -> Line {
    let f = font(bold).as_scaled(PxScale::from(size as f32));
    let mut x = 0.0f32;
    let mut prev: Option<GlyphId> = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            x += f.kern(p, id);
        }
        glyphs.push((id, x));
        x += f.h_advance(id);
        prev = Some(id);
    }
    Line {
        glyphs,
        width: x,
        ascent: f.ascent(),
        descent: f.descent(),
    }
}

/// Width and height (ascent + descent) of `text` at `size` px, rounded up.
pub fn measure(text: &str, size: f64, bold: bool) -> (u32, u32) {
    let l = layout(text, size, bold);
    (l.width.ceil() as u32, (l.ascent - l.descent).ceil() as u32)
}

/// Rasterise `text` with the top-left of its box at (0, 0) (the baseline at y = ascent):
/// `put(x, y, coverage)` is called for every touched pixel, coverage in (0, 1].
pub fn rasterize(text: &str, size: f64, bold: bool, mut put: impl FnMut(i32, i32, f32)) {
    let l = layout(text, size, bold);
    let f = font(bold);
    let scale = PxScale::from(size as f32);
    for (id, x) in l.glyphs {
        let glyph = id.with_scale_and_position(scale, point(x, l.ascent));
        if let Some(outline) = f.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, c| {
                if c > 0.0 {
                    put(
                        b.min.x as i32 + gx as i32,
                        b.min.y as i32 + gy as i32,
                        c.min(1.0),
                    );
                }
            });
        }
    }
}
