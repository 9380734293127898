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

use super::style;
use plotters::style::RGBColor;

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
        Series {
            label: label.into(),
            points,
            color: None,
            width: 3,
            dashed: false,
            markers: false,
        }
    }
    /// A series whose x is the index 0, 1, 2, … (e.g. a value per timestep or per step).
    pub fn from_ys(label: impl Into<String>, ys: &[f32]) -> Self {
        Self::new(
            label,
            ys.iter()
                .enumerate()
                .map(|(i, &y)| (i as f64, y as f64))
                .collect(),
        )
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
        RefLine {
            orientation: Orientation::Horizontal,
            value: y,
            label: label.into(),
            color: style::REFERENCE,
        }
    }
    /// A vertical line at `x`.
    pub fn vertical(x: f64, label: impl Into<String>) -> Self {
        RefLine {
            orientation: Orientation::Vertical,
            value: x,
            label: label.into(),
            color: style::REFERENCE,
        }
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
        Band {
            orientation: Orientation::Vertical,
            from,
            to,
            color,
            label: label.into(),
        }
    }
    /// A band over y in `from..to`.
    pub fn y(from: f64, to: f64, color: RGBColor, label: impl Into<String>) -> Self {
        Band {
            orientation: Orientation::Horizontal,
            from,
            to,
            color,
            label: label.into(),
        }
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
        Annotation {
            x,
            y,
            text: text.into(),
            color: style::TEXT,
            marker: true,
            offset: (10, -24),
            left: false,
        }
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
    /// The corner (or side) where the box covers the fewest curve points (default).
    #[default]
    Auto,
    /// Top right.
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
        LinePlot {
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
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

    pub(super) fn data_x_range(&self) -> (f64, f64) {
        if let Some((lo, hi)) = self.x_range {
            if lo.is_finite() && hi.is_finite() && lo < hi {
                return (lo, hi);
            }
        }
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = min_max(xs.filter(|v| v.is_finite()));
        if lo < hi {
            (lo, hi)
        } else if lo.is_finite() {
            (lo - 0.5, lo + 0.5)
        } else {
            (0.0, 1.0)
        }
    }

    pub(super) fn data_y_range(&self) -> (f64, f64) {
        if let Some((lo, hi)) = self.y_range {
            if lo.is_finite() && hi.is_finite() && lo < hi && (!self.y_log || lo > 0.0) {
                return (lo, hi);
            }
        }
        let keep = |v: &f64| v.is_finite() && (!self.y_log || *v > 0.0);
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(
                self.ref_lines
                    .iter()
                    .filter(|r| r.orientation == Orientation::Horizontal)
                    .map(|r| r.value),
            );
        let (lo, hi) = min_max(ys.filter(keep));
        if self.y_log {
            let (lo, hi) = if lo.is_finite() {
                (lo, hi.max(lo))
            } else {
                (0.1, 10.0)
            };
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
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}
