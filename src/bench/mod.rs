//! `difflab bench`: how fast the compute core runs on this machine.
//!
//! The report always holds the machine's sgemm GFLOP/s (the ceiling) and the GFLOP/s of the
//! conv2d kernels on the lab model's layer shapes. Other measurements (a training step,
//! sampling, ...) plug in as [`Section`]s: add one to [`sections`] and its keys appear in the
//! table and in the `--json` object.

pub mod cifar;
pub mod conv;
pub mod lab_unet;
pub mod toy;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};

pub use conv::{lab_conv_cases, sgemm_gflops, time_conv, ConvCase, ConvResult, Pass};

/// What to measure and how often.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Untimed calls before timing each workload.
    pub warmup: usize,
    /// Timed calls per workload (the median is reported).
    pub runs: usize,
    /// Batch size of the conv workloads (the lab trains at 128).
    pub batch: usize,
    /// Side of the square sgemm product.
    pub sgemm_size: usize,
    /// Only the measurements whose name contains one of these (all when empty): `sgemm`,
    /// `conv`, a section's name, or part of a conv workload's `"<layer> <pass>"` such as
    /// `8x8 192->64 forward`.
    pub only: Vec<String>,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup: 3,
            runs: 10,
            batch: 128,
            sgemm_size: 2048,
            only: Vec::new(),
            progress: true,
        }
    }
}

impl BenchOptions {
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
    /// A progress bar over `len` steps (hidden when progress is off).
    pub fn bar(&self, len: usize, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64);
        let style =
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar
    }
}

/// An extra measurement: `run` returns the keys it adds to the report (e.g. `train_step_ms`).
pub struct Section {
    /// Short name, used by `--only`.
    pub name: &'static str,
    /// Measures and returns `key → value` pairs; numbers print in the table as they are.
    pub run: fn(&BenchOptions) -> crate::Result<Map<String, Value>>,
}

/// The extra measurements beyond sgemm and conv. Extension point: append a [`Section`] here.
pub fn sections() -> Vec<Section> {
    vec![
        lab_unet::train_section(),
        lab_unet::forward_section(),
        toy::train_section(),
        toy::sample_section(),
        cifar::section(),
    ]
}

/// Everything one `difflab bench` measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// GFLOP/s of a large square sgemm on all threads (absent when not measured).
    pub sgemm_gflops: Option<f64>,
    /// Threads the measurements ran on.
    pub threads: usize,
    /// The conv kernels, per layer and pass.
    pub conv: Vec<ConvResult>,
    /// Keys added by [`sections`], in the order they were produced.
    pub extra: Map<String, Value>,
}

/// Runs the measurements selected by `opts`.
pub fn run(opts: &BenchOptions) -> crate::Result<Report> {
    let mut report = Report {
        threads: rayon::current_num_threads(),
        ..Report::default()
    };
    if opts.wants("sgemm") {
        let bar = opts.bar(opts.runs, "sgemm");
        bar.set_message(format!("{0}x{0}x{0}", opts.sgemm_size));
        report.sgemm_gflops = Some(sgemm_gflops(
            opts.sgemm_size,
            opts.warmup,
            opts.runs,
            || bar.inc(1),
        ));
        bar.finish_and_clear();
    }
    // A conv workload runs when `--only` is empty, names `conv`, or matches "<layer> <pass>".
    let jobs: Vec<(ConvCase, Pass)> = lab_conv_cases(opts.batch)
        .into_iter()
        .flat_map(|case| Pass::ALL.map(|pass| (case, pass)))
        .filter(|(case, pass)| {
            opts.wants("conv") || opts.wants(&format!("{} {}", case.label(), pass.name()))
        })
        .collect();
    if !jobs.is_empty() {
        let bar = opts.bar(jobs.len() * opts.runs, "conv2d");
        for (case, pass) in &jobs {
            bar.set_message(format!("{} {}", case.label(), pass.name()));
            report
                .conv
                .push(time_conv(case, *pass, opts.warmup, opts.runs, || {
                    bar.inc(1)
                }));
        }
        bar.finish_and_clear();
    }
    for section in sections() {
        if opts.wants(section.name) {
            report.extra.extend((section.run)(opts)?);
        }
    }
    Ok(report)
}

impl Report {
    /// The report as one JSON object: `sgemm_gflops`, `threads`, `conv` (a list of
    /// `{layer, pass, ms, gflops}`) and every section's keys.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(g) = self.sgemm_gflops {
            m.insert("sgemm_gflops".into(), round(g, 2));
        }
        m.insert("threads".into(), self.threads.into());
        let conv = self
            .conv
            .iter()
            .map(|r| {
                serde_json::json!({
                    "layer": r.layer,
                    "pass": r.pass.name(),
                    "ms": round(r.ms, 4),
                    "gflops": round(r.gflops, 2),
                    "best_gflops": round(r.best_gflops, 2),
                })
            })
            .collect();
        m.insert("conv".into(), Value::Array(conv));
        m.extend(self.extra.clone());
        Value::Object(m)
    }

    /// The report as a human-readable table (GFLOP/s and % of the sgemm ceiling).
    pub fn to_table(&self) -> String {
        let mut s = format!("threads: {}\n", self.threads);
        if let Some(g) = self.sgemm_gflops {
            s += &format!("sgemm ceiling: {g:.1} GFLOP/s\n");
        }
        if !self.conv.is_empty() {
            s += &format!(
                "\n{:<22}{:>16}{:>10}{:>10}{:>8}{:>10}\n",
                "conv2d layer", "pass", "ms", "GFLOP/s", "%sgemm", "best"
            );
            for r in &self.conv {
                let pct = self
                    .sgemm_gflops
                    .map(|g| format!("{:.0}%", 100.0 * r.gflops / g))
                    .unwrap_or_default();
                s += &format!(
                    "{:<22}{:>16}{:>10.2}{:>10.1}{pct:>8}{:>10.1}\n",
                    r.layer,
                    r.pass.name(),
                    r.ms,
                    r.gflops,
                    r.best_gflops
                );
            }
            s += "(ms and GFLOP/s: median run; best: fastest run)\n";
        }
        if !self.extra.is_empty() {
            s += "\n";
            for (k, v) in &self.extra {
                s += &format!("{k}: {v}\n");
            }
        }
        s
    }
}

fn round(v: f64, digits: i32) -> Value {
    let p = 10f64.powi(digits);
    serde_json::Number::from_f64((v * p).round() / p)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_agreed_keys() {
        let opts = BenchOptions {
            warmup: 0,
            runs: 1,
            batch: 1,
            sgemm_size: 16,
            only: vec!["sgemm".into(), "conv".into()],
            progress: false,
        };
        let r = run(&opts).unwrap();
        let j = r.to_json();
        assert!(j["sgemm_gflops"].as_f64().unwrap() > 0.0);
        let conv = j["conv"].as_array().unwrap();
        assert_eq!(conv.len(), 8 * 3);
        assert_eq!(conv[0]["layer"], "16x16 65->32");
        assert_eq!(conv[0]["pass"], "forward");
        assert!(conv.iter().all(|c| c["gflops"].as_f64().unwrap() > 0.0));
        assert!(r.to_table().contains("8x8 192->64"));
    }
}
