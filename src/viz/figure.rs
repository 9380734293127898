//! Composing a figure: a title and subtitle, then panels stacked top to bottom (plots, image
//! grids, legends, colour bars, headings, notes, and rows of panels side by side). The figure is
//! at least [`style::FIGURE_WIDTH`] wide and grows to fit wide image grids; its height follows
//! from the panels.
//!
//! ```no_run
//! use difflab::viz::{Figure, LinePlot, Panel, Series};
//! Figure::new()
//!     .title("Training loss")
//!     .subtitle("mean squared error of the predicted noise")
//!     .plot(LinePlot::new("step", "loss").series(Series::from_ys("loss", &[1.0, 0.5, 0.3])).y_log())
//!     .save_png("loss.png".as_ref())?;
//! # Ok::<(), difflab::Error>(())
//! ```

use super::canvas::{Align, Canvas, Rect};
use super::grid::ImageGrid;
use super::picture::diverging;
use super::plot::LinePlot;
use super::plot_draw::nice_number;
use super::style;
use crate::Result;
use plotters::style::RGBColor;
use std::path::Path;

/// How a legend entry's key is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyShape {
    /// A filled square.
    Swatch,
    /// A hollow square with a thick coloured outline (matches tile borders).
    Border,
    /// A short thick line (matches plot series).
    Line,
}

/// One entry of a stand-alone legend row.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// The key colour.
    pub color: RGBColor,
    /// The text after the key.
    pub label: String,
    /// How the key looks.
    pub shape: KeyShape,
}

impl LegendEntry {
    /// An entry with a key of `shape`.
    pub fn new(shape: KeyShape, color: RGBColor, label: impl Into<String>) -> Self {
        LegendEntry {
            color,
            label: label.into(),
            shape,
        }
    }
}

/// A horizontal colour bar for the diverging map, from `−scale` to `+scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColorBar {
    /// The value shown at the ends.
    pub scale: f32,
    /// Text left of the bar (what the colours mean).
    pub label: String,
}

/// One block of a figure.
#[derive(Clone, Debug, PartialEq)]
pub enum Panel {
    /// A line plot of the given height.
    Plot(LinePlot, u32),
    /// An image grid, centred (shrunk to fit if too wide).
    Grid(ImageGrid),
    /// A centred row of legend entries.
    Legend(Vec<LegendEntry>),
    /// A centred diverging colour bar.
    ColorBar(ColorBar),
    /// A bold heading, left-aligned.
    Heading(String),
    /// A muted note, centred (`\n` separates lines).
    Note(String),
    /// Panels side by side in equal widths.
    Row(Vec<Panel>),
    /// Empty vertical space (px).
    Space(u32),
}

const LEGEND_KEY: u32 = 18;
const LEGEND_SPACING: u32 = 30;
const COLORBAR_W: u32 = 320;
const COLORBAR_H: u32 = 16;

impl Panel {
    /// The width this panel needs at least (0 for panels that stretch).
    fn natural_width(&self) -> u32 {
        match self {
            Panel::Grid(g) => g.size().0,
            Panel::Legend(entries) => legend_width(entries),
            Panel::Heading(t) => Canvas::text_size(t, &heading_style()).0,
            Panel::Note(t) => lines_width(t, &note_style()),
            Panel::Row(ps) => {
                ps.iter().map(Panel::natural_width).sum::<u32>()
                    + style::PANEL_GAP * (ps.len() as u32).saturating_sub(1)
            }
            Panel::ColorBar(cb) => {
                COLORBAR_W + Canvas::text_size(&cb.label, &legend_style()).0 + 120
            }
            _ => 0,
        }
    }

    /// The height this panel takes at `width`.
    fn height(&self, width: u32) -> u32 {
        match self {
            Panel::Plot(_, h) => *h,
            Panel::Grid(g) => g.fitted(width).size().1,
            Panel::Legend(_) => LEGEND_KEY + 8,
            Panel::ColorBar(_) => COLORBAR_H + 30,
            Panel::Heading(t) => Canvas::text_size(t, &heading_style()).1 + 8,
            Panel::Note(t) => lines_height(t, &note_style(), NOTE_LINE_GAP),
            Panel::Row(ps) => {
                let w = row_child_width(width, ps.len());
                ps.iter().map(|p| p.height(w)).max().unwrap_or(0)
            }
            Panel::Space(h) => *h,
        }
    }

    /// Draw into `rect` (its height is `self.height(rect.w)`).
    fn draw(&self, canvas: &mut Canvas, rect: Rect) -> Result<()> {
        match self {
            Panel::Plot(p, _) => p.draw(canvas, rect)?,
            Panel::Grid(g) => {
                let g = g.fitted(rect.w);
                let (w, _) = g.size();
                g.draw(canvas, rect.x + (rect.w as i32 - w as i32) / 2, rect.y);
            }
            Panel::Legend(entries) => draw_legend(canvas, rect, entries),
            Panel::ColorBar(cb) => draw_colorbar(canvas, rect, cb),
            Panel::Heading(t) => canvas.text(t, rect.x, rect.y, &heading_style(), Align::Left),
            Panel::Note(t) => draw_lines(
                canvas,
                t,
                (rect.center_x(), rect.y),
                &note_style(),
                Align::Center,
                NOTE_LINE_GAP,
            ),
            Panel::Row(ps) => {
                let w = row_child_width(rect.w, ps.len());
                for (i, p) in ps.iter().enumerate() {
                    let x = rect.x + (i as u32 * (w + style::PANEL_GAP)) as i32;
                    p.draw(canvas, Rect::new(x, rect.y, w, p.height(w)))?;
                }
            }
            Panel::Space(_) => {}
        }
        Ok(())
    }
}

/// Space below each line of a note and of the subtitle.
const NOTE_LINE_GAP: u32 = 6;
const SUBTITLE_LINE_GAP: u32 = 8;

fn subtitle_style() -> plotters::style::TextStyle<'static> {
    style::text(style::SUBTITLE_SIZE, style::MUTED)
}

/// The height of `text`'s lines stacked with `gap` below each.
fn lines_height(text: &str, style: &plotters::style::TextStyle, gap: u32) -> u32 {
    text.lines()
        .map(|l| Canvas::text_size(l, style).1 + gap)
        .sum()
}

/// Draw `text`'s lines from `(x, y)` down, `gap` below each (as [`lines_height`] measures).
fn draw_lines(
    canvas: &mut Canvas,
    text: &str,
    (x, mut y): (i32, i32),
    style: &plotters::style::TextStyle,
    align: Align,
    gap: u32,
) {
    for line in text.lines() {
        canvas.text(line, x, y, style, align);
        y += (Canvas::text_size(line, style).1 + gap) as i32;
    }
}

/// The width of the widest of `text`'s lines.
fn lines_width(text: &str, style: &plotters::style::TextStyle) -> u32 {
    text.lines()
        .map(|l| Canvas::text_size(l, style).0)
        .max()
        .unwrap_or(0)
}

fn row_child_width(width: u32, n: usize) -> u32 {
    let n = n.max(1) as u32;
    (width.saturating_sub(style::PANEL_GAP * (n - 1))) / n
}

fn heading_style() -> plotters::style::TextStyle<'static> {
    style::bold(style::HEADING_SIZE, style::TEXT)
}
fn note_style() -> plotters::style::TextStyle<'static> {
    style::text(style::CAPTION_SIZE, style::MUTED)
}
fn legend_style() -> plotters::style::TextStyle<'static> {
    style::text(style::LEGEND_SIZE, style::TEXT)
}

fn legend_width(entries: &[LegendEntry]) -> u32 {
    entries
        .iter()
        .map(|e| LEGEND_KEY + 8 + Canvas::text_size(&e.label, &legend_style()).0)
        .sum::<u32>()
        + LEGEND_SPACING * (entries.len() as u32).saturating_sub(1)
}

fn draw_legend(canvas: &mut Canvas, rect: Rect, entries: &[LegendEntry]) {
    let mut x = rect.center_x() - legend_width(entries) as i32 / 2;
    let y = rect.y + 4;
    for e in entries {
        let key = Rect::new(x, y, LEGEND_KEY, LEGEND_KEY);
        match e.shape {
            KeyShape::Swatch => canvas.fill_rect(key, e.color),
            KeyShape::Border => {
                canvas.fill_rect(key, RGBColor(60, 60, 60));
                canvas.frame(
                    Rect::new(x + 4, y + 4, LEGEND_KEY - 8, LEGEND_KEY - 8),
                    e.color,
                    4,
                );
            }
            KeyShape::Line => canvas.fill_rect(
                Rect::new(x, y + LEGEND_KEY as i32 / 2 - 2, LEGEND_KEY, 4),
                e.color,
            ),
        }
        let st = legend_style();
        let (tw, th) = Canvas::text_size(&e.label, &st);
        canvas.text(
            &e.label,
            x + LEGEND_KEY as i32 + 8,
            y + (LEGEND_KEY as i32 - th as i32) / 2,
            &st,
            Align::Left,
        );
        x += (LEGEND_KEY + 8 + tw + LEGEND_SPACING) as i32;
    }
}

fn draw_colorbar(canvas: &mut Canvas, rect: Rect, cb: &ColorBar) {
    let st = legend_style();
    let (lw, lh) = Canvas::text_size(&cb.label, &st);
    let total = lw + 16 + COLORBAR_W;
    let x0 = rect.center_x() - total as i32 / 2;
    canvas.text(
        &cb.label,
        x0,
        rect.y + (COLORBAR_H as i32 - lh as i32) / 2,
        &st,
        Align::Left,
    );
    let bx = x0 + lw as i32 + 16;
    for i in 0..COLORBAR_W {
        let v = i as f32 / (COLORBAR_W - 1) as f32 * 2.0 - 1.0;
        canvas.fill_rect(
            Rect::new(bx + i as i32, rect.y, 1, COLORBAR_H),
            diverging(v),
        );
    }
    canvas.frame(
        Rect::new(bx, rect.y, COLORBAR_W, COLORBAR_H),
        style::AXIS,
        1,
    );
    let tick = style::text(style::TICK_SIZE, style::MUTED);
    let s = cb.scale as f64;
    for (frac, text) in [
        (0.0, format!("−{}", nice_number(s))),
        (0.5, "0".to_string()),
        (1.0, format!("+{}", nice_number(s))),
    ] {
        let x = bx + (frac * (COLORBAR_W - 1) as f64) as i32;
        canvas.fill_rect(Rect::new(x, rect.y + COLORBAR_H as i32, 1, 5), style::AXIS);
        canvas.text(
            &text,
            x,
            rect.y + COLORBAR_H as i32 + 7,
            &tick,
            Align::Center,
        );
    }
}

/// A figure: title, subtitle, and panels stacked vertically.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Minimum width (px).
    pub min_width: u32,
    /// Bold title at the top.
    pub title: Option<String>,
    /// Muted line(s) under the title (`\n` separates lines).
    pub subtitle: Option<String>,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
}

impl Default for Figure {
    fn default() -> Self {
        Self::new()
    }
}

impl Figure {
    /// An empty figure of the standard width.
    pub fn new() -> Self {
        Figure {
            min_width: style::FIGURE_WIDTH,
            title: None,
            subtitle: None,
            panels: Vec::new(),
        }
    }
    /// Set the minimum width.
    pub fn width(mut self, w: u32) -> Self {
        self.min_width = w;
        self
    }
    /// Set the title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }
    /// Set the subtitle.
    pub fn subtitle(mut self, t: impl Into<String>) -> Self {
        self.subtitle = Some(t.into());
        self
    }
    /// Add any panel.
    pub fn push(mut self, p: Panel) -> Self {
        self.panels.push(p);
        self
    }
    /// Add a line plot of the standard height.
    pub fn plot(self, p: LinePlot) -> Self {
        self.push(Panel::Plot(p, style::PLOT_HEIGHT))
    }
    /// Add a line plot of height `h`.
    pub fn plot_h(self, p: LinePlot, h: u32) -> Self {
        self.push(Panel::Plot(p, h))
    }
    /// Add an image grid.
    pub fn grid(self, g: ImageGrid) -> Self {
        self.push(Panel::Grid(g))
    }
    /// Add a legend row.
    pub fn legend(self, entries: Vec<LegendEntry>) -> Self {
        self.push(Panel::Legend(entries))
    }
    /// Add a heading.
    pub fn heading(self, t: impl Into<String>) -> Self {
        self.push(Panel::Heading(t.into()))
    }
    /// Add a note.
    pub fn note(self, t: impl Into<String>) -> Self {
        self.push(Panel::Note(t.into()))
    }
    /// Add panels side by side.
    pub fn row(self, panels: Vec<Panel>) -> Self {
        self.push(Panel::Row(panels))
    }

    fn header_height(&self) -> u32 {
        let mut h = 0;
        if let Some(t) = &self.title {
            h += Canvas::text_size(t, &style::bold(style::TITLE_SIZE, style::TEXT)).1 + 10;
        }
        if let Some(t) = &self.subtitle {
            h += lines_height(t, &subtitle_style(), SUBTITLE_LINE_GAP);
        }
        if h > 0 {
            h + 10
        } else {
            0
        }
    }

    /// The rendered size (width, height) in pixels.
    pub fn size(&self) -> (u32, u32) {
        let content = self
            .panels
            .iter()
            .map(Panel::natural_width)
            .chain(
                self.title
                    .iter()
                    .map(|t| Canvas::text_size(t, &style::bold(style::TITLE_SIZE, style::TEXT)).0),
            )
            .chain(
                self.subtitle
                    .iter()
                    .map(|t| lines_width(t, &subtitle_style())),
            )
            .max()
            .unwrap_or(0);
        let width = self.min_width.max(content + 2 * style::MARGIN);
        let inner = width - 2 * style::MARGIN;
        let panels: u32 = self.panels.iter().map(|p| p.height(inner)).sum::<u32>()
            + style::PANEL_GAP * (self.panels.len() as u32).saturating_sub(1);
        (width, 2 * style::MARGIN + self.header_height() + panels)
    }

    /// Draw the figure.
    pub fn render(&self) -> Result<Canvas> {
        let (w, h) = self.size();
        let mut canvas = Canvas::new(w, h);
        let m = style::MARGIN as i32;
        let mut y = m;
        if let Some(t) = &self.title {
            let st = style::bold(style::TITLE_SIZE, style::TEXT);
            canvas.text(t, m, y, &st, Align::Left);
            y += (Canvas::text_size(t, &st).1 + 10) as i32;
        }
        if let Some(t) = &self.subtitle {
            draw_lines(
                &mut canvas,
                t,
                (m, y),
                &subtitle_style(),
                Align::Left,
                SUBTITLE_LINE_GAP,
            );
        }
        let mut y = m + self.header_height() as i32;
        let inner = w - 2 * style::MARGIN;
        for p in &self.panels {
            let ph = p.height(inner);
            p.draw(&mut canvas, Rect::new(m, y, inner, ph))?;
            y += (ph + style::PANEL_GAP) as i32;
        }
        Ok(canvas)
    }

    /// Render and write as PNG atomically; returns the size written.
    pub fn save_png(&self, path: &Path) -> Result<(u32, u32)> {
        let c = self.render()?;
        c.save_png(path)?;
        Ok((c.width(), c.height()))
    }
}
