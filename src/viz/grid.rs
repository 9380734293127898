//! Image grids: pictures scaled up with nearest neighbour, each with optional coloured border
//! and caption lines beneath, plus optional row labels (left) and column labels (top).
//!
//! ```no_run
//! use difflab::viz::{ImageGrid, Picture, Tile, style};
//! let pic = Picture::gray(28, 28, &[0.5; 784])?;
//! let grid = ImageGrid::strip(vec![
//!     Tile::new(pic.clone()).caption("t = 0").border(style::GOOD),
//!     Tile::new(pic).caption("t = 100").caption("signal 60% · noise 40%"),
//! ]).tile_px(112);
//! # Ok::<(), difflab::Error>(())
//! ```

use super::canvas::{Align, Canvas, Rect};
use super::picture::Picture;
use super::style;
use plotters::style::{RGBColor, TextStyle};

/// One picture in a grid, with caption lines (the first in bold) and an optional border.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// The picture.
    pub picture: Picture,
    /// Caption lines under it (first line bold, the rest muted).
    pub caption: Vec<String>,
    /// A coloured border around it.
    pub border: Option<RGBColor>,
}

impl Tile {
    /// A tile without caption or border.
    pub fn new(picture: Picture) -> Self {
        Tile {
            picture,
            caption: Vec::new(),
            border: None,
        }
    }
    /// Add a caption line.
    pub fn caption(mut self, line: impl Into<String>) -> Self {
        self.caption.push(line.into());
        self
    }
    /// Set the border colour.
    pub fn border(mut self, color: RGBColor) -> Self {
        self.border = Some(color);
        self
    }
}

/// A grid of tiles, filled row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageGrid {
    /// The tiles, row-major.
    pub tiles: Vec<Tile>,
    /// Tiles per row.
    pub cols: usize,
    /// Target display size (px) of a picture's longer side; pictures are scaled by the largest
    /// whole factor that fits (at least 1), so pixels stay square and crisp.
    pub tile_px: u32,
    /// Space between cells (px).
    pub gap: u32,
    /// Border thickness (px) for tiles with a border.
    pub border_px: u32,
    /// Labels left of each row (e.g. "noisy", "denoised"); may be empty.
    pub row_labels: Vec<String>,
    /// Labels above each column (e.g. timesteps); may be empty.
    pub col_labels: Vec<String>,
}

/// Measured layout of a grid.
struct Layout {
    scale: u32,
    pic_h: u32,
    border: u32,
    cell_w: u32,
    cell_h: u32,
    caption_lines: usize,
    row_label_w: u32,
    col_label_h: u32,
}

fn caption_style(line: usize) -> TextStyle<'static> {
    if line == 0 {
        style::bold(style::CAPTION_SIZE, style::TEXT)
    } else {
        style::text(style::CAPTION_SIZE, style::MUTED)
    }
}

fn line_height() -> u32 {
    (style::CAPTION_SIZE * 1.45).round() as u32
}

impl ImageGrid {
    /// An empty grid with `cols` columns, 112 px tiles.
    pub fn new(cols: usize) -> Self {
        ImageGrid {
            tiles: Vec::new(),
            cols: cols.max(1),
            tile_px: 112,
            gap: 12,
            border_px: 5,
            row_labels: Vec::new(),
            col_labels: Vec::new(),
        }
    }
    /// One row holding all `tiles`.
    pub fn strip(tiles: Vec<Tile>) -> Self {
        let mut g = Self::new(tiles.len());
        g.tiles = tiles;
        g
    }
    /// Add a tile.
    pub fn tile(mut self, t: Tile) -> Self {
        self.tiles.push(t);
        self
    }
    /// Add several tiles.
    pub fn tiles(mut self, tiles: impl IntoIterator<Item = Tile>) -> Self {
        self.tiles.extend(tiles);
        self
    }
    /// Set the target tile size.
    pub fn tile_px(mut self, px: u32) -> Self {
        self.tile_px = px.max(1);
        self
    }
    /// Set the gap between cells.
    pub fn gap(mut self, px: u32) -> Self {
        self.gap = px;
        self
    }
    /// Label the rows.
    pub fn row_labels(mut self, labels: Vec<String>) -> Self {
        self.row_labels = labels;
        self
    }
    /// Label the columns.
    pub fn col_labels(mut self, labels: Vec<String>) -> Self {
        self.col_labels = labels;
        self
    }
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.tiles.len().div_ceil(self.cols)
    }

    fn layout(&self) -> Layout {
        let max_w = self
            .tiles
            .iter()
            .map(|t| t.picture.width())
            .max()
            .unwrap_or(1);
        let max_h = self
            .tiles
            .iter()
            .map(|t| t.picture.height())
            .max()
            .unwrap_or(1);
        let scale = (self.tile_px / max_w.max(max_h)).max(1);
        let border = if self.tiles.iter().any(|t| t.border.is_some()) {
            self.border_px
        } else {
            0
        };
        let caption_lines = self
            .tiles
            .iter()
            .map(|t| t.caption.len())
            .max()
            .unwrap_or(0);
        let caption_w = self
            .tiles
            .iter()
            .flat_map(|t| {
                t.caption
                    .iter()
                    .enumerate()
                    .map(|(i, l)| Canvas::text_size(l, &caption_style(i)).0)
            })
            .chain(
                self.col_labels
                    .iter()
                    .map(|l| Canvas::text_size(l, &caption_style(0)).0),
            )
            .max()
            .unwrap_or(0);
        let (pic_w, pic_h) = (max_w * scale, max_h * scale);
        let cell_w = (pic_w + 2 * border).max(caption_w + 4);
        let captions_h = if caption_lines > 0 {
            6 + caption_lines as u32 * line_height()
        } else {
            0
        };
        let row_label_w = self
            .row_labels
            .iter()
            .map(|l| Canvas::text_size(l, &style::bold(style::CAPTION_SIZE, style::TEXT)).0 + 14)
            .max()
            .unwrap_or(0);
        let col_label_h = if self.col_labels.is_empty() {
            0
        } else {
            line_height() + 4
        };
        Layout {
            scale,
            pic_h,
            border,
            cell_w,
            cell_h: pic_h + 2 * border + captions_h,
            caption_lines,
            row_label_w,
            col_label_h,
        }
    }

    /// The grid's size in pixels (width, height).
    pub fn size(&self) -> (u32, u32) {
        let l = self.layout();
        let cols = self.cols.min(self.tiles.len().max(1)) as u32;
        let rows = self.rows().max(1) as u32;
        (
            l.row_label_w + cols * l.cell_w + (cols - 1) * self.gap,
            l.col_label_h + rows * l.cell_h + (rows - 1) * self.gap,
        )
    }

    /// The same grid with `tile_px` reduced (if needed) so that it fits in `width` pixels.
    pub fn fitted(&self, width: u32) -> ImageGrid {
        let mut g = self.clone();
        while g.size().0 > width && g.layout().scale > 1 {
            let max_side = g
                .tiles
                .iter()
                .map(|t| t.picture.width().max(t.picture.height()))
                .max()
                .unwrap_or(1);
            g.tile_px = (g.layout().scale - 1) * max_side;
        }
        g
    }

    /// Draw the grid with its top-left corner at (x, y).
    pub fn draw(&self, canvas: &mut Canvas, x: i32, y: i32) {
        let l = self.layout();
        for (c, label) in self.col_labels.iter().enumerate().take(self.cols) {
            let cx = x + (l.row_label_w + c as u32 * (l.cell_w + self.gap) + l.cell_w / 2) as i32;
            canvas.text(label, cx, y, &caption_style(0), Align::Center);
        }
        for (r, label) in self.row_labels.iter().enumerate().take(self.rows()) {
            let cy = y
                + (l.col_label_h + r as u32 * (l.cell_h + self.gap) + l.border + l.pic_h / 2)
                    as i32;
            let st = style::bold(style::CAPTION_SIZE, style::TEXT);
            let (_, h) = Canvas::text_size(label, &st);
            canvas.text(
                label,
                x + l.row_label_w as i32 - 14,
                cy - h as i32 / 2,
                &st,
                Align::Right,
            );
        }
        for (i, tile) in self.tiles.iter().enumerate() {
            let (r, c) = ((i / self.cols) as u32, (i % self.cols) as u32);
            let cell_x = x + (l.row_label_w + c * (l.cell_w + self.gap)) as i32;
            let cell_y = y + (l.col_label_h + r * (l.cell_h + self.gap)) as i32;
            let (pw, ph) = (
                tile.picture.width() * l.scale,
                tile.picture.height() * l.scale,
            );
            let px = cell_x + (l.cell_w as i32 - pw as i32) / 2;
            let py = cell_y + l.border as i32 + (l.pic_h as i32 - ph as i32) / 2;
            if let Some(color) = tile.border {
                canvas.frame(Rect::new(px, py, pw, ph), color, l.border);
            }
            canvas.blit(&tile.picture, px, py, l.scale);
            let mut ty = cell_y + (l.pic_h + 2 * l.border + 6) as i32;
            for (k, line) in tile.caption.iter().enumerate().take(l.caption_lines) {
                canvas.text(
                    line,
                    cell_x + l.cell_w as i32 / 2,
                    ty,
                    &caption_style(k),
                    Align::Center,
                );
                ty += line_height() as i32;
            }
        }
    }
}
