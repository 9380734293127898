//! The sampling pipeline with every sampler: each loop of the diffusers fixture
//! `samplers.safetensors` run through `sample_with` (scaled model input, the start scaled by
//! `init_noise_sigma`, the recorded step noise) matches diffusers after every step;
//! classifier-free guidance is the same combined prediction with every sampler; the Euler
//! schedulers' start and snapshots carry their scale.

mod common;
use common::Fx;
use difflab::diffusion::StartNoise;
use difflab::models::{ClassLabel, NoisePredictor};
use difflab::nn::Tensor;
use difflab::pipelines::guidance::ClassifierFreeGuidance;
use difflab::pipelines::sample::{
    sample, sample_with, NoiseSource, SampleHooks, SampleOptions, SeededNoise, StepInfo,
};
use difflab::schedulers::{AnySampler, DdpmConfig, Sampler, SamplerKind};
use difflab::Result;
use std::collections::HashMap;
use std::ops::Range;

/// diffusers' stand-in x·t/(t+1) on the (scaled) model input; with a class, shifted by
/// 0.1·(class + 1) so that the conditional and unconditional branches differ.
struct StandIn;

impl NoisePredictor for StandIn {
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.predict_labeled(x, timesteps, &vec![None; timesteps.len()])
    }
    fn num_classes(&self) -> usize {
        3
    }
    fn predict_labeled(&mut self, x: &Tensor, ts: &[f32], labels: &[ClassLabel]) -> Result<Tensor> {
        let per = x.len() / ts.len();
        let data = x
            .data()
            .chunks(per)
            .zip(ts.iter().zip(labels))
            .flat_map(|(c, (&t, l))| {
                let shift = l.map_or(0.0, |k| 0.1 * (k as f32 + 1.0));
                c.iter().map(move |&v| (v * t) / (t + 1.0) + shift)
            })
            .collect();
        Tensor::new(x.shape().to_vec(), data)
    }
}

/// The fixture's start (x0 / init_noise_sigma: the pipeline scales it back) and step noise.
struct FixtureNoise<'a> {
    fx: &'a HashMap<String, Fx>,
    name: String,
    sigma: f32,
}

impl NoiseSource for FixtureNoise<'_> {
    fn initial(&mut self, _samples: Range<u64>, out: &mut [f32]) -> Result<()> {
        let x0 = self.fx[&format!("{}.x0", self.name)].f32s();
        for (o, v) in out.iter_mut().zip(x0) {
            *o = v / self.sigma;
        }
        Ok(())
    }
    fn step_noise(&mut self, step: &StepInfo, out: &mut [f32]) -> Result<()> {
        let key = format!("{}.noise.{}", self.name, step.index);
        out.copy_from_slice(&self.fx[&key].f32s());
        Ok(())
    }
}

/// Records the sample after every step.
#[derive(Default)]
struct Trajectory(Vec<Vec<f32>>);

impl SampleHooks for Trajectory {
    fn after_step(
        &mut self,
        _step: &StepInfo,
        _s: &dyn Sampler,
        x: &mut Tensor,
        _x0: &Tensor,
    ) -> Result<()> {
        self.0.push(x.data().to_vec());
        Ok(())
    }
}

/// max |a − b| / max |b|.
fn rel(a: &[f32], b: &[f64]) -> f64 {
    let d = a
        .iter()
        .zip(b)
        .map(|(&x, y)| (x as f64 - y).abs())
        .fold(0.0, f64::max);
    d / b.iter().map(|y| y.abs()).fold(1e-12, f64::max)
}

#[test]
fn the_pipeline_reproduces_every_sampler_loop_of_the_fixture() {
    let manifest = common::manifest();
    let entries = manifest["files"]["samplers.safetensors"]["entries"]
        .as_array()
        .expect("sampler entries")
        .clone();
    assert!(!entries.is_empty());
    let fx = common::read_fixture("samplers.safetensors");
    let mut kinds = Vec::new();
    for e in &entries {
        let name = e["name"].as_str().unwrap();
        let text = serde_json::to_string(&e["scheduler_config"]).unwrap();
        let mut s = AnySampler::from_json_str(name, &text, None).unwrap();
        if let Some(eta) = e["step_kwargs"].get("eta").and_then(|v| v.as_f64()) {
            s.set_eta(eta as f32).unwrap();
        }
        kinds.push(s.kind());
        let n = e["num_inference_steps"].as_u64().unwrap() as usize;
        let x0 = &fx[&format!("{name}.x0")];
        let mut opts = SampleOptions::new([6, 6, 1], n);
        opts.count = x0.shape[0];
        let mut noise = FixtureNoise {
            fx: &fx,
            name: name.into(),
            sigma: e["init_noise_sigma"].as_f64().unwrap() as f32,
        };
        let mut traj = Trajectory::default();
        let out = sample_with(&mut StandIn, &mut s, &opts, &mut noise, &mut traj).unwrap();
        assert_eq!(traj.0.len(), e["num_loop_steps"].as_u64().unwrap() as usize);
        let mut worst = 0.0f64;
        for (k, x) in traj.0.iter().enumerate() {
            worst = worst.max(rel(x, &fx[&format!("{name}.traj.{k}")].data));
        }
        worst = worst.max(rel(out.images.data(), &fx[&format!("{name}.out")].data));
        assert!(worst < 1e-5, "{name}: relative error {worst:.2e}");
    }
    for kind in SamplerKind::ALL {
        if kind != SamplerKind::Ddpm {
            assert!(
                kinds.contains(&kind),
                "the fixture has no {} loop",
                kind.name()
            );
        }
    }
}

fn sampler(kind: SamplerKind) -> AnySampler {
    let base = DdpmConfig {
        num_train_timesteps: 200,
        beta_end: 0.02,
        ..Default::default()
    };
    AnySampler::from_ddpm_config(kind, &base).unwrap()
}

/// The guided prediction computed by the model itself: uncond + w·(cond − uncond).
struct PreGuided(f32, usize);

impl NoisePredictor for PreGuided {
    fn predict(&mut self, x: &Tensor, ts: &[f32]) -> Result<Tensor> {
        let n = ts.len();
        let c = StandIn.predict_labeled(x, ts, &vec![Some(self.1); n])?;
        let u = StandIn.predict_labeled(x, ts, &vec![None; n])?;
        let mut out = vec![0.0; x.len()];
        difflab::pipelines::guidance::guide(u.data(), c.data(), self.0, &mut out);
        Tensor::new(x.shape().to_vec(), out)
    }
}

#[test]
fn classifier_free_guidance_works_with_every_sampler() {
    for kind in SamplerKind::ALL {
        let mut o = SampleOptions::new([4, 4, 1], 12);
        o.count = 3;
        let mut hooks = ClassifierFreeGuidance::new(vec![Some(2); 3], 3.0).unwrap();
        let guided = sample_with(
            &mut StandIn,
            &mut sampler(kind),
            &o,
            &mut SeededNoise::new(o.seed),
            &mut hooks,
        )
        .unwrap();
        let want = sample(&mut PreGuided(3.0, 2), &mut sampler(kind), &o).unwrap();
        assert_eq!(guided.images, want.images, "{}", kind.name());
        let plain = sample(&mut StandIn, &mut sampler(kind), &o).unwrap();
        let moved = guided.images.max_abs_diff(&plain.images);
        assert!(
            moved > 0.05,
            "{}: guidance moved samples by {moved}",
            kind.name()
        );
    }
}

#[test]
fn euler_starts_scaled_and_snapshots_are_variance_preserving() {
    for kind in [SamplerKind::Euler, SamplerKind::EulerAncestral] {
        let mut s = sampler(kind);
        let mut o = SampleOptions::new([8, 8, 1], 20);
        o.count = 16;
        o.snapshot_at = vec![0];
        let pure = sample(&mut StandIn, &mut s, &o).unwrap();
        let sigma = s.init_noise_sigma();
        let level = s.level_before(0).unwrap();
        assert!(
            sigma > 2.0,
            "T = 200 ends at σ ≈ 2.6, init_noise_sigma {sigma}"
        );
        // Snapshots divide by the level's scale: x_T in variance-preserving form is
        // randn·init_noise_sigma/scale (with the config's leading spacing diffusers'
        // init_noise_sigma is √(σ_max² + 1), the scale itself).
        let mut rng_x = vec![0.0f32; 16 * 64];
        SeededNoise::new(o.seed).initial(0..16, &mut rng_x).unwrap();
        let ratio = (sigma / level.scale) as f32;
        assert!((ratio - 1.0).abs() < 1e-6, "{ratio}");
        for (snap, z) in pure.snapshots[0].x_t.data().iter().zip(&rng_x) {
            assert!((snap - z * ratio).abs() < 1e-5);
        }
        // A matched start: the noised data's moments at the first level, then scaled.
        o.start = StartNoise::matched(-0.7, 0.6);
        let m = sample(&mut StandIn, &mut s, &o).unwrap();
        let a = level.alpha_bar;
        let (mean, sd) = ((a.sqrt() * -0.7) as f32, (1.0 - a + a * 0.36).sqrt() as f32);
        for (snap, z) in m.snapshots[0].x_t.data().iter().zip(&rng_x) {
            assert!((snap - (mean + sd * z)).abs() < 1e-5, "{}", kind.name());
        }
        assert!(m.images.data().iter().all(|v| v.is_finite()));
    }
}
