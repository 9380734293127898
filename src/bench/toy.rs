//! `difflab bench` sections for Module 2's default model, the toy U-Net (the lab U-Net's have
//! theirs in [`super::lab_unet`]): one training step (forward, backward, Adam) at the
//! bench's batch size on 16×16 images, and 12 images × 200 DDPM steps.

use super::{BenchOptions, Section};
use crate::diffusion::StartNoise;
use crate::models::{Arch, Denoiser, ModelConfig};
use crate::pipelines::sample::{sample, SampleOptions, FEW_STEP_SAMPLER};
use crate::train::preview::{ddpm_sample_with_progress, PreviewRun};
use crate::train::settings::ScheduleConfig;
use crate::train::step_time::train_step_ms;
use crate::util::progress::Silent;
use crate::util::rng::Rng;
use crate::util::timing::{median, time_runs};
use crate::Result;
use serde_json::{Map, Value};

/// The training-step section (`--only toy_train`): keys `toy_train_step_ms` (median) and
/// `toy_train_images_per_s` (batch / median).
pub fn train_section() -> Section {
    Section {
        name: "toy_train",
        run: run_train,
    }
}

/// The sampling section (`--only toy_sample`): keys `toy_sample_12x200_s` (12 images × 200 DDPM
/// steps through the sampling pipeline, median of up to 3 runs) and `toy_sample_12x20_few_s`
/// (12 images × 20 steps of the few-step sampler, `FEW_STEP_SAMPLER`, median of up to 5 runs;
/// goal ≤ 0.15 s).
pub fn sample_section() -> Section {
    Section {
        name: "toy_sample",
        run: run_sample,
    }
}

/// Seconds for 12 images × 200 DDPM steps of a (randomly initialised) `arch` model, median of
/// `runs` after `warmup`.
pub fn sample_12x200_s(arch: Arch, warmup: usize, runs: usize, tick: impl FnMut()) -> Result<f64> {
    let mut model = Denoiser::new(&ModelConfig::new(arch, 16), &mut Rng::seeded(8))?;
    let schedule = ScheduleConfig::linear(200);
    let run = PreviewRun {
        n: 12,
        shape: [16, 16, 1],
        seed: 9,
        start: StartNoise::Pure,
    };
    let mut err = None;
    let times = time_runs(
        warmup,
        runs,
        || {
            if let Err(e) = ddpm_sample_with_progress(&mut model, &schedule, &run, &mut Silent) {
                err = Some(e);
            }
        },
        tick,
    );
    match err {
        Some(e) => Err(e),
        None => Ok(median(&times)),
    }
}

fn round(v: f64, digits: i32) -> Value {
    let p = 10f64.powi(digits);
    serde_json::Number::from_f64((v * p).round() / p)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn run_train(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let bar = opts.bar(opts.runs, "toy train");
    let ms = train_step_ms(Arch::Toy, opts.batch, opts.warmup, opts.runs, || bar.inc(1))?;
    bar.finish_and_clear();
    let mut m = Map::new();
    m.insert("toy_train_step_ms".into(), round(ms, 2));
    m.insert(
        "toy_train_images_per_s".into(),
        round(opts.batch as f64 * 1e3 / ms, 0),
    );
    Ok(m)
}

fn run_sample(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let runs = opts.runs.clamp(1, 3);
    let bar = opts.bar(runs, "toy sample");
    let s = sample_12x200_s(Arch::Toy, 1, runs, || bar.inc(1))?;
    bar.finish_and_clear();
    let few = sample_12_few_s(20, opts.runs.clamp(1, 5))?;
    let mut m = Map::new();
    m.insert("toy_sample_12x200_s".into(), round(s, 3));
    m.insert("toy_sample_12x20_few_s".into(), round(few, 3));
    Ok(m)
}

/// Seconds for 12 images × `steps` of [`FEW_STEP_SAMPLER`] on the lab's schedule (T = 200)
/// with a randomly initialised toy U-Net, through the sampling pipeline; median of `runs`
/// after one warm-up.
pub fn sample_12_few_s(steps: usize, runs: usize) -> Result<f64> {
    let mut model = Denoiser::new(&ModelConfig::new(Arch::Toy, 16), &mut Rng::seeded(8))?;
    let base = crate::train::preview::ddpm_config(&ScheduleConfig::linear(200));
    let mut sampler = crate::train::trained::sampler_for(FEW_STEP_SAMPLER, &base)?;
    let opts = SampleOptions {
        count: 12,
        seed: 9,
        ..SampleOptions::new([16, 16, 1], steps)
    };
    let mut err = None;
    let times = time_runs(
        1,
        runs,
        || {
            if let Err(e) = sample(&mut model, &mut sampler, &opts) {
                err = Some(e);
            }
        },
        || {},
    );
    match err {
        Some(e) => Err(e),
        None => Ok(median(&times)),
    }
}
