//! `difflab bench` measurements of Module 2: one training step (forward, backward, Adam) of the
//! lab and toy models at batch 128 on 16×16 images, and 12 images × 200 DDPM steps of each.

use super::model::{Arch, Denoiser, ModelConfig};
use super::preview::ddpm_sample;
use super::settings::ScheduleConfig;
use crate::bench::timing::{median, time_runs};
use crate::bench::BenchOptions;
use crate::nn::optim::{Adam, AdamConfig};
use crate::util::rng::Rng;
use crate::Result;
use serde_json::{Map, Value};

/// Milliseconds per training step of `arch` (median of `runs` after `warmup`), on random
/// images and timesteps at batch `batch`, 16×16.
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
    let times = time_runs(
        warmup,
        runs,
        || {
            model.forward(&mut ctx, &x, &t);
            model.loss_backward(&mut ctx, &noise);
            adam.step(model.params_mut(), ctx.grads());
        },
        tick,
    );
    Ok(1e3 * median(&times))
}

/// Seconds for 12 images × 200 DDPM steps of a (randomly initialised) `arch` model, median.
pub fn sample_12x200_s(arch: Arch, warmup: usize, runs: usize, tick: impl FnMut()) -> Result<f64> {
    let mut model = Denoiser::new(&ModelConfig::new(arch, 16), &mut Rng::seeded(8))?;
    let schedule = ScheduleConfig::linear(200);
    let mut err = None;
    let times = time_runs(
        warmup,
        runs,
        || {
            if let Err(e) = ddpm_sample(&mut model, &schedule, 12, 16, 1, 9, false) {
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

/// The bench section `train`: `train_step_ms` (lab), `toy_train_step_ms`, and the images/s
/// they imply.
pub fn train_section(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    let runs = opts.runs.max(10);
    for (arch, key) in [
        (Arch::Lab, "train_step_ms"),
        (Arch::Toy, "toy_train_step_ms"),
    ] {
        let bar = opts.bar(runs, &format!("{} step", arch.name()));
        let ms = train_step_ms(arch, opts.batch, opts.warmup.max(2), runs, || bar.inc(1))?;
        bar.finish_and_clear();
        m.insert(key.into(), round(ms, 2));
        m.insert(
            format!("{}_train_images_per_s", arch.name()),
            round(opts.batch as f64 * 1e3 / ms, 0),
        );
    }
    Ok(m)
}

/// The bench section `sample`: `sample_12x200_s` (lab) and `toy_sample_12x200_s`.
pub fn sample_section(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    let runs = opts.runs.clamp(1, 5);
    for (arch, key) in [
        (Arch::Lab, "sample_12x200_s"),
        (Arch::Toy, "toy_sample_12x200_s"),
    ] {
        let bar = opts.bar(runs, &format!("{} sample", arch.name()));
        let s = sample_12x200_s(arch, 1, runs, || bar.inc(1))?;
        bar.finish_and_clear();
        m.insert(key.into(), round(s, 3));
    }
    Ok(m)
}
