//! The figures and the animation of Module 3, in the shared `viz` style (the look of Module 1:
//! borders green / orange / red by the noise share 1 − ᾱₜ of what is shown).

use super::{
    CompareRun, GenerateConfig, ModelInfo, COMPARE_SAMPLES, FEW_STEP_SAMPLER, GIF_SAMPLES,
    GRID_SAMPLES,
};
use crate::console::sampler_title;
use crate::pipelines::sample::{Samples, Snapshot};
use crate::schedulers::SamplerKind;
use crate::viz::{
    self, style, Align, Canvas, Figure, GifFrame, ImageGrid, KeyShape, LegendEntry, Picture,
    RGBColor, Rect, Tile,
};
use crate::viz::{noise_color, pct, GREEN_BELOW, ORANGE_BELOW};
use crate::Result;
use std::path::Path;

/// Everything the figures need.
pub(super) struct Context<'a> {
    pub cfg: &'a GenerateConfig,
    pub info: &'a ModelInfo,
    /// "DDPM, all 200 steps".
    pub label: String,
}

/// The border legend, worded for the reverse process.
fn border_legend() -> Vec<LegendEntry> {
    let (g, o) = (pct(GREEN_BELOW), pct(ORANGE_BELOW));
    vec![
        LegendEntry::new(
            KeyShape::Border,
            style::BAD,
            format!("noise ≥ {o}: still mostly noise"),
        ),
        LegendEntry::new(
            KeyShape::Border,
            style::WARN,
            format!("{g}–{o}: the digit emerges"),
        ),
        LegendEntry::new(
            KeyShape::Border,
            style::GOOD,
            format!("noise < {g}: the digit dominates"),
        ),
    ]
}

/// A share as a percentage, "< 0.1%" for tiny non-zero shares (the noise left at t = 0).
fn share(v: f64) -> String {
    if v > 0.0 && v < 0.001 {
        "< 0.1%".into()
    } else {
        pct(v)
    }
}

/// "digits 0–3" or "digits 0, 3, 7".
fn digits_text(d: &[u8]) -> String {
    let contiguous = d.windows(2).all(|w| w[1] == w[0] + 1);
    match (d.first(), d.last()) {
        (Some(a), Some(b)) if d.len() > 2 && contiguous => format!("digits {a}–{b}"),
        (Some(a), None | Some(_)) if d.len() == 1 => format!("digit {a}"),
        _ => format!(
            "digits {}",
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Context<'_> {
    fn side(&self) -> usize {
        self.info.image_size
    }
    fn per(&self) -> usize {
        self.side() * self.side() * self.info.channels
    }
    /// One sample (model range) as a picture.
    fn picture(&self, v: &[f32]) -> Picture {
        let s = self.side() as u32;
        if self.info.channels == 3 {
            Picture::rgb_model(s, s, v).expect("image-sized")
        } else {
            Picture::gray_model(s, s, v).expect("image-sized")
        }
    }
    /// Sample `i` of a `[n, h, w, c]` buffer.
    fn nth<'b>(&self, data: &'b [f32], i: usize) -> &'b [f32] {
        &data[i * self.per()..(i + 1) * self.per()]
    }
    /// "toy U-Net trained on digits 0–3 (16×16, EMA weights, matched start)".
    fn model_text(&self) -> String {
        let i = self.info;
        let w = if i.weights == "ema" {
            "EMA weights"
        } else {
            "final weights"
        };
        format!(
            "{} U-Net trained on {} ({}×{}, {w}, {} start)",
            i.arch,
            digits_text(&i.digits),
            i.image_size,
            i.image_size,
            i.start.name()
        )
    }
    /// The noise share 1 − ᾱ of a snapshot's samples.
    fn noise_share(s: &Snapshot) -> f64 {
        1.0 - s.level.alpha_bar
    }

    /// `trajectory.png`: sample #0 at the snapshot steps (top: xₜ with noise-share borders,
    /// bottom: the model's guess x̂₀), and the final digit.
    pub fn trajectory_png(&self, path: &Path, run: &Samples, at: &[usize]) -> Result<(u32, u32)> {
        let snaps: Vec<&Snapshot> = at
            .iter()
            .filter_map(|&k| run.snapshots.iter().find(|s| s.index == k))
            .collect();
        let n = run.timesteps.len();
        let mut top = Vec::new();
        let mut bottom = Vec::new();
        for s in &snaps {
            let noise = Self::noise_share(s);
            top.push(
                Tile::new(self.picture(self.nth(s.x_t.data(), 0)))
                    .caption(format!("t = {}", s.t))
                    .caption(format!("noise {}", share(noise)))
                    .border(noise_color(noise)),
            );
            bottom.push(
                Tile::new(self.picture(self.nth(s.pred_x0.data(), 0)))
                    .caption(format!("step {} of {n}", s.index + 1)),
            );
        }
        let cols = top.len();
        let grid = ImageGrid::new(cols)
            .tiles(top)
            .tiles(bottom)
            .tile_px(96)
            .gap(12)
            .row_labels(vec!["xₜ".into(), "guess x̂₀".into()]);
        Figure::new()
            .title("From noise to a digit, one step at a time")
            .subtitle(format!(
                "{} · {} · sample #0 of seed {}\nTop: xₜ, what the sampler holds before the step at t. Bottom: x̂₀, the model's guess of the finished digit at that step.",
                self.model_text(),
                self.label,
                self.cfg.seed
            ))
            .grid(grid)
            .legend(border_legend())
            .note("x̂₀ = (xₜ − √(1 − ᾱₜ)·ε̂) / √ᾱₜ: the rough shape is decided early, while xₜ still looks like noise; the last steps only sharpen it.")
            .save_png(path)
    }

    /// `samples.png`: the first [`GRID_SAMPLES`] samples, numbered as their files.
    pub fn samples_png(&self, path: &Path, images: &[f32]) -> Result<(u32, u32)> {
        let count = images.len() / self.per();
        let shown = count.min(GRID_SAMPLES);
        let tiles = (0..shown)
            .map(|i| Tile::new(self.picture(self.nth(images, i))).caption(format!("#{i}")));
        let side = self.side();
        Figure::new()
            .title(format!("{shown} digits generated from noise"))
            .subtitle(format!(
                "{} · {} · seed {}\nEach sample starts from its own noise (sample #i: stream i of the seed) and is denoised step by step.",
                self.model_text(),
                self.label,
                self.cfg.seed
            ))
            .grid(ImageGrid::new(4).tiles(tiles).tile_px(128).gap(16))
            .note(format!(
                "All {count} samples of this run are saved at {side}×{side} as samples/0000.png … samples/{:04}.png (sample #{k} is samples/{k:04}.png).",
                count - 1,
                k = shown - 1
            ))
            .save_png(path)
    }

    /// `steps.png`: samples #0–#3 from the same starting noise at each step count (columns),
    /// one row per sampler (DDPM, DDIM, then the few-step sampler at its few counts; its other
    /// cells are left empty), wall time under each.
    pub fn steps_png(&self, path: &Path, runs: &[CompareRun]) -> Result<(u32, u32)> {
        let t_total = self.info.num_train_timesteps;
        let steps: Vec<usize> = runs
            .iter()
            .filter(|r| r.kind == SamplerKind::Ddpm)
            .map(|r| r.steps)
            .collect();
        let mut kinds: Vec<SamplerKind> = runs.iter().map(|r| r.kind).collect();
        kinds.dedup();
        let mut tiles = Vec::new();
        for &kind in &kinds {
            for &n in &steps {
                tiles.push(match runs.iter().find(|r| r.kind == kind && r.steps == n) {
                    Some(r) => self.timed_tile(r),
                    None => Tile::new(self.blank()).caption("—").caption("not run"),
                });
            }
        }
        let few = runs
            .iter()
            .min_by_key(|r| r.steps)
            .expect("at least one run");
        let eta = runs
            .iter()
            .find(|r| r.kind == SamplerKind::Ddim)
            .map_or(0.0, |r| r.eta);
        let col_labels = steps
            .iter()
            .map(|&s| {
                if s == t_total {
                    format!("all {s} steps")
                } else {
                    format!("{s} steps")
                }
            })
            .collect();
        let row_labels = kinds
            .iter()
            .map(|&k| match k {
                SamplerKind::Ddim => format!("DDIM, η = {eta}"),
                other => sampler_title(other).to_string(),
            })
            .collect();
        let grid = ImageGrid::new(steps.len())
            .tiles(tiles)
            .tile_px(150)
            .gap(22)
            .col_labels(col_labels)
            .row_labels(row_labels);
        let ddim_note = if eta == 0.0 {
            "DDIM with η = 0 adds no noise along the way: the same starting noise gives nearly the same digits at any number of steps,\nbut nothing mends the model's errors either, so a small model's DDIM digits come out rougher than its DDPM ones."
        } else {
            "DDIM with η > 0 adds some fresh noise at each step, between deterministic DDIM (η = 0) and DDPM (η = 1)."
        };
        Figure::new()
            .title(format!(
                "Fewer steps: DDPM, DDIM and {} from the same starting noise",
                sampler_title(FEW_STEP_SAMPLER)
            ))
            .subtitle(format!(
                "{} · in every cell samples #0–#{} of seed {}, from the same 4 noises\n{} DDPM steps visit t = {}, {}, …, {}; DDPM is respaced as diffusers does (a skip from t to t′ uses β = 1 − ᾱₜ / ᾱₜ′).",
                self.model_text(),
                COMPARE_SAMPLES - 1,
                self.cfg.seed,
                few.steps,
                few.samples.timesteps[0],
                few.samples.timesteps.get(1).copied().unwrap_or(0.0),
                few.samples.timesteps.last().copied().unwrap_or(0.0),
            ))
            .grid(grid)
            .note(format!("Under each: the wall time of the {COMPARE_SAMPLES} images on this machine, and per step (one model call for the 4).\nDDPM adds fresh noise at every step, so its digits change with the number of steps, and with few steps each jump is too big for it.\n{ddim_note}\nSDE-DPM-Solver++ is a multistep solver: it reuses the model's last two predictions to follow the curved path from noise to digit, so 10-20 steps are enough, and like DDPM it adds fresh noise that mends the model's errors."))
            .save_png(path)
    }

    /// A tile of one run's 4 samples with its wall time, in total and per step.
    fn timed_tile(&self, r: &CompareRun) -> Tile {
        let secs = r.samples.elapsed.as_secs_f64();
        let per_step = secs * 1000.0 / r.steps as f64;
        Tile::new(self.mosaic(r.samples.images.data()))
            .caption(format!("{secs:.2} s"))
            .caption(format!("{per_step:.1} ms per step"))
    }

    /// An empty cell the size of a mosaic, in the figure's background colour.
    fn blank(&self) -> Picture {
        let side = 2 * self.side() + 1;
        let bg = style::BACKGROUND;
        let rgb = [bg.0, bg.1, bg.2].repeat(side * side);
        Picture::from_rgb8(side as u32, side as u32, rgb).expect("size matches")
    }

    /// Up to 4 samples as one 2×2 picture, 1 px apart on the figure background.
    fn mosaic(&self, data: &[f32]) -> Picture {
        let s = self.side();
        let gap = 1;
        let side = 2 * s + gap;
        let bg = style::BACKGROUND;
        let mut rgb = [bg.0, bg.1, bg.2].repeat(side * side);
        let n = (data.len() / self.per()).min(4);
        for i in 0..n {
            let p = self.picture(self.nth(data, i));
            let (ox, oy) = ((i % 2) * (s + gap), (i / 2) * (s + gap));
            for y in 0..s {
                for x in 0..s {
                    let px = p.pixel(x as u32, y as u32);
                    let o = ((oy + y) * side + ox + x) * 3;
                    rgb[o..o + 3].copy_from_slice(&px);
                }
            }
        }
        Picture::from_rgb8(side as u32, side as u32, rgb).expect("size matches")
    }

    /// `denoise.gif`: up to 16 samples (4×4) forming from noise, about 4 s, looping.
    pub fn denoise_gif(&self, path: &Path, run: &Samples, at: &[usize]) -> Result<(u32, u32)> {
        let n = run.timesteps.len();
        let mut frames: Vec<GifFrame> = Vec::new();
        for (j, &k) in at.iter().enumerate() {
            let s = run
                .snapshots
                .iter()
                .find(|s| s.index == k)
                .expect("snapshot recorded");
            let delay = if j == 0 {
                60
            } else {
                (240 / at.len().max(1)).clamp(3, 20) as u16
            };
            frames.push(GifFrame {
                canvas: self.gif_frame(s.x_t.data(), Some(s), k, n),
                delay_cs: delay,
            });
        }
        frames.push(GifFrame {
            canvas: self.gif_frame(run.images.data(), None, n, n),
            delay_cs: 150,
        });
        viz::write_gif(path, &frames)?;
        Ok((frames[0].canvas.width(), frames[0].canvas.height()))
    }

    /// One frame: the grid of samples in a border coloured by the noise share, `t` above and a
    /// progress bar below. `at` (the snapshot shown, for its t and noise share) `None` is the
    /// finished result (after `n` of `n` steps).
    fn gif_frame(&self, x: &[f32], at: Option<&Snapshot>, done: usize, n: usize) -> Canvas {
        let count = (x.len() / self.per()).min(GIF_SAMPLES);
        let cols = if count >= 4 { 4 } else { count.max(1) };
        let rows = count.div_ceil(cols).max(1);
        let side = self.side() as u32;
        let scale = (96 / side).max(1);
        let tile = side * scale;
        let gap = 6u32;
        let grid_w = cols as u32 * tile + (cols as u32 - 1) * gap;
        let grid_h = rows as u32 * tile + (rows as u32 - 1) * gap;
        let border = 6u32;
        let pad = 24u32;
        let w = (grid_w + 2 * (border + pad)).max(420);
        let top = 64i32;
        let h = top as u32 + grid_h + 2 * border + 76;
        let mut c = Canvas::filled(w, h, RGBColor(255, 255, 255));
        let ink = RGBColor(40, 40, 40);
        let noise = at.map_or(0.0, Self::noise_share);
        let color = noise_color(noise);
        let title = match at {
            Some(s) => format!("t = {}  ·  step {} of {n}", s.t, done + 1),
            None => format!("done: {n} of {n} steps"),
        };
        c.text(
            &title,
            w as i32 / 2,
            18,
            &style::bold(22.0, ink),
            Align::Center,
        );
        let gx = (w - grid_w) as i32 / 2;
        let gy = top + border as i32;
        c.frame(
            Rect::new(
                gx - border as i32,
                top,
                grid_w + 2 * border,
                grid_h + 2 * border,
            )
            .grow(0),
            color,
            border,
        );
        c.fill_rect(Rect::new(gx, gy, grid_w, grid_h), RGBColor(255, 255, 255));
        for i in 0..count {
            let (r, q) = ((i / cols) as u32, (i % cols) as u32);
            let p = self.picture(self.nth(x, i));
            c.blit(
                &p,
                gx + (q * (tile + gap)) as i32,
                gy + (r * (tile + gap)) as i32,
                scale,
            );
        }
        let cap = match at {
            Some(_) => format!("noise {} · signal {}", share(noise), share(1.0 - noise)),
            None => format!("{count} digits from {count} different noises"),
        };
        let below = gy + grid_h as i32 + border as i32 + 14;
        c.text(
            &cap,
            w as i32 / 2,
            below,
            &style::text(18.0, ink),
            Align::Center,
        );
        let bar_w = grid_w + 2 * border;
        let bar = Rect::new(gx - border as i32, h as i32 - 24, bar_w, 8);
        c.fill_rect(bar, RGBColor(225, 225, 225));
        let filled = ((done as f64 / n as f64) * bar_w as f64).round() as u32;
        c.fill_rect(Rect::new(bar.x, bar.y, filled.min(bar_w), 8), color);
        c
    }
}
