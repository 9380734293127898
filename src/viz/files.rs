//! The record of a figure written to disk, as the modules' `summary.json` files list them.

use serde::Serialize;

/// A file written, with its pixel size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileInfo {
    /// File name inside the output folder.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl FileInfo {
    /// `name`, `width` × `height` pixels.
    pub fn new(name: &str, (width, height): (u32, u32)) -> Self {
        FileInfo {
            name: name.into(),
            width,
            height,
        }
    }
}
