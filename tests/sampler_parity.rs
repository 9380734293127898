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
