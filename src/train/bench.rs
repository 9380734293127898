//! `difflab bench` sections for Module 2's default model, the toy U-Net (the lab U-Net's have
//! theirs in `models::lab_unet::bench`): one training step (forward, backward, Adam) at the
//! bench's batch size on 16×16 images, and 12 images × 200 DDPM steps.

use super::model::{Arch, Denoiser, ModelConfig};
use super::preview::ddpm_sample;
use super::settings::ScheduleConfig;
use crate::bench::timing::{median, time_runs};
use crate::bench::{BenchOptions, Section};
use crate::diffusion::StartNoise;
use crate::nn::optim::{Adam, AdamConfig};
use crate::util::rng::Rng;
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

/// The sampling section (`--only toy_sample`): key `toy_sample_12x200_s` (12 images × 200 DDPM
/// steps through the sampling pipeline, median of up to 3 runs).
pub fn sample_section() -> Section {
    Section {
        name: "toy_sample",
        run: run_sample,
    }
}

/// Milliseconds per training step of `arch` (median of `runs` after `warmup`) on random images
/// and timesteps, batch `batch`, 16×16; `tick` after each timed step.
pub fn train_step_ms(
    arch: Arch,
    batch: usize,
    warmup: usize,
    runs: usize,
    tick: impl FnMut(),
) -> Result<f64> {
    let mut rng = Rng::seeded(7);
    let mut model = Denoiser::new(&ModelConfig::new(arch, 16), &mut rng)?;
    let mut ctx = model.train_ctx(batch, 16, 16)?;
    let mut adam = Adam::new(AdamConfig::adam(1e-3), model.num_params());
    let x = rng.normal_vec(batch * 256);
    let noise = rng.normal_vec(batch * 256);
    let t: Vec<f32> = (0..batch).map(|_| rng.below(200) as f32).collect();
    // The model made the context, so neither call can fail; a failure would still be reported.
    let mut failed = None;
    let times = time_runs(
        warmup,
        runs,
        || {
            let step = model
                .forward(&mut ctx, &x, &t)
                .map(|_| ())
                .and_then(|()| model.loss_backward(&mut ctx, &noise));
            if let Err(e) = step {
                failed.get_or_insert(e);
            }
            adam.step(model.params_mut(), ctx.grads());
        },
        tick,
    );
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(1e3 * median(&times))
}

/// Seconds for 12 images × 200 DDPM steps of a (randomly initialised) `arch` model, median of
/// `runs` after `warmup`.
pub fn sample_12x200_s(arch: Arch, warmup: usize, runs: usize, tick: impl FnMut()) -> Result<f64> {
    let mut model = Denoiser::new(&ModelConfig::new(arch, 16), &mut Rng::seeded(8))?;
    let schedule = ScheduleConfig::linear(200);
    let mut err = None;
    let times = time_runs(
        warmup,
        runs,
        || {
            if let Err(e) = ddpm_sample(
                &mut model,
                &schedule,
                12,
                [16, 16, 1],
                9,
                StartNoise::Pure,
                false,
            ) {
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
    let mut m = Map::new();
    m.insert("toy_sample_12x200_s".into(), round(s, 3));
    Ok(m)
}
