//! DDPM and DDIM schedulers against diffusers: timesteps exactly, whole sampling loops to 1e-4,
//! and diffusers' own deterministic DDIM test constants.

mod common;
use difflab::schedulers::{
    DdimConfig, DdimScheduler, DdpmConfig, DdpmScheduler, PredictionType, Scheduler,
    TimestepSpacing, VarianceType,
};
use serde_json::Value;

fn spacing(name: &str) -> TimestepSpacing {
    serde_json::from_value(Value::String(name.into())).unwrap()
}

/// diffusers' test stand-in model: model(x, t) = x·t/(t+1), in f32.
fn stand_in(x: &[f32], t: usize) -> Vec<f32> {
    let t = t as f32;
    x.iter().map(|&v| v * t / (t + 1.0)).collect()
}

#[test]
fn timesteps_match_diffusers_exactly_for_every_entry() {
    let fx = common::read_fixture("timesteps.safetensors");
    let manifest = common::manifest();
    let entries = manifest["files"]["timesteps.safetensors"]["entries"]
        .as_array()
        .unwrap();
    assert!(!entries.is_empty(), "no timestep entries in the manifest");
    for e in entries {
        let key = e["key"].as_str().unwrap();
        let t_train = e["num_train_timesteps"].as_u64().unwrap() as usize;
        let n = e["num_inference_steps"].as_u64().unwrap() as usize;
        let sp = spacing(e["timestep_spacing"].as_str().unwrap());
        let mut s: Box<dyn Scheduler> = match e["scheduler"].as_str().unwrap() {
            "ddpm" => Box::new(
                DdpmScheduler::new(DdpmConfig {
                    num_train_timesteps: t_train,
                    timestep_spacing: sp,
                    ..Default::default()
                })
                .unwrap(),
            ),
            "ddim" => Box::new(
                DdimScheduler::new(DdimConfig {
                    num_train_timesteps: t_train,
                    timestep_spacing: sp,
                    ..Default::default()
                })
                .unwrap(),
            ),
            other => panic!("unknown scheduler {other}"),
        };
        s.set_timesteps(n).unwrap();
        let want: Vec<usize> = fx[key].data.iter().map(|&v| v as usize).collect();
        assert_eq!(s.timesteps(), &want[..], "{key}");
    }
}

/// Run one fixture loop and return the largest absolute error over the whole trajectory.
fn run_loop(fx: &std::collections::HashMap<String, common::Fx>, e: &Value) -> f64 {
    let name = e["name"].as_str().unwrap();
    let t_train = e["T"].as_u64().unwrap() as usize;
    let n = e["n"].as_u64().unwrap() as usize;
    let sp = spacing(e["spacing"].as_str().unwrap());
    let clip_sample = e["clip_sample"].as_bool().unwrap();
    let prediction_type: PredictionType =
        serde_json::from_value(e["prediction_type"].clone()).unwrap();
    let mut sched: Box<dyn Scheduler> = match e["cls"].as_str().unwrap() {
        "ddpm" => {
            let variance_type: VarianceType =
                serde_json::from_value(e["variance_type"].clone()).unwrap();
            Box::new(
                DdpmScheduler::new(DdpmConfig {
                    num_train_timesteps: t_train,
                    timestep_spacing: sp,
                    clip_sample,
                    prediction_type,
                    variance_type,
                    ..Default::default()
                })
                .unwrap(),
            )
        }
        "ddim" => {
            let mut s = DdimScheduler::new(DdimConfig {
                num_train_timesteps: t_train,
                timestep_spacing: sp,
                clip_sample,
                prediction_type,
                ..Default::default()
            })
            .unwrap();
            s.set_eta(e["eta"].as_f64().unwrap() as f32).unwrap();
            Box::new(s)
        }
        other => panic!("unknown scheduler {other}"),
    };
    sched.set_timesteps(n).unwrap();
    let want_ts: Vec<usize> = fx[&format!("{name}.timesteps")]
        .data
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(sched.timesteps(), &want_ts[..], "{name} timesteps");

    let mut x = fx[&format!("{name}.x0")].f32s();
    let mut worst = 0.0f64;
    let ts = sched.timesteps().to_vec();
    for (k, &t) in ts.iter().enumerate() {
        let out = stand_in(&x, t);
        let noise = fx.get(&format!("{name}.noise.{k}")).map(|f| f.f32s());
        if sched.noise_needed(t).unwrap() {
            assert!(
                noise.is_some(),
                "{name}: step {k} needs noise the fixture did not draw"
            );
        }
        let step = sched.step(&out, t, &x, noise.as_deref()).unwrap();
        x = step.prev_sample;
        let want = &fx[&format!("{name}.traj.{k}")].data;
        for (a, b) in x.iter().zip(want) {
            worst = worst.max((*a as f64 - b).abs());
        }
    }
    let out = &fx[&format!("{name}.out")].data;
    for (a, b) in x.iter().zip(out) {
        worst = worst.max((*a as f64 - b).abs());
    }
    worst
}

#[test]
fn every_fixture_loop_matches_diffusers_to_1e4_over_the_whole_trajectory() {
    let fx = common::read_fixture("loops.safetensors");
    let manifest = common::manifest();
    let entries = manifest["files"]["loops.safetensors"]["entries"]
        .as_array()
        .unwrap();
    assert!(!entries.is_empty(), "no loop entries in the manifest");
    let mut report = Vec::new();
    for e in entries {
        let worst = run_loop(&fx, e);
        report.push(format!("{}: {worst:.2e}", e["name"].as_str().unwrap()));
        assert!(
            worst <= 1e-4,
            "{}: max abs error {worst} over the trajectory",
            e["name"]
        );
    }
    eprintln!("max abs error per loop: {}", report.join(", "));
}

/// diffusers' tests/schedulers/test_scheduler_ddim.py `full_loop`: T = 1000 linear
/// 1e-4..0.02, clip_sample, 10 steps, eta 0, the stand-in model, sample k/768 in (4, 3, 8, 8).
fn ddim_full_loop(config: DdimConfig) -> (f64, f64) {
    let mut s = DdimScheduler::new(config).unwrap();
    s.set_timesteps(10).unwrap();
    // dummy_sample_deter: arange(768) reshaped (C, H, W, B) and permuted to (B, C, H, W); the
    // loop is elementwise, so the layout of the values does not change the sums.
    let mut x: Vec<f32> = (0..768).map(|k| k as f32 / 768.0).collect();
    let ts = s.timesteps().to_vec();
    for t in ts {
        let out = stand_in(&x, t);
        x = s.step(&out, t, &x, None).unwrap().prev_sample;
    }
    let sum: f64 = x.iter().map(|v| v.abs() as f64).sum();
    (sum, sum / x.len() as f64)
}

fn ddim_test_config() -> DdimConfig {
    DdimConfig {
        num_train_timesteps: 1000,
        beta_start: 0.0001,
        beta_end: 0.02,
        clip_sample: true,
        ..Default::default()
    }
}

fn assert_sum_mean(what: &str, got: (f64, f64), sum: f64, mean: f64) {
    // diffusers asserts |sum − expected| < 1e-2 and |mean − expected| < 1e-3.
    assert!(
        (got.0 - sum).abs() < 1e-2,
        "{what}: sum |x| = {} (diffusers {sum})",
        got.0
    );
    assert!(
        (got.1 - mean).abs() < 1e-3,
        "{what}: mean |x| = {} (diffusers {mean})",
        got.1
    );
}

#[test]
fn ddim_full_loop_constants_of_diffusers_tests() {
    assert_sum_mean(
        "eta 0",
        ddim_full_loop(ddim_test_config()),
        172.0067,
        0.223967,
    );
    assert_sum_mean(
        "v_prediction",
        ddim_full_loop(DdimConfig {
            prediction_type: PredictionType::VPrediction,
            ..ddim_test_config()
        }),
        52.5302,
        0.0684,
    );
    assert_sum_mean(
        "set_alpha_to_one, beta_start 0.01",
        ddim_full_loop(DdimConfig {
            set_alpha_to_one: true,
            beta_start: 0.01,
            ..ddim_test_config()
        }),
        149.8295,
        0.1951,
    );
    assert_sum_mean(
        "no set_alpha_to_one, beta_start 0.01",
        ddim_full_loop(DdimConfig {
            set_alpha_to_one: false,
            beta_start: 0.01,
            ..ddim_test_config()
        }),
        149.0784,
        0.1941,
    );
}

#[test]
fn ddim_steps_offset_matches_diffusers_test() {
    // test_scheduler_ddim.py::test_steps_offset
    let mut s = DdimScheduler::new(DdimConfig {
        steps_offset: 1,
        ..ddim_test_config()
    })
    .unwrap();
    s.set_timesteps(5).unwrap();
    assert_eq!(s.timesteps(), &[801, 601, 401, 201, 1]);
}

/// `use_clipped_model_output` (diffusers' step argument, GLIDE's choice): where clipping
/// changes x̂0, ε̂ is re-derived from the clipped x̂0 so that x_t = √ᾱ_t·x̂0 + √(1−ᾱ_t)·ε̂ holds;
/// elsewhere the step is bit for bit diffusers' default one, which pairs the clipped x̂0 with
/// the raw ε̂.
#[test]
fn ddim_use_clipped_model_output_rederives_the_noise_where_clipping_bites() {
    let mut plain = DdimScheduler::new(ddim_test_config()).unwrap();
    plain.set_timesteps(10).unwrap();
    let mut consistent = plain.clone();
    assert!(!plain.use_clipped_model_output(), "diffusers' default");
    consistent.set_use_clipped_model_output(true);
    let t = plain.timesteps()[2];
    let a = plain.schedule().alphas_cumprod_f64();
    let (a_t, a_prev) = (a[t], a[t - 100]);
    // Samples from −3 to 3 and a model output of 0.3: x̂0 = (x − √(1−ᾱ)·0.3)/√ᾱ leaves [−1, 1]
    // for most of them.
    let x: Vec<f32> = (0..61).map(|k| -3.0 + 0.1 * k as f32).collect();
    let out = vec![0.3f32; x.len()];
    let p = plain.step(&out, t, &x, None).unwrap();
    let c = consistent.step(&out, t, &x, None).unwrap();
    assert_eq!(p.pred_original_sample, c.pred_original_sample);
    let mut clipped = 0;
    for (i, &xi) in x.iter().enumerate() {
        let (xi, x0) = (xi as f64, c.pred_original_sample[i] as f64);
        let raw_x0 = (xi - (1.0 - a_t).sqrt() * 0.3) / a_t.sqrt();
        assert!((x0 - raw_x0.clamp(-1.0, 1.0)).abs() < 1e-5, "x̂0 at {xi}");
        let eps = if raw_x0.abs() > 1.0 {
            clipped += 1;
            (xi - a_t.sqrt() * x0) / (1.0 - a_t).sqrt()
        } else {
            assert_eq!(p.prev_sample[i], c.prev_sample[i], "unclipped x = {xi}");
            0.3
        };
        let want_c = a_prev.sqrt() * x0 + (1.0 - a_prev).sqrt() * eps;
        let want_p = a_prev.sqrt() * x0 + (1.0 - a_prev).sqrt() * 0.3;
        assert!(
            (c.prev_sample[i] as f64 - want_c).abs() < 1e-5,
            "consistent at {xi}"
        );
        assert!(
            (p.prev_sample[i] as f64 - want_p).abs() < 1e-5,
            "diffusers at {xi}"
        );
    }
    assert!(clipped > 20 && clipped < 61, "{clipped} of 61 clipped");
    // Without clipping the option changes nothing.
    let no_clip = DdimConfig {
        clip_sample: false,
        ..ddim_test_config()
    };
    let mut u = DdimScheduler::new(no_clip).unwrap();
    u.set_timesteps(10).unwrap();
    let mut v = u.clone();
    v.set_use_clipped_model_output(true);
    assert_eq!(
        u.step(&out, t, &x, None).unwrap().prev_sample,
        v.step(&out, t, &x, None).unwrap().prev_sample
    );
}
