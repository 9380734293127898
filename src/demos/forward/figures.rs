//! The figures and the animation of Module 1, in the shared `viz` style.

use super::{noised, strip_timesteps, Digit, ForwardConfig, IMAGE_SIZE};
use crate::diffusion::{BetaSchedule, NoiseSchedule};
use crate::util::rng::Rng;
use crate::viz::{
    self, style, Align, Annotation, Band, Canvas, ColorBar, Figure, GifFrame, ImageGrid, KeyShape,
    LegendEntry, LegendPos, LinePlot, Panel, Picture, RGBColor, Rect, RefLine, Series, Tile,
};
use crate::viz::{noise_color, pct, GREEN_BELOW, ORANGE_BELOW};
use crate::Result;
use std::path::Path;

fn border_legend() -> Vec<LegendEntry> {
    vec![
        LegendEntry::new(
            KeyShape::Border,
            style::GOOD,
            "noise < 30%: the digit dominates",
        ),
        LegendEntry::new(KeyShape::Border, style::WARN, "30–70%: balanced"),
        LegendEntry::new(KeyShape::Border, style::BAD, "noise ≥ 70%: noise dominates"),
    ]
}

fn picture(x: &[f32]) -> Picture {
    Picture::gray_model(IMAGE_SIZE as u32, IMAGE_SIZE as u32, x).expect("28×28 values")
}

fn short_name(kind: BetaSchedule) -> &'static str {
    match kind {
        BetaSchedule::Linear => "linear",
        BetaSchedule::ScaledLinear => "scaled-linear",
        BetaSchedule::SquaredcosCapV2 => "cosine",
        BetaSchedule::Sigmoid => "sigmoid",
    }
}

/// A short description of a schedule for subtitles.
pub fn describe(kind: BetaSchedule, cfg: &ForwardConfig) -> String {
    let name = short_name(kind);
    match kind {
        BetaSchedule::SquaredcosCapV2 => format!("{name} schedule, T = {}", cfg.timesteps),
        _ => format!(
            "{name} schedule, β from {} to {}, T = {}",
            cfg.beta_start, cfg.beta_end, cfg.timesteps
        ),
    }
}

/// Everything the figures need.
pub(super) struct Context<'a> {
    pub cfg: &'a ForwardConfig,
    pub sched: &'a NoiseSchedule,
    pub digit: &'a Digit,
    pub eps: &'a [f32],
}

impl Context<'_> {
    fn strip(&self, sched: &NoiseSchedule, tile_px: u32, long_caption: bool) -> ImageGrid {
        let tiles = strip_timesteps(self.cfg.timesteps)
            .into_iter()
            .map(|t| {
                let ab = sched.alpha_bar(t);
                let tile = Tile::new(picture(&noised(sched, &self.digit.x0, self.eps, t)))
                    .caption(format!("t = {t}"))
                    .border(noise_color(1.0 - ab));
                if long_caption {
                    tile.caption(format!("signal {} · noise {}", pct(ab), pct(1.0 - ab)))
                } else {
                    tile.caption(format!("signal {}", pct(ab)))
                }
            })
            .collect();
        ImageGrid::strip(tiles).tile_px(tile_px).gap(14)
    }

    /// `schedule.png`: ᾱₜ and 1 − ᾱₜ against t with the 50 % line.
    pub fn schedule_png(&self, path: &Path) -> Result<(u32, u32)> {
        let ab = self.sched.alphas_cumprod_f64();
        let t_max = (ab.len() - 1) as f64;
        let signal: Vec<(f64, f64)> = ab.iter().enumerate().map(|(t, &a)| (t as f64, a)).collect();
        let noise: Vec<(f64, f64)> = ab
            .iter()
            .enumerate()
            .map(|(t, &a)| (t as f64, 1.0 - a))
            .collect();
        let mut plot = LinePlot::new("timestep t", "share of the variance of xₜ")
            .series(Series::new("signal weight ᾱₜ", signal).color(style::SIGNAL))
            .series(Series::new("noise weight 1 − ᾱₜ", noise).color(style::NOISE))
            .ref_line(RefLine::horizontal(0.5, "50%"))
            .x_range(0.0, t_max)
            .y_range(0.0, 1.0)
            .y_percent()
            .legend(LegendPos::MiddleLeft);
        if let Some(t) = ab.iter().position(|&a| a < 0.5) {
            plot = plot.annotate(
                Annotation::new(
                    t as f64,
                    ab[t],
                    format!("half signal, half noise at t = {t}"),
                )
                .left()
                .offset(12, -30),
            );
        }
        Figure::new()
            .title("How much of the digit survives t noising steps")
            .subtitle(format!("{} · ᾱₜ = (1 − β₁)(1 − β₂)…(1 − βₜ) · xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε", describe(self.cfg.schedule, self.cfg)))
            .plot(plot)
            .note("ᾱₜ is the share of xₜ's variance that still comes from the digit; the rest, 1 − ᾱₜ, is noise.")
            .save_png(path)
    }

    /// `noising.png`: the digit at 9 timesteps with coloured borders and shares.
    pub fn noising_png(&self, path: &Path) -> Result<(u32, u32)> {
        Figure::new()
            .title("A digit dissolving into noise")
            .subtitle(format!("{} · {} · one fixed noise draw ε (seed {})", self.digit.caption, describe(self.cfg.schedule, self.cfg), self.cfg.seed))
            .grid(self.strip(self.sched, 112, true))
            .legend(border_legend())
            .note("signal = ᾱₜ and noise = 1 − ᾱₜ: the shares of xₜ's variance (border colour = noise share)")
            .save_png(path)
    }

    /// `snr.png`: SNR on a linear axis and in decibels, with regions and the SNR = 1 line.
    pub fn snr_png(&self, path: &Path) -> Result<(u32, u32)> {
        let s = self.sched;
        let t_total = self.cfg.timesteps;
        let t_max = (t_total - 1) as f64;
        let snr: Vec<f64> = (0..t_total).map(|t| s.snr_at(t)).collect();
        // Region edges where the noise weight crosses 30 % and 70 % (the border colours).
        let first = |pred: &dyn Fn(f64) -> bool| (0..t_total).find(|&t| pred(1.0 - s.alpha_bar(t)));
        let t_a = first(&|n| n >= GREEN_BELOW)
            .map(|t| t as f64 - 0.5)
            .unwrap_or(t_max + 0.5);
        let t_b = first(&|n| n >= ORANGE_BELOW)
            .map(|t| t as f64 - 0.5)
            .unwrap_or(t_max + 0.5);
        let bands = vec![
            Band::x(-0.5, t_a, style::GOOD, "signal dominates"),
            Band::x(t_a, t_b, style::WARN, "balanced"),
            Band::x(t_b, t_max + 0.5, style::BAD, "noise dominates"),
        ];
        let cross1 = s.first_t_with_snr_below(1.0);

        let y_cap = 10.0f64.min(snr.iter().cloned().fold(0.0, f64::max) * 1.05);
        let lin_pts = clip_top(&snr, y_cap);
        let enter = lin_pts.first().map(|p| p.0).unwrap_or(0.0);
        let mut lin = LinePlot::new("timestep t", "SNR(t) = ᾱₜ / (1 − ᾱₜ)")
            .title("Linear scale")
            .series(Series::new("SNR(t)", lin_pts).color(style::SIGNAL))
            .ref_line(RefLine::horizontal(1.0, "SNR = 1"))
            .x_range(0.0, t_max)
            .y_range(0.0, y_cap)
            .legend(LegendPos::Hidden);
        if snr[0] > y_cap {
            // Note where the curve enters the chart, to its right.
            lin = lin.annotate(
                Annotation::new(
                    enter,
                    y_cap,
                    format!("↑ SNR(0) = {:.0}, far above the chart", snr[0]),
                )
                .text_only()
                .offset(24, 36),
            );
        }
        let db: Vec<f64> = snr.iter().map(|v| 10.0 * v.log10()).collect();
        let mut dbp = LinePlot::new("timestep t", "SNR in decibels, 10·log₁₀ SNR")
            .title("Decibel scale")
            .series(
                Series::new(
                    "SNR(t) in dB",
                    db.iter().enumerate().map(|(t, &v)| (t as f64, v)).collect(),
                )
                .color(style::SIGNAL),
            )
            .ref_line(RefLine::horizontal(0.0, "SNR = 1 (0 dB)"))
            .x_range(0.0, t_max)
            .legend(LegendPos::Hidden);
        for b in &bands {
            lin = lin.band(b.clone());
            dbp = dbp.band(b.clone());
        }
        if let Some(t) = cross1 {
            let note = format!("SNR < 1 from t = {t}");
            lin = lin.annotate(Annotation::new(t as f64, snr[t], note.clone()).offset(10, -26));
            dbp = dbp.annotate(Annotation::new(t as f64, db[t], note).offset(10, -26));
        }
        if let Some(t) = s.first_t_with_snr_below(0.1) {
            dbp = dbp
                .ref_line(RefLine::horizontal(-10.0, "SNR = 0.1 (−10 dB)"))
                .annotate(
                    Annotation::new(t as f64, db[t], format!("SNR < 0.1 from t = {t}"))
                        .left()
                        .offset(10, 8),
                );
        }
        Figure::new()
            .title("Signal-to-noise ratio along the forward process")
            .subtitle(format!("{} · SNR(t) = ᾱₜ / (1 − ᾱₜ): the digit's variance over the noise's", describe(self.cfg.schedule, self.cfg)))
            .plot_h(lin, 380)
            .plot_h(dbp, 380)
            .note("Regions as in noising.png: signal dominates while the noise share is below 30%, noise dominates from 70%.")
            .save_png(path)
    }

    /// `realizations.png`: the original and five noise draws at T/2, with the draws of ε.
    pub fn realizations_png(&self, path: &Path) -> Result<(u32, u32)> {
        let t = self.cfg.timesteps / 2;
        let ab = self.sched.alpha_bar(t);
        let n = self.digit.x0.len();
        let draws: Vec<Vec<f32>> = (1..=5)
            .map(|k| Rng::stream(self.cfg.seed, k).normal_vec(n))
            .collect();
        // One shared scale for the five draws: ±3 (3 standard deviations; rarer values saturate).
        let scale = 3.0;
        let side = IMAGE_SIZE as u32;
        let mut tiles = vec![Tile::new(picture(&self.digit.x0)).caption("original x₀")];
        for (k, e) in draws.iter().enumerate() {
            tiles.push(
                Tile::new(picture(&noised(self.sched, &self.digit.x0, e, t)))
                    .caption(format!("draw {}", k + 1)),
            );
        }
        tiles.push(Tile::new(blank(side)).caption(""));
        for (k, e) in draws.iter().enumerate() {
            tiles.push(
                Tile::new(Picture::signed(side, side, e, scale).expect("28×28"))
                    .caption(format!("noise {}", k + 1)),
            );
        }
        let grid = ImageGrid::new(6)
            .tiles(tiles)
            .tile_px(112)
            .row_labels(vec![format!("x{}", subscript(t)), "noise ε".into()]);
        Figure::new()
            .title("Same digit, same t, same formula — different noise")
            .subtitle(format!(
                "t = {t}: xₜ = √ᾱ·x₀ + √(1 − ᾱ)·ε = {:.2}·x₀ + {:.2}·ε with ᾱ = {:.3}; each column draws a new ε ~ N(0, I)",
                ab.sqrt(),
                (1.0 - ab).sqrt(),
                ab
            ))
            .grid(grid)
            .push(Panel::ColorBar(ColorBar { scale, label: "ε per pixel (clipped at ±3):".into() }))
            .note("The randomness is all in ε; the weights √ᾱ and √(1 − ᾱ) are fixed by the schedule.")
            .save_png(path)
    }

    /// `schedules.png`: linear vs cosine ᾱₜ, with the digit's strip under each.
    pub fn schedules_png(&self, path: &Path) -> Result<(u32, u32)> {
        let t_total = self.cfg.timesteps;
        let mut kinds = vec![BetaSchedule::Linear, BetaSchedule::SquaredcosCapV2];
        if !kinds.contains(&self.cfg.schedule) {
            kinds.push(self.cfg.schedule);
        }
        let scheds: Vec<NoiseSchedule> = kinds
            .iter()
            .map(|&k| NoiseSchedule::new(t_total, k, self.cfg.beta_start, self.cfg.beta_end))
            .collect::<Result<_>>()?;
        let mut plot = LinePlot::new("timestep t", "signal weight ᾱₜ")
            .ref_line(RefLine::horizontal(0.5, "50%"))
            .x_range(0.0, (t_total - 1) as f64)
            .y_range(0.0, 1.0)
            .y_percent()
            .legend(LegendPos::UpperRight);
        for (i, (k, s)) in kinds.iter().zip(&scheds).enumerate() {
            let pts = s
                .alphas_cumprod_f64()
                .iter()
                .enumerate()
                .map(|(t, &a)| (t as f64, a))
                .collect();
            plot =
                plot.series(Series::new(describe(*k, self.cfg), pts).color(style::series_color(i)));
        }
        let mut fig = Figure::new()
            .title(if kinds.len() > 2 {
                format!(
                    "Linear vs cosine schedule, and the {} one you chose",
                    short_name(self.cfg.schedule)
                )
            } else {
                "Linear vs cosine schedule".to_string()
            })
            .subtitle(compare_text(&scheds[0], &scheds[1], t_total))
            .plot_h(plot, 360);
        for (i, (k, s)) in kinds.iter().zip(&scheds).enumerate() {
            let name = describe(*k, self.cfg);
            let swatch = LegendEntry::new(KeyShape::Line, style::series_color(i), name);
            fig = fig
                .push(Panel::Legend(vec![swatch]))
                .grid(self.strip(s, 84, false));
        }
        fig.legend(border_legend()).save_png(path)
    }

    /// `forward.gif`: the digit from t = 0 to T − 1, about 3 s, looping.
    pub fn forward_gif(&self, path: &Path) -> Result<(u32, u32)> {
        let t_total = self.cfg.timesteps;
        let step = t_total.div_ceil(56).max(1);
        let mut ts: Vec<usize> = (0..t_total).step_by(step).collect();
        if *ts.last().expect("T ≥ 2") != t_total - 1 {
            ts.push(t_total - 1);
        }
        let frames: Vec<GifFrame> = ts
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let hold = i == 0 || i + 1 == ts.len();
                GifFrame {
                    canvas: self.gif_frame(t),
                    delay_cs: if hold { 40 } else { 4 },
                }
            })
            .collect();
        viz::write_gif(path, &frames)?;
        Ok((frames[0].canvas.width(), frames[0].canvas.height()))
    }

    fn gif_frame(&self, t: usize) -> Canvas {
        const SCALE: u32 = 10;
        let (w, h) = (360u32, 430u32);
        let mut c = Canvas::filled(w, h, RGBColor(255, 255, 255));
        let gray = RGBColor(40, 40, 40);
        let ab = self.sched.alpha_bar(t);
        let side = IMAGE_SIZE as u32 * SCALE;
        let x = (w - side) as i32 / 2;
        c.text(
            &format!("t = {t}  (T = {})", self.cfg.timesteps),
            w as i32 / 2,
            16,
            &style::bold(22.0, gray),
            Align::Center,
        );
        let pic = picture(&noised(self.sched, &self.digit.x0, self.eps, t));
        c.frame(Rect::new(x, 58, side, side), noise_color(1.0 - ab), 6);
        c.blit(&pic, x, 58, SCALE);
        let cap = format!("signal {} · noise {}", pct(ab), pct(1.0 - ab));
        c.text(
            &cap,
            w as i32 / 2,
            58 + side as i32 + 16,
            &style::text(18.0, gray),
            Align::Center,
        );
        let bar = Rect::new(x, h as i32 - 22, side, 8);
        c.fill_rect(bar, RGBColor(225, 225, 225));
        let done = ((t + 1) as f64 / self.cfg.timesteps as f64 * side as f64).round() as u32;
        c.fill_rect(Rect::new(x, bar.y, done, 8), noise_color(1.0 - ab));
        c
    }
}

/// What the linear-vs-cosine comparison shows, in numbers (it depends on T and the betas, so it
/// is computed rather than asserted).
fn compare_text(linear: &NoiseSchedule, cosine: &NoiseSchedule, t_total: usize) -> String {
    let (mid, last) = (t_total / 2, t_total - 1);
    let (lm, cm) = (linear.alpha_bar(mid), cosine.alpha_bar(mid));
    let (ll, cl) = (linear.alpha_bar(last), cosine.alpha_bar(last));
    let first = format!(
        "Signal left at t = {mid}: linear {}, cosine {}. At the last step t = {last}: linear {}, cosine {}.",
        pct(lm),
        pct(cm),
        pct(ll),
        pct(cl)
    );
    let second = if ll > 0.01 {
        format!("With T = {t_total}, these linear betas never reach pure noise: the noisiest image still holds part of the digit (so difflab starts sampling from noise matched to it, Module 3). The cosine schedule ends at ᾱ ≈ 0 for any T.")
    } else if cm > lm {
        "The cosine schedule keeps more of the digit through the middle steps and loses it gently at the end.".to_string()
    } else {
        "Both end in pure noise; compare how fast each loses the digit in the middle steps."
            .to_string()
    };
    format!("{first}\n{second}")
}

/// `n` in subscript digits (x₁₀₀).
fn subscript(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// A background-coloured square (an empty grid cell).
fn blank(side: u32) -> Picture {
    let b = style::BACKGROUND;
    Picture::from_rgb8(side, side, [b.0, b.1, b.2].repeat((side * side) as usize))
        .expect("size matches")
}

/// The points of `ys` (x = index) with values above `cap` cut off; the curve enters the chart
/// at the interpolated point where it crosses `cap`.
fn clip_top(ys: &[f64], cap: f64) -> Vec<(f64, f64)> {
    let mut pts = Vec::with_capacity(ys.len() + 1);
    for (i, &y) in ys.iter().enumerate() {
        if y <= cap {
            if i > 0 && ys[i - 1] > cap {
                let prev = ys[i - 1];
                let f = (prev - cap) / (prev - y);
                pts.push((i as f64 - 1.0 + f, cap));
            }
            pts.push((i as f64, y));
        }
    }
    pts
}
