//! `difflab lab`: the whole lab in one command. Runs Module 1 → 2 → 3, the quality evaluation,
//! the conditioning section ("From digits to DALL-E") and Module 4 with their defaults into one folder, then writes the report (`index.html`) and
//! the answer sheet ([`crate::report`]).
//!
//! Re-running reuses a stage whose outputs are finished (its `summary.json` or `eval.json`
//! exists and `lab.json` says it ran with the same `--fast` setting) unless `fresh` is set; a
//! stage reruns whenever one it depends on reran (the evaluation and Module 3 need Module 2's
//! model, Module 4's comparison figure needs Module 3's samples). Module 4 needs a downloaded
//! model: when it cannot be found or fetched the lab goes on, and the report says why and how
//! to run it later.

mod stages;

pub use crate::eval::EVAL_FILE;
pub use crate::report::record::{
    self as record, LabRecord, Stage, StageRecord, Status, CONTROL_DIGIT, EVAL_50_FILE,
    INPAINT_FOLDER, RECORD_FILE,
};
pub use stages::train_settings;

use crate::util::fsio::ensure_dir;
use crate::Result;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Training images used by `--fast` (the first ones of digits 0-3).
pub const FAST_IMAGES: usize = 4096;
/// Epochs of `--fast`.
pub const FAST_EPOCHS: usize = 2;
/// Module 4 under `--fast`: images, steps, and the step counts of `steps.png`.
pub const FAST_PRETRAINED: (usize, usize, &[usize]) = (4, 25, &[10, 25]);
/// The conditioning section under `--fast`: samples scored per guidance scale, and steps.
pub const FAST_CONTROL: (usize, usize) = (40, 25);
/// Digits generated and scored by the evaluation (`--fast`, full).
pub const EVAL_COUNT: (usize, usize) = (100, 1000);

/// How to run the lab.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// The lab folder (`lab8-report` by default).
    pub out: PathBuf,
    /// Fewer images, epochs, steps and samples: a quick look in under a minute.
    pub fast: bool,
    /// Rerun every stage even when its outputs are finished.
    pub fresh: bool,
    /// Do not run Module 4.
    pub skip_pretrained: bool,
    /// Module 4's model: a Hugging Face repo id or a local folder.
    pub pretrained_model: String,
    /// MNIST folder (`--mnist-dir`), else the data layer's lookup.
    pub mnist_dir: Option<PathBuf>,
    /// Progress lines and bars on stderr.
    pub progress: bool,
    /// The sampler of Modules 3 and 4, the evaluation and the control stage (`--sampler`);
    /// `None`: each module's default.
    pub sampler: Option<crate::schedulers::SamplerKind>,
}

impl LabConfig {
    /// The defaults: `lab8-report`, full settings, `google/ddpm-cifar10-32`, progress shown.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        LabConfig {
            out: out.into(),
            fast: false,
            fresh: false,
            skip_pretrained: false,
            pretrained_model: crate::hub::DEFAULT_MODEL.to_string(),
            mnist_dir: None,
            progress: true,
            sampler: None,
        }
    }
}

/// What the lab produced.
#[derive(Clone, Debug)]
pub struct LabOutcome {
    /// The record also written to `lab.json`.
    pub record: LabRecord,
    /// The report and the answer sheets.
    pub files: crate::report::ReportFiles,
    /// Seconds end to end.
    pub seconds: f64,
}

/// Run the lab: every stage in order (reusing finished ones), then the report.
pub fn run_lab(cfg: &LabConfig) -> Result<LabOutcome> {
    let started = Instant::now();
    ensure_dir(&cfg.out)?;
    let previous = if cfg.fresh {
        None
    } else {
        LabRecord::load(&cfg.out)?
    };
    let mut record = LabRecord {
        difflab_version: env!("CARGO_PKG_VERSION").to_string(),
        fast: cfg.fast,
        threads: rayon::current_num_threads(),
        finished_unix: 0,
        training_estimate_seconds: None,
        stages: Vec::new(),
    };
    let n = Stage::ALL.len();
    for (k, &stage) in Stage::ALL.iter().enumerate() {
        let label = format!("[{}/{n}] {}", k + 1, stage.title());
        let reusable = !cfg.fresh
            && previous
                .as_ref()
                .is_some_and(|p| stages::finished(cfg, p, &record, stage));
        let rec = if reusable {
            if stage == Stage::Train {
                record.training_estimate_seconds =
                    previous.as_ref().and_then(|p| p.training_estimate_seconds);
            }
            say(
                cfg,
                &format!(
                    "{label}: reusing the finished outputs in {} (--fresh reruns it)",
                    cfg.out.join(stage.folder()).display()
                ),
            );
            stages::record(cfg, stage, Status::Reused, 0.0, None)
        } else {
            say(cfg, &format!("\n{label} …"));
            let t0 = Instant::now();
            let rec = stages::run(cfg, stage, &mut record)?;
            match rec.status {
                Status::Skipped => say(
                    cfg,
                    &format!(
                        "{label}: skipped ({})",
                        rec.reason.as_deref().unwrap_or("no reason given")
                    ),
                ),
                _ => say(
                    cfg,
                    &format!(
                        "{label}: done in {:.1} s → {}",
                        t0.elapsed().as_secs_f64(),
                        cfg.out.join(stage.folder()).display()
                    ),
                ),
            }
            rec
        };
        record.stages.push(rec);
        record.finished_unix = now_unix();
        record.save(&cfg.out)?;
    }
    let files = crate::report::write_report(&cfg.out, &record)?;
    Ok(LabOutcome {
        record,
        files,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn say(cfg: &LabConfig, msg: &str) {
    if cfg.progress {
        eprintln!("{msg}");
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
