//! Module 1 of the lab, "watch a digit dissolve into noise": the forward process
//! x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε applied to one digit, with figures, an animation, and a summary.
//!
//! One ε (drawn from the seed) is used for the whole trajectory, so that from frame to frame
//! only the two weights change; `realizations.png` then shows five other draws of ε at T/2.
//! Shares are shares of variance: "signal" is ᾱ_t and "noise" is 1 − ᾱ_t (they add up to 1).

mod figures;

use crate::data::{load_gray_image, Mnist, PixelRange, Split};
use crate::diffusion::{BetaSchedule, NoiseSchedule};
use crate::util::fsio::{ensure_dir, write_atomic};
use crate::util::rng::Rng;
use crate::viz::{pct, FileInfo};
use crate::{Error, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// MNIST images are 28 × 28; so is a picture given with `--image`.
pub const IMAGE_SIZE: usize = 28;

/// Which image to noise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageChoice {
    /// The first training image of this digit (the default is 3).
    FirstOfDigit(u8),
    /// Training image number N.
    Index(usize),
    /// A PNG or JPEG file, converted to 28 × 28 grayscale.
    File(PathBuf),
}

/// Everything `difflab forward` needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardConfig {
    /// The image to noise.
    pub image: ImageChoice,
    /// The β schedule.
    pub schedule: BetaSchedule,
    /// T, the number of timesteps.
    pub timesteps: usize,
    /// First β (linear, scaled_linear, sigmoid).
    pub beta_start: f64,
    /// Last β (linear, scaled_linear, sigmoid).
    pub beta_end: f64,
    /// Seed of every noise draw.
    pub seed: u64,
    /// Output folder.
    pub out_dir: PathBuf,
    /// The `--mnist-dir` flag, if given.
    pub mnist_dir: Option<PathBuf>,
}

impl Default for ForwardConfig {
    /// The lab's defaults: the first "3", T = 200, linear β 1e-4 … 0.02, seed 42, `lab8-out/module1`.
    fn default() -> Self {
        ForwardConfig {
            image: ImageChoice::FirstOfDigit(3),
            schedule: BetaSchedule::Linear,
            timesteps: 200,
            beta_start: 1e-4,
            beta_end: 0.02,
            seed: 42,
            out_dir: PathBuf::from("lab8-out/module1"),
            mnist_dir: None,
        }
    }
}

/// The chosen image, as recorded in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageInfo {
    /// `"mnist-train"` or the path of the picture file.
    pub source: String,
    /// Index in the MNIST training set (`null` for a file).
    pub index: Option<usize>,
    /// Its digit (`null` for a file).
    pub label: Option<u8>,
}

/// The schedule, as recorded in `summary.json` (diffusers' field names).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduleInfo {
    /// diffusers' name: linear, scaled_linear, squaredcos_cap_v2, sigmoid.
    pub beta_schedule: String,
    /// T.
    pub num_train_timesteps: usize,
    /// First β (unused by the cosine schedule).
    pub beta_start: f64,
    /// Last β (unused by the cosine schedule).
    pub beta_end: f64,
}

/// ᾱ at one named timestep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlphaBarAt {
    /// Which point: "0", "T/4", "T/2", "3T/4", "T-1".
    pub at: String,
    /// The timestep (integer division: T/4 of 200 is 50).
    pub t: usize,
    /// ᾱ_t.
    pub alpha_bar: f64,
}

/// The share of signal and noise (of the variance of x_t) at one timestep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShareAt {
    /// The timestep.
    pub t: usize,
    /// ᾱ_t.
    pub signal: f64,
    /// 1 − ᾱ_t.
    pub noise: f64,
}

/// The content of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForwardSummary {
    /// The image noised.
    pub image: ImageInfo,
    /// The schedule.
    pub schedule: ScheduleInfo,
    /// The seed of the noise.
    pub seed: u64,
    /// ᾱ at t = 0, T/4, T/2, 3T/4, T−1.
    pub alpha_bar: Vec<AlphaBarAt>,
    /// The first t with SNR(t) < 1 (`null` if none).
    pub first_t_snr_below_1: Option<usize>,
    /// The first t with SNR(t) < 0.1 (`null` if none).
    pub first_t_snr_below_0_1: Option<usize>,
    /// Signal and noise shares at t = 3T/4.
    pub signal_share_at_3t_4: ShareAt,
    /// The figures and animation written, with their sizes.
    pub files: Vec<FileInfo>,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardReport {
    /// The summary (also in `summary.json`).
    pub summary: ForwardSummary,
    /// Every file written, `summary.json` last.
    pub paths: Vec<PathBuf>,
    /// A note about the input, e.g. that a light-background picture was inverted.
    pub notes: Vec<String>,
}

/// The digit to show, in model range, and where it came from.
pub(crate) struct Digit {
    pub x0: Vec<f32>,
    pub info: ImageInfo,
    pub caption: String,
}

fn load_digit(cfg: &ForwardConfig, notes: &mut Vec<String>) -> Result<Digit> {
    let mnist = || Mnist::load(Split::Train, cfg.mnist_dir.as_deref());
    let from_mnist = |m: &Mnist, i: usize| -> Result<Digit> {
        let x0 = m.image(i, PixelRange::Symmetric)?;
        let label = m.label(i);
        Ok(Digit {
            x0,
            info: ImageInfo {
                source: "mnist-train".into(),
                index: Some(i),
                label: Some(label),
            },
            caption: format!("MNIST training image #{i} (a {label})"),
        })
    };
    match &cfg.image {
        ImageChoice::FirstOfDigit(d) => {
            if *d > 9 {
                return Err(Error::invalid(format!("--digit {d} is not a digit 0-9")));
            }
            let m = mnist()?;
            let i = m.first_index_of(*d).ok_or_else(|| {
                Error::file(m.images_path(), format!("holds no image of the digit {d}"))
            })?;
            from_mnist(&m, i)
        }
        ImageChoice::Index(i) => from_mnist(&mnist()?, *i),
        ImageChoice::File(path) => {
            let g = load_gray_image(path, IMAGE_SIZE)?;
            if g.inverted {
                notes.push(format!(
                    "{} has a light background: inverted to white ink on black, as in MNIST",
                    path.display()
                ));
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Digit {
                x0: g
                    .pixels
                    .iter()
                    .map(|&v| PixelRange::Symmetric.from_unit(v))
                    .collect(),
                info: ImageInfo {
                    source: path.display().to_string(),
                    index: None,
                    label: None,
                },
                caption: format!(
                    "your image {name} ({}×{} → 28×28)",
                    g.original_size.0, g.original_size.1
                ),
            })
        }
    }
}

/// t = 0, T/8, 2T/8, …, 7T/8 (rounded) and T − 1: the timesteps shown in the strips
/// (0, 25, …, 175, 199 for T = 200), without duplicates for small T.
pub fn strip_timesteps(t_total: usize) -> Vec<usize> {
    let mut ts: Vec<usize> = (0..8).map(|k| (k * t_total + 4) / 8).collect();
    ts.push(t_total - 1);
    ts.dedup();
    ts
}

/// The named timesteps of the summary: 0, T/4, T/2, 3T/4, T − 1 (integer division).
pub fn summary_timesteps(t_total: usize) -> [(&'static str, usize); 5] {
    [
        ("0", 0),
        ("T/4", t_total / 4),
        ("T/2", t_total / 2),
        ("3T/4", 3 * t_total / 4),
        ("T-1", t_total - 1),
    ]
}

/// x_t for one image and one ε.
pub(crate) fn noised(sched: &NoiseSchedule, x0: &[f32], eps: &[f32], t: usize) -> Vec<f32> {
    let mut out = vec![0.0; x0.len()];
    sched
        .add_noise(x0, eps, &[t], &mut out)
        .expect("lengths match and t < T");
    out
}

/// Run Module 1: write the six figures/animation and `summary.json` into `cfg.out_dir`.
pub fn run_forward(cfg: &ForwardConfig) -> Result<ForwardReport> {
    if cfg.timesteps < 2 {
        return Err(Error::invalid(format!(
            "--timesteps {} is too small: use at least 2",
            cfg.timesteps
        )));
    }
    let sched = NoiseSchedule::new(cfg.timesteps, cfg.schedule, cfg.beta_start, cfg.beta_end)?;
    let mut notes = Vec::new();
    let digit = load_digit(cfg, &mut notes)?;
    ensure_dir(&cfg.out_dir)?;
    let eps = Rng::seeded(cfg.seed).normal_vec(digit.x0.len());
    let ctx = figures::Context {
        cfg,
        sched: &sched,
        digit: &digit,
        eps: &eps,
    };

    type Draw<'a> = &'a dyn Fn(&Path) -> Result<(u32, u32)>;
    let drawn: [(&str, Draw); 6] = [
        ("schedule.png", &|p| ctx.schedule_png(p)),
        ("noising.png", &|p| ctx.noising_png(p)),
        ("snr.png", &|p| ctx.snr_png(p)),
        ("realizations.png", &|p| ctx.realizations_png(p)),
        ("schedules.png", &|p| ctx.schedules_png(p)),
        ("forward.gif", &|p| ctx.forward_gif(p)),
    ];
    let mut files = Vec::new();
    let mut paths = Vec::new();
    for (name, draw) in drawn {
        let path = cfg.out_dir.join(name);
        files.push(FileInfo::new(name, draw(&path)?));
        paths.push(path);
    }

    let t_total = cfg.timesteps;
    let t34 = 3 * t_total / 4;
    let summary = ForwardSummary {
        image: digit.info.clone(),
        schedule: ScheduleInfo {
            beta_schedule: cfg.schedule.name().into(),
            num_train_timesteps: t_total,
            beta_start: cfg.beta_start,
            beta_end: cfg.beta_end,
        },
        seed: cfg.seed,
        alpha_bar: summary_timesteps(t_total)
            .iter()
            .map(|&(at, t)| AlphaBarAt {
                at: at.into(),
                t,
                alpha_bar: sched.alpha_bar(t),
            })
            .collect(),
        first_t_snr_below_1: sched.first_t_with_snr_below(1.0),
        first_t_snr_below_0_1: sched.first_t_with_snr_below(0.1),
        signal_share_at_3t_4: ShareAt {
            t: t34,
            signal: sched.alpha_bar(t34),
            noise: 1.0 - sched.alpha_bar(t34),
        },
        files,
    };
    let json_path = cfg.out_dir.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises");
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    paths.push(json_path);
    Ok(ForwardReport {
        summary,
        paths,
        notes,
    })
}

impl ForwardReport {
    /// The short readable summary printed by `difflab forward`.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Module 1 · forward diffusion: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε"
        );
        let img = match (s.image.index, s.image.label) {
            (Some(i), Some(l)) => format!("MNIST training image #{i} (label {l})"),
            _ => s.image.source.clone(),
        };
        let _ = writeln!(o, "  image     {img}");
        for n in &self.notes {
            let _ = writeln!(o, "            ({n})");
        }
        let sc = &s.schedule;
        let betas = if sc.beta_schedule == "squaredcos_cap_v2" {
            String::new()
        } else {
            format!(", β {} … {}", sc.beta_start, sc.beta_end)
        };
        let _ = writeln!(
            o,
            "  schedule  {}{betas}, T = {}, seed {}",
            sc.beta_schedule, sc.num_train_timesteps, s.seed
        );
        let _ = writeln!(
            o,
            "  signal weight ᾱ_t (share of x_t's variance that is still the digit):"
        );
        for a in &s.alpha_bar {
            let _ = writeln!(
                o,
                "    t = {:>4} ({:>4})  ᾱ = {:.4}  signal {:>5} · noise {:>5}",
                a.t,
                a.at,
                a.alpha_bar,
                pct(a.alpha_bar),
                pct(1.0 - a.alpha_bar)
            );
        }
        let min_snr = s
            .alpha_bar
            .last()
            .map(|a| a.alpha_bar / (1.0 - a.alpha_bar))
            .unwrap_or(0.0);
        let when = |v: Option<usize>| {
            v.map(|t| format!("t = {t}")).unwrap_or_else(|| {
                format!(
                    "none (the lowest SNR, at t = {}, is {min_snr:.3})",
                    s.schedule.num_train_timesteps - 1
                )
            })
        };
        let _ = writeln!(
            o,
            "  first t with SNR < 1 (noise outweighs the digit): {}",
            when(s.first_t_snr_below_1)
        );
        let _ = writeln!(
            o,
            "  first t with SNR < 0.1 (noise 10× the digit):     {}",
            when(s.first_t_snr_below_0_1)
        );
        let sh = &s.signal_share_at_3t_4;
        let _ = writeln!(
            o,
            "  at 3T/4 (t = {}) only {} of the signal is left",
            sh.t,
            pct(sh.signal)
        );
        let _ = writeln!(o, "  wrote:");
        for p in &self.paths {
            let _ = writeln!(o, "    {}", p.display());
        }
        o
    }
}
