//! Line plots in the shared style: several series with a legend, reference lines, shaded bands
//! with labels, point annotations, and an optional logarithmic y axis.
//!
//! ```no_run
//! use difflab::viz::{LinePlot, RefLine, Series, style};
//! let plot = LinePlot::new("timestep t", "weight")
//!     .title("Signal and noise weights")
//!     .series(Series::from_ys("ᾱ_t", &[1.0, 0.8, 0.5]).color(style::SIGNAL))
//!     .ref_line(RefLine::horizontal(0.5, "50 %"));
//! ```

use super::canvas::{Align, Canvas, CanvasBackend, Rect};
use super::style::{self, lighten};
use crate::{Error, Result};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// One curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text (an empty label keeps it out of the legend).
    pub label: String,
    /// The (x, y) points, in order.
    pub points: Vec<(f64, f64)>,
    /// Colour; `None` takes the next palette colour.
    pub color: Option<RGBColor>,
    /// Line width in pixels.
    pub width: u32,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Draw a dot at every point.
    pub markers: bool,
}

impl Series {
    /// A solid series from points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { label: label.into(), points, color: None, width: 3, dashed: false, markers: false }
    }
    /// A series whose x is the index 0, 1, 2, … (e.g. a value per timestep or per step).
    pub fn from_ys(label: impl Into<String>, ys: &[f32]) -> Self {
        Self::new(label, ys.iter().enumerate().map(|(i, &y)| (i as f64, y as f64)).collect())
    }
    /// Set the colour.
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = Some(color);
        self
    }
    /// Set the line width.
    pub fn width(mut self, width: u32) -> Self {
        self.width = width.max(1);
        self
    }
    /// Draw dashed.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
    /// Mark every point with a dot.
    pub fn markers(mut self) -> Self {
        self.markers = true;
        self
    }
}

/// Horizontal (constant y) or vertical (constant x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// A line or band spanning all x at constant y.
    Horizontal,
    /// A line or band spanning all y at constant x.
    Vertical,
}

/// A dashed reference line with an optional label (drawn at its right or top end).
#[derive(Clone, Debug, PartialEq)]
pub struct RefLine {
    /// Which way it runs.
    pub orientation: Orientation,
    /// Its y (horizontal) or x (vertical).
    pub value: f64,
    /// Text beside it.
    pub label: String,
    /// Its colour.
    pub color: RGBColor,
}

impl RefLine {
    /// A horizontal line at `y`.
    pub fn horizontal(y: f64, label: impl Into<String>) -> Self {
        RefLine { orientation: Orientation::Horizontal, value: y, label: label.into(), color: style::REFERENCE }
    }
    /// A vertical line at `x`.
    pub fn vertical(x: f64, label: impl Into<String>) -> Self {
        RefLine { orientation: Orientation::Vertical, value: x, label: label.into(), color: style::REFERENCE }
    }
    /// Set the colour.
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = color;
        self
    }
}

/// A lightly shaded region between two x (vertical band) or two y (horizontal band) values,
/// with an optional label at its top (vertical) or left (horizontal).
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// `Vertical`: spans x in `from..to`; `Horizontal`: spans y in `from..to`.
    pub orientation: Orientation,
    /// One edge.
    pub from: f64,
    /// The other edge.
    pub to: f64,
    /// The band's colour (drawn very light; the label uses it at full strength).
    pub color: RGBColor,
    /// Text inside the band.
    pub label: String,
}

impl Band {
    /// A band over x in `from..to`.
    pub fn x(from: f64, to: f64, color: RGBColor, label: impl Into<String>) -> Self {
        Band { orientation: Orientation::Vertical, from, to, color, label: label.into() }
    }
    /// A band over y in `from..to`.
    pub fn y(from: f64, to: f64, color: RGBColor, label: impl Into<String>) -> Self {
        Band { orientation: Orientation::Horizontal, from, to, color, label: label.into() }
    }
}

/// A text note at a data point, with an optional dot on the point.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// Data x.
    pub x: f64,
    /// Data y.
    pub y: f64,
    /// The note.
    pub text: String,
    /// Its colour.
    pub color: RGBColor,
    /// Draw a dot at (x, y).
    pub marker: bool,
    /// Pixel offset of the text from the point: its left edge at `x + dx` (or, with `left`,
    /// its right edge at `x − dx`) and its top at `y + dy`.
    pub offset: (i32, i32),
    /// Put the text left of the point instead of right.
    pub left: bool,
}

impl Annotation {
    /// A note with a dot at (x, y); the text sits up and to the right of it.
    pub fn new(x: f64, y: f64, text: impl Into<String>) -> Self {
        Annotation { x, y, text: text.into(), color: style::TEXT, marker: true, offset: (10, -24), left: false }
    }
    /// Set the colour (text and dot).
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = color;
        self
    }
    /// No dot, text only.
    pub fn text_only(mut self) -> Self {
        self.marker = false;
        self
    }
    /// Put the text left of the point.
    pub fn left(mut self) -> Self {
        self.left = true;
        self
    }
    /// Move the text by `(dx, dy)` pixels from the point.
    pub fn offset(mut self, dx: i32, dy: i32) -> Self {
        self.offset = (dx, dy);
        self
    }
}

/// Where the legend box goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LegendPos {
    /// Top right (default).
    #[default]
    UpperRight,
    /// Top left.
    UpperLeft,
    /// Bottom left.
    LowerLeft,
    /// Bottom right.
    LowerRight,
    /// Right, vertically centred.
    MiddleRight,
    /// Left, vertically centred.
    MiddleLeft,
    /// No legend.
    Hidden,
}

/// A line plot: title, axis labels, series, and decorations.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LinePlot {
    /// Title above the plot (bold), if any.
    pub title: Option<String>,
    /// x axis label.
    pub x_label: String,
    /// y axis label.
    pub y_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Reference lines.
    pub ref_lines: Vec<RefLine>,
    /// Shaded bands (drawn under everything else).
    pub bands: Vec<Band>,
    /// Point notes.
    pub annotations: Vec<Annotation>,
    /// Fixed x range; default: the data's. An unusable range (empty, not finite) is ignored.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; default: the data's (and the reference lines'), padded. An unusable range
    /// (empty, not finite, or not positive on a log axis) is ignored.
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic y axis (non-positive values are skipped).
    pub y_log: bool,
    /// Tick labels on the y axis as percentages (0.25 → "25%").
    pub y_percent: bool,
    /// Legend placement.
    pub legend: LegendPos,
}

impl LinePlot {
    /// An empty plot with axis labels.
    pub fn new(x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        LinePlot { x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }
    /// Set the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Add a series.
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
    /// Add a reference line.
    pub fn ref_line(mut self, r: RefLine) -> Self {
        self.ref_lines.push(r);
        self
    }
    /// Add a shaded band.
    pub fn band(mut self, b: Band) -> Self {
        self.bands.push(b);
        self
    }
    /// Add an annotation.
    pub fn annotate(mut self, a: Annotation) -> Self {
        self.annotations.push(a);
        self
    }
    /// Fix the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }
    /// Fix the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }
    /// Use a logarithmic y axis.
    pub fn y_log(mut self) -> Self {
        self.y_log = true;
        self
    }
    /// Show y tick labels as percentages.
    pub fn y_percent(mut self) -> Self {
        self.y_percent = true;
        self
    }
    /// Place (or hide) the legend.
    pub fn legend(mut self, pos: LegendPos) -> Self {
        self.legend = pos;
        self
    }

    fn data_x_range(&self) -> (f64, f64) {
        if let Some((lo, hi)) = self.x_range {
            if lo.is_finite() && hi.is_finite() && lo < hi {
                return (lo, hi);
            }
        }
        let xs = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = min_max(xs.filter(|v| v.is_finite()));
        if lo < hi {
            (lo, hi)
        } else if lo.is_finite() {
            (lo - 0.5, lo + 0.5)
        } else {
            (0.0, 1.0)
        }
    }

    fn data_y_range(&self) -> (f64, f64) {
        if let Some((lo, hi)) = self.y_range {
            if lo.is_finite() && hi.is_finite() && lo < hi && (!self.y_log || lo > 0.0) {
                return (lo, hi);
            }
        }
        let keep = |v: &f64| v.is_finite() && (!self.y_log || *v > 0.0);
        let ys = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).chain(
            self.ref_lines.iter().filter(|r| r.orientation == Orientation::Horizontal).map(|r| r.value),
        );
        let (lo, hi) = min_max(ys.filter(keep));
        if self.y_log {
            let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo)) } else { (0.1, 10.0) };
            (lo / 1.6, hi * 1.6)
        } else {
            let (lo, hi) = if lo < hi {
                (lo, hi)
            } else if lo.is_finite() {
                (lo - 0.5, lo + 0.5)
            } else {
                (0.0, 1.0)
            };
            let pad = (hi - lo) * 0.05;
            (lo - pad, hi + pad)
        }
    }

    /// Draw the plot into `rect` of `canvas`.
    ///
    /// Axes, grid, bands and reference lines are drawn with plotters; the series, markers,
    /// annotations and legend are then drawn antialiased on the canvas, through the same mapping.
    pub fn draw(&self, canvas: &mut Canvas, rect: Rect) -> Result<()> {
        let (x0, x1) = self.data_x_range();
        let (y0, y1) = self.data_y_range();
        let frame = {
            let area = canvas.area_in(rect);
            let mut cb = ChartBuilder::on(&area);
            if let Some(t) = &self.title {
                cb.caption(t, style::bold(style::HEADING_SIZE, style::TEXT));
            }
            cb.margin_top(6).margin_right(24).margin_left(4).x_label_area_size(56).y_label_area_size(84);
            if self.y_log {
                let chart = cb.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(draw_err)?;
                self.draw_axes(chart, (x0, x1), (y0, y1)).map_err(draw_err)?
            } else {
                let chart = cb.build_cartesian_2d(x0..x1, y0..y1).map_err(draw_err)?;
                self.draw_axes(chart, (x0, x1), (y0, y1)).map_err(draw_err)?
            }
        };
        self.draw_data(canvas, &frame);
        Ok(())
    }

    /// Pass 1 (plotters): background, grid, tick labels, axis labels, bands, reference lines.
    fn draw_axes<'a, Y>(
        &self,
        mut chart: ChartContext<'a, CanvasBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
    ) -> std::result::Result<PlotFrame, DrawingAreaErrorKind<<CanvasBackend<'a> as DrawingBackend>::ErrorType>>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart.plotting_area().fill(&style::PLOT_BACKGROUND)?;
        let y_fmt = |v: &f64| if self.y_percent { format!("{:.0}%", v * 100.0) } else { nice_number(*v) };
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(style::text(style::AXIS_LABEL_SIZE, style::TEXT))
            .label_style(style::text(style::TICK_SIZE, style::MUTED))
            .bold_line_style(style::GRID)
            .light_line_style(style::PLOT_BACKGROUND)
            .axis_style(style::AXIS)
            .x_labels(9)
            .y_labels(8)
            .x_label_formatter(&|v| nice_number(*v))
            .y_label_formatter(&y_fmt)
            .draw()?;

        for b in &self.bands {
            let fill = lighten(b.color, 0.84).mix(0.75).filled();
            let (p0, p1) = match b.orientation {
                Orientation::Vertical => ((b.from.max(x0), y0), (b.to.min(x1), y1)),
                Orientation::Horizontal => ((x0, b.from.max(y0)), (x1, b.to.min(y1))),
            };
            if p0.0 >= p1.0 || p0.1 >= p1.1 {
                continue;
            }
            chart.draw_series(std::iter::once(Rectangle::new([p0, p1], fill)))?;
        }

        for r in &self.ref_lines {
            let pts = match r.orientation {
                Orientation::Horizontal => vec![(x0, r.value), (x1, r.value)],
                Orientation::Vertical => vec![(r.value, y0), (r.value, y1)],
            };
            chart.draw_series(DashedLineSeries::new(pts, 8, 6, r.color.stroke_width(2)))?;
        }
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let (ax, ay) = chart.backend_coord(&(x0, y0));
        let (bx, by) = chart.backend_coord(&(x1, y1));
        Ok(PlotFrame {
            area: Rect::new(xr.start, yr.start, (xr.end - xr.start) as u32, (yr.end - yr.start) as u32),
            x: (x0, x1, ax as f64 + 0.5, bx as f64 + 0.5),
            y: (y0, y1, ay as f64 + 0.5, by as f64 + 0.5),
            y_log: self.y_log,
        })
    }

    /// Pass 2 (antialiased, on the canvas): series, markers, annotations, legend.
    fn draw_data(&self, canvas: &mut Canvas, f: &PlotFrame) {
        let mut legend = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            let color = s.color.unwrap_or_else(|| style::series_color(i));
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite() && (!self.y_log || p.1 > 0.0))
                .map(|&p| f.to_pixel(p))
                .collect();
            let dash = s.dashed.then_some((10.0, 6.0));
            canvas.polyline(&pts, s.width as f64, color, f.area, dash);
            if s.markers {
                for &(x, y) in &pts {
                    canvas.disc(x, y, s.width as f64 + 1.5, color);
                }
            }
            if !s.label.is_empty() {
                legend.push((s.label.as_str(), color, s.dashed));
            }
        }
        self.draw_labels(canvas, f);
        for a in &self.annotations {
            let (x, y) = f.to_pixel((a.x, a.y));
            if a.marker {
                canvas.disc(x, y, 5.0, a.color);
            }
            let st = style::text(style::ANNOTATION_SIZE, a.color);
            let (w, _) = Canvas::text_size(&a.text, &st);
            // Keep the note inside the plot: flip it to the other side of the point if needed.
            let right = x as i32 + a.offset.0;
            let left = x as i32 - a.offset.0 - w as i32;
            let fits_right = right + w as i32 <= f.area.right() - 4;
            let fits_left = left >= f.area.x + 4;
            let tx = if (a.left && fits_left) || (!a.left && !fits_right && fits_left) { left } else { right };
            canvas.text(&a.text, tx, y as i32 + a.offset.1, &st, Align::Left);
        }
        if !legend.is_empty() && self.legend != LegendPos::Hidden {
            self.draw_legend(canvas, f.area, &legend);
        }
    }

    /// Band and reference-line labels, drawn above the curves so they stay legible.
    fn draw_labels(&self, canvas: &mut Canvas, f: &PlotFrame) {
        let (x0, x1, _, _) = f.x;
        let (y0, y1, _, _) = f.y;
        for b in self.bands.iter().filter(|b| !b.label.is_empty()) {
            let st = style::bold(style::ANNOTATION_SIZE, darken(b.color));
            let (w, h) = Canvas::text_size(&b.label, &st);
            let (tx, ty) = match b.orientation {
                Orientation::Vertical => {
                    let (lo, hi) = (b.from.max(x0), b.to.min(x1));
                    if lo >= hi {
                        continue;
                    }
                    let cx = (f.to_pixel((lo, y0)).0 + f.to_pixel((hi, y0)).0) / 2.0;
                    (cx as i32 - w as i32 / 2, f.area.y + 8)
                }
                Orientation::Horizontal => {
                    let top = b.to.min(y1);
                    if b.from.max(y0) >= top {
                        continue;
                    }
                    (f.area.x + 10, f.to_pixel((x0, top)).1 as i32 + 6)
                }
            };
            canvas.fill_rect(Rect::new(tx - 4, ty - 2, w + 8, h + 4), lighten(b.color, 0.88));
            canvas.text(&b.label, tx, ty, &st, Align::Left);
        }
        for r in self.ref_lines.iter().filter(|r| !r.label.is_empty()) {
            let st = style::text(style::ANNOTATION_SIZE, r.color);
            let (w, h) = Canvas::text_size(&r.label, &st);
            let (tx, ty) = match r.orientation {
                Orientation::Horizontal => {
                    let y = f.to_pixel((x0, r.value)).1 as i32;
                    (f.area.right() - w as i32 - 8, y - h as i32 - 5)
                }
                Orientation::Vertical => (f.to_pixel((r.value, y0)).0 as i32 + 6, f.area.y + 6),
            };
            canvas.text(&r.label, tx, ty, &st, Align::Left);
        }
    }

    fn draw_legend(&self, canvas: &mut Canvas, area: Rect, entries: &[(&str, RGBColor, bool)]) {
        let st = style::text(style::LEGEND_SIZE, style::TEXT);
        let (key, pad, row) = (30i32, 12i32, (style::LEGEND_SIZE * 1.6) as i32);
        let text_w = entries.iter().map(|e| Canvas::text_size(e.0, &st).0 as i32).max().unwrap_or(0);
        let (w, h) = (pad + key + 10 + text_w + pad, pad + row * entries.len() as i32 + pad - 6);
        let m = 14;
        let x = match self.legend {
            LegendPos::UpperLeft | LegendPos::LowerLeft | LegendPos::MiddleLeft => area.x + m,
            _ => area.right() - w - m,
        };
        let y = match self.legend {
            LegendPos::UpperLeft | LegendPos::UpperRight => area.y + m,
            LegendPos::LowerLeft | LegendPos::LowerRight => area.bottom() - h - m,
            _ => area.y + (area.h as i32 - h) / 2,
        };
        let bx = Rect::new(x, y, w as u32, h as u32);
        canvas.fill_rect(bx, style::PLOT_BACKGROUND);
        canvas.frame(Rect::new(x + 1, y + 1, w as u32 - 2, h as u32 - 2), style::GRID, 1);
        for (k, (label, color, dashed)) in entries.iter().enumerate() {
            let cy = (y + pad + row * k as i32 + row / 2 - 3) as f64;
            let x0 = (x + pad) as f64;
            let dash = dashed.then_some((8.0, 5.0));
            canvas.polyline(&[(x0, cy), (x0 + key as f64, cy)], 3.0, *color, bx, dash);
            let (_, th) = Canvas::text_size(label, &st);
            canvas.text(label, x + pad + key + 10, cy as i32 - th as i32 / 2 - 1, &st, Align::Left);
        }
    }
}

/// Where a plot's data area landed on the canvas, and how data maps to pixels.
struct PlotFrame {
    area: Rect,
    /// (data lo, data hi, pixel at lo, pixel at hi) for x.
    x: (f64, f64, f64, f64),
    /// The same for y (pixels grow downwards).
    y: (f64, f64, f64, f64),
    y_log: bool,
}

impl PlotFrame {
    fn to_pixel(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let lerp = |v: f64, (lo, hi, plo, phi): (f64, f64, f64, f64)| plo + (phi - plo) * (v - lo) / (hi - lo);
        let px = lerp(x, self.x);
        let py = if self.y_log {
            let (lo, hi, plo, phi) = self.y;
            lerp(y.ln(), (lo.ln(), hi.ln(), plo, phi))
        } else {
            lerp(y, self.y)
        };
        (px, py)
    }
}

fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::invalid(format!("drawing a plot failed: {e:?}"))
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A darker shade of `c`, for text on a light fill of the same hue.
fn darken(c: RGBColor) -> RGBColor {
    RGBColor((c.0 as f64 * 0.75) as u8, (c.1 as f64 * 0.75) as u8, (c.2 as f64 * 0.75) as u8)
}

/// A short tick label: integers as integers, small or huge values in compact scientific form
/// (`1e-4`, `2.5e6`), everything else with at most 3 decimals and no trailing zeros.
pub fn nice_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        let m = format!("{m:.2}");
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}
