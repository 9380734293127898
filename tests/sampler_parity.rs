//! Every sampler against whole diffusers sampling loops: each entry of the fixture manifest's
//! `samplers.safetensors` is rebuilt from its `scheduler_config` through the loader users get
//! ([`AnySampler::from_json_str`]), and its timesteps, σ, ᾱ, init_noise_sigma and the sample
//! after every step must match.
//!
//! "Relative" below means, per tensor, max |difflab − diffusers| / max |diffusers| (so values
//! near zero are judged against the tensor's scale, not their own). Integer timesteps must be
//! equal. The loop is the manifest's: the stand-in model x_in·t/(t+1) in f32 on the scaled
//! input, x starting at the stored x0 (already randn·init_noise_sigma), and the recorded noise
//! fed to every step that drew some.

mod common;
use common::Fx;
use difflab::schedulers::{AnySampler, Sampler};
use serde_json::Value;
use std::collections::HashMap;

const TOL: f64 = 1e-5;

/// max |a − b| / max |b| (max |a − b| when b is all zero).
fn rel(a: &[f64], b: &[f64]) -> f64 {
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    if scale > 0.0 {
        diff / scale
    } else {
        diff
    }
}

fn check_close(what: &str, got: &[f64], want: &[f64]) -> Result<f64, String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} values, diffusers {}",
            got.len(),
            want.len()
        ));
    }
    if let Some(v) = got.iter().find(|v| !v.is_finite()) {
        return Err(format!("{what}: non-finite value {v}"));
    }
    let r = rel(got, want);
    if r > TOL {
        return Err(format!("{what}: relative error {r:.3e} > {TOL:e}"));
    }
    Ok(r)
}

/// diffusers' test stand-in model, in f32: (x_in · t) / (t + 1).
fn stand_in(x: &[f32], t: f32) -> Vec<f32> {
    x.iter().map(|&v| (v * t) / (t + 1.0)).collect()
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

fn tensor<'a>(fx: &'a HashMap<String, Fx>, key: &str) -> Result<&'a Fx, String> {
    fx.get(key)
        .ok_or_else(|| format!("fixture tensor {key} missing"))
}

/// Build the entry's sampler and check its tables against the fixture.
fn build(fx: &HashMap<String, Fx>, e: &Value, name: &str) -> Result<AnySampler, String> {
    let text = serde_json::to_string(&e["scheduler_config"]).map_err(|e| e.to_string())?;
    let label = format!("manifest.json:{name}.scheduler_config");
    let mut s = AnySampler::from_json_str(&label, &text, None).map_err(|e| e.to_string())?;
    if let Some(kw) = e["step_kwargs"].as_object() {
        for (k, v) in kw {
            match (k.as_str(), v.as_f64()) {
                ("eta", Some(eta)) => s.set_eta(eta as f32).map_err(|e| e.to_string())?,
                _ => return Err(format!("step kwarg {k} = {v} is not known to this test")),
            }
        }
    }
    let n = e["num_inference_steps"]
        .as_u64()
        .ok_or("num_inference_steps")? as usize;
    s.set_timesteps(n).map_err(|e| e.to_string())?;
    let x0 = tensor(fx, &format!("{name}.x0"))?;
    s.set_item_len(x0.shape[1..].iter().product());

    let want_steps = e["num_loop_steps"].as_u64().ok_or("num_loop_steps")? as usize;
    if s.num_steps() != want_steps {
        return Err(format!(
            "{} loop steps, diffusers {want_steps}",
            s.num_steps()
        ));
    }
    let ts = &tensor(fx, &format!("{name}.timesteps"))?.data;
    if e["timesteps_dtype"] == "int64" {
        if s.timesteps() != &ts[..] {
            return Err(format!("timesteps {:?}, diffusers {ts:?}", s.timesteps()));
        }
    } else {
        check_close("timesteps", s.timesteps(), ts)?;
    }
    if let Some(want) = fx.get(&format!("{name}.sigmas")) {
        let got = s.sigmas().ok_or("diffusers has sigmas, difflab none")?;
        check_close("sigmas", got, &want.data)?;
    }
    let ac = tensor(fx, &format!("{name}.alphas_cumprod"))?;
    check_close("alphas_cumprod", s.alphas_cumprod(), &ac.data)?;
    let sigma0 = e["init_noise_sigma"].as_f64().ok_or("init_noise_sigma")?;
    check_close("init_noise_sigma", &[s.init_noise_sigma()], &[sigma0])?;
    Ok(s)
}

/// Run one entry's loop; the worst relative error over its steps, or what went wrong.
fn run_entry(fx: &HashMap<String, Fx>, e: &Value) -> Result<f64, String> {
    let name = e["name"].as_str().ok_or("entry without a name")?;
    let mut s = build(fx, e, name)?;
    let mut x = tensor(fx, &format!("{name}.x0"))?.f32s();
    let mut worst = 0.0f64;
    for k in 0..s.num_steps() {
        let mut x_in = x.clone();
        s.scale_model_input(k, &mut x_in)
            .map_err(|e| e.to_string())?;
        let out = stand_in(&x_in, s.timesteps()[k] as f32);
        let noise = fx.get(&format!("{name}.noise.{k}")).map(Fx::f32s);
        if s.noise_needed(k).map_err(|e| e.to_string())? && noise.is_none() {
            return Err(format!("step {k} needs noise the fixture did not draw"));
        }
        let step = s
            .step(k, &out, &x, noise.as_deref())
            .map_err(|e| format!("step {k}: {e}"))?;
        x = step.prev_sample;
        let want = tensor(fx, &format!("{name}.traj.{k}"))?;
        worst = worst.max(check_close(&format!("step {k}"), &widen(&x), &want.data)?);
    }
    let out = tensor(fx, &format!("{name}.out"))?;
    worst = worst.max(check_close("final sample", &widen(&x), &out.data)?);
    Ok(worst)
}

#[test]
fn every_sampler_loop_of_the_manifest_matches_diffusers() {
    let manifest = common::manifest();
    let file = &manifest["files"]["samplers.safetensors"];
    let entries = file["entries"]
        .as_array()
        .expect("manifest lists the samplers.safetensors entries");
    assert!(!entries.is_empty(), "no sampler entries in the manifest");
    let fx = common::read_fixture("samplers.safetensors");
    let (mut report, mut failures) = (Vec::new(), Vec::new());
    for e in entries {
        let name = e["name"].as_str().unwrap_or("?");
        match run_entry(&fx, e) {
            Ok(worst) => report.push(format!("{name}: {worst:.1e}")),
            Err(msg) => failures.push(format!("{name}: {msg}")),
        }
    }
    eprintln!("worst relative error per loop: {}", report.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A sampler of `class` with extra config fields (JSON object body without braces).
fn sampler(class: &str, extra: &str) -> AnySampler {
    let sep = if extra.is_empty() { "" } else { ", " };
    let text = format!(r#"{{"_class_name": "{class}"{sep}{extra}}}"#);
    AnySampler::from_json_str("test.json", &text, None).unwrap()
}

/// Run a whole loop with the stand-in model; every step's output.
fn run(s: &mut AnySampler, n: usize, x0: &[f32]) -> Vec<difflab::schedulers::StepOutput> {
    s.set_timesteps(n).unwrap();
    let mut x = x0.to_vec();
    let mut outs = Vec::new();
    for k in 0..s.num_steps() {
        let mut x_in = x.clone();
        s.scale_model_input(k, &mut x_in).unwrap();
        let out = stand_in(&x_in, s.timesteps()[k] as f32);
        let z = vec![0.3f32; x.len()];
        let step = s.step(k, &out, &x, Some(&z)).unwrap();
        x = step.prev_sample.clone();
        outs.push(step);
    }
    outs
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 / n as f32) * 2.0 - 1.0).collect()
}

/// diffusers' UniPC bh1 returns NaN on a last step to σ = 0; difflab lands on x̂0 there.
#[test]
fn unipc_bh1_to_sigma_zero_is_finite_and_lands_on_the_clean_estimate() {
    for order in [1, 2, 3] {
        let extra = format!(r#""solver_type": "bh1", "solver_order": {order}"#);
        let mut s = sampler("UniPCMultistepScheduler", &extra);
        let outs = run(&mut s, 10, &ramp(24));
        assert_eq!(*s.sigmas().unwrap().last().unwrap(), 0.0);
        let last = outs.last().unwrap();
        assert!(outs
            .iter()
            .all(|o| o.prev_sample.iter().all(|v| v.is_finite())));
        assert_eq!(last.prev_sample, last.pred_original_sample, "order {order}");
        assert_eq!(s.level_after(9).unwrap().alpha_bar, 1.0);
    }
    // Without lower_order_final the last bh1 step would be of order 2: an error, not NaN.
    let extra = r#""solver_type": "bh1", "lower_order_final": false"#;
    let mut s = sampler("UniPCMultistepScheduler", extra);
    s.set_timesteps(5).unwrap();
    let x = ramp(8);
    let mut err = None;
    let mut cur = x.clone();
    for k in 0..5 {
        match s.step(k, &stand_in(&cur, s.timesteps()[k] as f32), &cur, None) {
            Ok(o) => cur = o.prev_sample,
            Err(e) => err = Some((k, e.to_string())),
        }
    }
    let (k, e) = err.expect("the last step must fail");
    assert!(
        k == 4 && e.contains("bh1") && e.contains("lower_order_final"),
        "{k}: {e}"
    );
}

/// Steps run in order; the latest may be repeated (RePaint) and step 0 restarts.
#[test]
fn multistep_state_allows_repeats_and_restarts_but_not_skips() {
    for (class, extra) in [
        ("DPMSolverMultistepScheduler", r#""solver_order": 3"#),
        ("UniPCMultistepScheduler", r#""solver_order": 3"#),
        ("PNDMScheduler", ""),
    ] {
        let x0 = ramp(16);
        let mut s = sampler(class, extra);
        let straight = run(&mut s, 8, &x0);
        // Again, with step 5 run twice (same inputs): the same trajectory.
        let mut x = x0.clone();
        for (k, want) in straight.iter().enumerate() {
            let out = stand_in(&x, s.timesteps()[k] as f32);
            let mut step = s.step(k, &out, &x, None).unwrap();
            if k == 5 {
                let junk = vec![9.0f32; x.len()];
                s.step(k, &junk, &junk, None).unwrap();
                step = s.step(k, &out, &x, None).unwrap();
            }
            assert_eq!(&step, want, "{class} step {k}");
            x = step.prev_sample;
        }
        let e = s.step(3, &x, &x, None).unwrap_err().to_string();
        assert!(e.contains("out of order"), "{class}: {e}");
        // Step 0 restarts from scratch.
        let out = stand_in(&x0, s.timesteps()[0] as f32);
        assert_eq!(s.step(0, &out, &x0, None).unwrap(), straight[0], "{class}");
    }
}

#[test]
fn noise_levels_follow_the_loop_and_end_clean() {
    let base = difflab::schedulers::DdpmConfig {
        num_train_timesteps: 200,
        ..Default::default()
    };
    for kind in difflab::schedulers::SamplerKind::ALL {
        let mut s = AnySampler::from_ddpm_config(kind, &base).unwrap();
        s.set_timesteps(20).unwrap();
        let n = s.num_steps();
        for k in 0..n {
            let (before, after) = (s.level_before(k).unwrap(), s.level_after(k).unwrap());
            assert!(
                after.alpha_bar >= before.alpha_bar,
                "{} step {k}",
                kind.name()
            );
            if let Some(sig) = s.sigmas() {
                let want = 1.0 / (1.0 + sig[k + 1] * sig[k + 1]);
                assert!((after.alpha_bar - want).abs() < 1e-12, "{}", kind.name());
            }
        }
        let end = s.level_after(n - 1).unwrap();
        assert!(
            end.alpha_bar > 0.999,
            "{}: ends at ᾱ {}",
            kind.name(),
            end.alpha_bar
        );
        // A sample at level L is L.scale·(√ᾱ·x0 + √(1−ᾱ)·ε); renoising to itself changes nothing.
        let l = s.level_before(n / 2).unwrap();
        let (x0, eps) = (ramp(6), vec![0.5f32; 6]);
        let mut x = vec![0.0f32; 6];
        l.add_noise(&x0, &eps, &mut x);
        let sc = |v: f64| (l.scale * v) as f32;
        let want = x0[1] * sc(l.alpha_bar.sqrt()) + 0.5 * sc((1.0 - l.alpha_bar).sqrt());
        assert!((x[1] - want).abs() < 1e-6);
        let mut y = vec![0.0f32; 6];
        l.renoise(l, &x, &eps, &mut y).unwrap();
        assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-6));
        assert!(end.renoise(l, &x, &eps, &mut y).is_err(), "{}", kind.name());
    }
}

#[test]
fn dynamic_thresholding_clips_each_item_at_its_own_quantile() {
    // prediction_type sample: x̂0 is the model output itself.
    let extra = r#""thresholding": true, "prediction_type": "sample",
                   "dynamic_thresholding_ratio": 0.75, "sample_max_value": 3.0"#;
    for class in ["DPMSolverMultistepScheduler", "UniPCMultistepScheduler"] {
        let mut s = sampler(class, extra);
        s.set_timesteps(5).unwrap();
        // Two items of 5: |values| 0.5..4.5 (quantile 0.75 at position 3: 3.5, clamped to 3)
        // and 0.1..0.5 (quantile 0.4, lifted to 1: plain clipping).
        let out = vec![0.5, -1.5, 2.5, -3.5, 4.5, 0.1, 0.2, -0.3, 0.4, 0.5];
        let x = vec![0.0f32; 10];
        let e = s.step(0, &out, &x, None).unwrap_err().to_string();
        assert!(e.contains("set_item_len"), "{e}");
        s.set_item_len(5);
        let got = s.step(0, &out, &x, None).unwrap().pred_original_sample;
        let want = [
            0.5 / 3.0,
            -1.5 / 3.0,
            2.5 / 3.0,
            -1.0,
            1.0,
            0.1,
            0.2,
            -0.3,
            0.4,
            0.5,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{class}: {got:?}");
        }
        s.set_item_len(3);
        assert!(
            s.step(0, &out, &x, None).is_err(),
            "10 values are not items of 3"
        );
    }
}

#[test]
fn stochastic_steps_require_their_noise() {
    for (class, extra) in [
        (
            "DPMSolverMultistepScheduler",
            r#""algorithm_type": "sde-dpmsolver++""#,
        ),
        ("EulerAncestralDiscreteScheduler", ""),
        ("DDPMScheduler", ""),
    ] {
        let mut s = sampler(class, extra);
        s.set_timesteps(10).unwrap();
        assert!(s.kind().is_stochastic());
        assert!(s.noise_needed(0).unwrap());
        let x = ramp(4);
        let e = s.step(0, &x, &x, None).unwrap_err().to_string();
        assert!(e.contains("no noise"), "{class}: {e}");
        let e = s.step(0, &x, &x, Some(&x[..2])).unwrap_err().to_string();
        assert!(e.contains("noise has 2"), "{class}: {e}");
    }
}
