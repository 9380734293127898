//! `difflab bench` sections for the lab U-Net: one full training step (forward, MSE backward,
//! Adam) at the bench's batch size (128 by default), and the inference forward at batch 12 and
//! 16, all at 16×16 with random inputs.

use super::{BenchOptions, Section};
use crate::models::lab_unet::{LabUNet, LabUNetConfig};
use crate::models::Trainable;
use crate::nn::optim::{Adam, AdamConfig};
use crate::pipelines::sample::{sample, SampleOptions};
use crate::schedulers::config::DdpmConfig;
use crate::schedulers::{DdpmScheduler, Indexed};
use crate::util::rng::Rng;
use crate::util::timing::{median, time_runs};
use crate::Result;
use serde_json::{Map, Value};

/// The training-step section (`--only lab_train`): key `train_step_ms` (median).
pub fn train_section() -> Section {
    Section {
        name: "lab_train",
        run: run_train,
    }
}

/// The inference section (`--only lab_forward`): keys `lab_forward_b12_ms`, `lab_forward_b16_ms`
/// (medians of 20 × runs calls each) and `sample_12x200_s` (12 images × 200 DDPM steps through
/// the sampling pipeline, T = 200 linear, median of up to 3 runs).
pub fn forward_section() -> Section {
    Section {
        name: "lab_forward",
        run: run_forward,
    }
}

fn ms(v: f64) -> Value {
    serde_json::Number::from_f64((v * 1e3 * 100.0).round() / 100.0)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn run_train(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let mut rng = Rng::seeded(0);
    let mut model = LabUNet::new(LabUNetConfig::default(), &mut rng)?;
    let mut out = Map::new();

    let n = opts.batch;
    let mut ctx = model.train_ctx(n, 16, 16)?;
    let x = rng.normal_vec(n * 256);
    let noise = rng.normal_vec(n * 256);
    let t: Vec<f32> = (0..n).map(|_| rng.below(200) as f32).collect();
    let mut opt = Adam::new(AdamConfig::adam(1e-3), model.num_params());
    let bar = opts.bar(opts.runs, "lab train");
    let runs = time_runs(
        opts.warmup,
        opts.runs,
        || {
            model.forward(&mut ctx, &x, &t);
            model.loss_backward(&mut ctx, &noise);
            opt.step(model.params_mut(), &ctx.grads);
        },
        || bar.inc(1),
    );
    bar.finish_and_clear();
    out.insert("train_step_ms".into(), ms(median(&runs)));
    Ok(out)
}

fn run_forward(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let mut rng = Rng::seeded(0);
    let mut model = LabUNet::new(LabUNetConfig::default(), &mut rng)?;
    let mut out = Map::new();

    for b in [12usize, 16] {
        let mut ctx = model.infer_ctx(b, 16, 16)?;
        let x = rng.normal_vec(b * 256);
        let t: Vec<f32> = (0..b).map(|i| (i * 13 % 200) as f32).collect();
        let reps = 20 * opts.runs.max(1);
        let bar = opts.bar(reps, &format!("lab fwd {b}"));
        let runs = time_runs(
            opts.warmup * 5,
            reps,
            || {
                model.forward(&mut ctx, &x, &t);
            },
            || bar.inc(1),
        );
        bar.finish_and_clear();
        out.insert(format!("lab_forward_b{b}_ms"), ms(median(&runs)));
    }

    let cfg: DdpmConfig = serde_json::from_value(serde_json::json!({ "num_train_timesteps": 200 }))
        .map_err(|e| crate::Error::invalid(format!("bench DDPM config: {e}")))?;
    let mut sched = Indexed::new(DdpmScheduler::new(cfg)?);
    let mut sopts = SampleOptions::new([16, 16, 1], 200);
    sopts.count = 12;
    let reps = opts.runs.clamp(1, 3);
    let bar = opts.bar(reps, "lab sample");
    let mut result = Ok(());
    let runs = time_runs(
        1,
        reps,
        || {
            if let Err(e) = sample(&mut model, &mut sched, &sopts) {
                result = Err(e);
            }
        },
        || bar.inc(1),
    );
    bar.finish_and_clear();
    result?;
    let secs = (median(&runs) * 1000.0).round() / 1000.0;
    out.insert(
        "sample_12x200_s".into(),
        serde_json::Number::from_f64(secs).map_or(Value::Null, Value::Number),
    );
    Ok(out)
}
