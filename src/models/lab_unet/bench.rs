//! `difflab bench` section for the lab U-Net's inference forward at batch 12 and 16 (16×16,
//! random inputs). The training step is timed by `train::bench` for both architectures.

use super::{LabUNet, LabUNetConfig};
use crate::bench::timing::{median, time_runs};
use crate::bench::{BenchOptions, Section};
use crate::util::rng::Rng;
use crate::Result;
use serde_json::{Map, Value};

/// The inference section (`--only lab_forward`): keys `lab_forward_b12_ms`, `lab_forward_b16_ms`
/// (medians of 20 × runs calls each).
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

fn run_forward(opts: &BenchOptions) -> Result<Map<String, Value>> {
    let mut rng = Rng::seeded(0);
    let model = LabUNet::new(LabUNetConfig::default(), &mut rng)?;
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
    Ok(out)
}
