//! A canvas: an RGB8 pixel buffer that plotters draws into and images are copied onto,
//! written out as PNG atomically.

use super::picture::Picture;
use super::{style, text};
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontStyle,
    FontTransform,
};
use std::path::Path;

/// A rectangle in canvas pixels: top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub fn new(x: i32, y: i32, w: u32, h: u32) -> Self {
        Rect { x, y, w, h }
    }
    /// The rectangle grown by `by` pixels on every side.
    pub fn grow(&self, by: u32) -> Self {
        Rect::new(
            self.x - by as i32,
            self.y - by as i32,
            self.w + 2 * by,
            self.h + 2 * by,
        )
    }
    /// The horizontal centre.
    pub fn center_x(&self) -> i32 {
        self.x + self.w as i32 / 2
    }
    /// The right edge (exclusive).
    pub fn right(&self) -> i32 {
        self.x + self.w as i32
    }
    /// The bottom edge (exclusive).
    pub fn bottom(&self) -> i32 {
        self.y + self.h as i32
    }
}

/// Horizontal text alignment relative to the given x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text starts at x.
    Left,
    /// Text is centred on x.
    Center,
    /// Text ends at x.
    Right,
}

/// An RGB8 image being drawn: the target of every figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Canvas {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Canvas {
    /// A `width × height` canvas filled with the style's background.
    pub fn new(width: u32, height: u32) -> Self {
        Self::filled(width, height, style::BACKGROUND)
    }
    /// A canvas filled with `color`.
    pub fn filled(width: u32, height: u32, color: RGBColor) -> Self {
        let rgb = [color.0, color.1, color.2].repeat((width * height) as usize);
        Canvas { width, height, rgb }
    }
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The pixels, row-major RGB.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
    /// The colour at (x, y). Panics outside the canvas.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let o = ((y * self.width + x) * 3) as usize;
        [self.rgb[o], self.rgb[o + 1], self.rgb[o + 2]]
    }
    /// A plotters drawing area over the whole canvas (for custom drawing with plotters). It draws
    /// through [`CanvasBackend`]: antialiased lines and difflab's text rendering.
    pub fn area(&mut self) -> DrawingArea<CanvasBackend<'_>, Shift> {
        style::register_fonts();
        CanvasBackend { canvas: self }.into_drawing_area()
    }
    /// A plotters drawing area over `rect` only; its coordinates start at `rect`'s corner.
    pub fn area_in(&mut self, rect: Rect) -> DrawingArea<CanvasBackend<'_>, Shift> {
        self.area().shrink((rect.x, rect.y), (rect.w, rect.h))
    }
    /// Fill `rect` (clipped to the canvas) with `color`.
    pub fn fill_rect(&mut self, rect: Rect, color: RGBColor) {
        let (x0, x1) = (
            rect.x.max(0) as u32,
            (rect.right().max(0) as u32).min(self.width),
        );
        let (y0, y1) = (
            rect.y.max(0) as u32,
            (rect.bottom().max(0) as u32).min(self.height),
        );
        for y in y0..y1 {
            for x in x0..x1 {
                let o = ((y * self.width + x) * 3) as usize;
                self.rgb[o..o + 3].copy_from_slice(&[color.0, color.1, color.2]);
            }
        }
    }
    /// Draw a frame of `thickness` pixels just outside `rect`.
    pub fn frame(&mut self, rect: Rect, color: RGBColor, thickness: u32) {
        let o = rect.grow(thickness);
        self.fill_rect(Rect::new(o.x, o.y, o.w, thickness), color);
        self.fill_rect(Rect::new(o.x, rect.bottom(), o.w, thickness), color);
        self.fill_rect(Rect::new(o.x, rect.y, thickness, rect.h), color);
        self.fill_rect(Rect::new(rect.right(), rect.y, thickness, rect.h), color);
    }
    /// Copy `picture` with its top-left at (x, y), each pixel repeated `scale × scale` times
    /// (nearest neighbour, so pixels stay crisp). Clipped to the canvas.
    pub fn blit(&mut self, picture: &Picture, x: i32, y: i32, scale: u32) {
        let scale = scale.max(1);
        for py in 0..picture.height() * scale {
            let cy = y + py as i32;
            if cy < 0 || cy >= self.height as i32 {
                continue;
            }
            for px in 0..picture.width() * scale {
                let cx = x + px as i32;
                if cx < 0 || cx >= self.width as i32 {
                    continue;
                }
                let c = picture.pixel(px / scale, py / scale);
                let o = ((cy as u32 * self.width + cx as u32) * 3) as usize;
                self.rgb[o..o + 3].copy_from_slice(&c);
            }
        }
    }
    /// Copy another canvas with its top-left at (x, y), clipped.
    pub fn paste(&mut self, other: &Canvas, x: i32, y: i32) {
        let pic = Picture::from_rgb8(other.width, other.height, other.rgb.clone())
            .expect("a canvas is a valid picture");
        self.blit(&pic, x, y, 1);
    }
    /// Draw `text` with its top at `y`, aligned on `x` as `align` says (size, weight and colour
    /// from `style`).
    pub fn text(&mut self, text: &str, x: i32, y: i32, style: &TextStyle, align: Align) {
        let h = match align {
            Align::Left => HPos::Left,
            Align::Center => HPos::Center,
            Align::Right => HPos::Right,
        };
        self.draw_text_at(
            text,
            (x, y),
            style_parts(style),
            (h, VPos::Top),
            FontTransform::None,
        );
    }
    /// Draw `text` rotated to read upwards, centred on (x, y).
    pub fn text_vertical(&mut self, text: &str, x: i32, y: i32, style: &TextStyle) {
        self.draw_text_at(
            text,
            (x, y),
            style_parts(style),
            (HPos::Center, VPos::Center),
            FontTransform::Rotate270,
        );
    }
    /// The width and height `text` takes in `style` (unrotated).
    pub fn text_size(text: &str, style: &TextStyle) -> (u32, u32) {
        let (size, bold, _) = style_parts(style);
        text::measure(text, size, bold)
    }

    fn draw_text_at(
        &mut self,
        s: &str,
        (x, y): (i32, i32),
        (size, bold, color): (f64, bool, BackendColor),
        (h, v): (HPos, VPos),
        rot: FontTransform,
    ) {
        if color.alpha <= 0.0 {
            return;
        }
        let (w, ht) = text::measure(s, size, bold);
        let dx = match h {
            HPos::Left => 0,
            HPos::Center => -(w as i32) / 2,
            HPos::Right => -(w as i32),
        };
        let dy = match v {
            VPos::Top => 0,
            VPos::Center => -(ht as i32) / 2,
            VPos::Bottom => -(ht as i32),
        };
        let rgb = RGBColor(color.rgb.0, color.rgb.1, color.rgb.2);
        let alpha = color.alpha as f32;
        text::rasterize(s, size, bold, |px, py, c| {
            let (tx, ty) = rot.transform(px + dx, py + dy);
            self.blend(x + tx, y + ty, rgb, c * alpha);
        });
    }
    /// The canvas encoded as PNG.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        use image::ImageEncoder;
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                &self.rgb,
                self.width,
                self.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| Error::invalid(format!("PNG encoding failed: {e}")))?;
        Ok(out)
    }
    /// Write the canvas as a PNG file, atomically (creating the folder if needed).
    pub fn save_png(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_png()?)
    }
}

fn style_parts(style: &TextStyle) -> (f64, bool, BackendColor) {
    (
        style.font.get_size(),
        matches!(style.font.get_style(), FontStyle::Bold),
        style.color,
    )
}

/// The plotters backend over a [`Canvas`]: lines, paths and circles are antialiased, text uses
/// [`super::text`], everything else falls back to plotters' pixel rasterisers.
pub struct CanvasBackend<'a> {
    canvas: &'a mut Canvas,
}

fn rgb_of(c: BackendColor) -> RGBColor {
    RGBColor(c.rgb.0, c.rgb.1, c.rgb.2)
}

impl DrawingBackend for CanvasBackend<'_> {
    type ErrorType = std::convert::Infallible;

    fn get_size(&self) -> (u32, u32) {
        (self.canvas.width, self.canvas.height)
    }
    fn ensure_prepared(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }
    fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }
    fn draw_pixel(
        &mut self,
        p: BackendCoord,
        c: BackendColor,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.canvas.blend(p.0, p.1, rgb_of(c), c.alpha as f32);
        Ok(())
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.draw_path([from, to], style)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let c = style.color();
        if c.alpha <= 0.0 {
            return Ok(());
        }
        let pts: Vec<(f64, f64)> = path
            .into_iter()
            .map(|(x, y)| (x as f64 + 0.5, y as f64 + 0.5))
            .collect();
        let all = Rect::new(0, 0, self.canvas.width, self.canvas.height);
        let w = style.stroke_width().max(1) as f64;
        self.canvas
            .stroke(&pts, w, (rgb_of(c), c.alpha as f32), all, None);
        Ok(())
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let c = style.color();
        let (cx, cy) = (center.0 as f64 + 0.5, center.1 as f64 + 0.5);
        if fill {
            self.canvas.disc(cx, cy, radius as f64, rgb_of(c));
        } else {
            let n = (radius as usize * 4).max(16);
            let pts: Vec<(f64, f64)> = (0..=n)
                .map(|i| {
                    let a = i as f64 / n as f64 * std::f64::consts::TAU;
                    (cx + radius as f64 * a.cos(), cy + radius as f64 * a.sin())
                })
                .collect();
            let all = Rect::new(0, 0, self.canvas.width, self.canvas.height);
            self.canvas.polyline(
                &pts,
                style.stroke_width().max(1) as f64,
                rgb_of(c),
                all,
                None,
            );
        }
        Ok(())
    }
    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let a = style.anchor();
        let bold = matches!(style.style(), FontStyle::Bold);
        self.canvas.draw_text_at(
            text,
            pos,
            (style.size(), bold, style.color()),
            (a.h_pos, a.v_pos),
            style.transform(),
        );
        Ok(())
    }
    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(text::measure(
            text,
            style.size(),
            matches!(style.style(), FontStyle::Bold),
        ))
    }
}

/// Antialiased drawing: shapes are rasterised by coverage (how much of each pixel they cover)
/// and blended, so curves and dots look smooth. Coordinates are in pixels, floating point,
/// with pixel (i, j) covering [i, i+1) × [j, j+1).
impl Canvas {
    /// Blend `color` over pixel (x, y) with opacity `alpha` in [0, 1]; ignored outside the canvas.
    pub fn blend(&mut self, x: i32, y: i32, color: RGBColor, alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let o = ((y as u32 * self.width + x as u32) * 3) as usize;
        for (k, c) in [color.0, color.1, color.2].into_iter().enumerate() {
            let old = self.rgb[o + k] as f32;
            self.rgb[o + k] = (old + (c as f32 - old) * a).round() as u8;
        }
    }

    /// An antialiased polyline `width` pixels thick through `points`, clipped to `clip`;
    /// `dash = Some((on, off))` draws it dashed (lengths in pixels along the line).
    pub fn polyline(
        &mut self,
        points: &[(f64, f64)],
        width: f64,
        color: RGBColor,
        clip: Rect,
        dash: Option<(f64, f64)>,
    ) {
        self.stroke(points, width, (color, 1.0), clip, dash);
    }

    /// [`Canvas::polyline`] blended with opacity `alpha`.
    fn stroke(
        &mut self,
        points: &[(f64, f64)],
        width: f64,
        (color, alpha): (RGBColor, f32),
        clip: Rect,
        dash: Option<(f64, f64)>,
    ) {
        if points.len() < 2 || clip.w == 0 || clip.h == 0 {
            return;
        }
        let segments = match dash {
            Some((on, off)) => dashed_segments(points, on.max(1.0), off.max(1.0)),
            None => points.windows(2).map(|w| (w[0], w[1])).collect(),
        };
        let half = width / 2.0;
        // Work only inside the stroke's bounding box (within the clip).
        let (mut bx0, mut by0, mut bx1, mut by1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(a, b) in &segments {
            bx0 = bx0.min(a.0.min(b.0));
            by0 = by0.min(a.1.min(b.1));
            bx1 = bx1.max(a.0.max(b.0));
            by1 = by1.max(a.1.max(b.1));
        }
        let x0 = ((bx0 - half - 1.0).floor() as i32).max(clip.x);
        let y0 = ((by0 - half - 1.0).floor() as i32).max(clip.y);
        let x1 = ((bx1 + half + 1.0).ceil() as i32).min(clip.right());
        let y1 = ((by1 + half + 1.0).ceil() as i32).min(clip.bottom());
        if segments.is_empty() || x0 >= x1 || y0 >= y1 {
            return;
        }
        let clip = Rect::new(x0, y0, (x1 - x0) as u32, (y1 - y0) as u32);
        // Coverage of each pixel: the maximum over segments, so joints are not drawn twice.
        let (cw, ch) = (clip.w as usize, clip.h as usize);
        let mut cov = vec![0.0f32; cw * ch];
        for (a, b) in segments {
            let x_lo = ((a.0.min(b.0) - half - 1.0).floor() as i32).max(clip.x);
            let x_hi = ((a.0.max(b.0) + half + 1.0).ceil() as i32).min(clip.right());
            let y_lo = ((a.1.min(b.1) - half - 1.0).floor() as i32).max(clip.y);
            let y_hi = ((a.1.max(b.1) + half + 1.0).ceil() as i32).min(clip.bottom());
            for py in y_lo..y_hi {
                for px in x_lo..x_hi {
                    let d = segment_distance((px as f64 + 0.5, py as f64 + 0.5), a, b);
                    let c = (half + 0.5 - d).clamp(0.0, 1.0) as f32;
                    let i = (py - clip.y) as usize * cw + (px - clip.x) as usize;
                    if c > cov[i] {
                        cov[i] = c;
                    }
                }
            }
        }
        for (i, &c) in cov.iter().enumerate() {
            if c > 0.0 {
                self.blend(
                    clip.x + (i % cw) as i32,
                    clip.y + (i / cw) as i32,
                    color,
                    c * alpha,
                );
            }
        }
    }

    /// An antialiased filled disc of radius `r` centred at (cx, cy).
    pub fn disc(&mut self, cx: f64, cy: f64, r: f64, color: RGBColor) {
        for py in (cy - r - 1.0).floor() as i32..=(cy + r + 1.0).ceil() as i32 {
            for px in (cx - r - 1.0).floor() as i32..=(cx + r + 1.0).ceil() as i32 {
                let d = ((px as f64 + 0.5 - cx).powi(2) + (py as f64 + 0.5 - cy).powi(2)).sqrt();
                self.blend(px, py, color, (r + 0.5 - d).clamp(0.0, 1.0) as f32);
            }
        }
    }
}

fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// Split a polyline into the "on" pieces of a dash pattern measured along its length.
fn dashed_segments(points: &[(f64, f64)], on: f64, off: f64) -> Vec<((f64, f64), (f64, f64))> {
    let mut out = Vec::new();
    let period = on + off;
    let mut s0 = 0.0f64; // arc length at the start of the current segment
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        if len == 0.0 {
            continue;
        }
        let at = |s: f64| {
            let f = ((s - s0) / len).clamp(0.0, 1.0);
            (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f)
        };
        let mut k = (s0 / period).floor();
        loop {
            let (d0, d1) = (k * period, k * period + on);
            if d0 >= s0 + len {
                break;
            }
            let (lo, hi) = (d0.max(s0), d1.min(s0 + len));
            if hi > lo {
                out.push((at(lo), at(hi)));
            }
            k += 1.0;
        }
        s0 += len;
    }
    out
}
