//! Drawing a [`LinePlot`]: axes and decorations through plotters, then curves, labels and
//! legend antialiased on the canvas through the same data-to-pixel mapping.

use super::canvas::{Align, Canvas, CanvasBackend, Rect};
use super::plot::{LegendPos, LinePlot, Orientation};
use super::style::{self, lighten};
use crate::{Error, Result};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

impl LinePlot {
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
            cb.margin_top(6)
                .margin_right(24)
                .margin_left(4)
                .x_label_area_size(56)
                .y_label_area_size(84);
            if self.y_log {
                let chart = cb
                    .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                    .map_err(draw_err)?;
                self.draw_axes(chart, (x0, x1), (y0, y1))
                    .map_err(draw_err)?
            } else {
                let chart = cb.build_cartesian_2d(x0..x1, y0..y1).map_err(draw_err)?;
                self.draw_axes(chart, (x0, x1), (y0, y1))
                    .map_err(draw_err)?
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
    ) -> std::result::Result<
        PlotFrame,
        DrawingAreaErrorKind<<CanvasBackend<'a> as DrawingBackend>::ErrorType>,
    >
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        chart.plotting_area().fill(&style::PLOT_BACKGROUND)?;
        // Log axes get their ticks from `log_ticks` (drawn below and in pass 2), not plotters.
        let y_fmt = |v: &f64| match (self.y_log, self.y_percent) {
            (true, _) => String::new(),
            (false, true) => format!("{:.0}%", v * 100.0),
            (false, false) => nice_number(*v),
        };
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
            .y_labels(if self.y_log { 0 } else { 8 })
            .x_label_formatter(&|v| nice_number(*v))
            .y_label_formatter(&y_fmt)
            .draw()?;
        if self.y_log {
            // plotters' log ticks skip the partial decade at the bottom; draw log-paper grid lines.
            for (v, _) in log_ticks(y0, y1) {
                chart.draw_series(LineSeries::new([(x0, v), (x1, v)], style::GRID))?;
            }
        }

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
            area: Rect::new(
                xr.start,
                yr.start,
                (xr.end - xr.start) as u32,
                (yr.end - yr.start) as u32,
            ),
            x: (x0, x1, ax as f64 + 0.5, bx as f64 + 0.5),
            y: (y0, y1, ay as f64 + 0.5, by as f64 + 0.5),
            y_log: self.y_log,
        })
    }

    /// Pass 2 (antialiased, on the canvas): series, markers, annotations, legend.
    fn draw_data(&self, canvas: &mut Canvas, f: &PlotFrame) {
        let mut legend = Vec::new();
        let mut curve_pts: Vec<(f64, f64)> = Vec::new();
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
            for w in pts.windows(2) {
                // Points every ~4 px along each segment, so long straight segments count too.
                let n = (((w[1].0 - w[0].0).abs() + (w[1].1 - w[0].1).abs()) / 4.0)
                    .ceil()
                    .clamp(1.0, 500.0) as usize;
                curve_pts.extend((0..n).map(|k| {
                    let f = k as f64 / n as f64;
                    (
                        w[0].0 + (w[1].0 - w[0].0) * f,
                        w[0].1 + (w[1].1 - w[0].1) * f,
                    )
                }));
            }
            curve_pts.extend(pts.last().copied());
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
            let tx = if fits_left && (a.left || !fits_right) {
                left
            } else {
                right
            };
            canvas.text(&a.text, tx, y as i32 + a.offset.1, &st, Align::Left);
        }
        if !legend.is_empty() && self.legend != LegendPos::Hidden {
            self.draw_legend(canvas, f.area, &legend, &curve_pts);
        }
    }

    /// Band and reference-line labels, drawn above the curves so they stay legible.
    fn draw_labels(&self, canvas: &mut Canvas, f: &PlotFrame) {
        let (x0, x1, _, _) = f.x;
        let (y0, y1, _, _) = f.y;
        if self.y_log {
            let st = style::text(style::TICK_SIZE, style::MUTED);
            for (v, labelled) in log_ticks(y0, y1) {
                let py = f.to_pixel((x0, v)).1 as i32;
                canvas.fill_rect(Rect::new(f.area.x - 6, py, 6, 1), style::AXIS);
                if labelled {
                    let label = if self.y_percent {
                        format!("{:.0}%", v * 100.0)
                    } else {
                        nice_number(v)
                    };
                    let (_, h) = Canvas::text_size(&label, &st);
                    canvas.text(&label, f.area.x - 10, py - h as i32 / 2, &st, Align::Right);
                }
            }
        }
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
            canvas.fill_rect(
                Rect::new(tx - 4, ty - 2, w + 8, h + 4),
                lighten(b.color, 0.88),
            );
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

    /// The legend box; `curve_pts` (pixels along the curves) guide [`LegendPos::Auto`].
    fn draw_legend(
        &self,
        canvas: &mut Canvas,
        area: Rect,
        entries: &[(&str, RGBColor, bool)],
        curve_pts: &[(f64, f64)],
    ) {
        let st = style::text(style::LEGEND_SIZE, style::TEXT);
        let (key, pad, row) = (30i32, 12i32, (style::LEGEND_SIZE * 1.6) as i32);
        let text_w = entries
            .iter()
            .map(|e| Canvas::text_size(e.0, &st).0 as i32)
            .max()
            .unwrap_or(0);
        let (w, h) = (
            pad + key + 10 + text_w + pad,
            pad + row * entries.len() as i32 + pad - 6,
        );
        let m = 14;
        let place = |pos: LegendPos| {
            let x = match pos {
                LegendPos::UpperLeft | LegendPos::LowerLeft | LegendPos::MiddleLeft => area.x + m,
                _ => area.right() - w - m,
            };
            let y = match pos {
                LegendPos::UpperLeft | LegendPos::UpperRight | LegendPos::Auto => area.y + m,
                LegendPos::LowerLeft | LegendPos::LowerRight => area.bottom() - h - m,
                _ => area.y + (area.h as i32 - h) / 2,
            };
            (x, y)
        };
        let (x, y) = if self.legend == LegendPos::Auto {
            let candidates = [
                LegendPos::UpperRight,
                LegendPos::UpperLeft,
                LegendPos::LowerRight,
                LegendPos::LowerLeft,
                LegendPos::MiddleRight,
                LegendPos::MiddleLeft,
            ];
            let covered = |(x, y): (i32, i32)| {
                curve_pts
                    .iter()
                    .filter(|p| {
                        p.0 >= (x - 6) as f64
                            && p.0 <= (x + w + 6) as f64
                            && p.1 >= (y - 6) as f64
                            && p.1 <= (y + h + 6) as f64
                    })
                    .count()
            };
            // The first candidate with the fewest covered points (ties keep the usual order).
            let best = candidates
                .iter()
                .map(|&c| place(c))
                .min_by_key(|&xy| covered(xy));
            best.unwrap_or_else(|| place(LegendPos::UpperRight))
        } else {
            place(self.legend)
        };
        let bx = Rect::new(x, y, w as u32, h as u32);
        canvas.fill_rect(bx, style::PLOT_BACKGROUND);
        canvas.frame(
            Rect::new(x + 1, y + 1, w as u32 - 2, h as u32 - 2),
            style::GRID,
            1,
        );
        for (k, (label, color, dashed)) in entries.iter().enumerate() {
            let cy = (y + pad + row * k as i32 + row / 2 - 3) as f64;
            let x0 = (x + pad) as f64;
            let dash = dashed.then_some((8.0, 5.0));
            canvas.polyline(&[(x0, cy), (x0 + key as f64, cy)], 3.0, *color, bx, dash);
            let (_, th) = Canvas::text_size(label, &st);
            canvas.text(
                label,
                x + pad + key + 10,
                cy as i32 - th as i32 / 2 - 1,
                &st,
                Align::Left,
            );
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
        let lerp = |v: f64, (lo, hi, plo, phi): (f64, f64, f64, f64)| {
            plo + (phi - plo) * (v - lo) / (hi - lo)
        };
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

/// Log-paper ticks in `[lo, hi]`: every m·10^k (m = 1…9), with whether it gets a label
/// (1, 2, 5 × 10^k; only 10^k when the range spans more than 2.5 decades; every m·10^k when it
/// spans less than one decade). Capped at 60 ticks by dropping the unlabelled ones.
fn log_ticks(lo: f64, hi: f64) -> Vec<(f64, bool)> {
    if !(lo > 0.0 && hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let decades = (hi / lo).log10();
    let labelled: &[u32] = if decades > 2.5 {
        &[1]
    } else if decades < 1.0 {
        &[1, 2, 3, 4, 5, 6, 7, 8, 9]
    } else {
        &[1, 2, 5]
    };
    let mut out = Vec::new();
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    for k in k0..=k1 {
        for m in 1..=9u32 {
            let v = m as f64 * 10f64.powi(k);
            if v >= lo && v <= hi {
                out.push((v, labelled.contains(&m)));
            }
        }
    }
    if out.len() > 60 {
        out.retain(|t| t.1);
    }
    out
}

fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::invalid(format!("drawing a plot failed: {e:?}"))
}

/// A darker shade of `c`, for text on a light fill of the same hue.
fn darken(c: RGBColor) -> RGBColor {
    RGBColor(
        (c.0 as f64 * 0.75) as u8,
        (c.1 as f64 * 0.75) as u8,
        (c.2 as f64 * 0.75) as u8,
    )
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
