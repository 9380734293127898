//! The Module 4 speed benchmark: `google/ddpm-cifar10-32`'s architecture with seeded random
//! weights (speed does not depend on the values, and the real weights need the network),
//! `batch` images × `steps` forward passes, as a DDPM sampling loop would run it.
//!
//! diffusers' reference: `shared/bench/diffusers_cifar_pipeline.py 16 50`.

use super::Section;
use crate::models::unet_2d::{UNet2DConfig, UNet2DModel};
use crate::nn::Tensor;
use crate::pipelines::sample::{sample, SampleOptions};
use crate::schedulers::{AnySampler, SamplerKind};
use crate::util::rng::Rng;
use crate::Result;
use serde_json::{json, Map};
use std::time::Instant;

/// Timings of one benchmark run.
#[derive(Clone, Debug)]
pub struct CifarBench {
    /// Images per forward pass.
    pub batch: usize,
    /// Timed forward passes.
    pub steps: usize,
    /// The untimed warm-up pass (first-touch allocation), seconds.
    pub warmup_s: f64,
    /// All timed passes, seconds.
    pub total_s: f64,
    /// Each timed pass, milliseconds.
    pub step_ms: Vec<f64>,
}

impl CifarBench {
    /// Median time of one pass, milliseconds.
    pub fn median_step_ms(&self) -> f64 {
        let mut v = self.step_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            0.0
        } else {
            v[v.len() / 2]
        }
    }
}

/// Run `steps` forward passes of a `batch` of 32×32 images through the ddpm-cifar10-32
/// architecture (timesteps counting down from 999 like a sampler's), after one warm-up pass;
/// `on_step` is called after each timed pass (progress bars).
pub fn cifar_bench(batch: usize, steps: usize, mut on_step: impl FnMut()) -> Result<CifarBench> {
    let mut model = UNet2DModel::random(UNet2DConfig::ddpm_cifar10_32(), 0)?;
    let mut rng = Rng::seeded(42);
    let x = Tensor::new(vec![batch, 32, 32, 3], rng.normal_vec(batch * 32 * 32 * 3))?;
    let mut out = vec![0.0f32; x.len()];
    let t0 = Instant::now();
    model.forward_into(x.data(), batch, 32, 32, &[999.0], None, &mut out)?;
    let warmup_s = t0.elapsed().as_secs_f64();
    let mut step_ms = Vec::with_capacity(steps);
    let start = Instant::now();
    for i in 0..steps {
        let t = (999 - (i * 1000 / steps.max(1)).min(999)) as f32;
        let s = Instant::now();
        model.forward_into(x.data(), batch, 32, 32, &[t], None, &mut out)?;
        step_ms.push(s.elapsed().as_secs_f64() * 1e3);
        on_step();
    }
    Ok(CifarBench {
        batch,
        steps,
        warmup_s,
        total_s: start.elapsed().as_secs_f64(),
        step_ms,
    })
}

/// `cifar_16x50_s` for `difflab bench`: seconds for 16 images × 50 steps (target ≤ 45 s on
/// 2 cores; diffusers on PyTorch takes about 56 s on the same machine).
pub fn cifar_16x50_s() -> Result<f64> {
    Ok(cifar_bench(16, 50, || {})?.total_s)
}

/// Seconds for 16 images × 20 DPM-Solver++ steps of the ddpm-cifar10-32 architecture (seeded
/// random weights, diffusers' default DDPM schedule, T = 1000) through the sampling pipeline,
/// the whole loop timed (goal ≤ 13 s on 2 cores).
pub fn cifar_16x20_dpm_s() -> Result<f64> {
    let mut model = UNet2DModel::random(UNet2DConfig::ddpm_cifar10_32(), 0)?;
    let base = crate::schedulers::DdpmConfig::default();
    let mut s = AnySampler::from_ddpm_config(SamplerKind::DpmSolver, &base)?;
    let opts = SampleOptions {
        count: 16,
        seed: 3,
        ..SampleOptions::new([32, 32, 3], 20)
    };
    Ok(sample(&mut model, &mut s, &opts)?.elapsed.as_secs_f64())
}

/// The `cifar` section of `difflab bench`: `cifar_16x50_s` (seconds for 16 images × 50 steps),
/// `cifar_step_ms` (median pass), `cifar_warmup_s` and `cifar_16x20_dpm_s` (16 images × 20
/// DPM-Solver++ steps, [`cifar_16x20_dpm_s`]).
pub fn section() -> Section {
    Section {
        name: "cifar",
        run: |opts| {
            let bar = opts.bar(50, "cifar 16x50");
            let r = cifar_bench(16, 50, || bar.inc(1))?;
            bar.finish_and_clear();
            let mut m = Map::new();
            m.insert(
                "cifar_16x50_s".into(),
                json!((r.total_s * 100.0).round() / 100.0),
            );
            m.insert(
                "cifar_step_ms".into(),
                json!((r.median_step_ms() * 10.0).round() / 10.0),
            );
            m.insert(
                "cifar_warmup_s".into(),
                json!((r.warmup_s * 100.0).round() / 100.0),
            );
            let dpm = cifar_16x20_dpm_s()?;
            m.insert(
                "cifar_16x20_dpm_s".into(),
                json!((dpm * 100.0).round() / 100.0),
            );
            Ok(m)
        },
    }
}
