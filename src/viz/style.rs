//! The one look shared by every difflab figure: fonts, colours, sizes and margins.
//!
//! Change a constant here and every module's figures follow. Fonts are DejaVu Sans (regular and
//! bold) compiled into the binary from `assets/fonts`, so figures look the same on every machine.

use plotters::style::{FontFamily, FontStyle, IntoFont, RGBColor, TextStyle};
use std::sync::Once;

/// The family name under which the embedded DejaVu Sans is registered.
pub const FONT_FAMILY: &str = "DejaVu Sans";

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Register the embedded fonts with plotters (idempotent; every drawing helper calls it).
/// Also registers them as `sans-serif`, plotters' default family.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for family in [FONT_FAMILY, "sans-serif"] {
            // The bytes are compiled in and known to be valid TrueType.
            let _ = plotters::style::register_font(family, FontStyle::Normal, REGULAR);
            let _ = plotters::style::register_font(family, FontStyle::Bold, BOLD);
        }
    });
}

/// Default (and minimum) figure width in pixels; figures grow wider when their content needs it.
pub const FIGURE_WIDTH: u32 = 960;
/// Space around the figure's content, in pixels.
pub const MARGIN: u32 = 28;
/// Vertical space between panels.
pub const PANEL_GAP: u32 = 18;
/// Default height of a line-plot panel.
pub const PLOT_HEIGHT: u32 = 420;

/// Figure title size (px, bold).
pub const TITLE_SIZE: f64 = 26.0;
/// Subtitle size (px).
pub const SUBTITLE_SIZE: f64 = 16.0;
/// Panel heading / plot title size (px, bold).
pub const HEADING_SIZE: f64 = 18.0;
/// Axis label size (px).
pub const AXIS_LABEL_SIZE: f64 = 17.0;
/// Tick label size (px).
pub const TICK_SIZE: f64 = 14.0;
/// Legend text size (px).
pub const LEGEND_SIZE: f64 = 15.0;
/// Caption size under image tiles and for notes (px).
pub const CAPTION_SIZE: f64 = 14.0;
/// Annotation size inside plots (px).
pub const ANNOTATION_SIZE: f64 = 14.0;

/// Figure background: a very light warm grey.
pub const BACKGROUND: RGBColor = RGBColor(250, 250, 248);
/// Plot area background.
pub const PLOT_BACKGROUND: RGBColor = RGBColor(255, 255, 255);
/// Main text colour.
pub const TEXT: RGBColor = RGBColor(33, 37, 41);
/// Secondary text (subtitles, captions, notes).
pub const MUTED: RGBColor = RGBColor(100, 106, 115);
/// Axis lines and frames.
pub const AXIS: RGBColor = RGBColor(120, 124, 130);
/// Major grid lines.
pub const GRID: RGBColor = RGBColor(222, 224, 228);
/// Minor grid lines.
pub const GRID_LIGHT: RGBColor = RGBColor(240, 241, 243);
/// Reference lines (50 %, SNR = 1, …).
pub const REFERENCE: RGBColor = RGBColor(90, 90, 90);

/// Series colours, in order (Tableau 10: distinguishable, colour-blind tolerant).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(214, 39, 40),   // red
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(23, 190, 207),  // cyan
];

/// "Signal" (the clean image's share) everywhere: blue.
pub const SIGNAL: RGBColor = PALETTE[0];
/// "Noise" everywhere: orange.
pub const NOISE: RGBColor = PALETTE[1];

/// Status colours for "mostly signal / balanced / mostly noise" and good/ok/bad.
pub const GOOD: RGBColor = RGBColor(46, 160, 67);
/// Middle status colour.
pub const WARN: RGBColor = RGBColor(240, 150, 20);
/// Bad / noise-dominated status colour.
pub const BAD: RGBColor = RGBColor(214, 39, 40);

/// The `i`-th series colour (cycling).
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A regular-weight text style of `size` px in `color`.
pub fn text(size: f64, color: RGBColor) -> TextStyle<'static> {
    register_fonts();
    (FontFamily::Name(FONT_FAMILY), size)
        .into_font()
        .color(&color)
}

/// A bold text style of `size` px in `color`.
pub fn bold(size: f64, color: RGBColor) -> TextStyle<'static> {
    register_fonts();
    (FontFamily::Name(FONT_FAMILY), size, FontStyle::Bold)
        .into_font()
        .color(&color)
}

/// Mix `color` with white: `amount` 0 gives `color`, 1 gives white (for light fills that stay
/// opaque, so overlapping shapes do not darken).
pub fn lighten(color: RGBColor, amount: f64) -> RGBColor {
    let m = |c: u8| (c as f64 + (255.0 - c as f64) * amount.clamp(0.0, 1.0)).round() as u8;
    RGBColor(m(color.0), m(color.1), m(color.2))
}
