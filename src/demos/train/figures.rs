//! The figures `difflab train` writes at the end, in the shared `viz` style: the loss curve,
//! the denoiser at work on one training digit, the first layer's filters, and a preview of
//! generated digits.

use crate::console::StepBars;
use crate::data::digits::LabeledDigits;
use crate::diffusion::NoiseSchedule;
use crate::diffusion::StartNoise;
use crate::models::NoisePredictor;
use crate::models::{Arch, Denoiser};
use crate::nn::Tensor;
use crate::train::preview::{ddpm_sample_with_progress, PreviewRun};
use crate::train::settings::{LrSchedule, TrainSettings};
use crate::util::rng::Rng;
use crate::viz::{
    max_abs, style, Annotation, ColorBar, Figure, ImageGrid, LegendPos, LinePlot, Panel, Picture,
    Series, Tile,
};
use crate::Result;
use std::path::Path;

/// The timesteps of `denoising.png` for T = 200, scaled to other T.
pub const DENOISING_T: [usize; 4] = [25, 50, 100, 150];

/// Samples in `preview.png`.
pub const PREVIEW_COUNT: usize = 16;

/// Exponential smoothing with bias correction (as TensorBoard's), `span` steps.
pub fn smooth(v: &[f32], span: usize) -> Vec<f64> {
    let a = 2.0 / (span.max(1) as f64 + 1.0);
    let (mut m, mut w) = (0.0f64, 0.0f64);
    v.iter()
        .map(|&x| {
            m = (1.0 - a) * m + a * x as f64;
            w = (1.0 - a) * w + a;
            m / w
        })
        .collect()
}

fn describe_run(s: &TrainSettings) -> String {
    let t = &s.training;
    let ema = t
        .ema_decay
        .map_or("no EMA".to_string(), |d| format!("EMA {d}"));
    format!(
        "{} U-Net · batch {} · Adam {} ({}) · {ema}",
        s.model.arch().name(),
        t.batch_size,
        t.lr,
        lr_name(s)
    )
}

fn lr_name(s: &TrainSettings) -> &'static str {
    match s.training.lr_schedule {
        LrSchedule::Constant => "constant",
        LrSchedule::Cosine { .. } => "cosine",
    }
}

/// `loss.png`: the loss of every step (faint), smoothed, and each epoch's mean, on a linear and
/// a log scale, with the final epoch's mean marked.
pub fn loss_png(
    path: &Path,
    steps: &[f32],
    epochs: &[f32],
    steps_per_epoch: usize,
    s: &TrainSettings,
) -> Result<(u32, u32)> {
    let raw: Vec<(f64, f64)> = steps
        .iter()
        .enumerate()
        .map(|(i, &l)| ((i + 1) as f64, l as f64))
        .collect();
    let span = (steps_per_epoch / 4).clamp(10, 100);
    let sm: Vec<(f64, f64)> = smooth(steps, span)
        .into_iter()
        .enumerate()
        .map(|(i, l)| ((i + 1) as f64, l))
        .collect();
    let ep: Vec<(f64, f64)> = epochs
        .iter()
        .enumerate()
        .map(|(e, &l)| (((e + 1) * steps_per_epoch) as f64, l as f64))
        .collect();
    let final_loss = epochs.last().copied().unwrap_or(f32::NAN) as f64;
    let x_max = steps.len().max(1) as f64;
    let plot = |log: bool| {
        let mut p = LinePlot::new(
            "training step",
            if log {
                "MSE loss (log scale)"
            } else {
                "MSE loss"
            },
        )
        .title(if log { "log scale" } else { "linear scale" })
        .series(
            Series::new("every step", raw.clone())
                .color(style::lighten(style::SIGNAL, 0.65))
                .width(1),
        )
        .series(
            Series::new(format!("smoothed ({span} steps)"), sm.clone())
                .color(style::SIGNAL)
                .width(2),
        )
        .series(
            Series::new("epoch mean", ep.clone())
                .color(style::NOISE)
                .markers(),
        )
        .x_range(0.0, x_max)
        .legend(LegendPos::UpperRight);
        if let Some(&(x, y)) = ep.last() {
            p = p.annotate(
                Annotation::new(x, y, format!("final {final_loss:.4}"))
                    .color(style::NOISE)
                    .left()
                    .offset(-10, -26),
            );
        }
        if log {
            p = p.y_log();
        } else {
            // The first steps (loss ≈ 1) would flatten the rest: start the axis at 0, cap at the
            // 2nd percentile step's loss above the final epoch's.
            let mut sorted: Vec<f32> = steps.to_vec();
            sorted.sort_by(f32::total_cmp);
            let hi = sorted.get(sorted.len() * 98 / 100).copied().unwrap_or(1.0) as f64;
            p = p.y_range(0.0, (hi * 1.1).max(final_loss * 1.5).max(1e-3));
        }
        p
    };
    Figure::new()
        .title("Training loss: how well the model predicts the noise")
        .subtitle(format!("{} · {} steps · final epoch mean {final_loss:.4}", describe_run(s), steps.len()))
        .push(Panel::Row(vec![Panel::Plot(plot(false), 380), Panel::Plot(plot(true), 380)]))
        .note("Loss = mean squared error between the predicted and the actual noise ε (1.0 = predicting nothing).")
        .save_png(path)
}

/// The timesteps of `denoising.png` for a schedule of `t_total` steps.
pub fn denoising_timesteps(t_total: usize) -> Vec<usize> {
    let mut v: Vec<usize> = DENOISING_T
        .iter()
        .map(|&t| ((t * t_total) as f64 / 200.0).round() as usize)
        .map(|t| t.clamp(1, t_total - 1))
        .collect();
    v.dedup();
    v
}

/// `denoising.png`: one training digit at four noise levels: original, noisy, the actual noise,
/// the model's predicted noise (same diverging scale), and the one-step denoised estimate
/// x̂₀ = (xₜ − √(1 − ᾱₜ)·ε̂)/√ᾱₜ. A v-prediction model's output (`v`) is turned into its
/// ε̂ = √ᾱ·v + √(1−ᾱ)·xₜ first.
pub fn denoising_png(
    path: &Path,
    model: &mut dyn NoisePredictor,
    data: &LabeledDigits,
    sched: &NoiseSchedule,
    v: bool,
    seed: u64,
) -> Result<(u32, u32)> {
    let size = data.size;
    let px = size * size;
    let x0 = data.image(0).to_vec();
    let ts = denoising_timesteps(sched.num_train_timesteps());
    let n = ts.len();
    let eps = Rng::stream(seed, 7).normal_vec(n * px);
    let mut xt = vec![0.0; n * px];
    let x0s: Vec<f32> = x0.iter().cycle().take(n * px).copied().collect();
    sched.add_noise(&x0s, &eps, &ts, &mut xt)?;
    let tf: Vec<f32> = ts.iter().map(|&t| t as f32).collect();
    let out = model.predict(&Tensor::new(vec![n, size, size, 1], xt.clone())?, &tf)?;
    let mut pred = out.data().to_vec();
    if v {
        for (k, &t) in ts.iter().enumerate() {
            let ab = sched.alpha_bar(t);
            let (sa, sb) = (ab.sqrt() as f32, (1.0 - ab).sqrt() as f32);
            for (p, &x) in pred[k * px..(k + 1) * px].iter_mut().zip(&xt[k * px..]) {
                *p = sa * *p + sb * x;
            }
        }
    }
    let pred = &pred[..];
    // ±3 standard deviations of the noise; rarer values saturate.
    let scale = 3.0;
    let side = size as u32;
    let pic = |v: &[f32]| Picture::gray_model(side, side, v).expect("image-sized");
    let sig = |v: &[f32]| Picture::signed(side, side, v, scale).expect("image-sized");
    let mut tiles = Vec::new();
    for (k, &t) in ts.iter().enumerate() {
        let r = k * px..(k + 1) * px;
        let ab = sched.alpha_bar(t);
        let (sa, sb) = (ab.sqrt() as f32, (1.0 - ab).sqrt() as f32);
        let x0_hat: Vec<f32> = xt[r.clone()]
            .iter()
            .zip(&pred[r.clone()])
            .map(|(&x, &e)| (x - sb * e) / sa)
            .collect();
        let mse = eps[r.clone()]
            .iter()
            .zip(&pred[r.clone()])
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            / px as f32;
        tiles.push(Tile::new(pic(&x0)));
        tiles.push(Tile::new(pic(&xt[r.clone()])).caption(format!("signal ᾱ = {ab:.2}")));
        tiles.push(Tile::new(sig(&eps[r.clone()])));
        tiles.push(Tile::new(sig(&pred[r.clone()])).caption(format!("MSE {mse:.3}")));
        tiles.push(Tile::new(pic(&x0_hat)));
    }
    let grid = ImageGrid::new(5)
        .tiles(tiles)
        .tile_px(112)
        .col_labels(vec![
            "original".into(),
            "noisy xₜ".into(),
            "actual noise ε".into(),
            "predicted ε̂".into(),
            "denoised x̂₀".into(),
        ])
        .row_labels(ts.iter().map(|t| format!("t = {t}")).collect());
    Figure::new()
        .title("The trained denoiser at work on one training digit")
        .subtitle("xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε; the model sees xₜ and t and predicts ε̂; x̂₀ = (xₜ − √(1 − ᾱₜ)·ε̂) / √ᾱₜ")
        .grid(grid)
        .push(Panel::ColorBar(ColorBar { scale, label: "noise per pixel, ε and ε̂ alike (clipped at ±3):".into() }))
        .note("One step from xₜ straight to x̂₀ is blurry at high t: sampling takes many small steps instead.")
        .save_png(path)
}

/// `filters.png`: the first convolution's 3×3 filters on the image channel, one diverging scale.
pub fn filters_png(path: &Path, model: &Denoiser) -> Result<(u32, u32)> {
    let (w, cout) = model.first_filters();
    let scale = max_abs([&w[..]]);
    let tiles = (0..cout).map(|co| {
        let f: Vec<f32> = (0..9).map(|tap| w[tap * cout + co]).collect();
        Tile::new(Picture::signed(3, 3, &f, scale).expect("3×3")).caption(format!("{}", co + 1))
    });
    let what = match model.config().arch() {
        Arch::Toy => "the toy U-Net's first layer sees only the image",
        Arch::Lab => "the lab U-Net's 64 time-embedding channels not shown",
    };
    Figure::new()
        .title(format!("The first layer's {cout} filters on the image"))
        .subtitle(format!("3×3 weights of enc1.conv1 for the image channel; {what}"))
        .grid(ImageGrid::new(cout.min(8)).tiles(tiles).tile_px(84).gap(12))
        .push(Panel::ColorBar(ColorBar { scale, label: "weight (red +, blue −):".into() }))
        .note("Edge and stroke detectors appear as opposite-signed neighbours; flat filters measure brightness.")
        .save_png(path)
}

/// `preview.png`: [`PREVIEW_COUNT`] digits generated with every DDPM step from the trained model.
pub fn preview_png(
    path: &Path,
    model: &mut dyn NoisePredictor,
    s: &TrainSettings,
    start: StartNoise,
    progress: bool,
) -> Result<(u32, u32)> {
    let size = s.data.image_size;
    let run = PreviewRun {
        n: PREVIEW_COUNT,
        shape: [size, size, 1],
        seed: s.training.seed,
        start,
    };
    let x = ddpm_sample_with_progress(model, &s.schedule, &run, &mut StepBars::new(progress))?;
    let side = size as u32;
    let px = size * size;
    let tiles = x
        .data()
        .chunks_exact(px)
        .map(|v| Tile::new(Picture::gray_model(side, side, v).expect("image-sized")));
    let weights = if s.training.ema_decay.is_some() {
        "EMA weights"
    } else {
        "final weights"
    };
    Figure::new()
        .title(format!("{PREVIEW_COUNT} digits generated from noise"))
        .subtitle(format!("{} · DDPM, all {} steps · {weights} · seed {}", describe_run(s), s.schedule.num_train_timesteps, s.training.seed))
        .grid(ImageGrid::new(8).tiles(tiles).tile_px(96).gap(8))
        .note("Each starts as random noise; the model removes a little predicted noise at every step.")
        .save_png(path)
}
