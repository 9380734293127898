//! The sampling pipeline: diffusers' loops reproduced through it, seeds, batch splits,
//! snapshots, hooks and errors. The model is diffusers' test stand-in x·t/(t+1).

mod common;
use difflab::models::NoisePredictor;
use difflab::nn::Tensor;
use difflab::pipelines::sample::{
    sample, sample_with, to_unit_range, NoHooks, NoiseSource, SampleHooks, SampleOptions, StepInfo,
};
use difflab::schedulers::{
    AnySampler, DdimConfig, DdimScheduler, DdpmConfig, DdpmScheduler, Indexed, PredictionType,
    Sampler, SamplerKind, Scheduler, VarianceType,
};
use difflab::util::rng::Rng;
use difflab::Result;
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Range;

/// model(x, t) = x·t/(t+1) per sample; records the batch size of every call.
#[derive(Default)]
struct StandIn {
    batch_sizes: Vec<usize>,
}

impl NoisePredictor for StandIn {
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        let n = x.shape()[0];
        assert_eq!(timesteps.len(), n);
        self.batch_sizes.push(n);
        let per = x.len() / n;
        let data = x
            .data()
            .chunks(per)
            .zip(timesteps)
            .flat_map(|(c, &t)| c.iter().map(move |&v| v * t / (t + 1.0)))
            .collect();
        Tensor::new(x.shape().to_vec(), data)
    }
}

/// The fixture's recorded initial sample and step noise.
struct FixtureNoise<'a> {
    fx: &'a HashMap<String, common::Fx>,
    name: String,
}

impl NoiseSource for FixtureNoise<'_> {
    fn initial(&mut self, _samples: Range<u64>, out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(&self.fx[&format!("{}.x0", self.name)].f32s());
        Ok(())
    }
    fn step_noise(&mut self, step: &StepInfo, out: &mut [f32]) -> Result<()> {
        let key = format!("{}.noise.{}", self.name, step.index);
        let z = self
            .fx
            .get(&key)
            .unwrap_or_else(|| panic!("{key}: the fixture drew no noise here"));
        out.copy_from_slice(&z.f32s());
        Ok(())
    }
}

fn scheduler_for(e: &Value) -> AnySampler {
    let pt: PredictionType = serde_json::from_value(e["prediction_type"].clone()).unwrap();
    let cfg = DdpmConfig {
        num_train_timesteps: e["T"].as_u64().unwrap() as usize,
        timestep_spacing: serde_json::from_value(e["spacing"].clone()).unwrap(),
        clip_sample: e["clip_sample"].as_bool().unwrap(),
        prediction_type: pt,
        variance_type: match e.get("variance_type") {
            Some(v) => serde_json::from_value(v.clone()).unwrap(),
            None => VarianceType::FixedSmall,
        },
        ..Default::default()
    };
    let kind = SamplerKind::parse(e["cls"].as_str().unwrap()).unwrap();
    let mut s = AnySampler::from_ddpm_config(kind, &cfg).unwrap();
    if let Some(eta) = e.get("eta") {
        s.set_eta(eta.as_f64().unwrap() as f32).unwrap();
    }
    s
}

fn max_abs(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn pipeline_reproduces_every_fixture_loop_given_the_same_noise() {
    let fx = common::read_fixture("loops.safetensors");
    let manifest = common::manifest();
    for e in manifest["files"]["loops.safetensors"]["entries"]
        .as_array()
        .unwrap()
    {
        let name = e["name"].as_str().unwrap();
        let mut sched = scheduler_for(e);
        let x0 = &fx[&format!("{name}.x0")];
        // Fixtures are NCHW (2, 1, 6, 6); with one channel that is the NHWC layout too.
        assert_eq!(x0.shape, [2, 1, 6, 6]);
        let n = e["n"].as_u64().unwrap() as usize;
        let mut opts = SampleOptions::new([6, 6, 1], n);
        opts.count = 2;
        opts.snapshot_at = (0..n).collect();
        let mut model = StandIn::default();
        let mut noise = FixtureNoise {
            fx: &fx,
            name: name.into(),
        };
        let out = sample_with(&mut model, &mut sched, &opts, &mut noise, &mut NoHooks).unwrap();
        assert_eq!(
            model.batch_sizes,
            vec![2; n],
            "{name}: the whole batch in every model call"
        );
        assert_eq!(out.images.shape(), [2, 6, 6, 1]);
        assert_eq!(out.snapshots.len(), n);
        assert_eq!(out.snapshots[0].x_t.data(), &x0.f32s()[..], "{name}: x_T");
        let mut worst = 0.0f64;
        for k in 1..n {
            let s = &out.snapshots[k];
            assert_eq!((s.index, s.t), (k, out.timesteps[k]));
            worst = worst.max(max_abs(
                s.x_t.data(),
                &fx[&format!("{name}.traj.{}", k - 1)].data,
            ));
        }
        worst = worst.max(max_abs(
            out.images.data(),
            &fx[&format!("{name}.traj.{}", n - 1)].data,
        ));
        worst = worst.max(max_abs(out.images.data(), &fx[&format!("{name}.out")].data));
        assert!(
            worst <= 1e-4,
            "{name}: max abs error {worst} over the trajectory"
        );

        // x̂0 of the ε-prediction loops, recomputed from x_t: clip((x − √(1−ᾱ)·ε)/√ᾱ).
        if e["prediction_type"] == "epsilon" {
            let a = sched.alphas_cumprod().to_vec();
            for s in &out.snapshots {
                let t = s.t as usize;
                let (sa, sb) = (a[t].sqrt(), (1.0 - a[t]).sqrt());
                let tt = s.t;
                for (&x, &p) in s.x_t.data().iter().zip(s.pred_x0.data()) {
                    let eps = x as f64 * tt / (tt + 1.0);
                    let mut want = (x as f64 - sb * eps) / sa;
                    if e["clip_sample"] == true {
                        want = want.clamp(-1.0, 1.0);
                    }
                    assert!(
                        (p as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{name} t={}: x̂0 {p} vs {want}",
                        s.t
                    );
                }
            }
        }
    }
}

fn ddpm(t_train: usize) -> AnySampler {
    AnySampler::from_ddpm_config(
        SamplerKind::Ddpm,
        &DdpmConfig {
            num_train_timesteps: t_train,
            ..Default::default()
        },
    )
    .unwrap()
}

fn ddim(t_train: usize, eta: f32) -> AnySampler {
    let mut s = AnySampler::from_ddpm_config(
        SamplerKind::Ddim,
        &DdpmConfig {
            num_train_timesteps: t_train,
            ..Default::default()
        },
    )
    .unwrap();
    s.set_eta(eta).unwrap();
    s
}

fn opts(count: usize, steps: usize, seed: u64) -> SampleOptions {
    let mut o = SampleOptions::new([5, 4, 2], steps);
    o.count = count;
    o.seed = seed;
    o
}

#[test]
fn same_seed_gives_bit_identical_output_and_another_seed_does_not() {
    for mk in [|| ddpm(200), || ddim(200, 0.5)] {
        let a = sample(&mut StandIn::default(), &mut mk(), &opts(5, 50, 7)).unwrap();
        let b = sample(&mut StandIn::default(), &mut mk(), &opts(5, 50, 7)).unwrap();
        assert_eq!(a.images, b.images);
        assert!(a.images.data().iter().all(|v| v.is_finite()));
        let c = sample(&mut StandIn::default(), &mut mk(), &opts(5, 50, 8)).unwrap();
        assert!(a.images.max_abs_diff(&c.images) > 0.1);
        // Samples differ from each other within a run.
        let per = 5 * 4 * 2;
        assert_ne!(a.images.data()[..per], a.images.data()[per..2 * per]);
    }
}

#[test]
fn batch_split_and_run_split_do_not_change_any_sample() {
    for mk in [|| ddpm(100), || ddim(100, 1.0)] {
        let whole = sample(&mut StandIn::default(), &mut mk(), &opts(6, 25, 3)).unwrap();
        let mut o = opts(6, 25, 3);
        o.batch_size = 4;
        let mut model = StandIn::default();
        let batched = sample(&mut model, &mut mk(), &o).unwrap();
        assert_eq!(model.batch_sizes.iter().filter(|&&b| b == 4).count(), 25);
        assert_eq!(model.batch_sizes.iter().filter(|&&b| b == 2).count(), 25);
        assert_eq!(whole.images, batched.images);
        // Samples 2..6 generated on their own.
        let mut o = opts(4, 25, 3);
        o.first_index = 2;
        let tail = sample(&mut StandIn::default(), &mut mk(), &o).unwrap();
        let per = 5 * 4 * 2;
        assert_eq!(tail.images.data(), &whole.images.data()[2 * per..]);
    }
}

#[test]
fn draw_order_is_one_stream_per_sample_x_t_first_then_each_noisy_step() {
    let (seed, steps, per) = (11u64, 20usize, 5 * 4 * 2);
    let out = sample(
        &mut StandIn::default(),
        &mut ddpm(100),
        &opts(3, steps, seed),
    )
    .unwrap();
    // The documented order, by hand: sample i uses Rng::stream(seed, i).
    let mut sched = DdpmScheduler::new(DdpmConfig {
        num_train_timesteps: 100,
        ..Default::default()
    })
    .unwrap();
    sched.set_timesteps(steps).unwrap();
    for i in 0..3 {
        let mut rng = Rng::stream(seed, i as u64);
        let mut x = rng.normal_vec(per);
        for &t in sched.timesteps() {
            let tf = t as f32;
            let eps: Vec<f32> = x.iter().map(|&v| v * tf / (tf + 1.0)).collect();
            x = sched
                .step_with_rng(&eps, t, &x, &mut rng)
                .unwrap()
                .prev_sample;
        }
        assert_eq!(
            &out.images.data()[i * per..(i + 1) * per],
            &x[..],
            "sample {i}"
        );
    }
}

#[test]
fn the_seed_fixes_the_starting_noise_for_every_sampler_and_step_count() {
    let first = |mut s: AnySampler, steps| {
        let mut o = opts(3, steps, 42);
        o.snapshot_at = vec![0];
        sample(&mut StandIn::default(), &mut s, &o)
            .unwrap()
            .snapshots
            .remove(0)
            .x_t
    };
    let a = first(ddpm(200), 200);
    assert_eq!(a, first(ddpm(200), 50));
    assert_eq!(a, first(ddim(200, 0.0), 10));
    assert_eq!(a, first(ddim(200, 1.0), 100));
}

#[test]
fn snapshots_are_taken_at_the_requested_loop_indices() {
    let mut o = opts(4, 50, 1);
    o.snapshot_at = vec![49, 5, 0, 5];
    o.batch_size = 3;
    let out = sample(&mut StandIn::default(), &mut ddim(1000, 0.0), &o).unwrap();
    let idx: Vec<(usize, f64)> = out.snapshots.iter().map(|s| (s.index, s.t)).collect();
    // DDIM, T = 1000, 50 leading steps: t = 980, 960, …, 0.
    assert_eq!(idx, vec![(0, 980.0), (5, 880.0), (49, 0.0)]);
    for s in &out.snapshots {
        assert_eq!(s.x_t.shape(), [4, 5, 4, 2]);
        assert_eq!(s.pred_x0.shape(), [4, 5, 4, 2]);
        assert!(
            s.pred_x0.data().iter().all(|v| v.abs() <= 1.0),
            "clip_sample bounds x̂0"
        );
    }
    // x_t at index 0 is pure noise, with variance near 1 (160 values).
    let var: f32 = out.snapshots[0]
        .x_t
        .data()
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        / 160.0;
    assert!((0.6..1.5).contains(&var), "{var}");
    // The last snapshot is the input of the final step: from t = 0 the stand-in predicts
    // ε̂ = 0, so x̂0 = clip(x/√ᾱ_0), and with ᾱ_prev = 1 the output is x̂0.
    let last = &out.snapshots[2];
    let a0 = DdimScheduler::new(DdimConfig::default())
        .unwrap()
        .schedule()
        .alpha_bar(0);
    for ((&x, &p), &y) in last
        .x_t
        .data()
        .iter()
        .zip(last.pred_x0.data())
        .zip(out.images.data())
    {
        let want = (x as f64 / a0.sqrt()).clamp(-1.0, 1.0);
        assert!(
            (y as f64 - want).abs() < 1e-6 && p == y,
            "{x} -> {y}, want {want}"
        );
    }

    o.snapshot_at = vec![50];
    let e = sample(&mut StandIn::default(), &mut ddim(1000, 0.0), &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("50") && e.contains("only 50 steps"), "{e}");
}

/// Records every step and pins the first value of each sample after each step, the way
/// inpainting pins the known region.
#[derive(Default)]
struct Recorder {
    starts: Vec<Range<u64>>,
    steps: Vec<StepInfo>,
}

impl SampleHooks for Recorder {
    fn start(&mut self, samples: Range<u64>, _s: &dyn Sampler, _x: &mut Tensor) -> Result<()> {
        self.starts.push(samples);
        Ok(())
    }
    fn predict(
        &mut self,
        model: &mut dyn NoisePredictor,
        x: &Tensor,
        ts: &[f32],
        _step: &StepInfo,
    ) -> Result<Tensor> {
        // A "guided" prediction: combine two calls, 1.5·a − 0.5·b with a = b, i.e. unchanged.
        let a = model.predict(x, ts)?;
        let b = model.predict(x, ts)?;
        let data = a
            .data()
            .iter()
            .zip(b.data())
            .map(|(p, q)| 1.5 * p - 0.5 * q)
            .collect();
        Tensor::new(a.shape().to_vec(), data)
    }
    fn after_step(
        &mut self,
        step: &StepInfo,
        _s: &dyn Sampler,
        x: &mut Tensor,
        _x0: &Tensor,
    ) -> Result<()> {
        self.steps.push(step.clone());
        let per = x.len() / x.shape()[0];
        for v in x.data_mut().iter_mut().step_by(per) {
            *v = 0.25;
        }
        Ok(())
    }
}

#[test]
fn hooks_see_every_step_and_can_change_the_model_call_and_the_sample() {
    let mut o = opts(5, 10, 9);
    o.batch_size = 3;
    o.first_index = 100;
    let mut hooks = Recorder::default();
    let mut model = StandIn::default();
    let mut sched = ddpm(100);
    let out = sample_with(
        &mut model,
        &mut sched,
        &o,
        &mut difflab::pipelines::sample::SeededNoise::new(9),
        &mut hooks,
    )
    .unwrap();
    assert_eq!(hooks.starts, vec![100..103, 103..105]);
    assert_eq!(hooks.steps.len(), 20);
    assert_eq!(
        model.batch_sizes.len(),
        40,
        "two model calls per step from the hook"
    );
    let ts: Vec<f64> = (0..10).rev().map(|k| (k * 10) as f64).collect();
    for (j, s) in hooks.steps.iter().enumerate() {
        let k = j % 10;
        assert_eq!((s.index, s.num_steps, s.t), (k, 10, ts[k]));
        assert_eq!(s.prev_t, ts.get(k + 1).copied());
        assert_eq!(s.samples, if j < 10 { 100..103 } else { 103..105 });
    }
    let per = 5 * 4 * 2;
    for i in 0..5 {
        assert_eq!(out.images.data()[i * per], 0.25);
    }
    // Without the pinning the unchanged prediction gives the same values elsewhere.
    let plain = sample(&mut StandIn::default(), &mut ddpm(100), &o).unwrap();
    let differs = out
        .images
        .data()
        .iter()
        .zip(plain.images.data())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differs >= 5, "the pinned values propagate into later steps");
}

#[test]
fn bad_requests_are_clear_errors() {
    let e = sample(&mut StandIn::default(), &mut ddpm(200), &opts(2, 0, 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 1"), "{e}");
    let e = sample(&mut StandIn::default(), &mut ddpm(200), &opts(2, 201, 1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("201") && e.contains("200"), "{e}");
    let e = sample(
        &mut StandIn::default(),
        &mut ddim(200, 0.0),
        &opts(0, 10, 1),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("count 0"), "{e}");

    struct Wrong;
    impl NoisePredictor for Wrong {
        fn predict(&mut self, x: &Tensor, _t: &[f32]) -> Result<Tensor> {
            Ok(Tensor::zeros(vec![x.shape()[0], 1, 1, 1]))
        }
    }
    let e = sample(&mut Wrong, &mut ddpm(200), &opts(2, 10, 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("[2, 1, 1, 1]") && e.contains("[2, 5, 4, 2]"),
        "{e}"
    );
}

#[test]
fn unit_range_maps_minus_one_one_to_zero_one_and_clamps() {
    let x = Tensor::new(vec![1, 1, 5, 1], vec![-3.0, -1.0, 0.0, 0.5, 2.0]).unwrap();
    assert_eq!(to_unit_range(&x).data(), &[0.0, 0.0, 0.5, 0.75, 1.0]);
}

#[test]
fn pipeline_runs_the_concrete_schedulers_too() {
    // Any Sampler works, not only AnySampler: here a bare DDIM scheduler, wrapped.
    let mut d = Indexed::new(
        DdimScheduler::new(DdimConfig {
            num_train_timesteps: 50,
            ..Default::default()
        })
        .unwrap(),
    );
    let a = sample(&mut StandIn::default(), &mut d, &opts(2, 5, 4)).unwrap();
    let b = sample(&mut StandIn::default(), &mut ddim(50, 0.0), &opts(2, 5, 4)).unwrap();
    assert_eq!(a.images, b.images);
    assert_eq!(a.timesteps, vec![40.0, 30.0, 20.0, 10.0, 0.0]);
}

/// A matched start shifts and widens x_T to the noised training data's moments at the loop's
/// first timestep (DDPM: t = T − 1; DDIM with few steps: its first, smaller t); a pure start is
/// the seed's standard normals themselves.
#[test]
fn a_matched_start_has_the_noised_datas_mean_and_spread_at_the_first_timestep() {
    use difflab::diffusion::StartNoise;
    let (mean, std) = (-0.73f32, 0.58f32);
    for (mut sched, steps) in [(ddpm(200), 200), (ddim(200, 0.0), 10)] {
        let mut o = SampleOptions::new([16, 16, 1], steps);
        o.count = 64;
        o.snapshot_at = vec![0];
        let pure = sample(&mut StandIn::default(), &mut sched, &o).unwrap();
        o.start = StartNoise::matched(mean, std);
        let matched = sample(&mut StandIn::default(), &mut sched, &o).unwrap();
        let t0 = matched.snapshots[0].t;
        let ab = sched.alphas_cumprod()[t0 as usize];
        let (a, b) = (
            (ab.sqrt() * mean as f64) as f32,
            ((1.0 - ab + ab * (std * std) as f64).sqrt()) as f32,
        );
        let (xp, xm) = (
            pure.snapshots[0].x_t.data(),
            matched.snapshots[0].x_t.data(),
        );
        for (p, m) in xp.iter().zip(xm) {
            assert!(
                (a + b * p - m).abs() < 1e-5,
                "t0 {t0}: {m} vs {}",
                a + b * p
            );
        }
        let avg = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        assert!(
            avg(xp).abs() < 0.03,
            "pure noise has mean 0, got {}",
            avg(xp)
        );
        assert!(
            (avg(xm) - a as f64).abs() < 0.03,
            "matched mean {} vs {a}",
            avg(xm)
        );
        assert!(
            a < -0.2,
            "at T = 200 the start is darker than pure noise: {a}"
        );
    }
}
