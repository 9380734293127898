//! `lab.json`: what `difflab lab` did with each module (ran, reused, skipped), how long it took,
//! and the training-time estimate shown before Module 2 (question 10). Written after every
//! module, so an interrupted lab knows what is already finished. It lives here, beside the
//! report that reads it, so that `lab` depends on `report` and not the other way round; the
//! lab re-exports it.

use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the lab's own record, in the lab folder.
pub const RECORD_FILE: &str = "lab.json";
/// The evaluation at 50 DDPM steps (full lab only), for question 19.
pub const EVAL_50_FILE: &str = "eval-ddpm-50.json";
/// The digit the lab asks the conditional model for (one of the default digits 0-3).
pub const CONTROL_DIGIT: u8 = 3;
/// The sub-folder of the control stage's folder holding the inpainting.
pub const INPAINT_FOLDER: &str = "inpaint";
/// The sub-folder of the control stage's folder holding its conditional model.
pub const CONTROL_MODEL_FOLDER: &str = "model";

/// The parts of the lab, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Module 1: forward diffusion.
    Forward,
    /// Module 2: training the denoiser.
    Train,
    /// Module 3: generation from noise.
    Sample,
    /// The quality evaluation of the trained model.
    Eval,
    /// "From digits to DALL-E": ask the conditional model for a digit, guide it, inpaint.
    Control,
    /// Module 4: the pretrained CIFAR-10 model.
    Pretrained,
}

impl Stage {
    /// Every stage, in running order.
    pub const ALL: [Stage; 6] = [
        Stage::Forward,
        Stage::Train,
        Stage::Sample,
        Stage::Eval,
        Stage::Control,
        Stage::Pretrained,
    ];

    /// The sub-folder of the lab folder holding the stage's outputs.
    pub fn folder(self) -> &'static str {
        match self {
            Stage::Forward => "module1",
            Stage::Train => "module2",
            Stage::Sample => "module3",
            Stage::Eval => "evaluation",
            Stage::Control => "control",
            Stage::Pretrained => "module4",
        }
    }

    /// The file that exists only once the stage finished.
    pub fn done_file(self) -> &'static str {
        match self {
            Stage::Eval => "eval.json",
            _ => "summary.json",
        }
    }

    /// A short title, e.g. "Module 2 · train the denoiser".
    pub fn title(self) -> &'static str {
        match self {
            Stage::Forward => "Module 1 · watch a digit dissolve into noise",
            Stage::Train => "Module 2 · train the denoiser",
            Stage::Sample => "Module 3 · generate digits from pure noise",
            Stage::Eval => "Evaluation · how good are the generated digits?",
            Stage::Control => "From digits to DALL-E · ask for a digit, guide it, fill in a gap",
            Stage::Pretrained => "Module 4 · a pretrained CIFAR-10 model",
        }
    }
}

/// What happened to a stage in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Run now.
    Ran,
    /// A finished earlier run's outputs were kept.
    Reused,
    /// Not run; `reason` and `command` say why and how to run it later.
    Skipped,
}

/// One stage's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Which stage.
    pub stage: Stage,
    /// What happened.
    pub status: Status,
    /// Its folder, relative to the lab folder.
    pub folder: String,
    /// Seconds it took in this run (0 when reused or skipped).
    pub seconds: f64,
    /// True when it ran with `--fast` settings.
    pub fast: bool,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// The command that runs it by hand (always given; the report shows it for skipped stages).
    pub command: String,
}

/// The content of `lab.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabRecord {
    /// The difflab version that wrote it.
    pub difflab_version: String,
    /// True for `--fast`.
    pub fast: bool,
    /// Threads of the compute core.
    pub threads: usize,
    /// Seconds since the Unix epoch when the lab finished.
    pub finished_unix: u64,
    /// difflab's estimate of Module 2's training time, made before training (question 10);
    /// `None` when Module 2 was reused from an earlier run that recorded none.
    pub training_estimate_seconds: Option<f64>,
    /// The stages, in running order (only those reached so far in an interrupted run).
    pub stages: Vec<StageRecord>,
}

impl LabRecord {
    /// The record of `stage`, if it was reached.
    pub fn stage(&self, stage: Stage) -> Option<&StageRecord> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// Read `dir/lab.json`; `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(RECORD_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::file(
                &path,
                format!("not a difflab lab record ({e}); delete it or run with --fresh"),
            )
        })
    }

    /// Write `dir/lab.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("the record serialises");
        write_atomic(&dir.join(RECORD_FILE), format!("{json}\n").as_bytes())
    }
}
