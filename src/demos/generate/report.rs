//! What `run_generate` returns, and the text `difflab sample` prints.

use super::GenerateSummary;
use crate::console::sampler_text;
use crate::console::thousands;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What a run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateReport {
    /// The summary (also in `summary.json`).
    pub summary: GenerateSummary,
    /// The figures, the animation and `summary.json`, in the order written.
    pub paths: Vec<PathBuf>,
    /// Every sample's PNG, `samples/0000.png` first.
    pub sample_paths: Vec<PathBuf>,
}

fn digits_text(d: &[u8]) -> String {
    let contiguous = d.windows(2).all(|w| w[1] == w[0] + 1);
    match (d.first(), d.last()) {
        (Some(a), Some(b)) if d.len() > 2 && contiguous => format!("{a}–{b}"),
        _ => d
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

impl GenerateReport {
    /// The short readable summary printed by `difflab sample`: what was made and how long
    /// each part took.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let m = &s.model;
        let mut o = String::new();
        let _ = writeln!(o, "Module 3 · generating digits from pure noise");
        let _ = writeln!(
            o,
            "  model     {} ({} U-Net, {} parameters, {} weights, digits {}, {}×{}, T = {})",
            m.name,
            m.arch,
            thousands(m.params),
            if m.weights == "ema" { "EMA" } else { "trained" },
            digits_text(&m.digits),
            m.image_size,
            m.image_size,
            m.num_train_timesteps
        );
        let sampler = crate::schedulers::SamplerKind::parse(&s.sampler)
            .map(|k| sampler_text(k, s.steps, m.num_train_timesteps, s.eta))
            .unwrap_or_else(|_| s.sampler.clone());
        let _ = writeln!(
            o,
            "  sampler   {sampler} (t = {} … {}), seed {}",
            s.timesteps[0], s.timesteps[1], s.seed
        );
        let _ = writeln!(
            o,
            "  speed     {} images in {:.2} s = {:.1} images/s on {} threads",
            s.images_generated, s.sampling_seconds, s.images_per_second, s.threads
        );
        let _ = writeln!(o, "  time:");
        let w = s
            .timings
            .iter()
            .map(|t| t.part.chars().count())
            .max()
            .unwrap_or(0);
        for t in &s.timings {
            let pad = w - t.part.chars().count();
            let _ = writeln!(o, "    {}{}  {:>7.2} s", t.part, " ".repeat(pad), t.seconds);
        }
        let total = "total";
        let _ = writeln!(
            o,
            "    {total}{}  {:>7.2} s",
            " ".repeat(w.saturating_sub(total.len())),
            s.wall_seconds
        );
        let _ = writeln!(o, "  steps.png wall times (4 images each):");
        for r in &s.steps_comparison {
            let _ = writeln!(
                o,
                "    {:<5} {:>4} steps  {:>6.2} s",
                r.sampler.to_uppercase(),
                r.steps,
                r.seconds
            );
        }
        let _ = writeln!(o, "  wrote:");
        for p in &self.paths {
            let _ = writeln!(o, "    {}", p.display());
        }
        match (self.sample_paths.first(), self.sample_paths.last()) {
            (Some(a), Some(b)) if self.sample_paths.len() > 1 => {
                let _ = writeln!(
                    o,
                    "    {} … {} ({} samples at {}×{})",
                    a.display(),
                    b.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    self.sample_paths.len(),
                    m.image_size,
                    m.image_size
                );
            }
            (Some(a), _) => {
                let _ = writeln!(
                    o,
                    "    {} (1 sample at {}×{})",
                    a.display(),
                    m.image_size,
                    m.image_size
                );
            }
            _ => {}
        }
        o
    }
}
