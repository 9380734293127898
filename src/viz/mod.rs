//! The figures' shared look: one style (fonts, colours, margins), plots, image grids and GIFs.
//!
//! Every difflab figure is a [`Figure`]: a title, a subtitle, and [`Panel`]s stacked top to
//! bottom — [`LinePlot`]s (series, legends, reference lines, shaded bands, annotations, log y),
//! [`ImageGrid`]s of [`Picture`]s (grayscale, RGB, or signed values through a diverging colour
//! map) scaled up with nearest neighbour, with captions and coloured borders, legend rows,
//! colour bars, headings and notes, or rows of panels side by side. Figures render to a
//! [`Canvas`] (RGB8) and are written as PNG atomically; [`write_gif`] writes looping animations.
//! The look lives in [`style`]: change it there and every module follows.

pub mod canvas;
pub mod figure;
pub mod files;
pub mod gif;
pub mod grid;
pub mod noise;
pub mod picture;
pub mod plot;
mod plot_draw;
pub mod style;
pub mod text;

pub use canvas::{Align, Canvas, CanvasBackend, Rect};
pub use figure::{ColorBar, Figure, KeyShape, LegendEntry, Panel};
pub use files::FileInfo;
pub use gif::{encode_gif, write_gif, GifFrame};
pub use grid::{ImageGrid, Tile};
pub use noise::{noise_color, pct, GREEN_BELOW, ORANGE_BELOW};
pub use picture::{diverging, max_abs, Picture};
pub use plot::{Annotation, Band, LegendPos, LinePlot, Orientation, RefLine, Series};
pub use plot_draw::nice_number;
pub use plotters::style::RGBColor;
