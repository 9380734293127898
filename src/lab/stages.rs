//! The lab's stages: each calls a module's library entry point with the lab's settings and
//! reports what happened as a [`StageRecord`].

use super::{LabConfig, EVAL_COUNT, FAST_CONTROL, FAST_EPOCHS, FAST_IMAGES, FAST_PRETRAINED};
use crate::console::duration;
use crate::console::StepBars;
use crate::data::{Mnist, Split};
use crate::demos::forward::{run_forward, ForwardConfig};
use crate::demos::generate::{run_generate, GenerateConfig};
use crate::demos::inpaint::{run_inpaint, InpaintConfig};
use crate::demos::pretrained::{run_pretrained, PretrainedConfig, DEFAULT_STEP_COUNTS};
use crate::demos::train::{self as job, TrainJob};
use crate::eval::{evaluate_denoiser, EvalOptions, Evaluator, EVAL_FILE};
use crate::models::classifier::{
    cached_classifier_with, default_cache_path, CachedClassifier, TrainOptions,
};
use crate::models::Arch;
use crate::report::record::{
    LabRecord, Stage, StageRecord, Status, CONTROL_DIGIT, CONTROL_MODEL_FOLDER, EVAL_50_FILE,
    INPAINT_FOLDER,
};
use crate::train::settings::{CONDITIONAL_EPOCHS, DEFAULT_LABEL_DROPOUT};
use crate::train::{LrSchedule, RunOptions, TrainSettings, TrainedModel};
use crate::util::fsio::ensure_dir;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The stages a stage's outputs depend on: it reruns when one of them reran.
fn depends_on(stage: Stage) -> &'static [Stage] {
    match stage {
        Stage::Forward | Stage::Train => &[],
        Stage::Sample | Stage::Eval => &[Stage::Train],
        // Its own conditional model; the evaluation's classifier.
        Stage::Control => &[Stage::Eval],
        Stage::Pretrained => &[Stage::Sample],
    }
}

/// True when `stage` can be reused: the previous lab ran it with the same `--fast` setting, its
/// outputs are complete, and nothing it depends on has run again in this lab.
pub(super) fn finished(
    cfg: &LabConfig,
    previous: &LabRecord,
    now: &LabRecord,
    stage: Stage,
) -> bool {
    let Some(prev) = previous.stage(stage) else {
        return false;
    };
    let upstream_kept = depends_on(stage)
        .iter()
        .all(|d| now.stage(*d).is_some_and(|r| r.status == Status::Reused));
    let same_model = stage != Stage::Pretrained
        || pretrained_model_of(&cfg.out.join(stage.folder())).as_deref()
            == Some(cfg.pretrained_model.as_str());
    prev.status != Status::Skipped
        && same_model
        && prev.fast == cfg.fast
        && upstream_kept
        && cfg
            .out
            .join(stage.folder())
            .join(stage.done_file())
            .is_file()
}

/// The model id recorded in Module 4's `summary.json`.
fn pretrained_model_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.pointer("/model/id")?.as_str().map(str::to_string)
}

/// The record of a stage with the given outcome.
pub(super) fn record(
    cfg: &LabConfig,
    stage: Stage,
    status: Status,
    seconds: f64,
    reason: Option<String>,
) -> StageRecord {
    StageRecord {
        stage,
        status,
        folder: stage.folder().into(),
        seconds,
        fast: cfg.fast,
        reason,
        command: command(cfg, stage),
    }
}

/// Run one stage now.
pub(super) fn run(cfg: &LabConfig, stage: Stage, rec: &mut LabRecord) -> Result<StageRecord> {
    let t0 = std::time::Instant::now();
    let dir = cfg.out.join(stage.folder());
    let skipped = match stage {
        Stage::Forward => forward(cfg, &dir).map(|_| None),
        Stage::Train => train(cfg, &dir, rec).map(|_| None),
        Stage::Sample => sample(cfg, &dir).map(|_| None),
        Stage::Eval => evaluate(cfg, &dir, &cfg.out.join(Stage::Train.folder())).map(|_| None),
        Stage::Control => control(cfg, &dir).map(|_| None),
        Stage::Pretrained => Ok(pretrained(cfg, &dir)),
    }?;
    Ok(match skipped {
        Some(reason) => record(cfg, stage, Status::Skipped, 0.0, Some(reason)),
        None => record(cfg, stage, Status::Ran, t0.elapsed().as_secs_f64(), None),
    })
}

/// The command that runs `stage` by hand into the lab folder, with `--sampler` when the lab
/// was given one.
fn command(cfg: &LabConfig, stage: Stage) -> String {
    let base = base_command(cfg, stage);
    match (cfg.sampler, stage) {
        (Some(k), Stage::Sample | Stage::Eval | Stage::Pretrained) => {
            format!("{base} --sampler {}", k.name())
        }
        (Some(k), Stage::Control) => base
            .replace(
                " --guidance-sweep",
                &format!(" --guidance-sweep --sampler {}", k.name()),
            )
            .replacen(
                "difflab inpaint --model",
                &format!("difflab inpaint --sampler {} --model", k.name()),
                1,
            ),
        _ => base,
    }
}

/// [`command`] without the sampler.
fn base_command(cfg: &LabConfig, stage: Stage) -> String {
    let out = cfg.out.display();
    let m2 = cfg.out.join(Stage::Train.folder());
    let m2 = m2.display();
    match stage {
        Stage::Forward => format!("difflab forward --out {out}/module1"),
        Stage::Train if cfg.fast => format!(
            "difflab train --limit {FAST_IMAGES} --epochs {FAST_EPOCHS} --lr 2e-3 --out {m2}"
        ),
        Stage::Train => format!("difflab train --out {m2}"),
        Stage::Control => {
            let steps = if cfg.fast {
                format!(" --steps {}", FAST_CONTROL.1)
            } else {
                String::new()
            };
            let fast = if cfg.fast {
                format!(" --limit {FAST_IMAGES} --epochs {FAST_EPOCHS} --lr 2e-3")
            } else {
                String::new()
            };
            let m = format!("{out}/control/{CONTROL_MODEL_FOLDER}");
            format!(
                "difflab train --conditional{fast} --out {m} && difflab sample --model {m} --digit {CONTROL_DIGIT} --guidance-sweep{steps} --out {out}/control && difflab inpaint --model {m}{steps} --out {out}/control/inpaint"
            )
        }
        Stage::Sample => format!("difflab sample --model {m2} --out {out}/module3"),
        Stage::Eval => format!(
            "difflab eval --model {m2} --count {}",
            if cfg.fast { EVAL_COUNT.0 } else { EVAL_COUNT.1 }
        ),
        Stage::Pretrained => {
            let model = if cfg.pretrained_model == crate::hub::DEFAULT_MODEL {
                String::new()
            } else {
                format!(" --model {}", cfg.pretrained_model)
            };
            let fast = if cfg.fast {
                let (count, steps, compare) = FAST_PRETRAINED;
                let compare: Vec<String> = compare.iter().map(|n| n.to_string()).collect();
                format!(
                    " --count {count} --steps {steps} --compare-steps {}",
                    compare.join(",")
                )
            } else {
                String::new()
            };
            format!("difflab pretrained{model}{fast} --toy {m2} --out {out}/module4")
        }
    }
}

fn forward(cfg: &LabConfig, dir: &Path) -> Result<()> {
    let fc = ForwardConfig {
        out_dir: dir.to_path_buf(),
        mnist_dir: cfg.mnist_dir.clone(),
        ..ForwardConfig::default()
    };
    let report = run_forward(&fc)?;
    show_report(cfg, || report.text());
    Ok(())
}

/// A demo's text report on stderr, when the lab shows progress.
fn show_report(cfg: &LabConfig, text: impl FnOnce() -> String) {
    if cfg.progress {
        eprint!("{}", text());
    }
}

/// Module 2's settings in the lab: difflab's defaults, or a small subset for `--fast`.
pub fn train_settings(fast: bool) -> TrainSettings {
    let mut s = TrainSettings::defaults(Arch::Toy);
    if fast {
        s.data.limit = Some(FAST_IMAGES);
        s.training.epochs = FAST_EPOCHS;
        // The default warm-up (100 steps) is longer than the whole quick run.
        s.training.lr_schedule = LrSchedule::Cosine {
            warmup_steps: 8,
            final_fraction: 0.05,
        };
        s.training.lr = 2e-3;
    }
    s
}

/// difflab's estimate of the training time before it starts (question 10): the median of three
/// timed training steps (after one warm-up) times the planned steps.
fn estimate_training_seconds(s: &TrainSettings, mnist_dir: Option<&Path>) -> Result<f64> {
    let mnist = Mnist::load(Split::Train, mnist_dir)?;
    let matching = mnist
        .labels()
        .iter()
        .filter(|l| s.data.digits.contains(l))
        .count();
    let images = s.data.limit.map_or(matching, |l| l.min(matching));
    let steps = (images / s.training.batch_size) * s.training.epochs;
    let ms =
        crate::train::step_time::train_step_ms(s.model.arch(), s.training.batch_size, 1, 3, || {})?;
    Ok(ms * 1e-3 * steps as f64)
}

fn sample(cfg: &LabConfig, dir: &Path) -> Result<()> {
    let gc = GenerateConfig {
        model_dir: cfg.out.join(Stage::Train.folder()),
        out_dir: dir.to_path_buf(),
        progress: cfg.progress,
        sampler: cfg.sampler.unwrap_or(GenerateConfig::default().sampler),
        ..GenerateConfig::default()
    };
    run_generate(&gc)?;
    Ok(())
}

fn train(cfg: &LabConfig, dir: &Path, rec: &mut LabRecord) -> Result<()> {
    let settings = train_settings(cfg.fast);
    let estimate = estimate_training_seconds(&settings, cfg.mnist_dir.as_deref())?;
    rec.training_estimate_seconds = Some(estimate);
    if cfg.progress {
        eprintln!(
            "  Question 10: before training starts, write down how long YOU think it will take."
        );
        eprintln!(
            "  difflab's own estimate, from timing a few steps on this machine: {}",
            duration(estimate)
        );
    }
    let job = TrainJob {
        settings,
        out: dir.to_path_buf(),
        resume: false,
        resume_epochs: None,
        mnist_dir: cfg.mnist_dir.clone(),
        progress: cfg.progress,
        figures: true,
        run: RunOptions::default(),
    };
    job::run(&job)?.ok_or_else(|| Error::invalid("training stopped before its last epoch"))?;
    Ok(())
}

/// "From digits to DALL-E": train a conditional model with Module 2's settings for
/// [`CONDITIONAL_EPOCHS`] (its own model, so Modules 2-3 keep the unconditional one the
/// questions are about), ask it for [`CONTROL_DIGIT`] with the guidance sweep
/// (`conditional.png`, `guidance.png`), then inpaint a real test digit with it.
fn control(cfg: &LabConfig, dir: &Path) -> Result<()> {
    let model_dir = dir.join(CONTROL_MODEL_FOLDER);
    let mut settings = train_settings(cfg.fast);
    settings.make_conditional(DEFAULT_LABEL_DROPOUT)?;
    if !cfg.fast {
        settings.training.epochs = CONDITIONAL_EPOCHS;
    }
    let size = settings.data.image_size;
    if cfg.progress {
        eprintln!("  Training a class-conditional copy of the Module 2 model ({CONDITIONAL_EPOCHS} epochs, label dropout {DEFAULT_LABEL_DROPOUT}) …");
    }
    let job = TrainJob {
        settings,
        out: model_dir.clone(),
        resume: false,
        resume_epochs: None,
        mnist_dir: cfg.mnist_dir.clone(),
        progress: cfg.progress,
        figures: false,
        run: RunOptions::default(),
    };
    job::run(&job)?.ok_or_else(|| Error::invalid("training stopped before its last epoch"))?;
    let (sweep_count, steps) = if cfg.fast {
        (FAST_CONTROL.0, Some(FAST_CONTROL.1))
    } else {
        (crate::demos::generate::guidance::SWEEP_COUNT, None)
    };
    // The evaluation's classifier (for --fast a quick one kept in its folder), trained here if
    // the evaluation was reused from a run without one.
    let classifier = classifier(cfg, &cfg.out.join(Stage::Eval.folder()), size)?;
    let gc = GenerateConfig {
        model_dir: model_dir.clone(),
        out_dir: dir.to_path_buf(),
        progress: cfg.progress,
        steps,
        digits: Some(vec![CONTROL_DIGIT]),
        guidance_sweep: true,
        sweep_count,
        classifier: classifier.path,
        mnist_dir: cfg.mnist_dir.clone(),
        sampler: cfg.sampler.unwrap_or(GenerateConfig::default().sampler),
        ..GenerateConfig::default()
    };
    run_generate(&gc)?;
    let ic = InpaintConfig {
        model_dir,
        out_dir: dir.join(INPAINT_FOLDER),
        steps,
        progress: cfg.progress,
        mnist_dir: cfg.mnist_dir.clone(),
        sampler: cfg.sampler.unwrap_or(InpaintConfig::default().sampler),
        ..InpaintConfig::default()
    };
    let report = run_inpaint(&ic)?;
    show_report(cfg, || report.text());
    Ok(())
}

/// The classifier that judges the digits for images of `size` (trained first when there is
/// none yet, at [`classifier_path`] with its options).
fn classifier(cfg: &LabConfig, dir: &Path, size: usize) -> Result<CachedClassifier> {
    let (path, topts) = classifier_path(cfg, dir, size);
    cached_classifier_with(
        size,
        path.as_deref(),
        cfg.mnist_dir.as_deref(),
        &topts,
        &mut StepBars::new(cfg.progress),
    )
}

/// Where the classifier that judges the digits is, and how to train it: the shared cache
/// (trained once, about a minute) for the full lab; for `--fast`, the cached one if there is
/// one, else a quick one trained on 12,000 digits for one epoch and kept in the evaluation
/// folder.
fn classifier_path(cfg: &LabConfig, dir: &Path, size: usize) -> (Option<PathBuf>, TrainOptions) {
    let full = TrainOptions {
        progress: cfg.progress,
        ..TrainOptions::for_size(size)
    };
    let cached = default_cache_path(size).filter(|p| p.is_file());
    if !cfg.fast || cached.is_some() {
        return (cached, full);
    }
    let quick = TrainOptions {
        epochs: 1,
        limit: Some(12_000),
        ..full
    };
    (
        Some(dir.join(format!("classifier-{size}-quick.safetensors"))),
        quick,
    )
}

fn evaluate(cfg: &LabConfig, dir: &Path, model_dir: &Path) -> Result<()> {
    ensure_dir(dir)?;
    let mut m = TrainedModel::load(model_dir)?;
    let size = m.info.image_size;
    let count = if cfg.fast { EVAL_COUNT.0 } else { EVAL_COUNT.1 };
    let classifier = classifier(cfg, dir, size)?;
    let opts = EvalOptions {
        count,
        mnist_dir: cfg.mnist_dir.clone(),
        sampler: cfg.sampler.unwrap_or(EvalOptions::default().sampler),
        ..EvalOptions::default()
    };
    let evaluator = Evaluator::with_classifier(
        classifier,
        &m.info.digits,
        count,
        opts.seed,
        cfg.mnist_dir.as_deref(),
    )?;
    let mut runs = vec![(EVAL_FILE, opts.clone())];
    if !cfg.fast {
        runs.push((
            EVAL_50_FILE,
            EvalOptions {
                steps: Some(50),
                ..opts
            },
        ));
    }
    let mut bars = StepBars::new(cfg.progress);
    for (file, o) in runs {
        let report = evaluate_denoiser(&mut m.model, &m.info, &evaluator, &o, &mut bars)?;
        if cfg.progress {
            eprintln!(
                "  {} × {} {} steps: recognised {:.1}%, FID {:.2} (real digits: {:.2}), {:.1} s",
                report.generated.count,
                report.sampler,
                report.steps,
                100.0 * report.generated.recognised,
                report.generated.fid,
                report.floor.fid,
                report.sample_seconds
            );
        }
        report.write(&dir.join(file))?;
    }
    Ok(())
}

/// Module 4 (`None`), or why it is skipped.
fn pretrained(cfg: &LabConfig, dir: &Path) -> Option<String> {
    if cfg.skip_pretrained {
        return Some("--skip-pretrained was given".into());
    }
    if let Err(e) = crate::hub::resolve_model(&cfg.pretrained_model) {
        // The hub's message ends with lines of advice; the report gives its own.
        let e = e.to_string();
        let first = e
            .lines()
            .next()
            .unwrap_or("")
            .trim_end_matches(['.', ' '])
            .trim_end_matches("To fix this, either:");
        return Some(format!(
            "the model {} could not be found or fetched ({})",
            cfg.pretrained_model,
            first.trim_end()
        ));
    }
    let (count, steps, step_counts) = if cfg.fast {
        (
            FAST_PRETRAINED.0,
            FAST_PRETRAINED.1,
            FAST_PRETRAINED.2.to_vec(),
        )
    } else {
        (16, 50, DEFAULT_STEP_COUNTS.to_vec())
    };
    let pc = PretrainedConfig {
        model: cfg.pretrained_model.clone(),
        count,
        steps,
        out_dir: dir.to_path_buf(),
        toy_dirs: vec![
            cfg.out.join(Stage::Sample.folder()),
            cfg.out.join(Stage::Train.folder()),
        ],
        step_counts,
        progress: cfg.progress,
        sampler: cfg.sampler,
        ..PretrainedConfig::default()
    };
    match run_pretrained(&pc) {
        Ok(report) => {
            show_report(cfg, || report.text());
            None
        }
        Err(e) => Some(format!("Module 4 stopped with an error: {e}")),
    }
}
