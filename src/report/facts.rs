//! The run's own numbers, read back from the modules' `summary.json` (and the evaluation's
//! `eval.json`) so the report and the answer sheet quote exactly what the modules wrote.

use super::record::{LabRecord, Stage, Status};
use crate::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Loss of a model that always predicts "no noise": E[ε²] = 1 for standard normal ε.
pub const ZERO_GUESS_LOSS: f64 = 1.0;
/// The loss a trained toy model should get below (the report's reference line).
pub const TARGET_LOSS: f64 = 0.1;

/// Everything the report is written from.
#[derive(Clone, Debug)]
pub struct RunData {
    /// The lab folder.
    pub dir: PathBuf,
    /// `lab.json`.
    pub record: LabRecord,
    /// Module 1's `summary.json`.
    pub forward: Option<Value>,
    /// Module 2's `summary.json`.
    pub train: Option<Value>,
    /// Module 3's `summary.json`.
    pub sample: Option<Value>,
    /// The evaluation's `eval.json` (all steps).
    pub eval: Option<Value>,
    /// The evaluation at 50 DDPM steps (full lab only).
    pub eval50: Option<Value>,
    /// Module 4's `summary.json`.
    pub pretrained: Option<Value>,
    /// The conditioning section's guidance sweep (`control/guidance.json`).
    pub control: Option<Value>,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::file(path, format!("is not valid JSON ({e})")))
}

impl RunData {
    /// Read the summaries of the stages that ran or were reused.
    pub fn load(dir: &Path, record: &LabRecord) -> Result<Self> {
        let get = |stage: Stage, file: &str| -> Result<Option<Value>> {
            match record.stage(stage) {
                Some(r) if r.status != Status::Skipped => {
                    read_json(&dir.join(stage.folder()).join(file))
                }
                _ => Ok(None),
            }
        };
        Ok(RunData {
            dir: dir.to_path_buf(),
            record: record.clone(),
            forward: get(Stage::Forward, "summary.json")?,
            train: get(Stage::Train, "summary.json")?,
            sample: get(Stage::Sample, "summary.json")?,
            eval: get(Stage::Eval, crate::eval::EVAL_FILE)?,
            eval50: get(Stage::Eval, super::record::EVAL_50_FILE)?,
            pretrained: get(Stage::Pretrained, "summary.json")?,
            control: get(Stage::Control, "guidance.json")?,
        })
    }
}

/// The number at a JSON pointer such as `/final_loss`.
pub fn num(v: &Option<Value>, pointer: &str) -> Option<f64> {
    v.as_ref()?.pointer(pointer)?.as_f64()
}

/// The value at a JSON pointer as display text (numbers as JSON writes them).
pub fn text(v: &Option<Value>, pointer: &str) -> Option<String> {
    match v.as_ref()?.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// ᾱ at the summary's named timestep `at` ("0", "T/4", …) as `(t, ᾱ)`.
pub fn alpha_bar_at(forward: &Option<Value>, at: &str) -> Option<(u64, f64)> {
    let list = forward.as_ref()?.get("alpha_bar")?.as_array()?;
    let e = list
        .iter()
        .find(|e| e.get("at").and_then(Value::as_str) == Some(at))?;
    Some((e.get("t")?.as_u64()?, e.get("alpha_bar")?.as_f64()?))
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: f64) -> String {
    crate::console::thousands(n.max(0.0).round() as usize)
}

/// Seconds as "41.3 s" or "2 min 05 s".
pub fn secs(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {:02.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// One measured fact pre-filled on the answer sheet: what, the value as written, and where
/// it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// What was measured.
    pub what: String,
    /// The value as shown.
    pub value: String,
    /// The file and field it was read from.
    pub source: String,
}

fn m(what: &str, value: String, source: &str) -> Measured {
    Measured {
        what: what.into(),
        value,
        source: source.into(),
    }
}

impl RunData {
    /// The measured facts of question `q` (empty for questions that ask for judgement).
    pub fn measured(&self, q: usize) -> Vec<Measured> {
        let mut v = Vec::new();
        match q {
            7 => {
                if let Some(t) = num(&self.forward, "/first_t_snr_below_1") {
                    v.push(m(
                        "first timestep with SNR below 1",
                        format!("t = {t}"),
                        "module1/summary.json: first_t_snr_below_1",
                    ));
                }
            }
            10 => {
                if let Some(e) = self.record.training_estimate_seconds {
                    v.push(m(
                        "difflab's estimate, made before training (not your prediction)",
                        secs(e),
                        "lab.json: training_estimate_seconds",
                    ));
                }
            }
            11 => {
                if let Some(l) = num(&self.train, "/final_loss") {
                    v.push(m(
                        "final loss (mean over the last epoch)",
                        format!("{l:.4}"),
                        "module2/summary.json: final_loss",
                    ));
                    v.push(m(
                        "reference values",
                        format!("{ZERO_GUESS_LOSS:.1} = always answering \"no noise\"; below {TARGET_LOSS} = a model that has learned the digits"),
                        "the report, Module 2",
                    ));
                }
            }
            12 => {
                if let Some(s) = num(&self.train, "/train_seconds") {
                    v.push(m(
                        "training time",
                        secs(s),
                        "module2/summary.json: train_seconds",
                    ));
                }
                if let Some(e) = self.record.training_estimate_seconds {
                    v.push(m(
                        "difflab's estimate before training",
                        secs(e),
                        "lab.json: training_estimate_seconds",
                    ));
                }
            }
            19 => self.sampling_times(&mut v),
            22 => {
                for (sampler, steps, s) in self.pretrained_step_runs() {
                    v.push(m(
                        &format!("{sampler}, {steps} steps"),
                        secs(s),
                        "module4/summary.json: timings.steps_figure",
                    ));
                }
            }
            _ => {}
        }
        v
    }

    /// Question 19: the sampling times of Module 3's step comparison and of the evaluations.
    fn sampling_times(&self, v: &mut Vec<Measured>) {
        let runs = self
            .sample
            .as_ref()
            .and_then(|p| p.get("steps_comparison"))
            .and_then(Value::as_array);
        for r in runs.into_iter().flatten() {
            if let (Some(sampler), Some(steps), Some(s)) = (
                r.get("sampler").and_then(Value::as_str),
                r.get("steps").and_then(Value::as_u64),
                r.get("seconds").and_then(Value::as_f64),
            ) {
                v.push(m(
                    &format!("{}, {steps} steps", sampler.to_uppercase()),
                    secs(s),
                    "module3/summary.json: steps_comparison",
                ));
            }
        }
        for (data, file) in [
            (&self.eval, "evaluation/eval.json"),
            (&self.eval50, "evaluation/eval-ddpm-50.json"),
        ] {
            if let (Some(steps), Some(fid), Some(s)) = (
                num(data, "/steps"),
                num(data, "/fid"),
                num(data, "/sample_seconds"),
            ) {
                let count = num(data, "/count").unwrap_or(0.0);
                v.push(m(
                    &format!("DDPM, {steps} steps, {count} digits"),
                    format!("FID {fid:.2}, {} to generate", secs(s)),
                    &format!("{file}: fid, sample_seconds"),
                ));
            }
        }
    }

    /// Module 4's `steps.png` runs as (sampler in capitals, steps, seconds).
    pub fn pretrained_step_runs(&self) -> Vec<(String, u64, f64)> {
        let runs = self
            .pretrained
            .as_ref()
            .and_then(|p| p.pointer("/timings/steps_figure"))
            .and_then(Value::as_array);
        runs.map(|r| {
            r.iter()
                .filter_map(|e| {
                    Some((
                        e.get("sampler")?.as_str()?.to_uppercase(),
                        e.get("steps")?.as_u64()?,
                        e.get("seconds")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
    }
}
