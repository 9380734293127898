//! Presenting evaluations: the terminal tables, the JSON files, and `quality_vs_steps.png`.

use super::run::{EvalReport, SweepReport};
use crate::util::fsio::write_atomic;
use crate::viz::{style, Figure, LegendPos, LinePlot, Panel, RefLine, Series};
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;

/// The file an evaluation is written to (by `difflab eval` and the lab).
pub const EVAL_FILE: &str = "eval.json";

impl EvalReport {
    /// Write the report to `path` (usually `…/`[`EVAL_FILE`]) as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// Write `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(format!("could not encode {}: {e}", path.display())))?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// `"digits 0-3"`, `"digit 7"` or `"digits 0, 3, 7"`.
fn describe_digits(d: &[u8]) -> String {
    let consecutive = d.windows(2).all(|w| w[1] == w[0] + 1);
    match d {
        [one] => format!("digit {one}"),
        [first, .., last] if consecutive => format!("digits {first}-{last}"),
        _ => format!(
            "digits {}",
            d.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

impl EvalReport {
    /// The table printed by `difflab eval`: generated digits beside real ones (the floor).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let g = &self.generated;
        let f = &self.floor;
        let _ = writeln!(
            s,
            "{} digits from {} ({}×{}, {}) with {} in {} of {} steps, seed {}",
            g.count,
            self.model,
            self.image_size,
            self.image_size,
            describe_digits(&self.digits),
            self.sampler.to_uppercase(),
            self.steps,
            self.num_train_timesteps,
            self.seed
        );
        let _ = writeln!(s, "  {:<34} {:>10} {:>14}", "", "generated", "real digits");
        let row = |s: &mut String, label: String, a: String, b: String| {
            let _ = writeln!(s, "  {label:<34} {a:>10} {b:>14}");
        };
        row(
            &mut s,
            format!("recognised (top p ≥ {})", self.confidence_threshold),
            pct(g.recognised),
            pct(f.recognised),
        );
        row(
            &mut s,
            format!("in classes ({})", describe_digits(&self.digits)),
            pct(g.in_classes),
            pct(f.in_classes),
        );
        row(
            &mut s,
            format!("FID vs {} MNIST test digits", self.reference_count),
            format!("{:.2}", g.fid),
            format!("{:.2} (floor)", f.fid),
        );
        let _ = writeln!(s, "  classified as:");
        let _ = write!(s, "    {:<10}", "digit");
        for d in 0..g.class_histogram.len() {
            let _ = write!(s, "{d:>6}");
        }
        for (label, h) in [
            ("generated", &g.class_histogram),
            ("real", &f.class_histogram),
        ] {
            let _ = write!(s, "\n    {label:<10}");
            for v in h {
                let _ = write!(s, "{v:>6}");
            }
        }
        let _ = writeln!(
            s,
            "\n  generated in {:.1} s ({:.1} digits/s), scored in {:.2} s; classifier test accuracy {}",
            self.sample_seconds,
            self.images_per_second,
            self.score_seconds,
            pct(self.classifier.test_accuracy)
        );
        s
    }
}

impl SweepReport {
    /// One line per sampler and step count.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  {:<9} {:>6} {:>9} {:>11} {:>11} {:>9}",
            "sampler", "steps", "FID", "recognised", "in classes", "time"
        );
        for r in &self.runs {
            let g = &r.generated;
            let _ = writeln!(
                s,
                "  {:<9} {:>6} {:>9.2} {:>11} {:>11} {:>8.1}s",
                r.sampler,
                r.steps,
                g.fid,
                pct(g.recognised),
                pct(g.in_classes),
                r.sample_seconds
            );
        }
        let _ = writeln!(
            s,
            "  {:<9} {:>6} {:>9.2} {:>11} {:>11}",
            "real",
            "-",
            self.floor.fid,
            pct(self.floor.recognised),
            pct(self.floor.in_classes)
        );
        for k in &self.skipped {
            let _ = writeln!(s, "  {:<9} skipped: {}", k.sampler, k.reason);
        }
        s
    }

    /// `quality_vs_steps.png`: FID (with the floor) and wall time against the number of
    /// steps, one line per sampler.
    pub fn plot_png(&self, path: &Path) -> Result<(u32, u32)> {
        let first = self
            .runs
            .first()
            .ok_or_else(|| Error::invalid("an empty sweep has nothing to plot"))?;
        let samplers: Vec<&str> = {
            let mut v: Vec<&str> = self.runs.iter().map(|r| r.sampler.as_str()).collect();
            v.dedup();
            v
        };
        let points = |s: &str, f: &dyn Fn(&EvalReport) -> f64| -> Vec<(f64, f64)> {
            self.runs
                .iter()
                .filter(|r| r.sampler == s)
                .map(|r| (r.steps as f64, f(r)))
                .collect()
        };
        let max_steps = self.runs.iter().map(|r| r.steps).max().unwrap_or(1) as f64;
        let mut fid = LinePlot::new("sampling steps", "FID (lower is better, log scale)")
            .title("Quality")
            .y_log()
            .legend(LegendPos::UpperRight)
            .x_range(0.0, max_steps * 1.03);
        let mut time = LinePlot::new("sampling steps", "wall time (s)")
            .title("Cost")
            .legend(LegendPos::UpperLeft)
            .x_range(0.0, max_steps * 1.03);
        for (i, s) in samplers.iter().enumerate() {
            let color = style::series_color(i);
            fid = fid.series(
                Series::new(s.to_uppercase(), points(s, &|r| r.generated.fid))
                    .color(color)
                    .markers(),
            );
            time = time.series(
                Series::new(s.to_uppercase(), points(s, &|r| r.sample_seconds))
                    .color(color)
                    .markers(),
            );
        }
        let max_fid = self
            .runs
            .iter()
            .map(|r| r.generated.fid)
            .fold(self.floor.fid, f64::max);
        let min_fid = self
            .runs
            .iter()
            .map(|r| r.generated.fid)
            .fold(f64::INFINITY, f64::min);
        fid = fid
            .ref_line(RefLine::horizontal(
                self.floor.fid,
                format!("real digits {:.2}", self.floor.fid),
            ))
            .y_range(self.floor.fid.min(min_fid) * 0.8, max_fid * 3.0);
        let max_time = self
            .runs
            .iter()
            .map(|r| r.sample_seconds)
            .fold(0.0, f64::max);
        time = time.y_range(0.0, max_time * 1.08);
        Figure::new()
            .title(format!(
                "Sample quality against sampling steps: {}",
                samplers
                    .iter()
                    .map(|s| s.to_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .subtitle(format!(
                "{} · {} digits per point, seed {} · FID in the MNIST classifier's features against {} test digits",
                self.model, first.generated.count, first.seed, first.reference_count
            ))
            .push(Panel::Row(vec![Panel::Plot(fid, 400), Panel::Plot(time, 400)]))
            .note(format!(
                "The dashed line is the floor: the FID of {} real training digits. Time is the generation's wall time on this machine.{}",
                self.floor.count,
                self.skipped
                    .iter()
                    .map(|k| format!("\n{} is left out: it cannot run this model.", k.sampler.to_uppercase()))
                    .collect::<String>()
            ))
            .save_png(path)
    }
}
