//! Looping GIF animations from canvases, written atomically.
//!
//! GIF frames hold at most 256 colours. difflab's animations are mostly grey (digits, text) with
//! a few accent colours, so one exact global palette usually fits; if not, greys are reduced to
//! 128 levels (invisible at these sizes); only if that still does not fit is each frame
//! quantised on its own (NeuQuant).

use super::canvas::Canvas;
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// One frame and how long it stays on screen, in hundredths of a second (GIF's unit; browsers
/// treat values under 2 as 10, so use at least 2).
#[derive(Clone, Debug, PartialEq)]
pub struct GifFrame {
    /// The picture.
    pub canvas: Canvas,
    /// Display time in centiseconds.
    pub delay_cs: u16,
}

fn palette_of(frames: &[Vec<u8>]) -> Option<HashMap<[u8; 3], u8>> {
    let mut map = HashMap::new();
    for f in frames {
        for p in f.chunks_exact(3) {
            let key = [p[0], p[1], p[2]];
            if !map.contains_key(&key) {
                if map.len() == 256 {
                    return None;
                }
                let idx = map.len() as u8;
                map.insert(key, idx);
            }
        }
    }
    Some(map)
}

/// Encode `frames` (all the same size) as a GIF that loops forever.
pub fn encode_gif(frames: &[GifFrame]) -> Result<Vec<u8>> {
    let first = frames
        .first()
        .ok_or_else(|| Error::invalid("a GIF needs at least one frame"))?;
    let (w, h) = (first.canvas.width(), first.canvas.height());
    if frames
        .iter()
        .any(|f| f.canvas.width() != w || f.canvas.height() != h)
    {
        return Err(Error::invalid("all GIF frames must have the same size"));
    }
    if w > u16::MAX as u32 || h > u16::MAX as u32 {
        return Err(Error::invalid(format!(
            "a GIF frame of {w}×{h} is too large"
        )));
    }
    let gif_err = |e: gif::EncodingError| Error::invalid(format!("GIF encoding failed: {e}"));
    let mut rgbs: Vec<Vec<u8>> = frames.iter().map(|f| f.canvas.rgb().to_vec()).collect();
    let mut palette = palette_of(&rgbs);
    if palette.is_none() {
        for rgb in &mut rgbs {
            for p in rgb.chunks_exact_mut(3) {
                if p[0] == p[1] && p[1] == p[2] {
                    let g = p[0] & !1;
                    p.copy_from_slice(&[g, g, g]);
                }
            }
        }
        palette = palette_of(&rgbs);
    }
    let mut out = Vec::new();
    {
        let global: Vec<u8> = match &palette {
            Some(map) => {
                let mut pal = vec![0u8; map.len() * 3];
                for (c, &i) in map {
                    pal[i as usize * 3..i as usize * 3 + 3].copy_from_slice(c);
                }
                pal
            }
            None => Vec::new(),
        };
        let mut enc = gif::Encoder::new(&mut out, w as u16, h as u16, &global).map_err(gif_err)?;
        enc.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        for (f, rgb) in frames.iter().zip(&rgbs) {
            let mut frame = match &palette {
                Some(map) => gif::Frame {
                    width: w as u16,
                    height: h as u16,
                    buffer: Cow::Owned(
                        rgb.chunks_exact(3)
                            .map(|p| map[&[p[0], p[1], p[2]]])
                            .collect(),
                    ),
                    ..Default::default()
                },
                None => gif::Frame::from_rgb_speed(w as u16, h as u16, rgb, 10),
            };
            frame.delay = f.delay_cs.max(2);
            enc.write_frame(&frame).map_err(gif_err)?;
        }
    }
    Ok(out)
}

/// Encode `frames` as a looping GIF and write it to `path` atomically.
pub fn write_gif(path: &Path, frames: &[GifFrame]) -> Result<()> {
    write_atomic(path, &encode_gif(frames)?)
}
